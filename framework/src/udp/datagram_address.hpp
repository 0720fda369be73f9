#pragma once
// DatagramAddress: a UDP peer's address in the form the system calls take, and its conversions to and
// from weft::Address.

#include <cstdint>
#include <string>

#include <netinet/in.h>
#include <sys/socket.h>

#include "weft/address.hpp"

namespace weft::detail {

/// sockaddr_in or sockaddr_in6 by value (28 bytes, not sockaddr_storage's 128: one per queued datagram).
struct DatagramAddress {
    union {
        ::sockaddr any;
        ::sockaddr_in v4;
        ::sockaddr_in6 v6;
    } sa{};
    ::socklen_t length = 0;

    [[nodiscard]] ::sockaddr* get() noexcept { return &sa.any; }
    [[nodiscard]] const ::sockaddr* get() const noexcept { return &sa.any; }
    static constexpr ::socklen_t capacity = sizeof(::sockaddr_in6);
};

/// `host` (numeric IPv4, or IPv6 with an optional %zone) and `port` for a socket of the given family:
/// an IPv6 socket takes IPv4 addresses as v4-mapped ones. Throws InvalidAddressError.
DatagramAddress to_datagram_address(const std::string& host, std::uint16_t port, bool ipv6_socket);

/// The sender as weft::Address; a v4-mapped IPv6 address reads as the IPv4 address it carries, so that a
/// dual-stack socket names IPv4 peers as an IPv4 socket would.
Address to_address(const DatagramAddress& address);

}  // namespace weft::detail
