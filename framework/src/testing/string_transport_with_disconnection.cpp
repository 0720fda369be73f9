#include "weft/testing/string_transport_with_disconnection.hpp"

#include "weft/error.hpp"

namespace weft::testing {

void StringTransportWithDisconnection::lose_connection() {
    StringTransport::lose_connection();
    disconnect(Reason::done());
}

void StringTransportWithDisconnection::abort_connection() {
    // Not StringTransport::abort_connection(): it calls lose_connection(), which would report done.
    mark_aborted();
    StringTransport::lose_connection();
    disconnect(Reason::aborted());
}

void StringTransportWithDisconnection::disconnect(const Reason& reason) {
    if (state() == ConnectionState::disconnected) return;  // connection_lost comes once
    if (protocol_ == nullptr) {
        throw StateError("StringTransportWithDisconnection: no protocol attached (call attach(protocol))");
    }
    // Disconnected before the call, so that a lose_connection() from inside connection_lost is a no-op.
    set_state(ConnectionState::disconnected);
    protocol_->connection_lost(reason);
}

}  // namespace weft::testing
