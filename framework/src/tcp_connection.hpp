#pragma once
// TcpConnection: the TCP transport, the stream core over a TCP socket (TcpStream).

#include <cstddef>
#include <memory>
#include <string>

#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/ip/tcp.hpp>

#include "socket_types.hpp"
#include "stream/stream_transport.hpp"
#include "weft/address.hpp"
#include "weft/tcp_transport.hpp"

namespace weft::detail {

namespace asio = boost::asio;

/// The backend of a TCP connection: one non-blocking socket registered with Asio's reactor, which says
/// when to try again; the reads and writes themselves are plain system calls (no error_code categories to
/// compare on the hot path). Linux only, like the rest of weft's socket transports.
class TcpStream {
public:
    using Interface = TcpTransport;

    TcpStream(Socket socket, const asio::ip::tcp::endpoint& peer);

    ssize_t read(char* buffer, std::size_t size) noexcept { return ::recv(socket_.native_handle(), buffer, size, 0); }
    ssize_t write(const ::iovec* iov, std::size_t count) noexcept {
        ::msghdr message{};
        message.msg_iov = const_cast<::iovec*>(iov);
        message.msg_iovlen = count;
        return ::sendmsg(socket_.native_handle(), &message, MSG_NOSIGNAL);
    }
    template <class Handler>
    void wait_readable(Handler&& handler) {
        socket_.async_wait(asio::socket_base::wait_read, std::forward<Handler>(handler));
    }
    template <class Handler>
    void wait_writable(Handler&& handler) {
        socket_.async_wait(asio::socket_base::wait_write, std::forward<Handler>(handler));
    }
    [[nodiscard]] static constexpr bool wait_after_short_read() noexcept { return true; }
    void shutdown_write() noexcept;
    /// Reset: RST, unsent output dropped. Linger: shut our side and let the reactor read and discard until
    /// the peer's EOF (ReactorCore::linger).
    void close(ReactorCore& core, bool reset, bool linger) noexcept;
    [[nodiscard]] Address peer() const;
    [[nodiscard]] Address host() const;
    [[nodiscard]] std::string describe(std::uint64_t id) const;

    Socket& socket() noexcept { return socket_; }

private:
    Socket socket_;
    asio::ip::tcp::endpoint peer_;
};

/// The TCP Transport. One per connection; owns its socket and its protocol.
class TcpConnection final : public StreamTransport<TcpStream> {
public:
    /// `peer` is the socket's remote endpoint, which the accepting port or the connector already read.
    TcpConnection(ReactorCore& core, Socket socket, const asio::ip::tcp::endpoint& peer,
                  std::unique_ptr<Protocol> protocol);

    // TcpTransport
    bool set_tcp_nodelay(bool enabled) override;
    bool set_tcp_keepalive(bool enabled) override;
};

}  // namespace weft::detail
