#pragma once
// TcpConnection: the TCP transport, the stream core over a TCP socket.

#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "socket_types.hpp"
#include "stream/socket_stream.hpp"
#include "stream/stream_transport.hpp"
#include "weft/address.hpp"
#include "weft/tcp_transport.hpp"

namespace weft::detail {

class TcpStream : public SocketStream<boost::asio::ip::tcp, TcpTransport, boost::asio::ip::tcp::endpoint> {
public:
    using SocketStream::SocketStream;
    [[nodiscard]] Address peer() const;
    [[nodiscard]] Address host() const;
    [[nodiscard]] std::string describe(std::uint64_t id) const;
};

/// The TCP Transport. One per connection; owns its socket and its protocol.
class TcpConnection final : public StreamTransport<TcpStream> {
public:
    /// `peer` is the socket's remote endpoint, which the accepting port or the connector already read.
    TcpConnection(ReactorCore& core, Socket socket, const boost::asio::ip::tcp::endpoint& peer,
                  std::unique_ptr<Protocol> protocol);

    // TcpTransport
    bool set_tcp_nodelay(bool enabled) override;
    bool set_tcp_keepalive(bool enabled) override;
};

}  // namespace weft::detail
