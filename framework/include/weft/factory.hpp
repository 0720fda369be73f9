#pragma once
// Factory: builds one protocol per connection (Twisted: Factory, Factory.forProtocol).

#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
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

    /// Builds the protocol for a new connection from `peer`, on the reactor thread. The connection takes
    /// ownership, and the framework sets the protocol's factory(). nullptr refuses the connection (it is
    /// closed without a protocol); an exception is logged and counts as a refusal.
    virtual std::unique_ptr<Protocol> build_protocol(const Address& peer) = 0;
    /// Called once before the first port or connector uses the factory (Twisted: startFactory): set up
    /// what the connections share. Default: nothing.
    virtual void start_factory() {}
    /// Called once the last port or connector stops using it (Twisted: stopFactory); start_factory may
    /// follow again if it is used anew. Default: nothing.
    virtual void stop_factory() {}

    /// Counted start/stop (Twisted: doStart/doStop), called by ports and connectors.
    void do_start() {
        if (num_ports_++ == 0) start_factory();
    }
    /// Undoes one do_start(); the last one calls stop_factory(). Extra calls (count already 0) are ignored.
    void do_stop() {
        if (num_ports_ == 0) return;
        if (--num_ports_ == 0) stop_factory();
    }
    /// How many ports/connectors currently use the factory: do_start() calls not yet undone by do_stop().
    [[nodiscard]] int num_ports() const noexcept { return num_ports_; }

    /// A factory that builds `P(args...)` for each connection (Twisted: Factory.forProtocol). The arguments
    /// are copied into the factory and each protocol gets them as lvalues of those copies, unless P cannot be
    /// built from copies (it takes a non-const reference, or an argument is not copyable): then lvalue
    /// arguments are held by reference and passed on as that reference (`for_protocol<Kv>(store, reactor)`
    /// for `Kv(Store&, ReactorTime&)`) and must outlive the factory. std::ref / std::cref arguments are always
    /// held by reference and unwrapped.
    template <class P, class... Args>
    static std::unique_ptr<Factory> for_protocol(Args&&... args);

    /// A factory whose build_protocol calls `build(peer)`, or `build()` when it takes no argument; it
    /// returns a std::unique_ptr to a Protocol (nullptr refuses the connection). E.g.
    /// `Factory::from_function([&] { return std::make_unique<Kv>(store, reactor); })`.
    template <class F>
    static std::unique_ptr<Factory> from_function(F build);

private:
    int num_ports_ = 0;
};

namespace detail {

/// True when P can be built from copies of the arguments (each copyable, P constructible from const
/// copies): for_protocol then copies lvalues too, so a factory never refers to a caller's local. Only a P that
/// needs a non-const reference (`Kv(Store&, ReactorTime&)`) gets its lvalue arguments held by reference.
template <class P, class... Args>
inline constexpr bool builds_from_copies =
    (std::is_copy_constructible_v<std::decay_t<Args>> && ...) && std::is_constructible_v<P, const std::decay_t<Args>&...>;

/// How for_protocol holds one argument: by value, except an lvalue when P cannot be built from copies.
template <bool by_copy, class A>
using HeldArgument = std::conditional_t<!by_copy && std::is_lvalue_reference_v<A>,
                                        std::reference_wrapper<std::remove_reference_t<A>>, std::decay_t<A>>;

/// Passes a held argument on: a reference_wrapper (ours or the caller's std::ref) as the reference.
template <class T>
T& pass_argument(std::reference_wrapper<T> r) noexcept {
    return r.get();
}
template <class T>
T& pass_argument(T& value) noexcept {
    return value;
}

template <class Base, class P, class... Held>
class ProtocolFactory final : public Base {
public:
    template <class... Args>
    explicit ProtocolFactory(Args&&... args) : args_(std::forward<Args>(args)...) {}
    std::unique_ptr<Protocol> build_protocol(const Address&) override {
        return std::apply([](auto&... a) { return std::make_unique<P>(pass_argument(a)...); }, args_);
    }

private:
    std::tuple<Held...> args_;
};

template <class Base, class F>
class FunctionFactory final : public Base {
public:
    explicit FunctionFactory(F build) : build_(std::move(build)) {}
    std::unique_ptr<Protocol> build_protocol(const Address& peer) override {
        if constexpr (std::is_invocable_v<F&, const Address&>) {
            return build_(peer);
        } else {
            return build_();
        }
    }

private:
    F build_;
};

template <class F>
concept ProtocolBuilder = (std::is_invocable_v<F&, const Address&> &&
                           std::is_convertible_v<std::invoke_result_t<F&, const Address&>, std::unique_ptr<Protocol>>) ||
                          (std::is_invocable_v<F&> && std::is_convertible_v<std::invoke_result_t<F&>, std::unique_ptr<Protocol>>);

}  // namespace detail

template <class P, class... Args>
std::unique_ptr<Factory> Factory::for_protocol(Args&&... args) {
    constexpr bool by_copy = detail::builds_from_copies<P, Args...>;
    return std::make_unique<detail::ProtocolFactory<Factory, P, detail::HeldArgument<by_copy, Args>...>>(
        std::forward<Args>(args)...);
}

template <class F>
std::unique_ptr<Factory> Factory::from_function(F build) {
    static_assert(detail::ProtocolBuilder<F>,
                  "from_function needs a callable taking (const Address&) or nothing and returning a std::unique_ptr "
                  "to a Protocol");
    return std::make_unique<detail::FunctionFactory<Factory, F>>(std::move(build));
}

}  // namespace weft
