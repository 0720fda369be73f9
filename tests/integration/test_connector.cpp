// The connector's own retry (Connector::retry_in, used by ReconnectingClientFactory): who keeps a
// connector alive while it waits, and what lets it go.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "support/loop.hpp"
#include "weft/protocols/policies.hpp"
#include "weft/reconnecting_client_factory.hpp"

using namespace weft_test;
namespace asio = boost::asio;

namespace {

/// A loopback port nothing listens on (bound once by the OS's choice, then closed).
std::uint16_t unused_port(weft::Reactor& reactor) {
    asio::ip::tcp::acceptor probe(reactor.context(), {asio::ip::make_address("127.0.0.1"), 0});
    return probe.local_endpoint().port();
}

/// A reconnecting factory that counts what the connector calls and runs a hook after each failure (after
/// the base class has scheduled its retry, or given up).
struct Counting : weft::ReconnectingClientFactory {
    using ReconnectingClientFactory::ReconnectingClientFactory;
    int starts = 0, stops = 0, connecting = 0, failures = 0;
    std::function<void()> on_failure, on_stop;
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override { return nullptr; }
    void start_factory() override { ++starts; }
    void stop_factory() override {
        ++stops;
        if (on_stop) on_stop();
    }
    void started_connecting(weft::Connector&) override { ++connecting; }
    void client_connection_failed(weft::Connector& c, const weft::Reason& r) override {
        ++failures;
        ReconnectingClientFactory::client_connection_failed(c, r);
        if (on_failure) on_failure();
    }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("a connector whose factory stops trying during the retry wait is let go, and shutdown does not wait for it",
          "[connector][reconnecting]") {
    weft::Reactor reactor;
    Counting factory(reactor, 7);
    factory.initial_delay = 60;  // the retry stays scheduled for the whole test
    factory.jitter = 0;
    std::weak_ptr<weft::Connector> connector = reactor.connect_tcp("127.0.0.1", unused_port(reactor), factory);
    bool kept = false, released = false;
    factory.on_failure = [&] {
        reactor.call_soon([&] {  // the connector has settled: only its retry holds it
            kept = factory.pending_retry().active() && !connector.expired();
            factory.stop_trying();
            released = connector.expired();  // at once, not when the reactor goes
            reactor.stop();
        });
    };
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(run_bounded(reactor, 10s));
    CHECK(seconds_since(t0) < 5);
    CHECK(kept);
    CHECK(released);
    CHECK(factory.connecting == 1);
    CHECK(factory.stops == 1);
}

TEST_CASE("a scheduled retry survives the factory's own state changes between attempts", "[connector][reconnecting]") {
    // Between attempts the connector stops the factory (stop_factory), whose override here resets its
    // delay; the retry must still run, start the factory again and make a new attempt.
    weft::Reactor reactor;
    Counting factory(reactor, 7);
    factory.initial_delay = 0.01;
    factory.factor = 1;
    factory.jitter = 0;
    factory.on_stop = [&] { factory.reset_delay(); };
    factory.on_failure = [&] {
        if (factory.failures == 2) {
            factory.stop_trying();
            reactor.stop();
        }
    };
    reactor.connect_tcp("127.0.0.1", unused_port(reactor), factory);
    REQUIRE(run_bounded(reactor, 10s));
    CHECK(factory.connecting == 2);
    CHECK(factory.starts == 2);  // start_factory again for the retry, as Twisted does
    CHECK(factory.stops == 2);
}

TEST_CASE("a ReconnectingClientFactory behind a WrappingFactory retries through the connector",
          "[connector][reconnecting]") {
    // The connector never learns the factory reconnects (it sees only the wrapper): the retry itself
    // must keep it alive until it runs.
    weft::Reactor reactor;
    Counting inner(reactor, 7);
    inner.initial_delay = 0.01;
    inner.jitter = 0;
    weft::protocols::WrappingFactory wrapper(inner);
    inner.on_failure = [&] {
        if (inner.failures == 3) {
            inner.stop_trying();
            reactor.stop();
        }
    };
    std::weak_ptr<weft::Connector> connector = reactor.connect_tcp("127.0.0.1", unused_port(reactor), wrapper);
    REQUIRE(run_bounded(reactor, 10s));
    CHECK(inner.connecting == 3);
    CHECK(inner.retries() == 3);  // the third failure scheduled one more, which stop_trying() cancelled
    CHECK(connector.expired());
}

TEST_CASE("destroying a reconnecting factory cancels its retry and the reactor lets the connector go",
          "[connector][reconnecting]") {
    weft::Reactor reactor;
    auto factory = std::make_unique<Counting>(reactor, 7);
    factory->initial_delay = 60;
    factory->jitter = 0;
    std::weak_ptr<weft::Connector> connector = reactor.connect_tcp("127.0.0.1", unused_port(reactor), *factory);
    bool kept = false, released = false;
    std::size_t calls_before = 0, calls_after = 0;
    factory->on_failure = [&] {
        reactor.call_soon([&] {
            kept = factory->pending_retry().active() && !connector.expired();
            calls_before = reactor.pending_calls().size();
            factory.reset();  // without stop_trying(): the connector must not be touched, only let go
            calls_after = reactor.pending_calls().size();
            released = connector.expired();
            reactor.stop();
        });
    };
    REQUIRE(run_bounded(reactor, 10s));
    CHECK(kept);
    CHECK(calls_after + 1 == calls_before);
    CHECK(released);
}

TEST_CASE("a connector retries max_retries times, then the reactor lets it go", "[connector][reconnecting]") {
    weft::Reactor reactor;
    Counting factory(reactor, 7);
    factory.initial_delay = 0.001;
    factory.jitter = 0;
    factory.max_retries = 2;
    std::weak_ptr<weft::Connector> connector = reactor.connect_tcp("127.0.0.1", unused_port(reactor), factory);
    bool released = false;
    factory.on_failure = [&] {
        if (factory.pending_retry().active()) return;
        reactor.call_soon([&] {  // the connector has settled: nothing holds it any more
            released = connector.expired();
            reactor.stop();
        });
    };
    REQUIRE(run_bounded(reactor, 10s));
    CHECK(factory.connecting == 3);  // the first attempt and two retries
    CHECK(factory.failures == 3);
    CHECK(factory.retries() == 3);  // the third failure counted, and gave up
    CHECK(factory.starts == 3);
    CHECK(factory.stops == 3);
    CHECK(released);
}

TEST_CASE("shutdown during a scheduled retry ends promptly; the reactor's end lets the connector go",
          "[connector][reconnecting]") {
    auto reactor = std::make_unique<weft::Reactor>();
    Counting factory(*reactor, 7);
    factory.initial_delay = 60;
    factory.jitter = 0;
    std::weak_ptr<weft::Connector> connector = reactor->connect_tcp("127.0.0.1", unused_port(*reactor), factory);
    factory.on_failure = [&] { reactor->call_soon([&] { reactor->stop(); }); };
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(run_bounded(*reactor, 10s));
    CHECK(seconds_since(t0) < 5);
    CHECK(factory.connecting == 1);        // the retry did not run
    CHECK(factory.pending_retry().active());  // and shutdown did not wait for it
    CHECK_FALSE(connector.expired());       // the retry holds the connector ...
    reactor.reset();
    CHECK(connector.expired());  // ... until the reactor goes, which drops its calls first
    CHECK_FALSE(factory.pending_retry().active());
}
