#pragma once
// WebSocketResource: a URL of the site that upgrades its requests to WebSocket connections (Autobahn:
// WebSocketResource with a WebSocketServerFactory).

#include <functional>
#include <memory>

#include "weft/log.hpp"
#include "weft/reactor_time.hpp"
#include "weft/web/resource.hpp"
#include "weft/web/websocket_protocol.hpp"

namespace weft::web {

/// Answers a valid opening handshake (RFC 6455 4.2: GET over HTTP/1.1, Upgrade: websocket, Connection:
/// upgrade, a Sec-WebSocket-Key of 16 bytes in base64, Sec-WebSocket-Version: 13) with 101 Switching
/// Protocols and hands the connection to a protocol from `factory`.
///
/// Contract: a request that is not a valid handshake gets 400 (426 with Sec-WebSocket-Version: 13 for
/// another version; 405 for a method other than GET); nothing is upgraded then. `factory` is called with
/// the request (path, query, headers and peer are there to decide on); returning nullptr refuses with 403.
/// The protocol's connection_made runs once the 101 has been written. With options.subprotocols, the
/// first of them the client offers is agreed (WebSocketTransport::subprotocol()). `time` runs the
/// connections' timers and must outlive them.
class WebSocketResource : public Resource {
public:
    /// Makes the protocol of one upgraded request, or returns nullptr to refuse it with 403.
    using ProtocolFactory = std::function<std::unique_ptr<WebSocketProtocol>(Request&)>;

    /// Upgrades with protocols from `factory`, under `options`; `time` must outlive the connections.
    WebSocketResource(ReactorTime& time, ProtocolFactory factory, WebSocketOptions options = {});

    void render(Request& request) override;
    /// The limits its connections get.
    [[nodiscard]] const WebSocketOptions& options() const noexcept { return options_; }

private:
    ReactorTime& time_;
    ProtocolFactory factory_;
    WebSocketOptions options_;
    // One warning a second about peers cut for not reading, whatever their number.
    std::shared_ptr<LogRateLimiter> cut_log_ = std::make_shared<LogRateLimiter>(std::chrono::seconds(1));
};

}  // namespace weft::web
