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

/// Connects to `url` (ws://HOST[:PORT][/PATH][?QUERY], port 80 by default; or wss://, port 443 by default,
/// over TLS), performs the opening handshake with a random key and checks the server's answer, then runs
/// `protocol` on the connection (Autobahn: connectWS; Python websockets: connect("wss://...")).
///
/// wss:// verifies the server's certificate and host name (the URL's host, also sent as SNI) against
/// options.ca_file, or the system's CAs when it is "", unless options.insecure_skip_certificate_verification
/// (tests only). Host omits the port when it is the scheme's default; no Origin is sent (RFC 6455 makes it
/// a browser's header).
///
/// Contract: the Deferred fires once the handshake is done and `protocol`'s connection_made has run; it
/// fails with ConnectError (no connection; for wss:// also a TLS handshake that failed, e.g. a certificate
/// that does not verify: reason() is the TLS layer's, "TLS handshake failed: certificate verify failed
/// (...)") or WebSocketHandshakeError, and then `protocol` is destroyed without any callback. A URL that
/// does not parse, is not ws:// or wss://, or has a bad port throws std::invalid_argument here. Frames are
/// masked with fresh keys from OpenSSL's CSPRNG. The connection owns `protocol`; `reactor` must outlive it.
///
/// The overload without options uses WebSocketOptions{}. It is an overload rather than a default argument
/// because g++ 12 miscompiles an aggregate's temporary passed by value inside a co_await expression (it
/// copies it bitwise, so a std::string in it is freed twice): `co_await connect_websocket(r, url, p)` must
/// work. For the same reason pass options as a named variable, not as a braced temporary, under co_await.
/// @{
Deferred<void> connect_websocket(Reactor& reactor, std::string_view url, std::unique_ptr<WebSocketProtocol> protocol);
Deferred<void> connect_websocket(Reactor& reactor, std::string_view url, std::unique_ptr<WebSocketProtocol> protocol,
                                 WebSocketOptions options);
/// @}

}  // namespace weft::web
