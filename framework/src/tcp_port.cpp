#include "tcp_port.hpp"

#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>

#include "reactor_core.hpp"
#include "tcp_connection.hpp"
#include "weft/error.hpp"

namespace weft::detail {

std::optional<TcpPortKind::Peer> TcpPortKind::peer_of(Socket& socket) {
    boost::system::error_code ec;
    const auto ep = socket.remote_endpoint(ec);
    if (ec) return std::nullopt;
    return ep;
}

void TcpPortKind::start_connection(ReactorCore& core, Socket&& socket, const Peer& peer,
                                   std::unique_ptr<Protocol> protocol) {
    std::make_shared<TcpConnection>(core, std::move(socket), peer, std::move(protocol))->start();
}

namespace {
Address bound_address(TcpPort& port) {
    boost::system::error_code ec;
    const auto ep = port.acceptor().local_endpoint(ec);
    return {ep.address().to_string(), ep.port()};
}
}  // namespace

std::shared_ptr<TcpPort> listen_tcp(ReactorCore& core, std::uint16_t port, Factory& factory, const ListenOptions& options) {
    const std::string iface = options.interface.empty() ? "0.0.0.0" : options.interface;
    const std::string where = (iface.find(':') != std::string::npos ? "[" + iface + "]" : iface) + ":" +
                              std::to_string(port);
    boost::system::error_code ec;
    auto addr = boost::asio::ip::make_address(iface, ec);
    if (ec) throw BindError(where, std::make_error_code(std::errc::invalid_argument));
    auto p = std::make_shared<TcpPort>(core, factory, TcpPortKind{});
    p->use_tls(options.tls);
    auto& acceptor = p->acceptor();
    boost::asio::ip::tcp::endpoint ep(addr, port);
    acceptor.open(ep.protocol(), ec);
    if (!ec && options.reuse_address) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
    if (!ec && options.reuse_port) {
        const int on = 1;
        if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
            ec.assign(errno, boost::system::system_category());
        }
    }
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(options.backlog, ec);
    if (ec) {
        boost::system::error_code ignored;
        acceptor.close(ignored);
        throw BindError(where, ec);
    }
    p->start(bound_address(*p));
    return p;
}

void check_listening_socket(int fd, int domain, const std::string& what) {
    auto get = [fd](int option) {
        int value = 0;
        socklen_t len = sizeof value;
        if (::getsockopt(fd, SOL_SOCKET, option, &value, &len) != 0) return -1;
        return value;
    };
    if (get(SO_TYPE) < 0) throw BindError(what, std::error_code(errno, std::system_category()));
    if (get(SO_TYPE) != SOCK_STREAM || get(SO_DOMAIN) != domain || get(SO_ACCEPTCONN) != 1) {
        throw BindError(what + " (not a listening stream socket of the expected family)",
                        std::make_error_code(std::errc::invalid_argument));
    }
}

std::shared_ptr<TcpPort> adopt_tcp_port(ReactorCore& core, int fd, SocketFamily family, Factory& factory) {
    const bool v6 = family == SocketFamily::inet6;
    const std::string what = "inherited descriptor " + std::to_string(fd);
    check_listening_socket(fd, v6 ? AF_INET6 : AF_INET, what);
    auto p = std::make_shared<TcpPort>(core, factory, TcpPortKind{});
    boost::system::error_code ec;
    p->acceptor().assign(v6 ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4(), fd, ec);
    if (ec) throw BindError(what, ec);
    p->start(bound_address(*p));
    return p;
}

}  // namespace weft::detail
