#pragma once
// Small text helpers of HTTP's grammar, shared by the server, the client and WebSocket. Private.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string_view>

namespace weft::web::detail {

/// ASCII case-insensitive equality (header names, tokens, schemes).
[[nodiscard]] inline bool iequals(std::string_view a, std::string_view b) noexcept {
    // ASCII folding inline: std::tolower is a call per character and consults the locale.
    constexpr auto lower = [](char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; };
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

/// `s` without the optional whitespace (spaces and tabs) around it (RFC 9110's OWS).
[[nodiscard]] inline std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// True when the bytes Beast left unconsumed after a message's header have outgrown `max_header_bytes`.
/// In the body Beast takes chunk data as it comes; what it leaves is an unfinished chunk-size line (its
/// extensions are unbounded in Beast 1.81) or the trailer section, which must not grow without end: both
/// the server and the client bound it as they bound a header.
[[nodiscard]] inline bool chunk_framing_too_long(bool header_done, std::size_t unconsumed,
                                                 std::size_t max_header_bytes) noexcept {
    return header_done && unconsumed > max_header_bytes;
}

}  // namespace weft::web::detail
