#pragma once
// Factory: builds one protocol per connection (Twisted: Factory, Factory.forProtocol).

#include <functional>
#include <memory>
#include <tuple>
#include <utility>

#include "weft/address.hpp"
#include "weft/protocol.hpp"

namespace weft {

/// Builds a Protocol for each accepted connection and holds what the connections share.
/// Contract: build_protocol returning nullptr refuses the connection (it is closed at once).
/// start_factory() runs when the first port starts using the factory, stop_factory() when the last
/// stops; the factory must outlive every port and connection that uses it.
class Factory {
public:
    virtual ~Factory() = default;
    Factory() = default;
    Factory(const Factory&) = delete;
    Factory& operator=(const Factory&) = delete;

    virtual std::unique_ptr<Protocol> build_protocol(const Address& peer) = 0;
    virtual void start_factory() {}
    virtual void stop_factory() {}

    /// Counted start/stop (Twisted: doStart/doStop), called by ports and connectors.
    void do_start() {
        if (num_ports_++ == 0) start_factory();
    }
    void do_stop() {
        if (num_ports_ == 0) return;
        if (--num_ports_ == 0) stop_factory();
    }
    [[nodiscard]] int num_ports() const noexcept { return num_ports_; }

    /// A factory that builds `P(args...)` for each connection (Twisted: Factory.forProtocol).
    template <class P, class... Args>
    static std::unique_ptr<Factory> for_protocol(Args&&... args);

private:
    int num_ports_ = 0;
};

namespace detail {
template <class Base, class P, class... Args>
class ProtocolFactory final : public Base {
public:
    explicit ProtocolFactory(Args... args) : args_(std::move(args)...) {}
    std::unique_ptr<Protocol> build_protocol(const Address&) override {
        return std::apply([](const auto&... a) { return std::make_unique<P>(a...); }, args_);
    }

private:
    std::tuple<Args...> args_;
};
}  // namespace detail

template <class P, class... Args>
std::unique_ptr<Factory> Factory::for_protocol(Args&&... args) {
    return std::make_unique<detail::ProtocolFactory<Factory, P, std::decay_t<Args>...>>(std::forward<Args>(args)...);
}

}  // namespace weft
