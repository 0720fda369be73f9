#pragma once
// Multicast and broadcast socket options of a UDP socket, for IPv4 and IPv6 (Twisted: MulticastMixin).

#include <string>

namespace weft::detail {

/// Every function throws UdpError (MulticastJoinError for membership) naming the option, or
/// InvalidAddressError for an address or interface it cannot use.
void set_membership(int fd, bool ipv6, const std::string& group, const std::string& interface, bool join);
void set_multicast_ttl(int fd, bool ipv6, int ttl);
int multicast_ttl(int fd, bool ipv6);
void set_multicast_loop(int fd, bool ipv6, bool enabled);
bool multicast_loop(int fd, bool ipv6);
void set_multicast_interface(int fd, bool ipv6, const std::string& interface);
std::string multicast_interface(int fd, bool ipv6);
void set_broadcast(int fd, bool allowed);
bool broadcast(int fd);

}  // namespace weft::detail
