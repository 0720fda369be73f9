#pragma once
// Small text helpers of HTTP's grammar, shared by the server, the client and WebSocket. Private.

#include <algorithm>
#include <cctype>
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

}  // namespace weft::web::detail
