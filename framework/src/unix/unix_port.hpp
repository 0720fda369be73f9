#pragma once
// UnixPort: a listening UNIX socket (Twisted: reactor.listenUNIX), a StreamPort of UNIX sockets.

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/local/stream_protocol.hpp>

#include "stream/stream_port.hpp"
#include "unix/unix_connection.hpp"
#include "weft/reactor_network.hpp"

namespace weft::detail {

/// What a UNIX port owns besides its socket: the socket file (removed when the port stops) and the lock
/// file that says a live process serves the path.
struct UnixPortKind {
    using protocol_type = boost::asio::local::stream_protocol;
    using Socket = LocalSocket;

    UnixPortKind() = default;
    UnixPortKind(UnixPortKind&& other) noexcept;
    UnixPortKind& operator=(UnixPortKind&&) = delete;
    ~UnixPortKind();

    using Peer = Address;

    static std::optional<Peer> peer_of(Socket& socket);
    static Address address_of(const Peer& peer) { return peer; }
    static void start_connection(ReactorCore& core, Socket&& socket, const Peer& peer, std::unique_ptr<Protocol> protocol);
    void stopped() noexcept;

    std::string socket_file;  // "" for an abstract name or an adopted socket: nothing to remove
    std::string lock_file;
    int lock_fd = -1;
};

using UnixPort = StreamPort<UnixPortKind>;

/// Binds and listens on `path` (UnixListenOptions: mode, backlog, lock); throws BindError naming the path.
std::shared_ptr<UnixPort> listen_unix(ReactorCore& core, const std::string& path, Factory& factory,
                                      const UnixListenOptions& options);

/// Adopts `fd`, a listening UNIX stream socket; throws BindError if it is not one.
std::shared_ptr<UnixPort> adopt_unix_port(ReactorCore& core, int fd, Factory& factory);

/// The pid written in `path`.lock if a live process holds that lock (listen_unix with lock), else nullopt.
std::optional<pid_t> unix_lock_holder(const std::string& path);

}  // namespace weft::detail
