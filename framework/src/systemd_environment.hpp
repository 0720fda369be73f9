#pragma once
// What systemd.cpp and systemd_notifier.cpp share: reading the environment and systemd's numbers.

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "weft/systemd.hpp"

namespace weft::detail {

/// At most 40 printable characters of `s`, for messages about a malformed variable.
inline std::string shown(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < 40; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
    }
    if (s.size() > 40) out += "...";
    return out;
}

/// A positive decimal number at most `max`, as systemd's parse_pid / safe_atoi take them (no sign, no
/// spaces here: systemd writes these variables itself). Throws SystemdError naming the variable.
inline long long systemd_positive(const std::string& name, const std::string& value, long long max) {
    long long n = 0;
    bool ok = !value.empty() && value.size() <= 19;
    for (const char c : value) {
        if (c < '0' || c > '9') {
            ok = false;
            break;
        }
        if (n <= max) n = n * 10 + (c - '0');
    }
    if (!ok || n <= 0 || n > max) {
        throw SystemdError(name + "=\"" + shown(value) + "\" is not a number from 1 to " + std::to_string(max));
    }
    return n;
}

/// getenv() as an EnvironmentLookup.
inline std::optional<std::string> from_environment(const std::string& name) {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
}

}  // namespace weft::detail
