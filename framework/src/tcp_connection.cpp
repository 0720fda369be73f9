#include "tcp_connection.hpp"

#include "reactor_core.hpp"

namespace weft::detail {

namespace {
Address to_address(const asio::ip::tcp::endpoint& ep) { return {ep.address().to_string(), ep.port()}; }
}  // namespace

TcpStream::TcpStream(Socket socket, const asio::ip::tcp::endpoint& peer) : socket_(std::move(socket)), peer_(peer) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    // weft already gathers a turn's writes into one sendmsg, so Nagle's algorithm would only hold small
    // replies back waiting for an ACK. Off by default, as in Go; set_tcp_nodelay(false) turns it back on.
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

void TcpStream::shutdown_write() noexcept {
    boost::system::error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_send, ec);
}

void TcpStream::close(ReactorCore& core, bool reset, bool linger) noexcept {
    boost::system::error_code ec;
    if (reset) {
        socket_.set_option(asio::socket_base::linger(true, 0), ec);  // RST, and unsent output is dropped
        socket_.close(ec);
    } else if (linger) {
        socket_.shutdown(asio::socket_base::shutdown_send, ec);
        core.linger(std::move(socket_));
    } else {
        socket_.close(ec);
    }
}

Address TcpStream::peer() const { return to_address(peer_); }

Address TcpStream::host() const {
    boost::system::error_code ec;
    auto ep = socket_.local_endpoint(ec);
    return ec ? Address{} : to_address(ep);
}

std::string TcpStream::describe(std::uint64_t id) const { return "conn " + std::to_string(id) + " " + peer().to_string(); }

TcpConnection::TcpConnection(ReactorCore& core, Socket socket, const asio::ip::tcp::endpoint& peer,
                             std::unique_ptr<Protocol> protocol)
    : StreamTransport(core, TcpStream(std::move(socket), peer), std::move(protocol)) {}

bool TcpConnection::set_tcp_nodelay(bool enabled) {
    boost::system::error_code ec;
    backend().socket().set_option(asio::ip::tcp::no_delay(enabled), ec);
    return !ec;
}

bool TcpConnection::set_tcp_keepalive(bool enabled) {
    boost::system::error_code ec;
    backend().socket().set_option(asio::socket_base::keep_alive(enabled), ec);
    return !ec;
}

}  // namespace weft::detail
