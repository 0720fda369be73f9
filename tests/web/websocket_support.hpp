#pragma once
// Helpers for the WebSocket tests: a site with an echo WebSocketResource at /ws, client frames built byte
// by byte (masked with RFC 6455's example key), and a parser of what the server sent back.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "web_support.hpp"
#include "weft/web/websocket_resource.hpp"

namespace web_test {

/// What the server's protocol saw.
struct WsEvents {
    std::vector<std::string> messages;
    std::optional<std::uint16_t> lost_code;
    std::string lost_reason;
    std::function<void()> on_lost;
};

/// Echoes every message back with its type; "close" makes it close with 1000 "bye"; "twice X" sends X back
/// twice as one PreparedMessage.
struct WsEcho : weft::web::WebSocketProtocol {
    explicit WsEcho(WsEvents& seen) : events(seen) {}
    void message_received(std::string_view data, weft::web::MessageType type) override {
        events.messages.emplace_back(data);
        if (type == weft::web::MessageType::text && data == "close") return transport().close(1000, "bye");
        if (data.starts_with("twice ")) {
            const weft::web::PreparedMessage prepared(data.substr(6), type);
            transport().send_prepared(prepared);
            transport().send_prepared(prepared);
            return;
        }
        if (type == weft::web::MessageType::text) {
            transport().send_text(data);
        } else {
            transport().send_binary(data);
        }
    }
    void connection_lost(std::uint16_t code, std::string_view reason) override {
        events.lost_code = code;
        events.lost_reason = std::string(reason);
        if (events.on_lost) events.on_lost();
    }
    WsEvents& events;
};

/// A WebServer with an echo WebSocketResource at /ws.
struct WsServer : WebServer {
    WsEvents events;
    explicit WsServer(weft::web::WebSocketOptions options = {}) {
        root->put_child("ws", std::make_shared<weft::web::WebSocketResource>(
                                  reactor, [this](weft::web::Request&) { return std::make_unique<WsEcho>(events); },
                                  std::move(options)));
        start();
    }
};

inline constexpr std::string_view rfc_key = "dGhlIHNhbXBsZSBub25jZQ==";
inline constexpr std::string_view rfc_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

inline std::string handshake(std::string_view path = "/ws", std::string_view extra = {}) {
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: " + std::string(rfc_key) + "\r\nSec-WebSocket-Version: 13\r\n" + std::string(extra) + "\r\n";
}

/// First byte of a frame: FIN, RSV bits (1, 2, 4), opcode.
inline std::uint8_t b0(std::uint8_t opcode, bool fin = true, std::uint8_t rsv = 0) {
    return static_cast<std::uint8_t>((fin ? 0x80 : 0) | (rsv << 4) | opcode);
}

/// A client frame with first byte `first`, masked with 37 fa 21 3d unless `masked` is false.
inline std::string frame(std::uint8_t first, std::string_view payload, bool masked = true) {
    static constexpr unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
    std::string out(1, static_cast<char>(first));
    const char m = masked ? static_cast<char>(0x80) : 0;
    const std::size_t n = payload.size();
    if (n < 126) {
        out += static_cast<char>(m | static_cast<char>(n));
    } else if (n <= 0xFFFF) {
        out += static_cast<char>(m | 126);
        out += static_cast<char>(n >> 8);
        out += static_cast<char>(n & 0xFF);
    } else {
        out += static_cast<char>(m | 127);
        for (int s = 56; s >= 0; s -= 8) out += static_cast<char>((static_cast<std::uint64_t>(n) >> s) & 0xFF);
    }
    if (masked) out.append(reinterpret_cast<const char*>(key), 4);
    for (std::size_t i = 0; i < n; ++i) out += static_cast<char>(payload[i] ^ (masked ? static_cast<char>(key[i % 4]) : 0));
    return out;
}
inline std::string ws_text(std::string_view s, bool fin = true) { return frame(b0(1, fin), s); }
inline std::string ws_binary(std::string_view s, bool fin = true) { return frame(b0(2, fin), s); }
inline std::string ws_cont(std::string_view s, bool fin = true) { return frame(b0(0, fin), s); }
inline std::string ws_ping(std::string_view s = {}) { return frame(b0(9), s); }
inline std::string ws_pong(std::string_view s = {}) { return frame(b0(10), s); }
/// A close body: the code in network order and the reason.
inline std::string close_body(std::uint16_t code, std::string_view reason = {}) {
    std::string out{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    return out + std::string(reason);
}
inline std::string ws_close(std::uint16_t code, std::string_view reason = {}) { return frame(b0(8), close_body(code, reason)); }

/// One frame from the server: first byte and payload (the server never masks).
struct ServerFrame {
    std::uint8_t first;
    std::string payload;
    bool operator==(const ServerFrame&) const = default;
};
inline std::ostream& operator<<(std::ostream& os, const ServerFrame& f) {
    os << "{0x" << std::hex << int(f.first) << std::dec << ", " << f.payload.size() << " bytes";
    if (f.payload.size() <= 40) os << " \"" << f.payload << "\"";
    return os << "}";
}
inline ServerFrame sf(std::uint8_t opcode, std::string payload) { return {b0(opcode), std::move(payload)}; }
inline ServerFrame sclose(std::uint16_t code, std::string_view reason = {}) { return sf(8, close_body(code, reason)); }

/// What the server sent on an upgraded connection.
struct WsSeen {
    std::string status_line;     // of the handshake's answer
    std::vector<ServerFrame> frames;
    bool malformed = false;      // bytes after the last whole frame, or a masked server frame
    bool closed_by_server = false;
    bool in_time = true;
};

inline WsSeen parse_server(const Seen& seen) {
    WsSeen out;
    out.closed_by_server = seen.closed_by_server;
    out.in_time = seen.in_time;
    std::string_view b = seen.bytes;
    auto end = b.find("\r\n\r\n");
    if (end == std::string_view::npos) {
        out.malformed = !b.empty();
        return out;
    }
    out.status_line = std::string(b.substr(0, b.find("\r\n")));
    b.remove_prefix(end + 4);
    while (b.size() >= 2) {
        const auto* p = reinterpret_cast<const unsigned char*>(b.data());
        if (p[1] & 0x80) {
            out.malformed = true;
            return out;
        }
        std::size_t len = p[1] & 0x7F, at = 2;
        if (len == 126) {
            if (b.size() < 4) break;
            len = (std::size_t{p[2]} << 8) | p[3];
            at = 4;
        } else if (len == 127) {
            if (b.size() < 10) break;
            len = 0;
            for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
            at = 10;
        }
        if (b.size() < at + len) break;
        out.frames.push_back({p[0], std::string(b.substr(at, len))});
        b.remove_prefix(at + len);
    }
    out.malformed = out.malformed || !b.empty();
    return out;
}

/// Sends the handshake and `frames` (each piece in its own loop turn) and collects the server's frames
/// until it closes the connection (or `done` holds).
inline WsSeen ws_exchange(WebServer& server, std::vector<std::string> pieces,
                          std::function<bool(const std::string&)> done = {}) {
    pieces.insert(pieces.begin(), handshake());
    return parse_server(server.exchange(std::move(pieces), std::move(done)));
}

}  // namespace web_test
