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
    /// Which of the two forms the address has: internet (host and port) or UNIX socket (path).
    enum class Kind : std::uint8_t {
        inet,        ///< IPv4 or IPv6: host and port
        unix_socket  ///< a UNIX socket: path
    };

    /// An empty internet address: host "", port 0.
    Address() = default;
    /// An internet address: a numeric IPv4 or IPv6 host and a port.
    Address(std::string host_, std::uint16_t port_) : host(std::move(host_)), port(port_) {}

    std::string host;        ///< the numeric host ("127.0.0.1", "::1", no brackets); empty for UNIX sockets
    std::uint16_t port = 0;  ///< the port; 0 for UNIX sockets
    Kind kind = Kind::inet;  ///< which of host/port or path is meaningful
    /// The UNIX socket's path; empty for internet addresses.
    std::string path;

    /// A UNIX socket address (Twisted: UNIXAddress(name)).
    [[nodiscard]] static Address unix_socket(std::string path) {
        Address a;
        a.kind = Kind::unix_socket;
        a.path = std::move(path);
        return a;
    }

    /// True for a UNIX socket address (kind == Kind::unix_socket).
    [[nodiscard]] bool is_unix() const noexcept { return kind == Kind::unix_socket; }
    /// True for an internet address whose host is IPv6 (it contains ':').
    [[nodiscard]] bool is_ipv6() const noexcept { return !is_unix() && host.find(':') != std::string::npos; }
    /// "127.0.0.1:80", "[::1]:80" or "unix:/run/app.sock" ("unix:" alone for an unnamed socket).
    [[nodiscard]] std::string to_string() const {
        if (is_unix()) return "unix:" + path;
        return is_ipv6() ? "[" + host + "]:" + std::to_string(port) : host + ":" + std::to_string(port);
    }
    /// Every field equal: the same kind, host, port and path (no name resolution, no normalisation).
    friend bool operator==(const Address&, const Address&) = default;
};

}  // namespace weft
