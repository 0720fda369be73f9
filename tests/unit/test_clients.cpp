// Clients without boilerplate (issue 13), in memory: endpoint_connect / endpoint_listen / connect_protocol
// on a MemoryReactor, backoff_policy, ClientService on the MemoryReactor's clock, for_protocol with
// references and from_function.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/log_capture.hpp"
#include "weft/client_service.hpp"
#include "weft/deferred_endpoints.hpp"
#include "weft/error.hpp"
#include "weft/protocols/policies.hpp"
#include "weft/testing/clock.hpp"
#include "weft/testing/memory_reactor.hpp"
#include "weft/testing/string_transport.hpp"

using namespace std::chrono_literals;
using weft::Failure;
using weft::Protocol;
using weft::Reason;
using weft::testing::MemoryReactor;

namespace {

struct Client : Protocol {
    std::string received;
    bool made = false;
    bool* destroyed = nullptr;
    std::optional<Reason> lost;
    ~Client() override {
        if (destroyed != nullptr) *destroyed = true;
    }
    void connection_made() override { made = true; }
    void data_received(std::string_view data) override { received.append(data); }
    void connection_lost(const Reason& reason) override { lost = reason; }
};

struct Server : Protocol {
    void connection_made() override { transport().write("hello"); }
};

// Records every call a factory gets.
struct RecordingFactory : weft::ClientFactory {
    std::vector<std::string> events;
    std::unique_ptr<Protocol> build_protocol(const weft::Address&) override {
        events.emplace_back("build");
        return std::make_unique<Client>();
    }
    void start_factory() override { events.emplace_back("start"); }
    void stop_factory() override { events.emplace_back("stop"); }
    void started_connecting(weft::Connector&) override { events.emplace_back("started"); }
    void client_connection_failed(weft::Connector&, const Reason&) override { events.emplace_back("failed"); }
    void client_connection_lost(weft::Connector&, const Reason&) override { events.emplace_back("lost"); }
};

const Reason refused = Reason::lost(std::make_error_code(std::errc::connection_refused));

template <class T>
struct Outcome {
    std::optional<T> value;
    std::optional<Failure> failure;
};
template <class T>
std::shared_ptr<Outcome<T>> watch(weft::Deferred<T> d) {
    auto out = std::make_shared<Outcome<T>>();
    d.add_callbacks([out](T v) { out->value = v; }, [out](Failure f) { out->failure = f; });
    return out;
}
std::shared_ptr<Outcome<bool>> watch(weft::Deferred<void> d) {
    auto out = std::make_shared<Outcome<bool>>();
    d.add_callbacks([out]() { out->value = true; }, [out](Failure f) { out->failure = f; });
    return out;
}

weft::TcpClientEndpoint tcp_endpoint(std::uint16_t port = 8080) {
    weft::TcpClientEndpoint e;
    e.host = "127.0.0.1";
    e.port = port;
    return e;
}

}  // namespace

// ------------------------------------------------------------------------------------------ endpoint_connect

TEST_CASE("endpoint_connect fires with the protocol once connection_made has run", "[clients]") {
    MemoryReactor reactor;
    RecordingFactory factory;
    auto out = watch(weft::endpoint_connect(reactor, tcp_endpoint(), factory));
    REQUIRE(reactor.tcp_clients.size() == 1);
    CHECK(reactor.tcp_clients[0].host == "127.0.0.1");
    CHECK_FALSE(out->value);
    Server server;
    auto& pump = reactor.tcp_clients[0].connector->complete(server);
    REQUIRE(out->value);
    auto* client = dynamic_cast<Client*>(*out->value);
    REQUIRE(client != nullptr);
    CHECK(client->made);
    CHECK(client->factory() == &factory);  // the user's factory, not the wrapper
    pump.pump();
    CHECK(client->received == "hello");
    // As Twisted's endpoints: build, start and stop are the factory's; the client callbacks are not called.
    pump.client_transport().lose_connection();
    pump.pump();
    CHECK(factory.events == std::vector<std::string>{"start", "build", "stop"});
}

TEST_CASE("endpoint_connect fails with ConnectError carrying the reason", "[clients]") {
    MemoryReactor reactor;
    RecordingFactory factory;
    auto out = watch(weft::endpoint_connect(reactor, "tcp:example.org:7", factory));
    reactor.tcp_clients.at(0).connector->fail(refused);
    REQUIRE(out->failure);
    REQUIRE(out->failure->check<weft::ConnectError>());
    try {
        out->failure->rethrow();
    } catch (const weft::ConnectError& e) {
        CHECK(e.reason().code() == std::errc::connection_refused);
        CHECK(std::string(e.what()).find("example.org:7") != std::string::npos);
    }
    CHECK(factory.events == std::vector<std::string>{"start", "stop"});
}

TEST_CASE("endpoint_connect: a TLS file that cannot be used is a ConnectError too", "[clients]") {
    MemoryReactor reactor;
    RecordingFactory factory;
    auto out = watch(weft::endpoint_connect(reactor, "tls:127.0.0.1:7:ca=/nonexistent-weft/ca.pem", factory));
    REQUIRE(out->failure);
    REQUIRE(out->failure->check<weft::ConnectError>());  // was the TlsError itself (found in review)
    CHECK(std::string(out->failure->what()).find("/nonexistent-weft/ca.pem") != std::string::npos);
    CHECK(reactor.tcp_clients.empty());
}

TEST_CASE("endpoint_connect: cancelling before it connects stops the connector", "[clients]") {
    MemoryReactor reactor;
    RecordingFactory factory;
    auto d = weft::endpoint_connect(reactor, tcp_endpoint(), factory);
    auto out = watch(d);
    d.cancel();
    REQUIRE(out->failure);
    CHECK(out->failure->check<weft::CancelledError>());
    auto& connector = *reactor.tcp_clients.at(0).connector;
    CHECK(connector.stop_connecting_calls() == 1);
    connector.fail(Reason::aborted("connection attempt stopped"));  // what a reactor delivers next
    CHECK(factory.events == std::vector<std::string>{"start", "stop"});
}

TEST_CASE("endpoint_connect holds itself until the attempt ends, then lets go", "[clients]") {
    MemoryReactor reactor;
    auto factory = std::make_shared<RecordingFactory>();
    std::weak_ptr<RecordingFactory> weak = factory;
    {
        // The Deferred is dropped at once: the attempt must still be there when the connector reports.
        auto d = weft::endpoint_connect(reactor, tcp_endpoint(), std::shared_ptr<weft::Factory>(factory));
        d.add_errback([](Failure) { return static_cast<Protocol*>(nullptr); });
    }
    factory.reset();
    REQUIRE_FALSE(weak.expired());  // the attempt shares it
    reactor.tcp_clients.at(0).connector->fail(refused);
    CHECK(weak.expired());  // released once the connector stopped the factory
}

TEST_CASE("endpoint_connect: once the connection ends the attempt lets its factory go", "[clients]") {
    struct Closer : Protocol {
        void connection_made() override { transport().lose_connection(); }
    };
    MemoryReactor reactor;
    auto factory = std::shared_ptr<weft::Factory>(weft::Factory::for_protocol<Closer>());
    std::weak_ptr<weft::Factory> weak = factory;
    auto out = watch(weft::endpoint_connect(reactor, tcp_endpoint(), std::move(factory)));
    Server server;
    auto& pump = reactor.tcp_clients.at(0).connector->complete(server);
    REQUIRE(out->value);  // connection_made ran with the connection up: connected
    CHECK_FALSE(weak.expired());
    pump.pump();
    CHECK(weak.expired());
}

TEST_CASE("endpoint_connect: a failure nobody handles is reported where endpoint_connect was called", "[clients]") {
    weft_test::LogCapture log;
    MemoryReactor reactor;
    RecordingFactory factory;
    {
        auto dropped = weft::endpoint_connect(reactor, tcp_endpoint(), factory);  // this line is the place
        reactor.tcp_clients.at(0).connector->fail(refused);
    }
    CHECK(log.any_contains("test_clients.cpp"));
    CHECK(log.any_contains("cannot connect to 127.0.0.1:8080"));
}

TEST_CASE("endpoint_connect: a description that does not parse throws EndpointError", "[clients]") {
    MemoryReactor reactor;
    RecordingFactory factory;
    CHECK_THROWS_AS(weft::endpoint_connect(reactor, "tcp:nohost", factory), weft::EndpointError);
    CHECK(reactor.tcp_clients.empty());
}

TEST_CASE("endpoint_listen fires with the port; a failure to listen is its failure", "[clients]") {
    MemoryReactor reactor;
    RecordingFactory factory;
    auto out = watch(weft::endpoint_listen(reactor, "tcp:0:interface=127.0.0.1", factory));
    REQUIRE(out->value);
    CHECK((*out->value)->port() == 49152);
    CHECK(reactor.tcp_servers.size() == 1);
    auto bad = watch(weft::endpoint_listen(reactor, "udp:0", factory));
    REQUIRE(bad->failure);
    CHECK(bad->failure->check<weft::EndpointError>());
}

// ------------------------------------------------------------------------------------------ connect_protocol

TEST_CASE("connect_protocol fires with the protocol it was given", "[clients]") {
    MemoryReactor reactor;
    auto protocol = std::make_unique<Client>();
    Client* raw = protocol.get();
    weft::Deferred<Client*> d = weft::connect_protocol(reactor, tcp_endpoint(), std::move(protocol));
    auto out = watch(d);
    Server server;
    auto& pump = reactor.tcp_clients.at(0).connector->complete(server);
    REQUIRE(out->value);
    CHECK(*out->value == raw);
    CHECK(raw->made);
    pump.pump();
    CHECK(raw->received == "hello");
    // An in-memory connection ends only when pumped: end it, so that the attempt lets go (valgrind-clean).
    pump.client_transport().lose_connection();
    pump.pump();
}

TEST_CASE("connect_protocol: a failed attempt fails it and destroys the protocol", "[clients]") {
    MemoryReactor reactor;
    bool destroyed = false;
    auto protocol = std::make_unique<Client>();
    protocol->destroyed = &destroyed;
    auto out = watch(weft::connect_protocol(reactor, "unix:/nonexistent/sock", std::move(protocol)));
    REQUIRE(reactor.unix_clients.size() == 1);
    reactor.unix_clients[0].connector->fail(refused);
    REQUIRE(out->failure);
    CHECK(out->failure->check<weft::ConnectError>());
    CHECK(destroyed);
}

// ------------------------------------------------------------------------------------------- backoff_policy

TEST_CASE("backoff_policy: initial * factor^n capped at max_delay, then jitter", "[clients][retry]") {
    auto exact = weft::backoff_policy(1s, 2.0, 10s, 0s);
    CHECK(exact(0) == 1s);
    CHECK(exact(1) == 2s);
    CHECK(exact(2) == 4s);
    CHECK(exact(3) == 8s);
    CHECK(exact(4) == 10s);
    CHECK(exact(1751) == 10s);  // Twisted's test_does_not_overflow_on_high_attempts
    CHECK(exact(4000000000U) == 10s);

    // Twisted's defaults: 1 s, x1.5, 60 s, plus U[0, 1 s): the cap applies before the jitter.
    auto jittered = weft::backoff_policy(1s, 1.5, 60s, 1s, 7);
    bool saw_above_cap = false;
    for (std::uint32_t n = 0; n < 200; ++n) {
        const auto d = jittered(n);
        const auto nominal = std::chrono::duration_cast<weft::Duration>(
            std::chrono::duration<double>(std::min(std::pow(1.5, std::min(n, 100U)), 60.0)));
        CHECK(d >= nominal);
        CHECK(d < nominal + 1s);
        if (d > 60s) saw_above_cap = true;
    }
    CHECK(saw_above_cap);

    // Copies share the generator: services given one policy value do not reconnect in lockstep.
    auto policy = weft::backoff_policy(1s, 1.5, 60s, 1s, 11);
    auto copy = policy;
    int same = 0;
    for (std::uint32_t n = 0; n < 20; ++n) same += policy(n) == copy(n) ? 1 : 0;
    CHECK(same < 5);
    CHECK_THROWS_AS(weft::backoff_policy(1s, 0.5), std::invalid_argument);
    CHECK_THROWS_AS(weft::backoff_policy(-1s), std::invalid_argument);
}

// -------------------------------------------------------------------------------------------- ClientService

namespace {
struct ServiceFixture {
    MemoryReactor reactor;
    std::shared_ptr<RecordingFactory> factory = std::make_shared<RecordingFactory>();
    weft::ClientService service{reactor, tcp_endpoint(), std::shared_ptr<weft::Factory>(factory),
                                weft::backoff_policy(1s, 2.0, 60s, 0s)};
    Server server;

    weft::testing::MemoryConnector& last() { return *reactor.tcp_clients.back().connector; }

    // What a reactor would deliver after the test: connections lost, stopped attempts failed, so that
    // every attempt lets go of itself (a MemoryReactor has no turns to do it).
    ~ServiceFixture() {
        service.stop();
        for (auto& client : reactor.tcp_clients) {
            if (client.connector->state() == weft::Connector::State::connecting) {
                client.connector->fail(Reason::aborted("connection attempt stopped"));
            }
            if (auto* pump = client.connector->pump()) pump->pump();
        }
    }
};
}  // namespace

TEST_CASE("ClientService connects, retries with the policy, and when_connected fires", "[clients][service]") {
    ServiceFixture f;
    auto waiter = watch(f.service.when_connected());
    f.service.start();
    REQUIRE(f.reactor.tcp_clients.size() == 1);
    f.last().fail(refused);
    CHECK(f.service.failed_attempts() == 1);
    REQUIRE(f.service.pending_retry().active());
    f.reactor.advance(1999ms);  // policy(1) = 2 s
    CHECK(f.reactor.tcp_clients.size() == 1);
    f.reactor.advance(1ms);
    REQUIRE(f.reactor.tcp_clients.size() == 2);
    f.last().fail(refused);
    f.reactor.advance(3999ms);  // policy(2) = 4 s
    CHECK(f.reactor.tcp_clients.size() == 2);
    f.reactor.advance(1ms);
    REQUIRE(f.reactor.tcp_clients.size() == 3);
    CHECK_FALSE(waiter->value);
    f.last().complete(f.server);
    REQUIRE(waiter->value);
    CHECK(*waiter->value == f.service.protocol());
    CHECK(f.service.failed_attempts() == 0);
    // Connected: when_connected answers at once.
    auto now = watch(f.service.when_connected());
    REQUIRE(now->value);
    CHECK(*now->value == f.service.protocol());
}

TEST_CASE("ClientService: when_connected(fail_after_failures) fails after that many failed attempts", "[clients][service]") {
    ServiceFixture f;
    f.service.start();
    auto after2 = watch(f.service.when_connected(2));
    auto forever = watch(f.service.when_connected());
    f.last().fail(refused);
    CHECK_FALSE(after2->failure);
    f.reactor.advance(2s);
    f.last().fail(refused);
    REQUIRE(after2->failure);
    CHECK(after2->failure->check<weft::ConnectError>());
    CHECK_FALSE(forever->failure);
    CHECK(f.service.pending_retry().active());  // it goes on trying
}

TEST_CASE("ClientService: a lost connection triggers a reconnect after policy(1)", "[clients][service]") {
    ServiceFixture f;
    f.service.start();
    auto& pump = f.last().complete(f.server);
    REQUIRE(f.service.protocol() != nullptr);
    pump.server_transport().lose_connection();
    pump.pump();
    CHECK(f.service.protocol() == nullptr);
    CHECK(f.service.failed_attempts() == 1);
    auto next = watch(f.service.when_connected());
    f.reactor.advance(1999ms);
    CHECK(f.reactor.tcp_clients.size() == 1);
    f.reactor.advance(1ms);
    REQUIRE(f.reactor.tcp_clients.size() == 2);
    f.last().complete(f.server);
    REQUIRE(next->value);
}

TEST_CASE("ClientService: stop() while connected loses the connection and fires once it is lost", "[clients][service]") {
    ServiceFixture f;
    f.service.start();
    auto& pump = f.last().complete(f.server);
    auto stopped = watch(f.service.stop());
    CHECK_FALSE(stopped->value);
    CHECK(f.service.running());
    pump.pump();
    REQUIRE(stopped->value);
    CHECK_FALSE(f.service.running());
    CHECK_FALSE(f.service.pending_retry().active());
    f.reactor.advance(1h);
    CHECK(f.reactor.tcp_clients.size() == 1);  // no reconnect after a stop
    auto after = watch(f.service.when_connected());
    REQUIRE(after->failure);
    CHECK(after->failure->check<weft::CancelledError>());
    CHECK(watch(f.service.stop())->value);  // stopped already: at once
}

TEST_CASE("ClientService: stop() while connecting or waiting ends at once and cancels waiters", "[clients][service]") {
    ServiceFixture f;
    f.service.start();
    auto waiter = watch(f.service.when_connected());
    auto stopped = watch(f.service.stop());
    REQUIRE(stopped->value);
    CHECK(f.last().stop_connecting_calls() == 1);
    REQUIRE(waiter->failure);
    CHECK(waiter->failure->check<weft::CancelledError>());

    f.service.start();  // again
    REQUIRE(f.reactor.tcp_clients.size() == 2);
    f.last().fail(refused);
    REQUIRE(f.service.pending_retry().active());
    CHECK(watch(f.service.stop())->value);
    CHECK_FALSE(f.service.pending_retry().active());
    f.reactor.advance(1h);
    CHECK(f.reactor.tcp_clients.size() == 2);
}

TEST_CASE("ClientService: destroyed while running cancels its retry", "[clients][service]") {
    MemoryReactor reactor;
    RecordingFactory factory;
    {
        weft::ClientService service(reactor, tcp_endpoint(), factory, weft::backoff_policy(1s, 2.0, 60s, 0s));
        service.start();
        reactor.tcp_clients.back().connector->fail(refused);
        REQUIRE(service.pending_retry().active());
    }
    CHECK(reactor.pending_calls().empty());
    reactor.advance(1h);
    CHECK(reactor.tcp_clients.size() == 1);
}

// ------------------------------------------------------------------------------- for_protocol, from_function

namespace {
struct Store {
    std::map<std::string, std::string> values;
};
// The shape issue 13 reported: references to shared state and to the reactor's time.
struct KvProtocol : Protocol, weft::protocols::TimeoutMixin {
    KvProtocol(Store& store, weft::ReactorTime& time) : TimeoutMixin(time), store_(store) {}
    void connection_made() override { set_timeout(30s); }
    void data_received(std::string_view data) override {
        reset_timeout();
        store_.values[std::string(data)] = "seen";
    }
    Store& store_;
};
struct Named : Protocol {
    explicit Named(std::string n) : name(std::move(n)) {}
    std::string name;
};
}  // namespace

TEST_CASE("for_protocol passes lvalues on as references: a TimeoutMixin protocol needs no factory of its own", "[clients][factory]") {
    Store store;
    weft::testing::Clock clock;
    auto factory = weft::Factory::for_protocol<KvProtocol>(store, clock);
    auto protocol = factory->build_protocol({"127.0.0.1", 1});
    auto* kv = dynamic_cast<KvProtocol*>(protocol.get());
    REQUIRE(kv != nullptr);
    CHECK(&kv->store_ == &store);
    weft::testing::StringTransport transport;
    protocol->make_connection(transport);
    protocol->data_received("k");
    CHECK(store.values.at("k") == "seen");
    clock.advance(29s);
    CHECK_FALSE(transport.disconnect_requested());
    clock.advance(1s);
    CHECK(transport.disconnect_requested());  // TimeoutMixin's default: lose the connection

    auto client = weft::ClientFactory::for_protocol<KvProtocol>(store, clock);
    CHECK(&dynamic_cast<KvProtocol&>(*client->build_protocol({"h", 1})).store_ == &store);
}

TEST_CASE("for_protocol copies what P can be built from copies of; std::ref holds a reference", "[clients][factory]") {
    std::string name = "first";
    auto by_copy = weft::Factory::for_protocol<Named>(std::string(name));
    // Named takes a std::string: the lvalue is copied too, so a factory made from a function's parameter
    // never dangles (found in review).
    auto from_lvalue = weft::Factory::for_protocol<Named>(name);
    auto by_ref = weft::Factory::for_protocol<Named>(std::ref(name));
    name = "second";
    CHECK(dynamic_cast<Named&>(*by_copy->build_protocol({"h", 1})).name == "first");
    CHECK(dynamic_cast<Named&>(*from_lvalue->build_protocol({"h", 1})).name == "first");
    CHECK(dynamic_cast<Named&>(*by_ref->build_protocol({"h", 1})).name == "second");
    auto literal = weft::Factory::for_protocol<Named>("literal");
    CHECK(dynamic_cast<Named&>(*literal->build_protocol({"h", 1})).name == "literal");
}

TEST_CASE("from_function builds with a lambda, with or without the peer", "[clients][factory]") {
    Store store;
    weft::testing::Clock clock;
    auto plain = weft::Factory::from_function([&] { return std::make_unique<KvProtocol>(store, clock); });
    CHECK(dynamic_cast<KvProtocol*>(plain->build_protocol({"h", 1}).get()) != nullptr);
    auto by_peer = weft::ClientFactory::from_function([](const weft::Address& peer) -> std::unique_ptr<Protocol> {
        if (peer.host == "refused") return nullptr;
        return std::make_unique<Named>(peer.host);
    });
    CHECK(by_peer->build_protocol({"refused", 1}) == nullptr);
    CHECK(dynamic_cast<Named&>(*by_peer->build_protocol({"ok", 1})).name == "ok");
}
