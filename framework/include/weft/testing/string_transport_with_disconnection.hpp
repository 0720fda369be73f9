#pragma once
// weft::testing::StringTransportWithDisconnection: a StringTransport that tells its protocol when it is
// lost (Twisted: twisted.internet.testing.StringTransportWithDisconnection).

#include "weft/protocol.hpp"
#include "weft/testing/string_transport.hpp"

namespace weft::testing {

/// A StringTransport whose lose_connection() and abort_connection() deliver connection_lost to the
/// attached protocol: Reason::done() for lose_connection (stop_producing() included), Reason::aborted()
/// for abort_connection. Only the first of them delivers anything; state() is then disconnected.
///
/// Unlike a real transport, and like Twisted's class, connection_lost is delivered synchronously, inside
/// the lose_connection()/abort_connection() call, and lose_connection() does not wait for a flush
/// (value() keeps what was written). A protocol that relies on connection_lost coming on a later turn
/// (e.g. it touches its own members after calling lose_connection()) should be tested with IOPump
/// (io_pump.hpp) as well, which delivers it from pump() as a real transport would on a later turn.
/// (Twisted's class delivers ConnectionDone for an abort too; weft says aborted, as its transports do.)
class StringTransportWithDisconnection : public StringTransport {
public:
    /// The StringTransport constructors (peer and host addresses); attach() a protocol before anything
    /// can disconnect.
    using StringTransport::StringTransport;

    /// Sets protocol() and calls protocol.make_connection(*this) (Twisted: `transport.protocol = p;
    /// p.makeConnection(transport)`).
    void attach(Protocol& protocol) {
        protocol_ = &protocol;
        protocol.make_connection(*this);
    }
    /// The protocol that hears connection_lost, or nullptr before attach().
    [[nodiscard]] Protocol* protocol() const noexcept { return protocol_; }

    /// Records the call as StringTransport does, then delivers connection_lost(Reason::done()).
    /// Throws StateError if no protocol is attached.
    void lose_connection() override;
    /// Records the call as StringTransport does, then delivers connection_lost(Reason::aborted()).
    void abort_connection() override;

private:
    void disconnect(const Reason& reason);

    Protocol* protocol_ = nullptr;
};

}  // namespace weft::testing
