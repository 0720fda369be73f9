#include "weft/resolver.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>

#include <boost/asio/ip/address.hpp>

#include "weft/reactor.hpp"
#include "weft/thread_pool.hpp"

namespace weft {

std::optional<Address> numeric_address(const std::string& host, std::uint16_t port) {
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(host, ec);
    if (ec) return std::nullopt;
    return Address(addr.to_string(), port);
}

namespace {

/// getaddrinfo, blocking: run on a pool thread.
std::vector<Address> lookup(const std::string& host, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
    if (rc != 0) throw ResolveError(host, rc == EAI_SYSTEM ? "system error" : ::gai_strerror(rc));
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> owner(found, ::freeaddrinfo);
    std::vector<Address> out;
    for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
        char text[NI_MAXHOST];
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        if (::getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof text, nullptr, 0, NI_NUMERICHOST) != 0) continue;
        Address a(text, port);
        if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(std::move(a));
    }
    if (out.empty()) throw ResolveError(host, "no internet address");
    return out;
}

}  // namespace

Deferred<std::vector<Address>> ThreadedResolver::resolve(const std::string& host, std::uint16_t port) {
    if (auto a = numeric_address(host, port)) return succeed(std::vector<Address>{*a});
    if (host.empty()) return fail<std::vector<Address>>(Failure(ResolveError("\"\"", "empty host name")));
    return reactor_.thread_pool().defer_to_thread([host, port] { return lookup(host, port); });
}

Deferred<std::vector<Address>> resolve(Reactor& reactor, const std::string& host, std::uint16_t port) {
    return reactor.resolver().resolve(host, port);
}

}  // namespace weft
