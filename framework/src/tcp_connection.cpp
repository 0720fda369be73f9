#include "tcp_connection.hpp"

namespace weft::detail {

namespace {
Address to_address(const boost::asio::ip::tcp::endpoint& ep) { return {ep.address().to_string(), ep.port()}; }
}  // namespace

Address TcpStream::peer() const { return to_address(peer_); }

Address TcpStream::host() const {
    boost::system::error_code ec;
    auto ep = socket().local_endpoint(ec);
    return ec ? Address{} : to_address(ep);
}

std::string TcpStream::describe(std::uint64_t id) const { return "conn " + std::to_string(id) + " " + peer().to_string(); }

TcpConnection::TcpConnection(ReactorCore& core, Socket socket, const boost::asio::ip::tcp::endpoint& peer,
                             std::unique_ptr<Protocol> protocol)
    : StreamTransport(core, TcpStream(core, std::move(socket), peer), std::move(protocol)) {
    // weft already gathers a turn's writes into one sendmsg, so Nagle's algorithm would only hold small
    // replies back waiting for an ACK. Off by default, as in Go; set_tcp_nodelay(false) turns it back on.
    set_tcp_nodelay(true);
}

bool TcpConnection::set_tcp_nodelay(bool enabled) {
    boost::system::error_code ec;
    backend().socket().set_option(boost::asio::ip::tcp::no_delay(enabled), ec);
    return !ec;
}

bool TcpConnection::set_tcp_keepalive(bool enabled) {
    boost::system::error_code ec;
    backend().socket().set_option(boost::asio::socket_base::keep_alive(enabled), ec);
    return !ec;
}

}  // namespace weft::detail
