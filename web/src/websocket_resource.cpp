// The server side of the WebSocket opening handshake.

#include "weft/web/websocket_resource.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "websocket_connection.hpp"
#include "websocket_handshake.hpp"

namespace weft::web {

namespace {
// send_error with one header of its own (Allow, Sec-WebSocket-Version), which send_error would clear.
void refuse(Request& request, int status, std::string_view message, std::string_view header, std::string_view value) {
    request.clear_response();
    request.set_status(status);
    request.set_header("Content-Type", "text/plain; charset=utf-8");
    request.set_header(header, value);
    request.finish(std::string(reason_phrase(status)) + ": " + std::string(message) + "\n");
}
}  // namespace

WebSocketResource::WebSocketResource(ReactorTime& time, ProtocolFactory factory, WebSocketOptions options)
    : time_(time), factory_(std::move(factory)), options_(std::move(options)) {
    if (!factory_) throw std::invalid_argument("WebSocketResource: no protocol factory");
}

void WebSocketResource::render(Request& request) {
    if (request.method() != "GET") {
        return refuse(request, 405, "a WebSocket handshake is a GET", "Allow", "GET");
    }
    const auto upgrade = request.header("Upgrade");
    const auto connection = request.header("Connection");
    if (request.version() != 11 || !upgrade || !detail::has_token(*upgrade, "websocket") || !connection ||
        !detail::has_token(*connection, "upgrade")) {
        return send_error(request, 400, "not a WebSocket handshake (Upgrade: websocket, Connection: upgrade)");
    }
    const auto version = request.header("Sec-WebSocket-Version");
    if (!version || *version != "13") {
        return refuse(request, 426, "WebSocket version 13 only", "Sec-WebSocket-Version", "13");
    }
    const auto key = request.header("Sec-WebSocket-Key");
    if (!key || !detail::valid_websocket_key(*key)) return send_error(request, 400, "bad Sec-WebSocket-Key");

    std::string subprotocol;
    for (const auto& wanted : options_.subprotocols) {
        for (const auto& h : request.headers()) {
            if (!subprotocol.empty() || !detail::iequals(h.name, "Sec-WebSocket-Protocol")) continue;
            auto offered = detail::header_tokens(h.value);  // subprotocol names are case-sensitive
            if (std::find(offered.begin(), offered.end(), wanted) != offered.end()) subprotocol = wanted;
        }
        if (!subprotocol.empty()) break;
    }

    auto protocol = factory_(request);
    if (!protocol) return send_error(request, 403, "WebSocket connection refused");

    request.set_status(101);
    request.set_header("Upgrade", "websocket");
    request.set_header("Connection", "Upgrade");
    request.set_header("Sec-WebSocket-Accept", detail::websocket_accept(*key));
    if (!subprotocol.empty()) request.set_header("Sec-WebSocket-Protocol", subprotocol);
    request.switch_protocols(std::make_unique<detail::WebSocketConnection>(
        time_, std::move(protocol), options_, detail::WebSocketConnection::Role::server, std::move(subprotocol),
        cut_log_));
    request.finish();
}

}  // namespace weft::web
