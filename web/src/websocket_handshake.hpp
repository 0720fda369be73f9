#pragma once
// The pieces of the WebSocket opening handshake (RFC 6455 4.1-4.2) both sides share. Private.

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

}  // namespace weft::web::detail
