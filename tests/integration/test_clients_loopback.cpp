// Clients without boilerplate (issue 13) over loopback: connect_protocol, endpoint_connect, ClientService
// against a server that comes up late and drops the connection, and limit_connections' busy answer.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "support/loop.hpp"
#include "support/tls_certs.hpp"
#include "weft/client_service.hpp"
#include "weft/deferred_endpoints.hpp"
#include "weft/protocols/policies.hpp"
#include "weft/reactor.hpp"
#include "weft/string_endpoints.hpp"
#include "weft/tls_transport.hpp"

using namespace std::chrono_literals;
using weft::Failure;
using weft::Protocol;
using weft_test::Recorder;
using weft_test::run_bounded;

namespace {
struct Greeter : Protocol {
    void connection_made() override { transport().write("hello\n"); }
};

/// A port that nothing listens on (it was free a moment ago): connecting to it is refused.
std::uint16_t closed_port(weft::Reactor& reactor) {
    auto factory = weft::Factory::for_protocol<Greeter>();
    auto port = reactor.listen_tcp(0, *factory, {"127.0.0.1"});
    const auto number = port->port();
    port->stop_listening();
    return number;
}
std::string tcp(std::uint16_t port) { return "tcp:127.0.0.1:" + std::to_string(port) + ":timeout=5"; }
}  // namespace

TEST_CASE("loopback: connect_protocol fires after connection_made, before the first data", "[clients][loopback]") {
    weft::Reactor reactor;
    auto server_factory = weft::Factory::for_protocol<Greeter>();
    auto port = reactor.listen_tcp(0, *server_factory, {"127.0.0.1"});
    auto protocol = std::make_unique<Recorder>();
    Recorder* raw = protocol.get();
    bool made_when_fired = false;
    std::string received_when_fired = "unset";
    weft::connect_protocol(reactor, tcp(port->port()), std::move(protocol))
        .add_callback([&](Recorder* p) {
            CHECK(p == raw);
            made_when_fired = p->made;
            received_when_fired = p->received;
            p->on_data = [&](Recorder& r, std::string_view) {
                if (r.received == "hello\n") reactor.stop();
            };
        })
        .add_errback([&](Failure f) {
            FAIL(f.what());
            reactor.stop();
        });
    REQUIRE(run_bounded(reactor));
    CHECK(made_when_fired);
    CHECK(received_when_fired.empty());
}

TEST_CASE("loopback: endpoint_listen and connect_protocol over a UNIX socket", "[clients][loopback]") {
    std::string dir = (std::filesystem::temp_directory_path() / "weft-clients-XXXXXX").string();
    REQUIRE(::mkdtemp(dir.data()) != nullptr);
    const std::string path = dir + "/s.sock";
    weft::Reactor reactor;
    auto server_factory = weft::Factory::for_protocol<Greeter>();
    std::shared_ptr<weft::ListeningPort> port;
    weft::endpoint_listen(reactor, "unix:" + path, *server_factory).add_callback([&](std::shared_ptr<weft::ListeningPort> p) {
        port = std::move(p);
    });
    REQUIRE(port);
    auto protocol = std::make_unique<Recorder>();
    protocol->on_data = [&](Recorder& r, std::string_view) {
        if (r.received == "hello\n") reactor.stop();
    };
    bool connected = false;
    weft::connect_protocol(reactor, "unix:" + path, std::move(protocol)).add_callback([&](Recorder* r) {
        connected = r->made;
    });
    REQUIRE(run_bounded(reactor));
    CHECK(connected);
    port->stop_listening();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST_CASE("loopback: connect_protocol through a tls: endpoint fires before the handshake's data", "[clients][loopback][tls]") {
    const auto& certs = weft_test::tls_certs();
    weft::Reactor reactor;
    auto server_factory = weft::Factory::for_protocol<Greeter>();
    std::shared_ptr<weft::ListeningPort> port;
    weft::endpoint_listen(reactor, "ssl:0:interface=127.0.0.1:private_key=" + certs.server_key + ":cert_key=" + certs.server,
                          *server_factory)
        .add_callback([&](std::shared_ptr<weft::ListeningPort> p) { port = std::move(p); });
    REQUIRE(port);
    auto protocol = std::make_unique<Recorder>();
    protocol->on_data = [&](Recorder& r, std::string_view) {
        if (r.received == "hello\n") reactor.stop();
    };
    bool connected = false;
    weft::connect_protocol(reactor, "tls:host=127.0.0.1:port=" + std::to_string(port->port()) + ":ca=" + certs.ca,
                           std::move(protocol))
        .add_callback([&](Recorder* r) { connected = r->made && r->received.empty(); });
    REQUIRE(run_bounded(reactor));
    CHECK(connected);
}

TEST_CASE("loopback: endpoint_connect to a closed port fails with ConnectError", "[clients][loopback]") {
    weft::Reactor reactor;
    const auto port = closed_port(reactor);
    weft_test::LambdaClientFactory factory([](const weft::Address&) { return std::make_unique<Recorder>(); });
    std::optional<Failure> failure;
    weft::endpoint_connect(reactor, tcp(port), factory).add_errback([&](Failure f) {
        failure = f;
        reactor.stop();
        return static_cast<Protocol*>(nullptr);
    });
    REQUIRE(run_bounded(reactor));
    REQUIRE(failure);
    CHECK(failure->check<weft::ConnectError>());
    CHECK_FALSE(factory.failed);  // the factory's client callbacks are not called (Twisted's endpoints)
}

TEST_CASE("loopback: cancelling endpoint_connect before it connects stops the attempt", "[clients][loopback]") {
    weft::Reactor reactor;
    int accepted = 0;
    weft_test::LambdaFactory server([&](const weft::Address&) {
        ++accepted;
        return std::make_unique<Recorder>();
    });
    auto port = reactor.listen_tcp(0, server, {"127.0.0.1"});
    weft_test::LambdaClientFactory factory([](const weft::Address&) { return std::make_unique<Recorder>(); });
    auto d = weft::endpoint_connect(reactor, tcp(port->port()), factory);
    std::optional<Failure> failure;
    d.add_errback([&](Failure f) {
        failure = f;
        return static_cast<Protocol*>(nullptr);
    });
    d.cancel();
    REQUIRE(failure);
    CHECK(failure->check<weft::CancelledError>());
    reactor.call_later(100ms, [&] { reactor.stop(); });  // time for a connection that should not come
    REQUIRE(run_bounded(reactor));
    CHECK(factory.started == 0);
    CHECK(accepted == 0);
}

TEST_CASE("loopback: ClientService waits for a late server, reconnects after a drop, and stops", "[clients][loopback][service]") {
    weft::Reactor reactor;
    const auto port_number = closed_port(reactor);
    int accepted = 0;
    weft_test::LambdaFactory server([&](const weft::Address&) {
        auto r = std::make_unique<Recorder>();
        if (++accepted == 1) r->on_made = [](Recorder& me) { me.transport().lose_connection(); };  // drops the first
        return r;
    });
    std::vector<std::string> steps;
    std::optional<weft::ClientService> service;
    auto client = weft::ClientFactory::from_function([&] {
        auto r = std::make_unique<Recorder>();
        r->on_lost = [&](Recorder&, const weft::Reason&) {
            if (steps.size() != 2) return;
            steps.emplace_back("lost");
            // The service hears of the loss right after this protocol: ask once it has.
            reactor.call_later(0ms, [&] {
                service->when_connected().add_callback([&](Protocol* second) {
                    CHECK(second == service->protocol());
                    steps.emplace_back("reconnected");
                    service->stop().add_callback([&] {
                        steps.emplace_back("stopped");
                        CHECK_FALSE(service->running());
                        reactor.stop();
                    });
                });
            });
        };
        return r;
    });
    service.emplace(reactor, tcp(port_number), *client, weft::backoff_policy(10ms, 2.0, 100ms, 0s));
    std::shared_ptr<weft::ListeningPort> port;

    service->start();
    // Nothing listens: attempts fail; after three of them the server comes up.
    service->when_connected(3).add_errback([&](Failure f) {
        CHECK(f.check<weft::ConnectError>());
        steps.emplace_back("failed 3 times");
        port = reactor.listen_tcp(port_number, server, {"127.0.0.1"});
        return static_cast<Protocol*>(nullptr);
    });
    service->when_connected().add_callback([&](Protocol*) { steps.emplace_back("connected"); });
    REQUIRE(run_bounded(reactor, 20s));
    CHECK(steps == std::vector<std::string>{"failed 3 times", "connected", "lost", "reconnected", "stopped"});
    CHECK(accepted == 2);
    CHECK(service->protocol() == nullptr);
}

TEST_CASE("loopback: limit_connections answers busy to the connection over the limit", "[clients][loopback][limit]") {
    weft::Reactor reactor;
    auto limited = weft::protocols::limit_connections(weft::Factory::for_protocol<weft_test::Echo>(), 100, "busy\r\n");
    auto port = reactor.listen_tcp(0, *limited, {"127.0.0.1"});
    std::vector<Recorder*> clients;
    int made = 0;
    auto factory = weft::ClientFactory::from_function([&] {
        auto r = std::make_unique<Recorder>();
        r->on_made = [&](Recorder& me) {
            me.transport().write("ping");
        };
        r->on_data = [&](Recorder& me, std::string_view) {
            if (me.received == "ping" && ++made == 100) {
                // All 100 are served (echo answered): the next one is over the limit.
                CHECK(limited->connection_count() == 100);
                auto last = std::make_unique<Recorder>();
                last->on_lost = [&](Recorder& r101, const weft::Reason&) {
                    CHECK(r101.received == "busy\r\n");
                    reactor.stop();
                };
                weft::connect_protocol(reactor, tcp(port->port()), std::move(last));
            }
        };
        return r;
    });
    for (int i = 0; i < 100; ++i) reactor.connect_tcp("127.0.0.1", port->port(), *factory);
    REQUIRE(run_bounded(reactor, 20s));
    CHECK(made == 100);
}

TEST_CASE("loopback: ClientService on a tls: endpoint builds its context once: the reconnect resumes the session",
          "[clients][loopback][service][tls]") {
    const auto& certs = weft_test::tls_certs();
    weft::Reactor reactor;
    std::optional<weft::ClientService> service;
    std::vector<bool> resumed;  // per server connection, once its client spoke
    weft_test::LambdaFactory server([&](const weft::Address&) {
        auto r = std::make_unique<Recorder>();
        r->on_data = [&](Recorder& me, std::string_view) {
            if (me.received != "hi\n") return;
            resumed.push_back(me.transport().as_tls()->session_reused());
            if (resumed.size() == 1) me.transport().lose_connection();  // drops the first: the service reconnects
            if (resumed.size() == 2) service->stop().add_callback([&] { reactor.stop(); });
        };
        return r;
    });
    auto port = weft::listen_on(reactor,
                                weft::parse_server_endpoint("ssl:0:interface=127.0.0.1:private_key=" + certs.server_key +
                                                            ":cert_key=" + certs.server),
                                server);
    auto client = weft::ClientFactory::from_function([] {
        auto r = std::make_unique<Recorder>();
        r->on_made = [](Recorder& me) { me.transport().write("hi\n"); };
        return r;
    });
    service.emplace(reactor,
                    "tls:host=localhost:port=" + std::to_string(port->port()) + ":ca=" + certs.ca + ":timeout=5",
                    *client, weft::backoff_policy(1ms, 2.0, 10ms, 0s));
    service->start();
    REQUIRE(run_bounded(reactor, 20s));
    CHECK(resumed == std::vector<bool>{false, true});
}
