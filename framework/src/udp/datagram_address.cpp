#include "udp/datagram_address.hpp"

#include <arpa/inet.h>
#include <net/if.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "weft/udp_transport.hpp"

namespace weft::detail {

namespace {
std::uint32_t scope_id(const std::string& host, const std::string& zone) {
    if (zone.empty()) throw InvalidAddressError(host, "empty zone after '%'");
    char* end = nullptr;
    errno = 0;
    const unsigned long n = std::strtoul(zone.c_str(), &end, 10);
    if (end != nullptr && *end == '\0' && errno == 0 && n <= UINT32_MAX) return static_cast<std::uint32_t>(n);
    const unsigned index = ::if_nametoindex(zone.c_str());
    if (index == 0) throw InvalidAddressError(host, "no network interface named \"" + zone + "\"");
    return index;
}
}  // namespace

DatagramAddress to_datagram_address(const std::string& host, std::uint16_t port, bool ipv6_socket) {
    DatagramAddress a;
    if (host.find('\0') != std::string::npos) throw InvalidAddressError(host, "contains a NUL byte");
    ::in_addr v4{};
    if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
        if (!ipv6_socket) {
            a.sa.v4.sin_family = AF_INET;
            a.sa.v4.sin_port = htons(port);
            a.sa.v4.sin_addr = v4;
            a.length = sizeof(::sockaddr_in);
            return a;
        }
        // ::ffff:a.b.c.d reaches an IPv4 peer from a dual-stack socket.
        a.sa.v6.sin6_family = AF_INET6;
        a.sa.v6.sin6_port = htons(port);
        a.sa.v6.sin6_addr.s6_addr[10] = 0xff;
        a.sa.v6.sin6_addr.s6_addr[11] = 0xff;
        std::memcpy(&a.sa.v6.sin6_addr.s6_addr[12], &v4, 4);
        a.length = sizeof(::sockaddr_in6);
        return a;
    }
    const std::size_t percent = host.find('%');
    const std::string literal = host.substr(0, percent);
    ::in6_addr v6{};
    if (::inet_pton(AF_INET6, literal.c_str(), &v6) != 1) {
        throw InvalidAddressError(host, "not a numeric IPv4 or IPv6 address (UDP writes take no host names)");
    }
    if (!ipv6_socket) throw InvalidAddressError(host, "an IPv6 address, and this is an IPv4 socket");
    a.sa.v6.sin6_family = AF_INET6;
    a.sa.v6.sin6_port = htons(port);
    a.sa.v6.sin6_addr = v6;
    if (percent != std::string::npos) a.sa.v6.sin6_scope_id = scope_id(host, host.substr(percent + 1));
    a.length = sizeof(::sockaddr_in6);
    return a;
}

Address to_address(const DatagramAddress& address) {
    char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
    if (address.sa.any.sa_family == AF_INET) {
        ::inet_ntop(AF_INET, &address.sa.v4.sin_addr, text, sizeof text);
        return {text, ntohs(address.sa.v4.sin_port)};
    }
    if (address.sa.any.sa_family != AF_INET6) return {};
    const ::in6_addr& v6 = address.sa.v6.sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
        ::inet_ntop(AF_INET, &v6.s6_addr[12], text, sizeof text);
    } else {
        ::inet_ntop(AF_INET6, &v6, text, sizeof text);
        if (address.sa.v6.sin6_scope_id != 0) {
            char name[IF_NAMESIZE] = {};
            const std::size_t used = std::strlen(text);
            if (::if_indextoname(address.sa.v6.sin6_scope_id, name) != nullptr) {
                std::snprintf(text + used, sizeof text - used, "%%%s", name);
            } else {
                std::snprintf(text + used, sizeof text - used, "%%%u", address.sa.v6.sin6_scope_id);
            }
        }
    }
    return {text, ntohs(address.sa.v6.sin6_port)};
}

}  // namespace weft::detail
