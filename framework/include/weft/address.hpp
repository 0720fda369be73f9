#pragma once
// Address: where one end of a connection is (Twisted: IPv4Address / IPv6Address).

#include <cstdint>
#include <string>

namespace weft {

/// A TCP endpoint as a value: numeric host and port. `to_string()` gives "127.0.0.1:80" or "[::1]:80",
/// the form used in every log line.
struct Address {
    std::string host;
    std::uint16_t port = 0;

    [[nodiscard]] bool is_ipv6() const noexcept { return host.find(':') != std::string::npos; }
    [[nodiscard]] std::string to_string() const {
        return is_ipv6() ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);
    }
    friend bool operator==(const Address&, const Address&) = default;
};

}  // namespace weft
