#pragma once
// ReactorNetwork: the reactor's listen/connect calls as an interface (Twisted: IReactorTCP, IReactorUNIX
// and IReactorSocket), so code that only listens and connects can be handed a testing::MemoryReactor.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "weft/client_factory.hpp"
#include "weft/connector.hpp"
#include "weft/factory.hpp"
#include "weft/listening_port.hpp"
#include "weft/time.hpp"

namespace weft {

class TlsContext;

/// Options of ReactorNetwork::listen_tcp (Twisted: listenTCP's interface and backlog).
struct ListenOptions {
    /// Address to bind: "" or "0.0.0.0" for every IPv4 interface, "::" for every IPv6 one (and IPv4
    /// where the system maps it), or one address such as "127.0.0.1" or "::1".
    std::string interface;
    int backlog = 511;  ///< listen(2)'s queue of unaccepted connections (the kernel caps it at somaxconn)
    /// SO_REUSEADDR before binding, so a restarted server can bind while old connections are in TIME_WAIT
    /// (on by default, as in Twisted). It does not let two live listeners share the port.
    bool reuse_address = true;
    /// SO_REUSEPORT: other sockets with it may listen on the same port, and the kernel spreads new
    /// connections over them (ReactorPool's reuse_port strategy: one socket per reactor).
    bool reuse_port = false;
    /// A server TlsContext: every accepted connection speaks TLS (listen_ssl sets it).
    std::shared_ptr<TlsContext> tls{};
};

/// Options of ReactorNetwork::connect_tcp (Twisted: connectTCP's timeout and bindAddress).
struct ConnectOptions {
    /// Give up on an attempt (resolution and connect) after this long.
    Duration timeout = std::chrono::seconds(30);
    /// Local address to bind before connecting ("" = any).
    std::string bind_address;
    /// A client TlsContext: the connection speaks TLS, verifying the server's certificate for the
    /// context's server_name, or `host` when it has none (connect_ssl sets it).
    std::shared_ptr<TlsContext> tls{};
};

/// Options of ReactorNetwork::listen_unix (Twisted: listenUNIX's mode, backlog and wantPID).
struct UnixListenOptions {
    /// Permission bits of the socket file (octal, as chmod takes them); ignored for abstract names.
    unsigned mode = 0666;
    int backlog = 511;  ///< listen(2)'s queue of unaccepted connections (the kernel caps it at somaxconn)
    /// Guard the path with PATH.lock holding our pid (Twisted's wantPID): a socket file left by a dead
    /// process is replaced, one of a live process is never taken over. Without it an existing file is
    /// an error (EADDRINUSE).
    bool lock = true;
    /// A server TlsContext: every accepted connection speaks TLS.
    std::shared_ptr<TlsContext> tls{};
};

/// Options of ReactorNetwork::connect_unix (Twisted: connectUNIX's timeout and checkPID).
struct UnixConnectOptions {
    /// Give up on an attempt after this long.
    Duration timeout = std::chrono::seconds(30);
    /// Refuse to connect when PATH.lock names no live process (Twisted's checkPID): the server is gone.
    bool check_pid = false;
    /// A client TlsContext: the connection speaks TLS (the context must name the server: server_name).
    std::shared_ptr<TlsContext> tls{};
};

/// The address family of an adopted listening socket.
enum class SocketFamily { inet, inet6, unix_socket };

/// Listening and connecting. Reactor implements it for real; testing::MemoryReactor records the calls.
/// The factories are borrowed and must outlive the ports and connectors they serve.
class ReactorNetwork {
public:
    virtual ~ReactorNetwork() = default;

    /// Listens on `port` (0 picks a free one). Throws BindError naming the address and the OS reason.
    virtual std::shared_ptr<ListeningPort> listen_tcp(std::uint16_t port, Factory& factory, ListenOptions options = {}) = 0;
    /// Connects to host:port, resolving the name asynchronously. Only the factory's start_factory() may run
    /// inside this call (as in Twisted); started_connecting and everything after come on later turns.
    virtual std::shared_ptr<Connector> connect_tcp(std::string host, std::uint16_t port, ClientFactory& factory,
                                                   ConnectOptions options = {}) = 0;
    /// Listens on a UNIX socket at `path` ("@name": Linux's abstract namespace, no file). Throws BindError.
    virtual std::shared_ptr<ListeningPort> listen_unix(std::string path, Factory& factory,
                                                       UnixListenOptions options = {}) = 0;
    /// Connects to the UNIX socket at `path`; the same calls come as for connect_tcp.
    virtual std::shared_ptr<Connector> connect_unix(std::string path, ClientFactory& factory,
                                                    UnixConnectOptions options = {}) = 0;
    /// Listens on an already listening socket inherited from a parent (Twisted: adoptStreamPort): a
    /// systemd socket or a descriptor passed by a supervisor. Takes ownership of `fd`. Throws BindError if
    /// it is not a listening stream socket of that family (the descriptor is then left open). An adopted
    /// UNIX socket's file is not removed when the port stops: whoever made it owns it.
    virtual std::shared_ptr<ListeningPort> adopt_stream_port(int fd, SocketFamily family, Factory& factory) = 0;

    /// listen_tcp whose connections speak TLS with `context`, a server context (Twisted: listenSSL). The
    /// factory's protocols see plaintext; docs/tls.md has the details.
    std::shared_ptr<ListeningPort> listen_ssl(std::uint16_t port, Factory& factory, std::shared_ptr<TlsContext> context,
                                              ListenOptions options = {}) {
        options.tls = std::move(context);
        return listen_tcp(port, factory, std::move(options));
    }
    /// connect_tcp whose connection speaks TLS with `context`, a client context (Twisted: connectSSL).
    std::shared_ptr<Connector> connect_ssl(std::string host, std::uint16_t port, ClientFactory& factory,
                                           std::shared_ptr<TlsContext> context, ConnectOptions options = {}) {
        options.tls = std::move(context);
        return connect_tcp(std::move(host), port, factory, std::move(options));
    }

protected:
    ReactorNetwork() = default;
    /// For implementations only; users hold the reactor itself.
    /// @{
    ReactorNetwork(const ReactorNetwork&) = default;
    ReactorNetwork& operator=(const ReactorNetwork&) = default;
    /// @}
};

}  // namespace weft
