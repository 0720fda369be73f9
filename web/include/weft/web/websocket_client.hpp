#pragma once
// connect_websocket: a WebSocket client connection (RFC 6455) with the same WebSocketProtocol classes as the
// server (Autobahn: WebSocketClientFactory with connectWS).

#include <memory>
#include <string>
#include <string_view>

#include "weft/deferred.hpp"
#include "weft/error.hpp"
#include "weft/reactor.hpp"
#include "weft/web/websocket_protocol.hpp"

namespace weft::web {

/// The server did not complete the opening handshake: not a 101, a wrong Sec-WebSocket-Accept or
/// Upgrade/Connection, a subprotocol that was not offered, a malformed response, or the connection closed
/// or handshake_timeout ran out first. status() is the HTTP status when one was read, else 0.
class WebSocketHandshakeError : public Error {
public:
    /// `what` says which check failed; `status` is the HTTP status read, or 0.
    WebSocketHandshakeError(const std::string& what, int status = 0)
        : Error("WebSocket handshake failed: " + what), status_(status) {}
    /// The HTTP status of the server's answer, or 0 when none was read.
    [[nodiscard]] int status() const noexcept { return status_; }

private:
    int status_;
};

/// Connects to `url` (ws://HOST[:PORT][/PATH][?QUERY]; port 80 by default), performs the opening handshake
/// with a random key and checks the server's answer, then runs `protocol` on the connection.
///
/// Contract: the Deferred fires once the handshake is done and `protocol`'s connection_made has run; it
/// fails with ConnectError (no connection) or WebSocketHandshakeError, and then `protocol` is destroyed
/// without any callback. A URL that does not parse or is not ws:// throws std::invalid_argument here.
/// Frames are masked with fresh keys from OpenSSL's CSPRNG. The connection owns `protocol`; `reactor` must
/// outlive it.
Deferred<void> connect_websocket(Reactor& reactor, std::string_view url, std::unique_ptr<WebSocketProtocol> protocol,
                                 WebSocketOptions options = {});

}  // namespace weft::web
