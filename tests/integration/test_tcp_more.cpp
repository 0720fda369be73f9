// More loopback tests: the transport as a producer, connector control, reconnecting, logged transitions.
#include <catch2/catch.hpp>

#include <sstream>

#include <boost/asio/ip/tcp.hpp>
#include <boost/core/null_deleter.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>

#include "support/loop.hpp"
#include "weft/log.hpp"
#include "weft/reconnecting_client_factory.hpp"

using namespace weft_test;
namespace asio = boost::asio;

TEST_CASE("pause_producing stops reading, resume_producing restarts it, stop_producing loses the connection", "[tcp][producer]") {
    weft::Reactor reactor;
    bool resumed = false;
    std::string before_resume;
    LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [&](Recorder& r) {
            r.transport().pause_producing();
            // Resume well after the client's bytes have arrived: nothing may be delivered before.
            reactor.call_later(100ms, [&, raw = &r] {
                before_resume = raw->received;
                resumed = true;
                raw->transport().resume_producing();
                CHECK(raw->received.empty());  // delivery comes on a later turn, not inside resume
            });
        };
        p->on_data = [&](Recorder& r, std::string_view) {
            if (r.received == "payload") r.transport().stop_producing();
        };
        return p;
    });
    auto port = reactor.listen_tcp(0, server, {"127.0.0.1"});
    LambdaClientFactory client([](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [](Recorder& r) { r.transport().write("payload"); };
        return p;
    });
    client.on_end = [&] { reactor.stop(); };
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    REQUIRE(run_bounded(reactor));
    CHECK(resumed);
    CHECK(before_resume.empty());
    REQUIRE(client.lost);
    CHECK(client.lost->clean());
}

TEST_CASE("Connector::disconnect loses an established connection; the protocol knows its factory", "[tcp][connect]") {
    weft::Reactor reactor;
    weft::Factory* seen_factory = nullptr;
    LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [&, raw = p.get()](Recorder&) { seen_factory = raw->factory(); };
        return p;
    });
    auto port = reactor.listen_tcp(0, server, {"127.0.0.1"});
    std::shared_ptr<weft::Connector> connector;
    LambdaClientFactory client([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [&](Recorder&) {
            CHECK(connector->state() == weft::Connector::State::connected);
            reactor.call_soon([&] { connector->disconnect(); });
        };
        return p;
    });
    client.on_end = [&] { reactor.stop(); };
    connector = reactor.connect_tcp("127.0.0.1", port->port(), client);
    CHECK(connector->state() == weft::Connector::State::connecting);
    CHECK(connector->destination() == "127.0.0.1:" + std::to_string(port->port()));
    REQUIRE(run_bounded(reactor));
    REQUIRE(client.lost);
    CHECK(client.lost->clean());
    CHECK(connector->state() == weft::Connector::State::disconnected);
    CHECK(seen_factory == &server);
}

TEST_CASE("connect binds the local address it is given", "[tcp][connect]") {
    weft::Reactor reactor;
    std::string server_saw;
    LambdaFactory server([&](const weft::Address& peer) {
        server_saw = peer.host;
        return std::make_unique<Recorder>();
    });
    auto port = reactor.listen_tcp(0, server, {"0.0.0.0"});
    LambdaClientFactory client([](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [](Recorder& r) { r.transport().lose_connection(); };
        return p;
    });
    client.on_end = [&] { reactor.stop(); };
    weft::ConnectOptions options;
    options.bind_address = "127.0.0.2";  // loopback is all of 127/8 on Linux
    reactor.connect_tcp("127.0.0.1", port->port(), client, options);
    REQUIRE(run_bounded(reactor));
    CHECK(server_saw == "127.0.0.2");
}

namespace {
/// A loopback port nothing listens on (bound once by the OS's choice, then closed).
std::uint16_t unused_port(weft::Reactor& reactor) {
    asio::ip::tcp::acceptor probe(reactor.context(), {asio::ip::make_address("127.0.0.1"), 0});
    return probe.local_endpoint().port();
}
}  // namespace

TEST_CASE("a ReconnectingClientFactory on the reactor reconnects once the server appears", "[tcp][reconnecting]") {
    weft::Reactor reactor;
    const std::uint16_t port_number = unused_port(reactor);
    struct Factory : weft::ReconnectingClientFactory {
        using ReconnectingClientFactory::ReconnectingClientFactory;
        int failures = 0;
        std::function<void()> on_failure, on_connected;
        std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override {
            reset_delay();
            auto p = std::make_unique<Recorder>();
            p->on_made = [this](Recorder&) { on_connected(); };
            return p;
        }
        void client_connection_failed(weft::Connector& c, const weft::Reason& r) override {
            ++failures;
            on_failure();
            ReconnectingClientFactory::client_connection_failed(c, r);
        }
    } factory(reactor, 7);
    factory.initial_delay = 0.01;
    factory.factor = 1.5;
    factory.jitter = 0;
    auto echo = weft::Factory::for_protocol<Echo>();
    std::shared_ptr<weft::ListeningPort> port;
    factory.on_failure = [&] {
        if (factory.failures == 2) port = reactor.listen_tcp(port_number, *echo, {"127.0.0.1"});
    };
    bool connected = false;
    factory.on_connected = [&] {
        connected = true;
        factory.stop_trying();
        reactor.stop();
    };
    reactor.connect_tcp("127.0.0.1", port_number, factory);
    REQUIRE(run_bounded(reactor));
    CHECK(connected);
    CHECK(factory.failures == 2);
    CHECK(factory.retries() == 0);  // reset_delay() on success
}

TEST_CASE("the reactor releases a connector whose reconnecting factory stopped trying", "[tcp][reconnecting]") {
    // Nothing listens on the port, so each attempt fails and the factory schedules a retry; the reactor
    // keeps the disconnected connector for it. Once stop_trying() gives the retry up, the reactor must let
    // the connector go, not keep it until the reactor itself is destroyed.
    weft::Reactor reactor;
    const std::uint16_t port_number = unused_port(reactor);
    struct Factory : weft::ReconnectingClientFactory {
        using ReconnectingClientFactory::ReconnectingClientFactory;
        std::function<void()> on_failure;
        std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override { return nullptr; }
        void client_connection_failed(weft::Connector& c, const weft::Reason& r) override {
            ReconnectingClientFactory::client_connection_failed(c, r);
            on_failure();
        }
    };
    Factory factory(reactor, 7);
    factory.initial_delay = 60;  // the retry stays pending for the whole test
    factory.jitter = 0;
    std::weak_ptr<weft::Connector> connector = reactor.connect_tcp("127.0.0.1", port_number, factory);
    bool retry_was_pending = false, released = false;
    factory.on_failure = [&] {
        reactor.call_soon([&] {  // after the connector settled, waiting for its retry
            retry_was_pending = factory.pending_retry().active();
            const bool kept = !connector.expired();
            factory.stop_trying();
            released = kept && connector.expired();
            reactor.stop();
        });
    };
    REQUIRE(run_bounded(reactor));
    CHECK(retry_was_pending);
    CHECK(released);
}

TEST_CASE("parse_log_level and init_logging reject unknown levels", "[log]") {
    CHECK(weft::parse_log_level("trace") == weft::LogLevel::trace);
    CHECK(weft::parse_log_level("warn") == weft::LogLevel::warning);
    CHECK(weft::parse_log_level("fatal") == weft::LogLevel::fatal);
    CHECK_FALSE(weft::parse_log_level("loud"));
    CHECK_FALSE(weft::parse_log_level("INFO"));
    CHECK_THROWS_AS(weft::init_logging("loud"), std::invalid_argument);
    CHECK_NOTHROW(weft::init_logging("warning"));
}

TEST_CASE("state transitions are logged at debug level with the connection's id and peer", "[tcp][log]") {
    // A test sink captures Boost.Log records for the duration of this test.
    auto stream = boost::make_shared<std::ostringstream>();
    auto backend = boost::make_shared<boost::log::sinks::text_ostream_backend>();
    backend->add_stream(stream);
    auto sink = boost::make_shared<boost::log::sinks::synchronous_sink<boost::log::sinks::text_ostream_backend>>(backend);
    sink->set_formatter(boost::log::expressions::stream << boost::log::expressions::smessage);
    boost::log::core::get()->add_sink(sink);
    weft::init_logging(weft::LogLevel::debug);

    weft::Reactor reactor;
    weft::Address client_address;
    std::uint64_t server_id = 0;
    LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [&](Recorder& r) {
            server_id = r.transport().id();
            client_address = r.transport().peer();
            r.transport().lose_connection();
        };
        return p;
    });
    auto port = reactor.listen_tcp(0, server, {"127.0.0.1"});
    LambdaClientFactory client([](const weft::Address&) { return std::make_unique<Recorder>(); });
    client.on_end = [&] { reactor.stop(); };
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    const bool ok = run_bounded(reactor);
    boost::log::core::get()->remove_sink(sink);
    weft::init_logging(weft::LogLevel::warning);
    REQUIRE(ok);

    const std::string log = stream->str();
    const std::string prefix = "[conn " + std::to_string(server_id) + " " + client_address.to_string() + "] ";
    INFO(log);
    CHECK(log.find(prefix + "connecting -> connected (connection made)") != std::string::npos);
    CHECK(log.find(prefix + "connected -> disconnecting (lose_connection)") != std::string::npos);
    CHECK(log.find(prefix + "disconnecting -> disconnected (flushed)") != std::string::npos);
}

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace {
/// TCP_NODELAY of this process's socket bound to local port `port` and connected to peer port `peer`;
/// -1 if there is none. The transport does not expose its descriptor, but the test runs in-process.
int nodelay_of(std::uint16_t port, std::uint16_t peer) {
    int found = -1;
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return -1;
    while (dirent* entry = readdir(dir)) {
        const int fd = std::atoi(entry->d_name);
        ::sockaddr_in local{}, remote{};
        ::socklen_t a = sizeof local, b = sizeof remote;
        if (fd <= 2 || ::getsockname(fd, reinterpret_cast<::sockaddr*>(&local), &a) != 0 ||
            ::getpeername(fd, reinterpret_cast<::sockaddr*>(&remote), &b) != 0 || local.sin_family != AF_INET ||
            ntohs(local.sin_port) != port || ntohs(remote.sin_port) != peer) {
            continue;
        }
        int value = 0;
        ::socklen_t size = sizeof value;
        if (::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &value, &size) == 0) found = value != 0 ? 1 : 0;
    }
    closedir(dir);
    return found;
}
}  // namespace

TEST_CASE("TCP connections start with TCP_NODELAY on; set_tcp_nodelay(false) turns it off", "[tcp]") {
    weft::Reactor reactor;
    int server_default = -1, client_default = -1, server_after_off = -1;
    LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [&](Recorder& r) {
            const auto host = r.transport().host().port, peer = r.transport().peer().port;
            server_default = nodelay_of(host, peer);
            CHECK(r.transport().as_tcp()->set_tcp_nodelay(false));
            server_after_off = nodelay_of(host, peer);
            r.transport().lose_connection();
        };
        return p;
    });
    auto port = reactor.listen_tcp(0, server, {"127.0.0.1"});
    LambdaClientFactory client([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [&](Recorder& r) { client_default = nodelay_of(r.transport().host().port, r.transport().peer().port); };
        return p;
    });
    client.on_end = [&] { reactor.stop(); };
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    REQUIRE(run_bounded(reactor));
    CHECK(server_default == 1);
    CHECK(client_default == 1);
    CHECK(server_after_off == 0);
}
