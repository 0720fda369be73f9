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
    virtual void started_connecting(Connector& connector) { (void)connector; }
    virtual void client_connection_failed(Connector& connector, const Reason& reason) {
        (void)connector;
        (void)reason;
    }
    virtual void client_connection_lost(Connector& connector, const Reason& reason) {
        (void)connector;
        (void)reason;
    }

    /// A client factory that builds `P(args...)` (Twisted: ClientFactory.forProtocol).
    template <class P, class... Args>
    static std::unique_ptr<ClientFactory> for_protocol(Args&&... args) {
        return std::make_unique<detail::ProtocolFactory<ClientFactory, P, std::decay_t<Args>...>>(
            std::forward<Args>(args)...);
    }
};

}  // namespace weft
