#pragma once
// Deferred-returning endpoint calls (Twisted: endpoint.connect(factory), endpoint.listen(factory) and
// connectProtocol(endpoint, protocol)). docs/endpoints.md and docs/clients.md show them in use.
//
// Named endpoint_connect / endpoint_listen so that they do not clash with connect_to / listen_on (which
// return the Connector and the port at once, weft/string_endpoints.hpp) nor with POSIX connect/listen.

#include <concepts>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "weft/deferred.hpp"
#include "weft/endpoint.hpp"
#include "weft/error.hpp"
#include "weft/factory.hpp"
#include "weft/listening_port.hpp"
#include "weft/protocol.hpp"
#include "weft/reactor_network.hpp"
#include "weft/reason.hpp"
#include "weft/source_location.hpp"

namespace weft {

/// The failure of endpoint_connect / connect_protocol when no connection was made (Twisted:
/// error.ConnectError and its subclasses): the attempt failed (refused, unresolvable, timed out, a TLS
/// context that cannot be used), or the connection was lost before its protocol's connection_made ran.
/// reason() is what the connector reported; what() says "cannot connect to DEST: REASON".
class ConnectError : public Error {
public:
    /// `destination` as the connector names it ("host:port", a path); `reason` as it reported it.
    ConnectError(const std::string& destination, Reason reason)
        : Error("cannot connect to " + destination + ": " + reason.message()), reason_(std::move(reason)) {}
    /// The connector's Reason: kind, operating system error code and message.
    [[nodiscard]] const Reason& reason() const noexcept { return reason_; }

private:
    Reason reason_;
};

/// Connects as `endpoint` says (connect_to) and fires with the protocol `factory` built, once its
/// connection_made has run and before its first data_received; fails with ConnectError otherwise
/// (Twisted: endpoint.connect(factory)).
///
/// Contract (as Twisted's endpoints): the factory's build_protocol, start_factory and stop_factory are
/// used; its client callbacks (started_connecting, client_connection_failed/lost) are not called, the
/// Deferred reports the attempt and the protocol its own connection_lost. The protocol's factory() is
/// `factory`. The connection owns the protocol: the pointer is valid until its connection_lost returns.
/// Cancelling the Deferred before it fired stops the attempt (CancelledError). Nothing needs to be kept:
/// the attempt holds itself until it ends (the endpoint's timeout, 30 s by default, ends one that never
/// connects, and the reactor's orderly shutdown ends any), so dropping the Deferred is safe; a reactor
/// destroyed without stop() and run() returning leaks the attempts still running. `factory` is borrowed and must outlive the connection; the
/// shared_ptr overload shares ownership of it with the attempt and its connection instead.
/// @{
Deferred<Protocol*> endpoint_connect(ReactorNetwork& reactor, const ClientEndpoint& endpoint, Factory& factory,
                                     SourceLocation where = SourceLocation::current());
Deferred<Protocol*> endpoint_connect(ReactorNetwork& reactor, const ClientEndpoint& endpoint,
                                     std::shared_ptr<Factory> factory, SourceLocation where = SourceLocation::current());
/// @}
/// The same from a description (parse_client_endpoint). A description that does not parse throws
/// EndpointError here, as Twisted's clientFromString raises; everything after is in the Deferred.
/// @{
Deferred<Protocol*> endpoint_connect(ReactorNetwork& reactor, std::string_view description, Factory& factory,
                                     SourceLocation where = SourceLocation::current());
Deferred<Protocol*> endpoint_connect(ReactorNetwork& reactor, std::string_view description,
                                     std::shared_ptr<Factory> factory, SourceLocation where = SourceLocation::current());
/// @}

/// Listens as `endpoint` says (listen_on) and gives the port (Twisted: endpoint.listen(factory)). weft
/// binds synchronously, so the Deferred has fired when this returns: with the port, or with what
/// listen_on threw (BindError, SystemdError, TlsError, EndpointError for udp). `factory` is borrowed as
/// for listen_on.
Deferred<std::shared_ptr<ListeningPort>> endpoint_listen(ReactorNetwork& reactor, const ServerEndpoint& endpoint,
                                                         Factory& factory,
                                                         SourceLocation where = SourceLocation::current());
/// The same from a description; one that does not parse throws EndpointError here (serverFromString).
Deferred<std::shared_ptr<ListeningPort>> endpoint_listen(ReactorNetwork& reactor, std::string_view description,
                                                         Factory& factory,
                                                         SourceLocation where = SourceLocation::current());

namespace detail {
Deferred<Protocol*> connect_protocol(ReactorNetwork& reactor, const ClientEndpoint& endpoint,
                                     std::unique_ptr<Protocol> protocol, SourceLocation where);
}  // namespace detail

/// Connects `protocol` itself through `endpoint` (Twisted: connectProtocol): fires with it once its
/// connection_made has run, fails with ConnectError otherwise (the protocol is then destroyed).
/// Everything else as endpoint_connect: the connection owns the protocol from then on, cancelling stops
/// the attempt, the Deferred may be dropped.
template <class P>
    requires std::derived_from<P, Protocol>
Deferred<P*> connect_protocol(ReactorNetwork& reactor, const ClientEndpoint& endpoint, std::unique_ptr<P> protocol,
                              SourceLocation where = SourceLocation::current()) {
    if (!protocol) throw std::invalid_argument("connect_protocol: no protocol");
    P* raw = protocol.get();
    return detail::connect_protocol(reactor, endpoint, std::move(protocol), where).add_callback([raw](Protocol*) {
        return raw;
    });
}
/// The same from a description (EndpointError here if it does not parse).
template <class P>
    requires std::derived_from<P, Protocol>
Deferred<P*> connect_protocol(ReactorNetwork& reactor, std::string_view description, std::unique_ptr<P> protocol,
                              SourceLocation where = SourceLocation::current()) {
    return connect_protocol(reactor, parse_client_endpoint(description), std::move(protocol), where);
}

}  // namespace weft
