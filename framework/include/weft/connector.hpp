#pragma once
// Connector: an outgoing connection attempt and the connection it makes (Twisted: IConnector).

#include <cstdint>
#include <string>

#include "weft/delayed_call.hpp"
#include "weft/reactor_time.hpp"
#include "weft/time.hpp"

namespace weft {

/// Returned by Reactor::connect_tcp. The reactor keeps it alive while it is connecting or connected, and
/// while a retry of it is scheduled (retry_in): nobody needs to hold it.
/// Contract: connect() starts a new attempt from the disconnected state (it replaces a scheduled retry);
/// stop_connecting() aborts an attempt in progress (the factory gets client_connection_failed);
/// disconnect() stops an attempt or loses the connection. Every attempt calls the factory in Twisted's
/// order: start_factory (first attempt after a stop), started_connecting, then build_protocol and later
/// client_connection_lost, or client_connection_failed; stop_factory once it is disconnected again and its
/// factory did not connect it again from that callback.
class Connector {
public:
    enum class State { disconnected, connecting, connected };

    virtual ~Connector() = default;
    virtual void connect() = 0;
    virtual void stop_connecting() = 0;
    virtual void disconnect() = 0;
    [[nodiscard]] virtual State state() const noexcept = 0;
    /// "host:port" as given to connect_tcp.
    [[nodiscard]] virtual std::string destination() const = 0;

    /// Schedules connect() `delay` from now on `time` and returns that call; cancelling it gives the retry
    /// up. A connector made by the reactor is kept alive by the scheduled call itself (until it has run or
    /// was cancelled), so whoever asked for the retry holds only the returned handle, never the connector,
    /// and may go away first. A new retry replaces one still scheduled; one that comes due while the
    /// connector is not disconnected does nothing. ReconnectingClientFactory uses it.
    /// This default schedules a plain call that keeps nothing alive (enough for a test double).
    virtual DelayedCall retry_in(Duration delay, ReactorTime& time) {
        return time.call_later(delay, [this] { connect(); });
    }

protected:
    Connector() = default;
    Connector(const Connector&) = default;
    Connector& operator=(const Connector&) = default;
};

}  // namespace weft
