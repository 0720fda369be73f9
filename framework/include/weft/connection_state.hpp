#pragma once
// The explicit states of a connection; docs/architecture.md has the transition table.

#include <string_view>

namespace weft {

/// The state of one connection. Transitions are logged at debug level with the connection's id and peer.
enum class ConnectionState {
    connecting,         ///< client side: resolving / connecting; guarded by the connect timeout
    connected,          ///< both directions open
    read_half_closed,   ///< the peer sent EOF; we may still write (half-closeable protocols only)
    write_half_closed,  ///< we shut down our write side after flushing; still reading
    disconnecting,      ///< lose_connection(): flushing, then close; guarded by the disconnect timeout
    disconnected,       ///< closed; connection_lost has been (or is about to be) delivered
};

/// The state's name as the logs write it ("connected", "read_half_closed", ...).
constexpr std::string_view to_string(ConnectionState s) noexcept {
    switch (s) {
        case ConnectionState::connecting: return "connecting";
        case ConnectionState::connected: return "connected";
        case ConnectionState::read_half_closed: return "read-half-closed";
        case ConnectionState::write_half_closed: return "write-half-closed";
        case ConnectionState::disconnecting: return "disconnecting";
        case ConnectionState::disconnected: return "disconnected";
    }
    return "?";
}

}  // namespace weft
