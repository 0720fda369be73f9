#include "tcp_connector.hpp"

#include "reactor_core.hpp"
#include "tcp_connection.hpp"
#include "weft/resolver.hpp"

namespace weft::detail {

TcpConnector::TcpConnector(ReactorCore& core, std::string host, std::uint16_t port, ClientFactory& factory,
                           ConnectOptions options)
    : ConnectorBase(core, factory, options.timeout),
      host_(std::move(host)),
      port_(port),
      options_(std::move(options)),
      socket_(core.io()) {
    use_tls(options_.tls, host_);
}

std::string TcpConnector::destination() const {
    return (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

void TcpConnector::start_attempt() {
    if (auto numeric = numeric_address(host_, port_)) return connect_to({*numeric});
    // The reactor's resolver (getaddrinfo on the thread pool by default, or what set_resolver gave). The
    // handlers hold the connector weakly: a resolver that never answers must not keep it alive.
    std::weak_ptr<TcpConnector> weak = self();
    const auto attempt = this->attempt();
    auto d = core_.owner->resolver().resolve(host_, port_);
    resolution_ = d;
    d.add_callbacks(
        [weak, attempt](std::vector<Address> addresses) {
            auto me = weak.lock();
            if (!me || !me->current(attempt)) return;
            me->resolution_.reset();
            if (addresses.empty()) {
                return me->fail(Reason::lost(std::make_error_code(std::errc::host_unreachable),
                                             "cannot resolve " + me->host_ + ": the resolver gave no address"));
            }
            me->connect_to(addresses);
        },
        [weak, attempt](const Failure& f) {
            auto me = weak.lock();
            if (!me || !me->current(attempt)) return;
            me->resolution_.reset();
            const std::string why = f.what();
            // ResolveError says "cannot resolve HOST: ..." already; another resolver's failure is named here.
            me->fail(Reason::lost(std::make_error_code(std::errc::host_unreachable),
                                  f.check<ResolveError>() ? why : "cannot resolve " + me->host_ + ": " + why));
        });
}

void TcpConnector::abandon_attempt() noexcept {
    // attempt() has moved on (fail, stop_connecting), so the errback the cancel runs ignores it.
    if (auto d = std::exchange(resolution_, std::nullopt)) {
        try {
            d->cancel();
        } catch (const std::exception& e) {
            WEFT_LOG(warning) << "cancelling the resolution of " << host_ << " threw: " << e.what();
        }
    }
    boost::system::error_code ec;
    socket_.close(ec);
}

void TcpConnector::connect_to(const std::vector<Address>& addresses) {
    endpoints_.clear();
    std::string bad;
    for (const auto& a : addresses) {
        boost::system::error_code ec;
        const auto addr = asio::ip::make_address(a.host, ec);
        if (ec) {
            bad = a.host;
            continue;
        }
        endpoints_.emplace_back(addr, a.port);
    }
    if (endpoints_.empty() && !bad.empty()) {
        return fail(Reason::error("cannot connect to " + destination() + ": the resolver gave \"" + bad +
                                  "\", not a numeric address"));
    }
    try_endpoint(0, asio::error::host_not_found);
}

void TcpConnector::try_endpoint(std::size_t index, boost::system::error_code last) {
    if (index >= endpoints_.size()) {
        return fail(Reason::lost(last, "cannot connect to " + destination() + ": " + last.message()));
    }
    const asio::ip::tcp::endpoint ep = endpoints_[index];
    boost::system::error_code ec;
    socket_ = Socket(core_.io());
    socket_.open(ep.protocol(), ec);
    if (!ec && !options_.bind_address.empty()) {
        const auto local = asio::ip::make_address(options_.bind_address, ec);
        if (!ec) socket_.bind(asio::ip::tcp::endpoint(local, 0), ec);
    }
    if (ec) return try_endpoint(index + 1, ec);
    socket_.async_connect(ep, [self = self(), attempt = attempt(), index](const boost::system::error_code& e) {
        if (!self->current(attempt)) return;
        if (e) {
            boost::system::error_code ignored;
            self->socket_.close(ignored);
            return self->try_endpoint(index + 1, e);
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
