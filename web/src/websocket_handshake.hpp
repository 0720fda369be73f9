#pragma once
// The pieces of the WebSocket opening handshake (RFC 6455 4.1-4.2) both sides share. Private.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http_text.hpp"

namespace weft::web::detail {

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + the RFC's GUID)), with OpenSSL.
[[nodiscard]] std::string websocket_accept(std::string_view key);
/// True if `key` is the base64 encoding of 16 bytes (24 characters).
[[nodiscard]] bool valid_websocket_key(std::string_view key);
/// A fresh Sec-WebSocket-Key: 16 random bytes (OpenSSL's CSPRNG) in base64.
[[nodiscard]] std::string make_websocket_key();
/// The comma-separated tokens of a header value, trimmed ("Upgrade, keep-alive").
[[nodiscard]] std::vector<std::string_view> header_tokens(std::string_view value);
/// True if the comma-separated `value` holds `token` (case-insensitively).
[[nodiscard]] bool has_token(std::string_view value, std::string_view token);


/// A ws:// or wss:// URL as connect_websocket uses it (the client side; defined in websocket_client.cpp).
struct WebSocketUrl {
    std::string host;      ///< a name or a numeric address, IPv6 without brackets
    std::uint16_t port = 80;
    bool secure = false;   ///< wss://
    std::string resource;  ///< path and query, "/" at least

    /// 443 for wss://, 80 for ws://.
    [[nodiscard]] std::uint16_t default_port() const noexcept { return secure ? 443 : 80; }
    /// The Host header's value: the port only when it is not the scheme's default (RFC 6455 section 4.1).
    [[nodiscard]] std::string host_header() const;
    /// "host:port" as ConnectError names a destination.
    [[nodiscard]] std::string destination() const;
};
/// Splits `url`; throws std::invalid_argument for one that does not parse, is neither ws:// nor wss://, has
/// no host or a bad port.
[[nodiscard]] WebSocketUrl parse_websocket_url(std::string_view url);

}  // namespace weft::web::detail
