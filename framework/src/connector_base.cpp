#include "connector_base.hpp"

#include <boost/asio/post.hpp>

#include "connection_made_listener.hpp"
#include "reactor_core.hpp"
#include "tls/tls_layer.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"

namespace weft::detail {

ConnectorBase::ConnectorBase(ReactorCore& core, ClientFactory& factory, Duration timeout)
    : core_(core), factory_(factory), timeout_duration_(timeout) {}

ConnectorBase::~ConnectorBase() {
    if (timeout_.active()) timeout_.cancel();
    if (retry_.active()) retry_.cancel();
}

void ConnectorBase::connect() {
    if (state_ != State::disconnected) throw StateError("connect() on a connector that is not disconnected");
    auto self = shared_from_this();
    core_.keep(self);
    // Connecting by hand replaces a scheduled retry (which held us: the reactor does now).
    if (retry_.active()) retry_.cancel();
    state_ = State::connecting;
    const auto attempt = ++attempt_;
    if (!factory_started_) {
        run_guarded("start_factory", [this] { factory_.do_start(); });
        factory_started_ = true;
    }
    if (core_.shutting_down()) {
        // A retry that fires while the reactor shuts down: fail it (on a later turn) rather than start a
        // connection that shutdown would have to wait for.
        asio::post(core_.io(), [self, attempt] {
            if (self->current(attempt)) self->fail(Reason::aborted("the reactor is shutting down"));
        });
        return;
    }
    std::weak_ptr<ConnectorBase> weak = self;
    timeout_ = core_.call_later(timeout_duration_, [weak, attempt] {
        auto me = weak.lock();
        if (!me || !me->current(attempt)) return;
        me->fail(Reason::lost(std::make_error_code(std::errc::timed_out), "connection attempt timed out"));
    });
    // Posted: started_connecting (and everything after) must not run inside connect_tcp()/connect().
    asio::post(core_.io(), [self, attempt] {
        if (!self->current(attempt)) return;
        run_guarded("started_connecting", [&] { self->factory_.started_connecting(*self); });
        if (!self->current(attempt)) return;
        try {
            self->start_attempt();
        } catch (const std::exception& e) {
            // A kind that cannot even begin (Asio refusing an address) fails the attempt, not the reactor.
            if (self->current(attempt)) self->fail(Reason::error(std::string("cannot connect: ") + e.what()));
        }
    });
}

std::unique_ptr<Protocol> ConnectorBase::make_protocol(const Address& peer) {
    if (timeout_.active()) timeout_.cancel();
    const auto attempt = attempt_;
    std::unique_ptr<Protocol> protocol;
    run_guarded("build_protocol", [&] { protocol = factory_.build_protocol(peer); });
    // build_protocol may have stopped the attempt (stop_trying): its own failure is reported already.
    if (!current(attempt)) return nullptr;
    if (!protocol) {
        fail(Reason::error("the factory built no protocol for " + destination()));
        return nullptr;
    }
    // A factory that wraps another (endpoint_connect's) has set the wrapped one, as Twisted's buildProtocol
    // sets protocol.factory itself.
    if (protocol->factory() == nullptr) protocol->set_factory(&factory_);
    if (tls_) {
        TlsStart start;
        start.server_name = tls_server_name_;
        protocol = wrap_in_tls(core_, std::move(protocol), tls_, std::move(start));
    }
    return protocol;
}

void ConnectorBase::use_tls(std::shared_ptr<TlsContext> context, std::string server_name) {
    if (context && context->is_server()) throw TlsError("connecting needs a client TlsContext, not a server one");
    tls_ = std::move(context);
    tls_server_name_ = std::move(server_name);
}

void ConnectorBase::attach(const std::shared_ptr<LiveTransport>& connection) {
    state_ = State::connected;
    connection_ = connection;
}

void ConnectorBase::fail(const Reason& reason) {
    auto self = shared_from_this();  // settle() drops the reactor's reference
    ++attempt_;                      // whatever is still in flight for this attempt is now ignored
    if (timeout_.active()) timeout_.cancel();
    abandon_attempt();
    state_ = State::disconnected;
    WEFT_LOG(debug) << "connection to " << destination() << " failed: " << reason.to_string();
    run_guarded("client_connection_failed", [&] { factory_.client_connection_failed(*this, reason); });
    settle();
}

void ConnectorBase::stop_connecting() {
    if (state_ != State::connecting) throw StateError("stop_connecting(): not connecting");
    // Stop now, report on the next turn: client_connection_failed must not run inside stop_connecting().
    const auto attempt = ++attempt_;
    if (timeout_.active()) timeout_.cancel();
    abandon_attempt();
    asio::post(core_.io(), [self = shared_from_this(), attempt] {
        if (self->current(attempt)) self->fail(Reason::aborted("connection attempt stopped"));
    });
}

void ConnectorBase::disconnect() {
    if (state_ == State::connecting) return stop_connecting();
    if (auto connection = connection_.lock()) connection->shutdown(false);  // lose_connection, TLS's when wrapped
}

void ConnectorBase::connection_made() {
    if (auto* listener = dynamic_cast<ConnectionMadeListener*>(&factory_)) {
        auto self = shared_from_this();  // the listener's callbacks may close the connection
        run_guarded("connection_made listener", [&] { listener->connection_made(*this); });
    }
}

void ConnectorBase::connection_lost(const Reason& reason) {
    auto self = shared_from_this();
    state_ = State::disconnected;
    connection_.reset();
    run_guarded("client_connection_lost", [&] { factory_.client_connection_lost(*this, reason); });
    settle();
}

DelayedCall ConnectorBase::retry_in(Duration delay, ReactorTime& time) {
    auto self = shared_from_this();  // the retry this one replaces may hold our last reference
    if (retry_.active()) retry_.cancel();
    // The call holds us (muduo's Connector::retry does the same): once it ran or was cancelled, whoever
    // asked for it has nothing left that could dangle.
    retry_ = time.call_later(delay, [self] {
        if (self->state_ == State::disconnected) self->connect();
    });
    return retry_;
}

void ConnectorBase::settle() {
    if (state_ != State::disconnected) return;  // the factory connected again from its callback
    if (factory_started_) {
        factory_started_ = false;
        run_guarded("stop_factory", [this] { factory_.do_stop(); });
        if (state_ != State::disconnected) return;
    }
    core_.release(shared_from_this());
}

}  // namespace weft::detail
