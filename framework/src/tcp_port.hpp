#pragma once
// TcpPort: the TCP ListeningPort, a StreamPort of TCP sockets.

#include <cstdint>
#include <memory>
#include <optional>

#include <boost/asio/ip/tcp.hpp>

#include "socket_types.hpp"
#include "stream/stream_port.hpp"
#include "weft/reactor_network.hpp"

namespace weft::detail {

struct TcpPortKind {
    using protocol_type = boost::asio::ip::tcp;
    using Socket = detail::Socket;  // = StreamPort<TcpPortKind>::Socket

    using Peer = boost::asio::ip::tcp::endpoint;  // what the connection keeps: 28 bytes

    static std::optional<Peer> peer_of(Socket& socket);
    static Address address_of(const Peer& peer) { return {peer.address().to_string(), peer.port()}; }
    static void start_connection(ReactorCore& core, Socket&& socket, const Peer& peer, std::unique_ptr<Protocol> protocol);
    void stopped() noexcept {}
};

using TcpPort = StreamPort<TcpPortKind>;

/// Binds and listens on interface:port (ListenOptions); throws BindError naming the address.
std::shared_ptr<TcpPort> listen_tcp(ReactorCore& core, std::uint16_t port, Factory& factory, const ListenOptions& options);

/// Adopts `fd`, a listening TCP socket of `family` (inet or inet6); throws BindError if it is not one.
std::shared_ptr<TcpPort> adopt_tcp_port(ReactorCore& core, int fd, SocketFamily family, Factory& factory);

}  // namespace weft::detail
