#pragma once
// The attempt behind endpoint_connect, connect_protocol and ClientService: a ClientFactory that wraps the
// user's, fires a Deferred when the protocol is connected and holds itself until the connector is done.

#include <functional>
#include <memory>

#include "weft/deferred.hpp"
#include "weft/endpoint.hpp"
#include "weft/factory.hpp"
#include "weft/protocol.hpp"
#include "weft/reactor_network.hpp"
#include "weft/reason.hpp"
#include "weft/source_location.hpp"

namespace weft::detail {

/// Connects through `endpoint` with `factory` (kept alive by `owner` when not null) and fires with the
/// built protocol once connection_made has run; fails with ConnectError when no connection was made.
/// `on_lost`, if set, hears the connection's loss once the Deferred fired with the protocol.
Deferred<Protocol*> connect_endpoint(ReactorNetwork& reactor, const ClientEndpoint& endpoint, Factory& factory,
                                     std::shared_ptr<Factory> owner, std::function<void(const Reason&)> on_lost,
                                     SourceLocation where);

}  // namespace weft::detail
