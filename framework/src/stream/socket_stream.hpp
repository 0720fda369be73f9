#pragma once
// SocketStream: the stream core's backend over one connected stream socket (TCP, UNIX).

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <unistd.h>

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

    /// With the core's EdgePoller, the socket moves to the core's socket_context() (a context nobody runs:
    /// Asio never waits on it, so never re-arms it) and registers with the poller, once.
    SocketStream(ReactorCore& core, Socket socket, Peer peer) : socket_(std::move(socket)), peer_(std::move(peer)) {
        boost::system::error_code ec;
        socket_.non_blocking(true, ec);
        if (EdgePoller* poller = core.poller()) {
            if (&socket_.get_executor().context() != &core.socket_context()) rebind(core.socket_context());
            poller_id_ = poller->add(socket_.native_handle());
            if (poller_id_ != EdgePoller::none) {
                poller_ = poller;
            } else {
                rebind(core.io());  // the kernel refused the registration: Asio's readiness for this one
            }
        }
    }
    SocketStream(SocketStream&& other) noexcept
        : socket_(std::move(other.socket_)),
          peer_(std::move(other.peer_)),
          poller_(std::exchange(other.poller_, nullptr)),
          poller_id_(std::exchange(other.poller_id_, EdgePoller::none)) {}
    SocketStream& operator=(SocketStream&&) = delete;
    SocketStream(const SocketStream&) = delete;
    SocketStream& operator=(const SocketStream&) = delete;
    ~SocketStream() { leave_poller(false); }

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
        if (poller_ != nullptr) return poller_->wait_read(poller_id_, std::forward<Handler>(handler));
        socket_.async_wait(Socket::wait_read, std::forward<Handler>(handler));
    }
    template <class Handler>
    void wait_writable(Handler&& handler) {
        if (poller_ != nullptr) return poller_->wait_write(poller_id_, std::forward<Handler>(handler));
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
        leave_poller(linger);  // a lingering descriptor stays open, on Asio's reactor
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

private:
    /// Moves the open descriptor to `context` (Asio deregisters it from the old reactor, registers it with
    /// the new one). If that fails the socket is closed and left, closed, on `context`: a wait on it then
    /// fails at once, so the transport sees the error (left on the context nobody runs, it never would).
    void rebind(boost::asio::io_context& context) noexcept {
        boost::system::error_code ec;
        const auto protocol = socket_.local_endpoint(ec).protocol();
        if (!ec) {
            const int fd = socket_.release(ec);
            if (!ec) {
                Socket moved(context);
                moved.assign(protocol, fd, ec);
                if (!ec) {
                    socket_ = std::move(moved);
                    return;
                }
                ::close(fd);
            }
        }
        socket_.close(ec);
        socket_ = Socket(context);
    }
    void leave_poller(bool still_open) noexcept {
        if (poller_ != nullptr) std::exchange(poller_, nullptr)->remove(poller_id_, still_open);
        poller_id_ = EdgePoller::none;
    }

    EdgePoller* poller_ = nullptr;
    EdgePoller::Id poller_id_ = EdgePoller::none;
};

}  // namespace weft::detail
