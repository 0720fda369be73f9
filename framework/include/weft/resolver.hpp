#pragma once
// Resolver: host names to addresses (Twisted: IHostnameResolver, reactor.nameResolver). See docs/threads.md.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "weft/address.hpp"
#include "weft/deferred.hpp"
#include "weft/error.hpp"

namespace weft {

class Reactor;

/// A name that could not be resolved: the host, and the resolver's reason.
class ResolveError : public Error {
public:
    /// The message is "cannot resolve HOST: REASON".
    ResolveError(const std::string& host, const std::string& reason)
        : Error("cannot resolve " + host + ": " + reason), host_(host) {}
    /// The name that did not resolve, as given.
    [[nodiscard]] const std::string& host() const noexcept { return host_; }

private:
    std::string host_;
};

/// Turns a host name and a port into the addresses to try, in order. The reactor holds one
/// (Reactor::resolver(), Reactor::set_resolver()); connect_tcp uses it for every name that is not a
/// numeric address.
/// Contract for an implementation: resolve() is called on the reactor's thread and returns a Deferred
/// fired on that thread with at least one numeric internet Address (port included), or failed
/// (ResolveError for a name that does not resolve). It must support cancel(): the connector cancels the
/// Deferred when its attempt is stopped or times out, after which a late answer is ignored.
class Resolver {
public:
    virtual ~Resolver() = default;
    /// The addresses of `host` with `port` filled in, in the order to try them; see the class contract.
    virtual Deferred<std::vector<Address>> resolve(const std::string& host, std::uint16_t port) = 0;

protected:
    Resolver() = default;
    /// For implementations only.
    /// @{
    Resolver(const Resolver&) = default;
    Resolver& operator=(const Resolver&) = default;
    /// @}
};

/// The default resolver: a numeric IPv4/IPv6 address at once, without a thread; any other name with
/// getaddrinfo (TCP addresses, IPv4 and IPv6, in the system's order) on the reactor's thread pool, so a
/// slow DNS server never blocks the loop. Cancelling removes a lookup that has not started; one that has
/// runs to its end on its thread (getaddrinfo cannot be interrupted) and its answer is dropped.
class ThreadedResolver final : public Resolver {
public:
    /// Uses `reactor`'s thread pool and loop; the reactor is borrowed and must outlive the resolver (the
    /// reactor makes its own default one on first use of Reactor::resolver()).
    explicit ThreadedResolver(Reactor& reactor) : reactor_(reactor) {}
    Deferred<std::vector<Address>> resolve(const std::string& host, std::uint16_t port) override;

private:
    Reactor& reactor_;
};

/// reactor.resolver().resolve(host, port).
Deferred<std::vector<Address>> resolve(Reactor& reactor, const std::string& host, std::uint16_t port);

/// The address if `host` is a numeric IPv4 or IPv6 address (brackets and a scope allowed: "::1",
/// "fe80::1%lo"), else nothing.
std::optional<Address> numeric_address(const std::string& host, std::uint16_t port);

}  // namespace weft
