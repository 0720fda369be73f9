#include "tcp_connector.hpp"

#include "reactor_core.hpp"
#include "tcp_connection.hpp"

namespace weft::detail {

TcpConnector::TcpConnector(ReactorCore& core, std::string host, std::uint16_t port, ClientFactory& factory,
                           ConnectOptions options)
    : ConnectorBase(core, factory, options.timeout),
      host_(std::move(host)),
      port_(port),
      options_(std::move(options)),
      resolver_(core.io()),
      socket_(core.io()) {
    use_tls(options_.tls, host_);
}

std::string TcpConnector::destination() const {
    return (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

void TcpConnector::start_attempt() {
    boost::system::error_code ec;
    const auto addr = asio::ip::make_address(host_, ec);
    if (!ec) {
        return connect_to(asio::ip::tcp::resolver::results_type::create(asio::ip::tcp::endpoint(addr, port_),
                                                                        host_, std::to_string(port_)));
    }
    resolver_.async_resolve(host_, std::to_string(port_),
                            [self = self(), attempt = attempt()](const boost::system::error_code& e,
                                                                 asio::ip::tcp::resolver::results_type results) {
                                if (!self->current(attempt)) return;
                                if (e) return self->fail(Reason::lost(e, "cannot resolve " + self->host_ + ": " + e.message()));
                                self->connect_to(std::move(results));
                            });
}

void TcpConnector::abandon_attempt() noexcept {
    resolver_.cancel();
    boost::system::error_code ec;
    socket_.close(ec);
}

void TcpConnector::connect_to(asio::ip::tcp::resolver::results_type endpoints) {
    endpoints_ = std::move(endpoints);
    try_endpoint(endpoints_.begin(), asio::error::host_not_found);
}

void TcpConnector::try_endpoint(asio::ip::tcp::resolver::results_type::const_iterator it,
                                boost::system::error_code last) {
    if (it == endpoints_.end()) return fail(Reason::lost(last, "cannot connect to " + destination() + ": " + last.message()));
    const asio::ip::tcp::endpoint ep = it->endpoint();
    boost::system::error_code ec;
    socket_ = Socket(core_.io());
    socket_.open(ep.protocol(), ec);
    if (!ec && !options_.bind_address.empty()) {
        const auto local = asio::ip::make_address(options_.bind_address, ec);
        if (!ec) socket_.bind(asio::ip::tcp::endpoint(local, 0), ec);
    }
    if (ec) return try_endpoint(std::next(it), ec);
    socket_.async_connect(ep, [self = self(), attempt = attempt(), it](const boost::system::error_code& e) {
        if (!self->current(attempt)) return;
        if (e) {
            boost::system::error_code ignored;
            self->socket_.close(ignored);
            return self->try_endpoint(std::next(it), e);
        }
        self->connected();
    });
}

void TcpConnector::connected() {
    boost::system::error_code ec;
    const auto ep = socket_.remote_endpoint(ec);
    if (ec) return fail(Reason::lost(ec));
    auto protocol = make_protocol({ep.address().to_string(), ep.port()});
    if (!protocol) return;  // the attempt has failed (or was stopped) already
    auto connection = std::make_shared<TcpConnection>(core_, std::move(socket_), ep, std::move(protocol));
    attach(connection);
    connection->start(self());
}

}  // namespace weft::detail
