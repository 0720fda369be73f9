#include "udp/multicast_options.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>

#include "weft/udp_transport.hpp"

namespace weft::detail {

namespace {
std::error_code last_error() { return {errno, std::system_category()}; }

template <class T>
void set(int fd, int level, int name, const T& value, const std::string& what) {
    if (::setsockopt(fd, level, name, &value, sizeof value) != 0) throw UdpError(what, last_error());
}

template <class T>
T get(int fd, int level, int name, const std::string& what) {
    T value{};
    ::socklen_t length = sizeof value;
    if (::getsockopt(fd, level, name, &value, &length) != 0) throw UdpError(what, last_error());
    return value;
}

// An IPv4 interface is a local numeric address ("" = INADDR_ANY: the kernel picks by route).
::in_addr ipv4_interface(const std::string& interface) {
    ::in_addr a{};
    if (interface.empty()) return a;
    if (::inet_pton(AF_INET, interface.c_str(), &a) != 1) {
        throw InvalidAddressError(interface, "an IPv4 multicast interface is a numeric local address (e.g. 127.0.0.1)");
    }
    return a;
}

// An IPv6 interface is a name or an index ("" = 0: the kernel picks).
unsigned ipv6_interface(const std::string& interface) {
    if (interface.empty()) return 0;
    char* end = nullptr;
    const unsigned long n = std::strtoul(interface.c_str(), &end, 10);
    if (end != nullptr && *end == '\0' && n <= UINT32_MAX) return static_cast<unsigned>(n);
    const unsigned index = ::if_nametoindex(interface.c_str());
    if (index == 0) {
        throw InvalidAddressError(interface, "no network interface of that name (an IPv6 multicast interface is a "
                                             "name such as \"lo\" or an index)");
    }
    return index;
}
}  // namespace

void set_membership(int fd, bool ipv6, const std::string& group, const std::string& interface, bool join) {
    const std::string what = std::string(join ? "join_group(" : "leave_group(") + group +
                             (interface.empty() ? "" : ", " + interface) + ")";
    if (!ipv6) {
        ::ip_mreq request{};
        if (::inet_pton(AF_INET, group.c_str(), &request.imr_multiaddr) != 1) {
            throw InvalidAddressError(group, "not a numeric IPv4 address (this is an IPv4 socket)");
        }
        if (!IN_MULTICAST(ntohl(request.imr_multiaddr.s_addr))) {
            throw InvalidAddressError(group, "not a multicast address (224.0.0.0/4)");
        }
        request.imr_interface = ipv4_interface(interface);
        if (::setsockopt(fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &request, sizeof request) != 0) {
            throw MulticastJoinError(what, last_error());
        }
        return;
    }
    ::ipv6_mreq request{};
    ::in_addr v4{};
    if (::inet_pton(AF_INET6, group.c_str(), &request.ipv6mr_multiaddr) != 1) {
        if (::inet_pton(AF_INET, group.c_str(), &v4) == 1) {
            throw InvalidAddressError(group, "an IPv4 group, and this is an IPv6 socket (listen on an IPv4 interface)");
        }
        throw InvalidAddressError(group, "not a numeric IPv6 address");
    }
    if (!IN6_IS_ADDR_MULTICAST(&request.ipv6mr_multiaddr)) throw InvalidAddressError(group, "not a multicast address (ff00::/8)");
    request.ipv6mr_interface = ipv6_interface(interface);
    if (::setsockopt(fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &request, sizeof request) != 0) {
        throw MulticastJoinError(what, last_error());
    }
}

void set_multicast_ttl(int fd, bool ipv6, int ttl) {
    const std::string what = "set_ttl(" + std::to_string(ttl) + ")";
    if (ttl < 0 || ttl > 255) throw UdpError(what, std::make_error_code(std::errc::invalid_argument));
    if (ipv6) return set(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, ttl, what);
    set(fd, IPPROTO_IP, IP_MULTICAST_TTL, ttl, what);
}

int multicast_ttl(int fd, bool ipv6) {
    if (ipv6) return get<int>(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, "ttl()");
    return get<int>(fd, IPPROTO_IP, IP_MULTICAST_TTL, "ttl()");
}

void set_multicast_loop(int fd, bool ipv6, bool enabled) {
    const int value = enabled ? 1 : 0;
    if (ipv6) return set(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, value, "set_loopback_mode");
    set(fd, IPPROTO_IP, IP_MULTICAST_LOOP, value, "set_loopback_mode");
}

bool multicast_loop(int fd, bool ipv6) {
    if (ipv6) return get<int>(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, "loopback_mode()") != 0;
    return get<int>(fd, IPPROTO_IP, IP_MULTICAST_LOOP, "loopback_mode()") != 0;
}

void set_multicast_interface(int fd, bool ipv6, const std::string& interface) {
    const std::string what = "set_outgoing_interface(" + interface + ")";
    if (ipv6) return set(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, static_cast<int>(ipv6_interface(interface)), what);
    set(fd, IPPROTO_IP, IP_MULTICAST_IF, ipv4_interface(interface), what);
}

std::string multicast_interface(int fd, bool ipv6) {
    if (ipv6) {
        const auto index = static_cast<unsigned>(get<int>(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, "outgoing_interface()"));
        if (index == 0) return "";
        char name[IF_NAMESIZE] = {};
        return ::if_indextoname(index, name) != nullptr ? std::string(name) : std::to_string(index);
    }
    const auto a = get<::in_addr>(fd, IPPROTO_IP, IP_MULTICAST_IF, "outgoing_interface()");
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &a, text, sizeof text);
    return text;
}

void set_broadcast(int fd, bool allowed) {
    set(fd, SOL_SOCKET, SO_BROADCAST, allowed ? 1 : 0, std::string("set_broadcast_allowed"));
}

bool broadcast(int fd) { return get<int>(fd, SOL_SOCKET, SO_BROADCAST, "broadcast_allowed()") != 0; }

}  // namespace weft::detail
