#pragma once
// SocketStream: the stream core's backend over one connected stream socket (TCP, UNIX).

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/io_context.hpp>

#include "reactor_core.hpp"
#include "weft/address.hpp"

namespace weft::detail {

/// One non-blocking socket registered with Asio's reactor, which says when to try again; the reads and
/// writes themselves are plain system calls (no error_code categories to compare on the hot path).
/// `Interface` is the public transport interface (TcpTransport, UnixTransport); `Peer` how the peer's
/// address is kept (the smallest form: it is part of every idle connection). The derived backend adds
/// peer(), host() and describe().
template <class Protocol, class InterfaceT, class Peer>
class SocketStream {
public:
    using Interface = InterfaceT;
    using Socket = boost::asio::basic_stream_socket<Protocol, boost::asio::io_context::executor_type>;

    SocketStream(Socket socket, Peer peer) : socket_(std::move(socket)), peer_(std::move(peer)) {
        boost::system::error_code ec;
        socket_.non_blocking(true, ec);
    }

    ssize_t read(char* buffer, std::size_t size) noexcept { return ::recv(socket_.native_handle(), buffer, size, 0); }
    ssize_t write(const ::iovec* iov, std::size_t count) noexcept {
        ::msghdr message{};
        message.msg_iov = const_cast<::iovec*>(iov);
        message.msg_iovlen = count;
        return ::sendmsg(socket_.native_handle(), &message, MSG_NOSIGNAL);
    }
    /// sendfile(2) from `fd` at `*offset` (advanced) to the socket; errno as the system call's.
    ssize_t send_file(int fd, off_t* offset, std::size_t count) noexcept {
        return ::sendfile(socket_.native_handle(), fd, offset, count);
    }
    template <class Handler>
    void wait_readable(Handler&& handler) {
        socket_.async_wait(Socket::wait_read, std::forward<Handler>(handler));
    }
    template <class Handler>
    void wait_writable(Handler&& handler) {
        socket_.async_wait(Socket::wait_write, std::forward<Handler>(handler));
    }
    [[nodiscard]] static constexpr bool wait_after_short_read() noexcept { return true; }

    void shutdown_write() noexcept {
        boost::system::error_code ec;
        socket_.shutdown(Socket::shutdown_send, ec);
    }

    /// Reset: TCP sends RST and drops unsent output (a UNIX socket just closes). Linger: shut our side
    /// and let the reactor read and discard until the peer's EOF (ReactorCore::linger), so that closing
    /// with unread input does not destroy what we sent (TCP: a reset; UNIX: ECONNRESET after the data).
    void close(ReactorCore& core, bool reset, bool linger) noexcept {
        boost::system::error_code ec;
        if (reset) {
            socket_.set_option(boost::asio::socket_base::linger(true, 0), ec);
            socket_.close(ec);
        } else if (linger) {
            socket_.shutdown(Socket::shutdown_send, ec);
            const int fd = socket_.release(ec);
            if (ec) {
                socket_.close(ec);
                return;
            }
            core.linger(fd);
        } else {
            socket_.close(ec);
        }
    }

    Socket& socket() noexcept { return socket_; }
    const Socket& socket() const noexcept { return socket_; }

protected:
    Socket socket_;
    Peer peer_;
};

}  // namespace weft::detail
