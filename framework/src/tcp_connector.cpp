#include "tcp_connector.hpp"

#include <boost/asio/post.hpp>

#include "reactor_core.hpp"
#include "tcp_connection.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"
#include "weft/reconnecting_client_factory.hpp"

namespace weft::detail {

TcpConnector::TcpConnector(ReactorCore& core, std::string host, std::uint16_t port, ClientFactory& factory,
                           ConnectOptions options)
    : core_(core),
      host_(std::move(host)),
      port_(port),
      factory_(factory),
      options_(std::move(options)),
      resolver_(core.io()),
      socket_(core.io()) {}

TcpConnector::~TcpConnector() {
    if (timeout_.active()) timeout_.cancel();
}

std::string TcpConnector::destination() const {
    return (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

void TcpConnector::connect() {
    if (state_ != State::disconnected) throw StateError("connect() on a connector that is not disconnected");
    state_ = State::connecting;
    const auto attempt = ++attempt_;
    if (!factory_started_) {
        run_guarded("start_factory", [this] { factory_.do_start(); });
        factory_started_ = true;
    }
    auto self = shared_from_this();
    core_.keep(self);
    if (core_.shutting_down()) {
        // A retry that fires while the reactor shuts down: fail it (on a later turn) rather than start a
        // connection that shutdown would have to wait for.
        asio::post(core_.io(), [self, attempt] {
            if (self->attempt_ == attempt) self->fail(Reason::aborted("the reactor is shutting down"));
        });
        return;
    }
    std::weak_ptr<TcpConnector> weak = self;
    timeout_ = core_.call_later(options_.timeout, [weak, attempt] {
        auto me = weak.lock();
        if (!me || me->attempt_ != attempt || me->state_ != State::connecting) return;
        me->fail(Reason::lost(std::make_error_code(std::errc::timed_out), "connection attempt timed out"));
    });
    // Posted: started_connecting (and everything after) must not run inside connect_tcp()/connect().
    asio::post(core_.io(), [self, attempt] {
        if (self->attempt_ != attempt) return;
        run_guarded("started_connecting", [&] { self->factory_.started_connecting(*self); });
        if (self->attempt_ != attempt || self->state_ != State::connecting) return;
        boost::system::error_code ec;
        const auto addr = asio::ip::make_address(self->host_, ec);
        if (!ec) {
            return self->connect_to(asio::ip::tcp::resolver::results_type::create(
                asio::ip::tcp::endpoint(addr, self->port_), self->host_, std::to_string(self->port_)));
        }
        self->resolver_.async_resolve(self->host_, std::to_string(self->port_),
                                      [self, attempt](const boost::system::error_code& e,
                                                      asio::ip::tcp::resolver::results_type results) {
                                          if (self->attempt_ != attempt) return;
                                          if (e) {
                                              return self->fail(Reason::lost(
                                                  e, "cannot resolve " + self->host_ + ": " + e.message()));
                                          }
                                          self->connect_to(std::move(results));
                                      });
    });
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
    const auto attempt = attempt_;
    socket_.async_connect(ep, [self = shared_from_this(), attempt, it](const boost::system::error_code& e) {
        if (self->attempt_ != attempt) return;
        if (e) {
            boost::system::error_code ignored;
            self->socket_.close(ignored);
            return self->try_endpoint(std::next(it), e);
        }
        self->connected();
    });
}

void TcpConnector::connected() {
    if (timeout_.active()) timeout_.cancel();
    boost::system::error_code ec;
    const auto ep = socket_.remote_endpoint(ec);
    if (ec) return fail(Reason::lost(ec));
    std::unique_ptr<Protocol> protocol;
    run_guarded("build_protocol", [&] { protocol = factory_.build_protocol({ep.address().to_string(), ep.port()}); });
    if (!protocol) {
        socket_.close(ec);
        return fail(Reason::error("the factory built no protocol for " + destination()));
    }
    protocol->set_factory(&factory_);
    state_ = State::connected;
    auto connection = std::make_shared<TcpConnection>(core_, std::move(socket_), ep, std::move(protocol));
    connection_ = connection;
    connection->start(shared_from_this());
}

void TcpConnector::fail(const Reason& reason) {
    ++attempt_;  // whatever is still in flight for this attempt is now ignored
    if (timeout_.active()) timeout_.cancel();
    resolver_.cancel();
    boost::system::error_code ec;
    socket_.close(ec);
    state_ = State::disconnected;
    WEFT_LOG(debug) << "connection to " << destination() << " failed: " << reason.to_string();
    run_guarded("client_connection_failed", [&] { factory_.client_connection_failed(*this, reason); });
    settle();
}

void TcpConnector::stop_connecting() {
    if (state_ != State::connecting) throw StateError("stop_connecting(): not connecting");
    // Stop now, report on the next turn: client_connection_failed must not run inside stop_connecting().
    const auto attempt = ++attempt_;
    if (timeout_.active()) timeout_.cancel();
    resolver_.cancel();
    boost::system::error_code ec;
    socket_.close(ec);
    asio::post(core_.io(), [self = shared_from_this(), attempt] {
        if (self->attempt_ != attempt) return;
        self->fail(Reason::aborted("connection attempt stopped"));
    });
}

void TcpConnector::disconnect() {
    if (state_ == State::connecting) return stop_connecting();
    if (auto connection = connection_.lock()) connection->lose_connection();
}

void TcpConnector::connection_lost(const Reason& reason) {
    state_ = State::disconnected;
    connection_.reset();
    run_guarded("client_connection_lost", [&] { factory_.client_connection_lost(*this, reason); });
    settle();
}

void TcpConnector::retry_abandoned() {
    if (state_ == State::disconnected) core_.release(shared_from_this());  // settle() kept us for the retry
}

void TcpConnector::settle() {
    if (state_ != State::disconnected) return;  // the factory connected again from its callback
    if (factory_started_) {
        factory_started_ = false;
        run_guarded("stop_factory", [this] { factory_.do_stop(); });
    }
    // A reconnecting factory holds only a reference to us and will call connect() later.
    auto* reconnecting = dynamic_cast<ReconnectingClientFactory*>(&factory_);
    if (reconnecting != nullptr && reconnecting->continue_trying() && reconnecting->pending_retry().active()) {
        return core_.connector_settled();
    }
    core_.release(shared_from_this());
}

}  // namespace weft::detail
