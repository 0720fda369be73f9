// wss://: connect_websocket over weft's TLS client, against weft's own WebSocketResource behind an ssl:
// endpoint and against Debian's python3-websockets as a TLS server. Certificates are made at test time
// (support/tls_certs.hpp): the client trusts the test CA by file, or nothing, or skips verification.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "peer_process.hpp"
#include "support/loop.hpp"
#include "support/tls_certs.hpp"
#include "websocket_handshake.hpp"
#include "weft/coroutine.hpp"
#include "weft/deferred_endpoints.hpp"
#include "weft/process_protocol.hpp"
#include "weft/process_transport.hpp"
#include "weft/string_endpoints.hpp"
#include "weft/web/site.hpp"
#include "weft/web/websocket_client.hpp"
#include "weft/web/websocket_resource.hpp"

#ifndef WEFT_WEBSOCKET_TLS_PEER
#error "WEFT_WEBSOCKET_TLS_PEER must name tests/web/websocket_tls_peer.py"
#endif

using namespace std::chrono_literals;
using weft::web::MessageType;
using weft::web::WebSocketOptions;

namespace {

/// What the client's protocol saw; `lost_waiter` fires with connection_lost.
struct ClientEvents {
    std::vector<std::string> messages;
    std::optional<std::uint16_t> lost_code;
    std::optional<weft::Deferred<void>> lost_waiter;
    bool made = false;
};

struct Client : weft::web::WebSocketProtocol {
    explicit Client(ClientEvents& e) : events(e) {}
    ~Client() override = default;
    void connection_made() override { events.made = true; }
    void message_received(std::string_view data, MessageType type) override {
        events.messages.push_back((type == MessageType::text ? "text " : "binary ") + std::string(data));
    }
    void connection_lost(std::uint16_t code, std::string_view) override {
        events.lost_code = code;
        if (auto w = std::exchange(events.lost_waiter, std::nullopt)) w->callback();
    }
    ClientEvents& events;
};

/// Fires once the client's connection_lost has run.
weft::Deferred<void> lost(ClientEvents& events) {
    if (events.lost_code) return weft::succeed();
    events.lost_waiter.emplace();
    return *events.lost_waiter;
}

/// A Deferred<void>'s outcome, as a Deferred that never fails (for co_await in a scenario).
struct Outcome {
    bool ok = false;
    std::optional<weft::Failure> failure;
    [[nodiscard]] std::string what() const { return failure ? failure->what() : std::string(); }
};

weft::Deferred<Outcome> settle(weft::Deferred<void> d) {
    Outcome o;
    try {
        co_await std::move(d);
        o.ok = true;
    } catch (...) {
        o.failure.emplace(std::current_exception());
    }
    co_return o;
}

using weft_test::run_scenario;

/// The server side: echoes every message with its type.
struct Echo : weft::web::WebSocketProtocol {
    void message_received(std::string_view data, MessageType type) override {
        if (type == MessageType::text) {
            transport().send_text(data);
        } else {
            transport().send_binary(data);
        }
    }
};

/// weft's WebSocketResource at /ws behind an ssl: endpoint on 127.0.0.1 with `cert`; records the Host
/// header and whether each upgrade request came over TLS.
struct SecureWsServer {
    weft::Reactor& reactor;
    std::shared_ptr<weft::web::Resource> root = std::make_shared<weft::web::Resource>();
    std::unique_ptr<weft::web::Site> site;
    std::shared_ptr<weft::ListeningPort> port;
    std::vector<std::string> hosts;
    std::vector<bool> secure;

    SecureWsServer(weft::Reactor& r, const std::string& cert, const std::string& key) : reactor(r) {
        root->put_child("ws", std::make_shared<weft::web::WebSocketResource>(
                                  reactor,
                                  [this](weft::web::Request& request) {
                                      hosts.emplace_back(request.header("Host").value_or("(none)"));
                                      secure.push_back(request.is_secure());
                                      return std::make_unique<Echo>();
                                  },
                                  WebSocketOptions{}));
        weft::web::ServerOptions options;
        options.access_log = false;
        site = std::make_unique<weft::web::Site>(reactor, root, options);
        port = weft::listen_on(reactor, weft::parse_server_endpoint(
                                            "ssl:0:interface=127.0.0.1:private_key=" + weft::quote_endpoint_argument(key) +
                                            ":cert_key=" + weft::quote_endpoint_argument(cert)),
                               *site);
    }
    [[nodiscard]] std::string url(const std::string& host = "localhost") const {
        return "wss://" + host + ":" + std::to_string(port->port()) + "/ws";
    }
};

/// Sends a text message, then (once echoed) a binary one, then closes with 1000.
struct Talker : Client {
    using Client::Client;
    void connection_made() override {
        Client::connection_made();
        transport().send_text("hello over TLS");
    }
    void message_received(std::string_view data, MessageType type) override {
        Client::message_received(data, type);
        if (events.messages.size() == 1) transport().send_binary(std::string("\x00\x01\xfe\xff", 4));
        if (events.messages.size() == 2) transport().close(1000, "done");
    }
};

const std::vector<std::string>& talker_expects() {
    static const std::vector<std::string> expected{"text hello over TLS", std::string("binary \x00\x01\xfe\xff", 11)};
    return expected;
}

WebSocketOptions trusting_test_ca() {
    WebSocketOptions options;
    options.ca_file = weft_test::tls_certs().ca;
    return options;
}

}  // namespace

TEST_CASE("wss: URLs: port 443 by default, Host without the default port, bad ports refused",
          "[web][websocket][tls]") {
    using weft::web::detail::parse_websocket_url;
    auto secure = parse_websocket_url("wss://example.com/chat?room=1");
    CHECK(secure.secure);
    CHECK(secure.port == 443);
    CHECK(secure.host_header() == "example.com");
    CHECK(secure.resource == "/chat?room=1");
    CHECK(parse_websocket_url("WSS://example.com").secure);  // schemes are case-insensitive
    CHECK(parse_websocket_url("wss://example.com:443/").host_header() == "example.com");
    CHECK(parse_websocket_url("wss://example.com:80/").host_header() == "example.com:80");
    CHECK(parse_websocket_url("wss://[::1]:8443/").host_header() == "[::1]:8443");
    CHECK(parse_websocket_url("wss://[::1]/").host_header() == "[::1]");
    CHECK(parse_websocket_url("wss://[::1]/").destination() == "[::1]:443");
    auto plain = parse_websocket_url("ws://example.com:443/");
    CHECK_FALSE(plain.secure);
    CHECK(plain.host_header() == "example.com:443");
    CHECK(parse_websocket_url("ws://example.com/").host_header() == "example.com");

    weft::Reactor reactor;
    ClientEvents events;
    for (const char* bad : {"wss://localhost:0/", "wss://localhost:/", "wss://localhost:70000/", "wss://localhost:x/",
                            "wss:///nohost", "https://localhost/"}) {
        INFO(bad);
        CHECK_THROWS_AS(weft::web::connect_websocket(reactor, bad, std::make_unique<Client>(events)),
                        std::invalid_argument);
    }
}

TEST_CASE("wss: echo text and binary with weft's WebSocket server behind an ssl: endpoint, the test CA "
          "trusted by file", "[web][websocket][tls]") {
    const auto& certs = weft_test::tls_certs();
    weft::Reactor reactor;
    SecureWsServer server(reactor, certs.server, certs.server_key);
    ClientEvents by_name;
    ClientEvents by_address;
    auto scenario = [&]() -> weft::Deferred<void> {
        auto made = co_await settle(
            weft::web::connect_websocket(reactor, server.url(), std::make_unique<Talker>(by_name), trusting_test_ca()));
        INFO(made.what());
        REQUIRE(made.ok);
        co_await lost(by_name);
        // The certificate's IP entry verifies too.
        auto by_ip = co_await settle(weft::web::connect_websocket(reactor, server.url("127.0.0.1"),
                                                                  std::make_unique<Talker>(by_address), trusting_test_ca()));
        INFO(by_ip.what());
        REQUIRE(by_ip.ok);
        co_await lost(by_address);
    };
    REQUIRE(run_scenario(reactor, scenario, 20s));
    CHECK(by_name.messages == talker_expects());
    CHECK(by_name.lost_code == 1000);
    CHECK(by_address.messages == talker_expects());
    CHECK(by_address.lost_code == 1000);
    const std::string port = std::to_string(server.port->port());
    CHECK(server.hosts == std::vector<std::string>{"localhost:" + port, "127.0.0.1:" + port});
    CHECK(server.secure == std::vector<bool>{true, true});
}

TEST_CASE("wss: WebSocketOptions::tls_context is used instead of ca_file, and shared by two connections",
          "[web][websocket][tls]") {
    const auto& certs = weft_test::tls_certs();
    weft::Reactor reactor;
    SecureWsServer server(reactor, certs.server, certs.server_key);
    WebSocketOptions options;
    options.ca_file = "/nonexistent/ca.pem";  // not read: the given context is used
    options.tls_context = weft::TlsContext::client({.ca_file = certs.ca, .alpn = {"http/1.1"}});
    ClientEvents first;
    ClientEvents second;
    auto scenario = [&]() -> weft::Deferred<void> {
        for (ClientEvents* events : {&first, &second}) {
            auto made = co_await settle(
                weft::web::connect_websocket(reactor, server.url(), std::make_unique<Talker>(*events), options));
            INFO(made.what());
            REQUIRE(made.ok);
            co_await lost(*events);
        }
    };
    REQUIRE(run_scenario(reactor, scenario, 20s));
    CHECK(first.messages == talker_expects());
    CHECK(second.messages == talker_expects());
    CHECK(server.secure == std::vector<bool>{true, true});
}

TEST_CASE("wss: a certificate the client does not trust, or for another name, fails the Deferred with the TLS "
          "error; the insecure switch accepts both", "[web][websocket][tls]") {
    const auto& certs = weft_test::tls_certs();
    weft::Reactor reactor;
    SecureWsServer trusted(reactor, certs.server, certs.server_key);
    SecureWsServer untrusted(reactor, certs.untrusted, certs.untrusted_key);  // CN=localhost, another CA
    SecureWsServer other_name(reactor, certs.other, certs.other_key);         // the test CA, CN=other.test
    ClientEvents never;
    ClientEvents insecure_untrusted;
    ClientEvents insecure_other;
    auto expect_tls_failure = [](const Outcome& o, const std::string& expected_reason) {
        INFO(o.what());
        REQUIRE(o.failure);
        REQUIRE(o.failure->check<weft::ConnectError>());
        try {
            o.failure->rethrow();
        } catch (const weft::ConnectError& error) {
            CHECK(error.reason().message().starts_with("TLS handshake failed: certificate verify failed"));
            CHECK(std::string(error.what()).find(expected_reason) != std::string::npos);
        }
    };
    auto scenario = [&]() -> weft::Deferred<void> {
        // The test CA is not in the system's store. Without options, under co_await: g++ 12 would free the
        // options twice if they were a default argument (see connect_websocket's doc comment).
        auto system_store = co_await settle(
            weft::web::connect_websocket(reactor, trusted.url(), std::make_unique<Client>(never)));
        expect_tls_failure(system_store, "unable to get local issuer certificate");
        auto wrong_ca = co_await settle(
            weft::web::connect_websocket(reactor, untrusted.url(), std::make_unique<Client>(never), trusting_test_ca()));
        expect_tls_failure(wrong_ca, "unable to get local issuer certificate");
        auto wrong_name = co_await settle(
            weft::web::connect_websocket(reactor, other_name.url(), std::make_unique<Client>(never), trusting_test_ca()));
        expect_tls_failure(wrong_name, "hostname mismatch");

        WebSocketOptions insecure;
        insecure.insecure_skip_certificate_verification = true;
        auto accepted = co_await settle(weft::web::connect_websocket(
            reactor, untrusted.url(), std::make_unique<Talker>(insecure_untrusted), insecure));
        INFO(accepted.what());
        REQUIRE(accepted.ok);
        co_await lost(insecure_untrusted);
        auto accepted_other = co_await settle(
            weft::web::connect_websocket(reactor, other_name.url(), std::make_unique<Talker>(insecure_other), insecure));
        INFO(accepted_other.what());
        REQUIRE(accepted_other.ok);
        co_await lost(insecure_other);
    };
    REQUIRE(run_scenario(reactor, scenario, 20s));
    CHECK_FALSE(never.made);
    CHECK(trusted.hosts.empty());  // no HTTP request got through
    CHECK(untrusted.hosts.size() == 1);
    CHECK(other_name.hosts.size() == 1);
    CHECK(insecure_untrusted.messages == talker_expects());
    CHECK(insecure_other.messages == talker_expects());
}

TEST_CASE("wss: a server that never answers the TLS handshake fails the Deferred with ConnectError after "
          "handshake_timeout", "[web][websocket][tls]") {
    weft::Reactor reactor;
    // Accepts and stays silent: the client's TLS handshake never finishes.
    struct Silent : weft::Protocol {};
    auto silent = weft::Factory::for_protocol<Silent>();
    auto port = weft::listen_on(reactor, weft::parse_server_endpoint("tcp:0:interface=127.0.0.1"), *silent);
    ClientEvents never;
    WebSocketOptions options = trusting_test_ca();
    options.handshake_timeout = 300ms;
    const auto started = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration took{};
    Outcome outcome;
    auto scenario = [&]() -> weft::Deferred<void> {
        outcome = co_await settle(weft::web::connect_websocket(
            reactor, "wss://localhost:" + std::to_string(port->port()) + "/ws", std::make_unique<Client>(never), options));
        took = std::chrono::steady_clock::now() - started;
    };
    REQUIRE(run_scenario(reactor, scenario, 5s));
    INFO(outcome.what());
    REQUIRE(outcome.failure);
    REQUIRE(outcome.failure->check<weft::ConnectError>());  // not a WebSocket refusal: TLS never completed
    CHECK(outcome.what().find("TLS handshake not done within handshake_timeout") != std::string::npos);
    CHECK(took >= 300ms);
    CHECK(took < 5s);  // the TLS layer's own bound is 10 s: this was handshake_timeout
    CHECK_FALSE(never.made);
}

TEST_CASE("wss: weft's client talks to a python3-websockets TLS server (the test CA trusted by file, ALPN "
          "http/1.1)", "[web][websocket][tls][peers]") {
    const auto& certs = weft_test::tls_certs();
    weft::Reactor reactor;
    web_test::PeerProcess peer(reactor, "port ", {weft_test::python_binary(), WEFT_WEBSOCKET_TLS_PEER, "server", certs.server, certs.server_key});
    ClientEvents events;
    std::uint16_t port = 0;
    auto scenario = [&]() -> weft::Deferred<void> {
        port = co_await peer.ready;
        auto made = co_await settle(weft::web::connect_websocket(
            reactor, "wss://localhost:" + std::to_string(port) + "/py?x=1", std::make_unique<Talker>(events),
            trusting_test_ca()));
        INFO(made.what());
        REQUIRE(made.ok);
        co_await lost(events);
        co_await peer.ended;
    };
    const bool in_time = run_scenario(reactor, scenario, 30s);
    if (!peer.status) peer.process->signal_process("KILL");
    INFO(peer.out);
    REQUIRE(in_time);
    CHECK(events.messages == talker_expects());
    CHECK(events.lost_code == 1000);
    REQUIRE(peer.status);
    CHECK(peer.status->exit_code() == 0);
    CHECK(peer.out == "host localhost:" + std::to_string(port) + "\npath /py?x=1\nalpn http/1.1\nclosed 1000\n");
}
