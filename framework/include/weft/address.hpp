#pragma once
// Address: where one end of a connection is (Twisted: IPv4Address / IPv6Address / UNIXAddress).

#include <cstdint>
#include <string>
#include <utility>

namespace weft {

/// One end of a connection as a value. An internet address is a numeric host and a port; a UNIX socket
/// address is a path (Linux's abstract namespace is written with a leading '@'; an unnamed socket, such
/// as a connecting client's, has an empty path). `to_string()` gives "127.0.0.1:80", "[::1]:80" or
/// "unix:/run/app.sock", the form used in every log line.
struct Address {
    enum class Kind : std::uint8_t { inet, unix_socket };

    Address() = default;
    /// An internet address: a numeric IPv4 or IPv6 host and a port.
    Address(std::string host_, std::uint16_t port_) : host(std::move(host_)), port(port_) {}

    std::string host;
    std::uint16_t port = 0;
    Kind kind = Kind::inet;
    /// The UNIX socket's path; empty for internet addresses.
    std::string path;

    /// A UNIX socket address (Twisted: UNIXAddress(name)).
    [[nodiscard]] static Address unix_socket(std::string path) {
        Address a;
        a.kind = Kind::unix_socket;
        a.path = std::move(path);
        return a;
    }

    [[nodiscard]] bool is_unix() const noexcept { return kind == Kind::unix_socket; }
    [[nodiscard]] bool is_ipv6() const noexcept { return !is_unix() && host.find(':') != std::string::npos; }
    [[nodiscard]] std::string to_string() const {
        if (is_unix()) return "unix:" + path;
        return is_ipv6() ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);
    }
    friend bool operator==(const Address&, const Address&) = default;
};

}  // namespace weft
