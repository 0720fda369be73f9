#pragma once
// LiveTransport: what the reactor's registry of live transports needs of each one, whatever its kind.

#include "weft/reason.hpp"

namespace weft::detail {

/// Every live transport (TCP, UNIX socket, stdio, a child's pipes) is held by the reactor from
/// connection_made until connection_lost has been delivered, through this interface: one registry, one
/// shutdown path, one flush batch. These calls happen once per transport per turn at most, never per byte.
class LiveTransport {
public:
    virtual ~LiveTransport() = default;
    /// Reactor shutdown: lose the connection after flushing, or abort it at once if `force`.
    virtual void shutdown(bool force) = 0;
    /// The end of the turn in which the transport queued itself with ReactorCore::schedule_flush.
    virtual void run_scheduled_flush() = 0;

protected:
    LiveTransport() = default;
    LiveTransport(const LiveTransport&) = default;
    LiveTransport& operator=(const LiveTransport&) = default;
};

/// Told after a transport's protocol has heard connection_lost: the connector that made it (to tell its
/// factory and maybe retry), a process (to count its closed pipes).
class ConnectionObserver {
public:
    virtual ~ConnectionObserver() = default;
    /// The protocol has run connection_made and the connection is still up (a connector tells its
    /// factory: endpoint_connect's Deferred fires here).
    virtual void connection_made() {}
    virtual void connection_lost(const Reason& reason) = 0;

protected:
    ConnectionObserver() = default;
    ConnectionObserver(const ConnectionObserver&) = default;
    ConnectionObserver& operator=(const ConnectionObserver&) = default;
};

}  // namespace weft::detail
