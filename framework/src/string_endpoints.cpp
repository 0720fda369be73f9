#include "weft/string_endpoints.hpp"

#include <fcntl.h>

#include <type_traits>
#include <variant>

#include "weft/systemd.hpp"

namespace weft {

namespace {
SocketFamily family_of(const std::string& domain) {
    if (domain == "INET6") return SocketFamily::inet6;
    if (domain == "UNIX") return SocketFamily::unix_socket;
    return SocketFamily::inet;  // the parser let nothing else through
}

template <class... F>
struct Overloaded : F... {
    using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;
ListenOptions listen_options(const TcpServerEndpoint& e) {
    ListenOptions options;
    options.interface = e.interface.empty() && e.ipv6 ? "::" : e.interface;
    options.backlog = e.backlog;
    return options;
}

ConnectOptions connect_options(const TcpClientEndpoint& e) {
    ConnectOptions options;
    options.timeout = e.timeout;
    options.bind_address = e.bind_address;
    return options;
}
}  // namespace

std::shared_ptr<TlsContext> tls_context_for(const SslServerEndpoint& e) {
    TlsServerOptions o;
    // Twisted's ssl: endpoint: privateKey may hold the certificate too; certKey names it apart.
    o.certificate.certificate_file = e.cert_key.empty() ? e.private_key : e.cert_key;
    o.certificate.private_key_file = e.private_key;
    o.certificate.chain_file = e.extra_cert_chain;
    o.client_ca_file = e.client_ca;
    o.client_certificates = e.verify_client == "required"   ? ClientCertificates::required
                            : e.verify_client == "optional" ? ClientCertificates::optional
                                                            : ClientCertificates::none;
    o.alpn = e.alpn;
    o.handshake_timeout = e.handshake_timeout;
    return TlsContext::server(std::move(o));
}

std::shared_ptr<TlsContext> tls_context_for(const TlsClientEndpoint& e) {
    if (e.context) return e.context;
    TlsClientOptions o;
    o.server_name = e.server_name;
    o.ca_file = e.ca;
    o.certificate.certificate_file = e.certificate;
    o.certificate.private_key_file = e.private_key;
    o.alpn = e.alpn;
    o.insecure_skip_certificate_verification = e.insecure_skip_certificate_verification;
    return TlsContext::client(std::move(o));
}

std::shared_ptr<ListeningPort> listen_on(ReactorNetwork& reactor, const ServerEndpoint& endpoint, Factory& factory) {
    return std::visit(
        Overloaded{
            [&](const TcpServerEndpoint& e) { return reactor.listen_tcp(e.port, factory, listen_options(e)); },
            [&](const SslServerEndpoint& e) {
                return reactor.listen_ssl(e.tcp.port, factory, tls_context_for(e), listen_options(e.tcp));
            },
            [&](const UnixServerEndpoint& e) {
                UnixListenOptions options;
                options.mode = static_cast<unsigned>(e.mode);
                options.backlog = e.backlog;
                options.lock = e.lockfile;
                return reactor.listen_unix(e.path, factory, options);
            },
            [&](const FdServerEndpoint& e) { return reactor.adopt_stream_port(e.fd, family_of(e.domain), factory); },
            [&](const SystemdServerEndpoint& e) {
                const int fd = systemd_select(e, systemd_listen_fds_with_names());
                ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // systemd passes them inheritable; our children must not get them
                return reactor.adopt_stream_port(fd, family_of(e.domain), factory);
            },
            [&](const UdpServerEndpoint& e) -> std::shared_ptr<ListeningPort> {
                throw EndpointError(to_string(ServerEndpoint(e)) + ": udp: is a datagram endpoint; a stream "
                                    "listener (a Factory) cannot serve it (use Reactor::listen_udp with a "
                                    "DatagramProtocol)", "type");
            },
        },
        endpoint);
}

std::shared_ptr<ListeningPort> server_from_string(ReactorNetwork& reactor, std::string_view description, Factory& factory) {
    return listen_on(reactor, parse_server_endpoint(description), factory);
}

std::shared_ptr<Connector> connect_to(ReactorNetwork& reactor, const ClientEndpoint& endpoint, ClientFactory& factory) {
    return std::visit(Overloaded{
                          [&](const TcpClientEndpoint& e) {
                              return reactor.connect_tcp(e.host, e.port, factory, connect_options(e));
                          },
                          [&](const TlsClientEndpoint& e) {
                              return reactor.connect_ssl(e.tcp.host, e.tcp.port, factory, tls_context_for(e),
                                                         connect_options(e.tcp));
                          },
                          [&](const UnixClientEndpoint& e) {
                              UnixConnectOptions options;
                              options.timeout = e.timeout;
                              options.check_pid = e.check_pid;
                              return reactor.connect_unix(e.path, factory, options);
                          },
                      },
                      endpoint);
}

std::shared_ptr<Connector> client_from_string(ReactorNetwork& reactor, std::string_view description,
                                              ClientFactory& factory) {
    return connect_to(reactor, parse_client_endpoint(description), factory);
}

}  // namespace weft
