#pragma once
// Protocol: what users subclass to handle one connection (Twisted: Protocol, IHalfCloseableProtocol).

#include <string_view>

#include "weft/reason.hpp"
#include "weft/tcp_transport.hpp"   // transport().as_tcp() works in every protocol
#include "weft/transport.hpp"
#include "weft/unix_transport.hpp"

namespace weft {

class Factory;
namespace detail {
class TlsLayer;
}

/// One connection's behaviour. Subclass it and override the callbacks.
///
/// Contract: every callback runs on the reactor thread. connection_made comes first, then
/// data_received any number of times, then connection_lost exactly once; after it the transport is gone.
/// A callback that throws is logged and aborts only its own connection. The connection owns its protocol
/// and destroys it after connection_lost returns.
class Protocol {
public:
    virtual ~Protocol() = default;
    Protocol() = default;
    Protocol(const Protocol&) = delete;
    Protocol& operator=(const Protocol&) = delete;

    /// Called by the framework (or a test) to attach the transport; calls connection_made().
    void make_connection(Transport& transport) {
        transport_ = &transport;
        connection_made();
    }
    /// Called by the framework after build_protocol (Twisted sets protocol.factory).
    void set_factory(Factory* factory) noexcept { factory_ = factory; }

    /// The connection is up; transport() is usable.
    virtual void connection_made() {}
    /// Some bytes arrived. The view is valid only during the call; chunk boundaries mean nothing.
    virtual void data_received(std::string_view data) { (void)data; }
    /// The connection is closed; `reason` says whether cleanly. Do not touch transport() after this.
    virtual void connection_lost(const Reason& reason) { (void)reason; }

    /// Valid between make_connection and the end of connection_lost.
    [[nodiscard]] Transport& transport() const noexcept { return *transport_; }
    /// True once make_connection attached a transport; a protocol built but not (yet) connected has none.
    [[nodiscard]] bool has_transport() const noexcept { return transport_ != nullptr; }
    /// The factory that built this protocol, or nullptr.
    [[nodiscard]] Factory* factory() const noexcept { return factory_; }

private:
    friend class detail::TlsLayer;  // start_tls moves a live protocol onto the TLS transport
    Transport* transport_ = nullptr;
    Factory* factory_ = nullptr;
};

/// Mixed into a Protocol that wants TCP half-close (Twisted: IHalfCloseableProtocol). Without it, the
/// peer's EOF closes the connection once pending output is flushed; with it, the connection stays open
/// for writing and read_connection_lost() is called.
class HalfCloseable {
public:
    virtual ~HalfCloseable() = default;
    /// The peer will send nothing more; we may still write. lose_connection() when done.
    virtual void read_connection_lost() = 0;
    /// Our write side was shut down (lose_write_connection completed).
    virtual void write_connection_lost() {}

protected:
    HalfCloseable() = default;
    /// For the protocol class that mixes this in; the mix-in has no state of its own.
    /// @{
    HalfCloseable(const HalfCloseable&) = default;
    HalfCloseable& operator=(const HalfCloseable&) = default;
    /// @}
};

}  // namespace weft
