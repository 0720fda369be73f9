#pragma once
// ReactorNetwork: the reactor's listen/connect calls as an interface (Twisted: IReactorTCP, IReactorUNIX
// and IReactorSocket), so code that only listens and connects can be handed a testing::MemoryReactor.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "weft/client_factory.hpp"
#include "weft/connector.hpp"
#include "weft/factory.hpp"
#include "weft/listening_port.hpp"
#include "weft/time.hpp"

namespace weft {

struct ListenOptions {
    /// Address to bind: "" or "0.0.0.0" for every IPv4 interface, "::" for every IPv6 one (and IPv4
    /// where the system maps it), or one address such as "127.0.0.1" or "::1".
    std::string interface;
    int backlog = 511;
    bool reuse_address = true;
};

struct ConnectOptions {
    /// Give up on an attempt (resolution and connect) after this long.
    Duration timeout = std::chrono::seconds(30);
    /// Local address to bind before connecting ("" = any).
    std::string bind_address;
};

struct UnixListenOptions {
    /// Permission bits of the socket file (octal, as chmod takes them); ignored for abstract names.
    unsigned mode = 0666;
    int backlog = 511;
    /// Guard the path with PATH.lock holding our pid (Twisted's wantPID): a socket file left by a dead
    /// process is replaced, one of a live process is never taken over. Without it an existing file is
    /// an error (EADDRINUSE).
    bool lock = true;
};

struct UnixConnectOptions {
    /// Give up on an attempt after this long.
    Duration timeout = std::chrono::seconds(30);
    /// Refuse to connect when PATH.lock names no live process (Twisted's checkPID): the server is gone.
    bool check_pid = false;
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

protected:
    ReactorNetwork() = default;
    ReactorNetwork(const ReactorNetwork&) = default;
    ReactorNetwork& operator=(const ReactorNetwork&) = default;
};

}  // namespace weft
