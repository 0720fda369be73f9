#include "weft/deferred_endpoints.hpp"

#include <exception>
#include <optional>
#include <utility>

#include "connection_made_listener.hpp"
#include "endpoint_connection.hpp"
#include "weft/client_factory.hpp"
#include "weft/string_endpoints.hpp"

namespace weft {

namespace detail {

namespace {

/// Wraps the user's factory for one attempt (Twisted: endpoints._WrappingFactory). It owns itself from
/// the connect until the connector stops it (stop_factory), which every attempt ends with: refused, timed
/// out, stopped, or connected and later lost. Only the Deferred's canceller refers to it from outside, weakly.
class AttemptFactory final : public ClientFactory,
                             public ConnectionMadeListener,
                             public std::enable_shared_from_this<AttemptFactory> {
public:
    AttemptFactory(Factory& factory, std::shared_ptr<Factory> owner, std::function<void(const Reason&)> on_lost)
        : factory_(factory), owner_(std::move(owner)), on_lost_(std::move(on_lost)) {}

    Deferred<Protocol*> start(ReactorNetwork& reactor, const ClientEndpoint& endpoint, SourceLocation where) {
        std::weak_ptr<AttemptFactory> weak = shared_from_this();
        result_.emplace(
            [weak](Deferred<Protocol*>&) {
                if (auto self = weak.lock()) self->cancel();
            },
            where);
        Deferred<Protocol*> result = *result_;
        self_ = shared_from_this();
        try {
            connector_ = connect_to(reactor, endpoint, *this);
        } catch (const EndpointError&) {
            // Nothing started (or the connector already gave up): no stop_factory will come.
            auto keep = std::move(self_);
            result.errback(Failure(std::current_exception()));
        } catch (const std::exception& e) {
            // A TLS file that cannot be used, a socket that cannot be made: the attempt failed, as documented.
            auto keep = std::move(self_);
            result.errback(Failure(ConnectError(to_string(endpoint), Reason::error(e.what()))));
        }
        return result;
    }

    std::unique_ptr<Protocol> build_protocol(const Address& peer) override {
        auto protocol = factory_.build_protocol(peer);
        if (protocol) {
            protocol->set_factory(&factory_);
            protocol_ = protocol.get();
        }
        return protocol;
    }
    void start_factory() override { factory_.do_start(); }
    void stop_factory() override {
        // The connector's last call: it holds nothing of ours after it. Released when this returns.
        auto keep = std::move(self_);
        factory_.do_stop();
    }

    void client_connection_failed(Connector& connector, const Reason& reason) override {
        fail(connector, reason);
    }
    void client_connection_lost(Connector& connector, const Reason& reason) override {
        if (!made_) return fail(connector, reason);
        protocol_ = nullptr;
        if (on_lost_) on_lost_(reason);
    }
    void connection_made(Connector&) override {
        made_ = true;
        if (result_ && !result_->called()) result_->callback(protocol_);
    }

private:
    void fail(Connector& connector, const Reason& reason) {
        protocol_ = nullptr;
        if (result_ && !result_->called()) result_->errback(Failure(ConnectError(connector.destination(), reason)));
    }
    void cancel() {
        auto connector = connector_.lock();
        if (!connector) return;
        if (connector->state() == Connector::State::connecting) {
            connector->stop_connecting();
        } else if (connector->state() == Connector::State::connected) {
            connector->disconnect();
        }
    }

    Factory& factory_;
    std::shared_ptr<Factory> owner_;
    std::function<void(const Reason&)> on_lost_;
    std::optional<Deferred<Protocol*>> result_;
    std::shared_ptr<AttemptFactory> self_;
    std::weak_ptr<Connector> connector_;
    Protocol* protocol_ = nullptr;
    bool made_ = false;
};

/// Builds the one protocol connect_protocol was given (Twisted: endpoints._OneShotFactory).
class OneShotFactory final : public Factory {
public:
    explicit OneShotFactory(std::unique_ptr<Protocol> protocol) : protocol_(std::move(protocol)) {}
    std::unique_ptr<Protocol> build_protocol(const Address&) override { return std::move(protocol_); }

private:
    std::unique_ptr<Protocol> protocol_;
};

}  // namespace

Deferred<Protocol*> connect_endpoint(ReactorNetwork& reactor, const ClientEndpoint& endpoint, Factory& factory,
                                     std::shared_ptr<Factory> owner, std::function<void(const Reason&)> on_lost,
                                     SourceLocation where) {
    auto attempt = std::make_shared<AttemptFactory>(factory, std::move(owner), std::move(on_lost));
    return attempt->start(reactor, endpoint, where);
}

Deferred<Protocol*> connect_protocol(ReactorNetwork& reactor, const ClientEndpoint& endpoint,
                                     std::unique_ptr<Protocol> protocol, SourceLocation where) {
    auto factory = std::make_shared<OneShotFactory>(std::move(protocol));
    Factory& ref = *factory;
    return connect_endpoint(reactor, endpoint, ref, std::move(factory), nullptr, where);
}

}  // namespace detail

Deferred<Protocol*> endpoint_connect(ReactorNetwork& reactor, const ClientEndpoint& endpoint, Factory& factory,
                                     SourceLocation where) {
    return detail::connect_endpoint(reactor, endpoint, factory, nullptr, nullptr, where);
}

Deferred<Protocol*> endpoint_connect(ReactorNetwork& reactor, const ClientEndpoint& endpoint,
                                     std::shared_ptr<Factory> factory, SourceLocation where) {
    if (!factory) throw std::invalid_argument("endpoint_connect: no factory");
    Factory& ref = *factory;
    return detail::connect_endpoint(reactor, endpoint, ref, std::move(factory), nullptr, where);
}

Deferred<Protocol*> endpoint_connect(ReactorNetwork& reactor, std::string_view description, Factory& factory,
                                     SourceLocation where) {
    return endpoint_connect(reactor, parse_client_endpoint(description), factory, where);
}

Deferred<Protocol*> endpoint_connect(ReactorNetwork& reactor, std::string_view description,
                                     std::shared_ptr<Factory> factory, SourceLocation where) {
    return endpoint_connect(reactor, parse_client_endpoint(description), std::move(factory), where);
}

Deferred<std::shared_ptr<ListeningPort>> endpoint_listen(ReactorNetwork& reactor, const ServerEndpoint& endpoint,
                                                         Factory& factory, SourceLocation where) {
    try {
        return succeed(listen_on(reactor, endpoint, factory), where);
    } catch (...) {
        return fail<std::shared_ptr<ListeningPort>>(Failure(std::current_exception()), where);
    }
}

Deferred<std::shared_ptr<ListeningPort>> endpoint_listen(ReactorNetwork& reactor, std::string_view description,
                                                         Factory& factory, SourceLocation where) {
    return endpoint_listen(reactor, parse_server_endpoint(description), factory, where);
}

}  // namespace weft
