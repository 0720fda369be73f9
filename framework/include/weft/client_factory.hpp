#pragma once
// ClientFactory: a factory for outgoing connections (Twisted: ClientFactory).

#include "weft/connector.hpp"
#include "weft/factory.hpp"
#include "weft/reason.hpp"

namespace weft {

/// Builds the protocol of an outgoing connection and hears how attempts end.
/// Contract: for every connect attempt, started_connecting comes first, then either build_protocol (the
/// attempt succeeded) followed later by client_connection_lost, or client_connection_failed. All run on
/// the reactor thread, never inside connect_tcp itself.
class ClientFactory : public Factory {
public:
    /// An attempt begins, on a loop turn after the call that started it (connect_tcp, connector.connect())
    /// returned. `connector` may be stopped from here (stop_connecting). Default: nothing.
    virtual void started_connecting(Connector& connector) { (void)connector; }
    /// The attempt failed (refused, unresolvable, timed out, stopped, or build_protocol gave no protocol);
    /// `connector` is disconnected again, so calling connector.connect() or retry_in() here retries.
    /// Default: nothing.
    virtual void client_connection_failed(Connector& connector, const Reason& reason) {
        (void)connector;
        (void)reason;
    }
    /// A connection this factory's protocol ran on has closed, after the protocol's connection_lost;
    /// `connector` is disconnected again and may be reconnected from here. Default: nothing.
    virtual void client_connection_lost(Connector& connector, const Reason& reason) {
        (void)connector;
        (void)reason;
    }

    /// A client factory that builds `P(args...)` (Twisted: ClientFactory.forProtocol); arguments are held
    /// as Factory::for_protocol holds them (copies, or references when P needs non-const references).
    template <class P, class... Args>
    static std::unique_ptr<ClientFactory> for_protocol(Args&&... args) {
        constexpr bool by_copy = detail::builds_from_copies<P, Args...>;
        return std::make_unique<detail::ProtocolFactory<ClientFactory, P, detail::HeldArgument<by_copy, Args>...>>(
            std::forward<Args>(args)...);
    }
    /// A client factory whose build_protocol calls `build(peer)` or `build()` (Factory::from_function).
    template <class F>
    static std::unique_ptr<ClientFactory> from_function(F build) {
        static_assert(detail::ProtocolBuilder<F>,
                      "from_function needs a callable taking (const Address&) or nothing and returning a "
                      "std::unique_ptr to a Protocol");
        return std::make_unique<detail::FunctionFactory<ClientFactory, F>>(std::move(build));
    }
};

}  // namespace weft
