// testing::MemoryReactor: records listen/connect calls; completes connects in memory.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "weft/error.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/reconnecting_client_factory.hpp"
#include "weft/testing/memory_reactor.hpp"

using weft::Connector;
using weft::Reason;
using weft::testing::MemoryReactor;

namespace {
struct Greeter : weft::Protocol {
    std::string received;
    void connection_made() override { transport().write("hello from " + transport().host().to_string()); }
    void data_received(std::string_view data) override { received.append(data); }
};

struct Client : weft::Protocol {
    std::string received;
    bool lost = false;
    void data_received(std::string_view data) override { received.append(data); }
    void connection_lost(const Reason&) override { lost = true; }
};

// Counts every callback a client factory gets, in order.
struct RecordingFactory : weft::ClientFactory {
    std::vector<std::string> events;
    std::vector<weft::Address> built_for;
    std::optional<Reason> failed, lost;
    bool refuse = false;
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address& peer) override {
        events.emplace_back("build");
        built_for.push_back(peer);
        if (refuse) return nullptr;
        return std::make_unique<Client>();
    }
    void start_factory() override { events.emplace_back("start"); }
    void stop_factory() override { events.emplace_back("stop"); }
    void started_connecting(Connector&) override { events.emplace_back("started"); }
    void client_connection_failed(Connector&, const Reason& reason) override {
        events.emplace_back("failed");
        failed = reason;
    }
    void client_connection_lost(Connector&, const Reason& reason) override {
        events.emplace_back("lost");
        lost = reason;
    }
};

struct CountingFactory : weft::Factory {
    int starts = 0, stops = 0;
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override { return std::make_unique<Greeter>(); }
    void start_factory() override { ++starts; }
    void stop_factory() override { ++stops; }
};

// Application code that only listens and connects: takes the interface, not the Reactor.
void start_service(weft::ReactorNetwork& network, weft::Factory& server, weft::ClientFactory& upstream) {
    network.listen_tcp(8080, server, {"127.0.0.1", 64, true});
    network.connect_tcp("db.example", 5432, upstream, {std::chrono::seconds(5), "10.0.0.2"});
}
}  // namespace

TEST_CASE("MemoryReactor records listen_tcp and connect_tcp with their arguments", "[testing][memory_reactor]") {
    MemoryReactor reactor;
    CountingFactory server;
    RecordingFactory upstream;
    start_service(reactor, server, upstream);

    REQUIRE(reactor.tcp_servers.size() == 1);
    const auto& listened = reactor.tcp_servers[0];
    CHECK(listened.port == 8080);
    CHECK(&listened.factory == &server);
    CHECK(listened.options.interface == "127.0.0.1");
    CHECK(listened.options.backlog == 64);
    CHECK(listened.listening_port->address().to_string() == "127.0.0.1:8080");
    CHECK(listened.listening_port->listening());
    CHECK(server.starts == 1);

    REQUIRE(reactor.tcp_clients.size() == 1);
    const auto& connected = reactor.tcp_clients[0];
    CHECK(connected.host == "db.example");
    CHECK(connected.port == 5432);
    CHECK(&connected.factory == &upstream);
    CHECK(connected.options.timeout == std::chrono::seconds(5));
    CHECK(connected.options.bind_address == "10.0.0.2");
    CHECK(connected.connector->destination() == "db.example:5432");
    CHECK(connected.connector->state() == Connector::State::connecting);
    CHECK(upstream.events == std::vector<std::string>{"start"});  // started_connecting is not inside connect_tcp
    CHECK(reactor.unix_servers.empty());
    CHECK(reactor.unix_clients.empty());
    CHECK(reactor.adopted.empty());
}

TEST_CASE("MemoryReactor: stop_listening is recorded and stops the factory once", "[testing][memory_reactor]") {
    MemoryReactor reactor;
    CountingFactory server;
    auto port = reactor.listen_tcp(0, server);
    CHECK(port->port() == 49152);  // port 0: a made-up port
    CHECK(reactor.tcp_servers[0].port == 0);
    CHECK(reactor.listen_tcp(0, server)->port() == 49153);
    CHECK(server.starts == 1);
    port->stop_listening();
    port->stop_listening();
    CHECK_FALSE(port->listening());
    CHECK(reactor.tcp_servers[0].listening_port->stop_listening_calls() == 2);
    CHECK(server.stops == 0);  // the second port still uses it
    reactor.tcp_servers[1].listening_port->stop_listening();
    CHECK(server.stops == 1);
}

TEST_CASE("MemoryReactor: listen_unix, connect_unix and adopt_stream_port are recorded", "[testing][memory_reactor]") {
    MemoryReactor reactor;
    CountingFactory server;
    RecordingFactory client;
    weft::UnixListenOptions listen_options;
    listen_options.mode = 0600;
    listen_options.lock = false;
    auto port = reactor.listen_unix("/run/app.sock", server, listen_options);
    weft::UnixConnectOptions connect_options;
    connect_options.check_pid = true;
    auto connector = reactor.connect_unix("/run/app.sock", client, connect_options);
    auto adopted = reactor.adopt_stream_port(3, weft::SocketFamily::inet6, server);

    REQUIRE(reactor.unix_servers.size() == 1);
    CHECK(reactor.unix_servers[0].path == "/run/app.sock");
    CHECK(reactor.unix_servers[0].options.mode == 0600);
    CHECK_FALSE(reactor.unix_servers[0].options.lock);
    CHECK(port->address().to_string() == "unix:/run/app.sock");
    REQUIRE(reactor.unix_clients.size() == 1);
    CHECK(reactor.unix_clients[0].path == "/run/app.sock");
    CHECK(reactor.unix_clients[0].options.check_pid);
    CHECK(connector->destination() == "unix:/run/app.sock");
    REQUIRE(reactor.adopted.size() == 1);
    CHECK(reactor.adopted[0].fd == 3);
    CHECK(reactor.adopted[0].family == weft::SocketFamily::inet6);
    CHECK(&reactor.adopted[0].factory == &server);
    CHECK(adopted->address().to_string() == "[::]:1234");

    // A UNIX connect completes into a pair of UNIX addresses (no TCP options there).
    auto& pump = reactor.unix_clients[0].connector->complete(reactor.unix_servers[0].factory);
    pump.pump();
    auto& c = static_cast<Client&>(pump.client());
    CHECK(c.received == "hello from unix:/run/app.sock");
    CHECK(c.transport().as_tcp() == nullptr);
    CHECK(client.built_for.front().to_string() == "unix:/run/app.sock");
}

TEST_CASE("MemoryReactor: a recorded connect completes into an in-memory pair", "[testing][memory_reactor]") {
    MemoryReactor reactor;
    RecordingFactory factory;
    auto connector = reactor.connect_tcp("127.0.0.1", 6000, factory);
    Greeter server;
    auto& pump = reactor.tcp_clients[0].connector->complete(server);
    CHECK(factory.events == std::vector<std::string>{"start", "started", "build"});
    CHECK(connector->state() == Connector::State::connected);
    CHECK(factory.built_for.front().to_string() == "127.0.0.1:6000");
    auto& client = static_cast<Client&>(pump.client());
    CHECK(client.factory() == &factory);
    CHECK(client.transport().peer().to_string() == "127.0.0.1:6000");
    client.transport().write("hi");
    pump.pump();
    CHECK(client.received == "hello from 127.0.0.1:6000");
    CHECK(server.received == "hi");

    connector->disconnect();
    CHECK(reactor.tcp_clients[0].connector->disconnect_calls() == 1);
    pump.pump();
    CHECK(client.lost);
    REQUIRE(factory.lost);
    CHECK(factory.lost->clean());
    CHECK(factory.events == std::vector<std::string>{"start", "started", "build", "lost", "stop"});
    CHECK(connector->state() == Connector::State::disconnected);
}

TEST_CASE("MemoryReactor: a recorded connect can fail", "[testing][memory_reactor]") {
    MemoryReactor reactor;
    RecordingFactory factory;
    auto connector = reactor.connect_tcp("example.org", 80, factory);
    connector->stop_connecting();  // only recorded: the test decides what the reactor would report
    CHECK(reactor.tcp_clients[0].connector->stop_connecting_calls() == 1);
    CHECK(connector->state() == Connector::State::connecting);
    reactor.tcp_clients[0].connector->fail(Reason::lost(std::make_error_code(std::errc::connection_refused)));
    CHECK(factory.events == std::vector<std::string>{"start", "started", "failed", "stop"});
    REQUIRE(factory.failed);
    CHECK(factory.failed->code() == std::make_error_code(std::errc::connection_refused));
    CHECK(connector->state() == Connector::State::disconnected);
    Greeter server;
    CHECK_THROWS_AS(reactor.tcp_clients[0].connector->complete(server), weft::StateError);
    CHECK_THROWS_AS(reactor.tcp_clients[0].connector->fail(Reason::aborted()), weft::StateError);
}

TEST_CASE("MemoryReactor: a factory that builds no protocol fails the attempt", "[testing][memory_reactor]") {
    MemoryReactor reactor;
    RecordingFactory factory;
    factory.refuse = true;
    reactor.connect_tcp("127.0.0.1", 1, factory);
    Greeter server;
    CHECK_THROWS_AS(reactor.tcp_clients[0].connector->complete(server), weft::StateError);
    CHECK(factory.events == std::vector<std::string>{"start", "started", "build", "failed", "stop"});
}

TEST_CASE("MemoryReactor: its clock drives a ReconnectingClientFactory", "[testing][memory_reactor]") {
    MemoryReactor reactor;
    struct Reconnecting : weft::ReconnectingClientFactory {
        using ReconnectingClientFactory::ReconnectingClientFactory;
        std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override {
            return std::make_unique<Client>();
        }
    } factory(reactor, 42);
    factory.initial_delay = 1.0;
    factory.jitter = 0;
    auto connector = reactor.connect_tcp("127.0.0.1", 7000, factory);
    auto& record = reactor.tcp_clients[0];
    record.connector->fail(Reason::lost(std::make_error_code(std::errc::connection_refused)));
    CHECK(connector->state() == Connector::State::disconnected);
    CHECK(reactor.pending_calls().size() == 1);
    reactor.advance(std::chrono::milliseconds(999));
    CHECK(record.connector->connect_calls() == 1);
    reactor.advance(std::chrono::seconds(2));
    CHECK(record.connector->connect_calls() == 2);  // the retry reconnected the same connector
    CHECK(connector->state() == Connector::State::connecting);
    Greeter server;
    auto& pump = record.connector->complete(server);
    pump.pump();
    CHECK(static_cast<Client&>(pump.client()).received == "hello from 127.0.0.1:7000");
    CHECK(connector->state() == Connector::State::connected);
    factory.stop_trying();
}
