#pragma once
// Listening and connecting from endpoint descriptions (Twisted: serverFromString, clientFromString).

#include <memory>
#include <string_view>

#include "weft/client_factory.hpp"
#include "weft/connector.hpp"
#include "weft/endpoint.hpp"
#include "weft/factory.hpp"
#include "weft/listening_port.hpp"
#include "weft/reactor_network.hpp"
#include "weft/tls_context.hpp"

namespace weft {

/// Listens as `endpoint` says (docs/endpoints.md): tcp/tcp6 -> listen_tcp, unix -> listen_unix, fd ->
/// adopt_stream_port of that descriptor, systemd -> adopt_stream_port of the descriptor systemd passed
/// (LISTEN_FDS/LISTEN_PID, picked by index or name; close-on-exec is set on it so children do not inherit
/// it), ssl -> listen_ssl with tls_context_for(endpoint). Throws BindError (cannot listen), SystemdError (no
/// such passed descriptor), TlsError (a certificate or key that cannot be used), or EndpointError for a
/// udp endpoint (a datagram endpoint: Reactor::listen_udp serves it, not a Factory). Unlike Twisted's
/// endpoint.listen(), which returns a Deferred, this listens at once: weft binds synchronously.
std::shared_ptr<ListeningPort> listen_on(ReactorNetwork& reactor, const ServerEndpoint& endpoint, Factory& factory);

/// parse_server_endpoint, then listen_on (Twisted: serverFromString(reactor, description).listen(factory)).
/// Throws EndpointError for a bad description, naming the field.
std::shared_ptr<ListeningPort> server_from_string(ReactorNetwork& reactor, std::string_view description, Factory& factory);

/// The server context an ssl: endpoint describes: its files are read and checked now (TlsError).
[[nodiscard]] std::shared_ptr<TlsContext> tls_context_for(const SslServerEndpoint& endpoint);
/// The client context a tls: endpoint describes: its `context` when set, else one built now from its fields
/// (TlsError for an unusable file).
[[nodiscard]] std::shared_ptr<TlsContext> tls_context_for(const TlsClientEndpoint& endpoint);

/// Connects as `endpoint` says: tcp/tcp6 -> connect_tcp (timeout, bind_address), unix -> connect_unix
/// (timeout, check_pid), tls -> connect_ssl with tls_context_for(endpoint). The calls that follow are the connector's (started_connecting, ...).
std::shared_ptr<Connector> connect_to(ReactorNetwork& reactor, const ClientEndpoint& endpoint, ClientFactory& factory);

/// parse_client_endpoint, then connect_to (Twisted: clientFromString(reactor, description).connect(factory)).
std::shared_ptr<Connector> client_from_string(ReactorNetwork& reactor, std::string_view description,
                                              ClientFactory& factory);

}  // namespace weft
