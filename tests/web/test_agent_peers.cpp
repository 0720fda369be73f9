// HTTPS and real peers: weft's HTTP server on an ssl: endpoint with ALPN http/1.1 against Python's
// http.client + ssl; the Agent against Python's http.server (plain and TLS), against weft's own server
// over TLS (certificates verified, the test CA trusted by file) and against `openssl s_server -www`.
// Certificates are made at test time (support/tls_certs.hpp); peers are started on port 0 and print it.
#include <catch2/catch.hpp>

#include "agent_support.hpp"
#include "peer_process.hpp"
#include "support/tls_certs.hpp"
#include "web_support.hpp"
#include "weft/process_protocol.hpp"
#include "weft/process_transport.hpp"
#include "weft/string_endpoints.hpp"
#include "weft/tls_transport.hpp"
#include "weft/web/agent.hpp"

#ifndef WEFT_HTTP_SERVER_PEER
#error "WEFT_HTTP_SERVER_PEER must name tests/web/http_server_peer.py"
#endif
#ifndef WEFT_HTTPS_CLIENT_PEER
#error "WEFT_HTTPS_CLIENT_PEER must name tests/web/https_client_peer.py"
#endif

using namespace agent_test;
using web_test::PeerProcess;
using weft::web::Agent;
using weft::web::AgentOptions;
using weft::web::Request;

namespace {

std::string python() { return weft_test::python_binary(); }

// A Site whose /hello says whether the request came over TLS.
struct SecureSite {
    weft::Reactor& reactor;
    std::shared_ptr<weft::web::Resource> root = std::make_shared<weft::web::Resource>();
    std::unique_ptr<weft::web::Site> site;
    std::shared_ptr<weft::ListeningPort> port;

    SecureSite(weft::Reactor& r, const std::string& cert, const std::string& key) : reactor(r) {
        auto hello = std::make_shared<weft::web::Resource>();
        hello->on("GET", [](Request& request) { request.finish(request.is_secure() ? "secure" : "plain"); });
        root->put_child("hello", hello);
        weft::web::ServerOptions options;
        options.access_log = false;
        site = std::make_unique<weft::web::Site>(reactor, root, options);
        port = weft::listen_on(reactor, weft::parse_server_endpoint(
                               "ssl:0:interface=127.0.0.1:private_key=" + weft::quote_endpoint_argument(key) +
                                   ":cert_key=" + weft::quote_endpoint_argument(cert) + ":alpn=http/1.1"),
                               *site);
    }
    [[nodiscard]] std::string url(const std::string& host = "localhost") const {
        return "https://" + host + ":" + std::to_string(port->port()) + "/hello";
    }
};

}  // namespace

TEST_CASE("https server: Python's http.client over TLS negotiates ALPN http/1.1 and keeps the connection",
          "[web][agent][peers][tls]") {
    const auto& certs = weft_test::tls_certs();
    weft::Reactor reactor;
    SecureSite secure(reactor, certs.server, certs.server_key);
    struct Client : weft::ProcessProtocol {
        std::string out;
        std::optional<weft::ProcessStatus> status;
        weft::Reactor* reactor = nullptr;
        void out_received(std::string_view data) override { out.append(data); }
        void err_received(std::string_view data) override { out.append(data); }
        void process_ended(const weft::ProcessStatus& s) override {
            status = s;
            reactor->stop();
        }
    } client;
    client.reactor = &reactor;
    reactor.spawn_process(client, python(),
                          {python(), WEFT_HTTPS_CLIENT_PEER, std::to_string(secure.port->port()), certs.ca});
    REQUIRE(weft_test::run_bounded(reactor, 20s));
    INFO(client.out);
    REQUIRE(client.status);
    CHECK(client.status->exit_code() == 0);
    CHECK(client.out == "200 secure\n200 secure\nalpn http/1.1\n");
}

TEST_CASE("agent: against Python's http.server: keep-alive reuse, POST, a close-delimited body",
          "[web][agent][peers]") {
    weft::Reactor reactor;
    PeerProcess peer(reactor, "port ", {python(), WEFT_HTTP_SERVER_PEER});
    Agent agent(reactor);
    auto scenario = [&]() -> weft::Deferred<void> {
        const std::uint16_t port = co_await peer.ready;
        const std::string base = "http://127.0.0.1:" + std::to_string(port);
        auto first = co_await settle(agent.get(base + "/a?x=1"));
        REQUIRE(first.response);
        CHECK(first.response->status == 200);
        CHECK(first.response->body == "hello from python, path /a?x=1");
        auto second = co_await settle(agent.request("POST", base + "/post", {}, "posted"));
        REQUIRE(second.response);
        CHECK(second.response->status == 201);
        CHECK(second.response->body == "posted");
        CHECK(second.response->header("X-Connection") == first.response->header("X-Connection"));
        auto closing = co_await settle(agent.get(base + "/close"));
        REQUIRE(closing.response);
        CHECK(closing.response->body == "until the end");
        CHECK(closing.response->header("X-Connection") == first.response->header("X-Connection"));
        auto after = co_await settle(agent.get(base + "/b"));
        REQUIRE(after.response);
        CHECK(after.response->header("X-Connection") != first.response->header("X-Connection"));
        co_await peer.stop();
    };
    REQUIRE(run_scenario(reactor, scenario, 20s));
}

TEST_CASE("agent: https against weft's ssl: server verifies the certificate: trusted CA file, system store, "
          "wrong CA", "[web][agent][peers][tls]") {
    const auto& certs = weft_test::tls_certs();
    weft::Reactor reactor;
    SecureSite secure(reactor, certs.server, certs.server_key);
    SecureSite untrusted(reactor, certs.untrusted, certs.untrusted_key);
    AgentOptions trusting;
    trusting.ca_file = certs.ca;
    Agent agent(reactor, trusting);
    Agent system_store(reactor);
    auto scenario = [&]() -> weft::Deferred<void> {
        auto ok = co_await settle(agent.get(secure.url()));
        INFO((ok.failure ? ok.failure->what() : ""));
        REQUIRE(ok.response);
        CHECK(ok.response->status == 200);
        CHECK(ok.response->body == "secure");
        auto by_address = co_await settle(agent.get(secure.url("127.0.0.1")));  // the certificate's IP entry
        REQUIRE(by_address.response);
        CHECK(agent.idle_connections() == 2);  // one per host name: localhost and 127.0.0.1
        auto again = co_await settle(agent.get(secure.url()));
        REQUIRE(again.response);
        CHECK(agent.idle_connections() == 2);

        auto refused = co_await settle(system_store.get(secure.url()));
        REQUIRE(refused.failure);
        CHECK(refused.failure->check<weft::web::ResponseFailed>());
        CHECK(std::string(refused.failure->what()).find("certificate verify failed") != std::string::npos);
        auto wrong = co_await settle(agent.get(untrusted.url()));
        REQUIRE(wrong.failure);
        CHECK(std::string(wrong.failure->what()).find("certificate verify failed") != std::string::npos);
    };
    REQUIRE(run_scenario(reactor, scenario, 20s));
}

TEST_CASE("agent: https connections share the Agent's one TLS context: a new connection resumes the host's "
          "session; AgentOptions::tls_context is used as given", "[web][agent][peers][tls]") {
    const auto& certs = weft_test::tls_certs();
    weft::Reactor reactor;
    // Answers each connection's one request with whether its TLS session was resumed, then closes.
    weft_test::LambdaFactory server([](const weft::Address&) {
        auto r = std::make_unique<weft_test::Recorder>();
        r->on_data = [](weft_test::Recorder& me, std::string_view) {
            if (me.received.find("\r\n\r\n") == std::string::npos) return;
            const std::string body = me.transport().as_tls()->session_reused() ? "resumed" : "new";
            me.transport().write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                                 "\r\nConnection: close\r\n\r\n" + body);
            me.transport().lose_connection();
        };
        return r;
    });
    auto port = weft::listen_on(reactor, weft::parse_server_endpoint(
                                    "ssl:0:interface=127.0.0.1:private_key=" +
                                    weft::quote_endpoint_argument(certs.server_key) +
                                    ":cert_key=" + weft::quote_endpoint_argument(certs.server)),
                                server);
    const std::string url = "https://localhost:" + std::to_string(port->port()) + "/";
    AgentOptions options;
    options.ca_file = certs.ca;
    options.persistent = false;  // a connection per request
    Agent agent(reactor, options);
    AgentOptions given = options;
    given.ca_file = "/nonexistent/ca.pem";  // not read: the given context is used
    given.tls_context = weft::TlsContext::client({.ca_file = certs.ca});
    Agent with_context(reactor, given);
    auto scenario = [&]() -> weft::Deferred<void> {
        std::vector<std::string> bodies;
        for (Agent* a : {&agent, &agent, &agent, &with_context, &with_context}) {
            auto r = co_await settle(a->get(url));
            bodies.push_back(r.response ? r.response->body : std::string("failed: ") + r.failure->what());
        }
        CHECK(bodies == std::vector<std::string>{"new", "resumed", "resumed", "new", "resumed"});
    };
    REQUIRE(run_scenario(reactor, scenario, 20s));

    AgentOptions named;
    named.tls_context = weft::TlsContext::client({.server_name = "localhost", .ca_file = certs.ca});
    CHECK_THROWS_AS(Agent(reactor, named), std::invalid_argument);
    named.tls_context = weft::TlsContext::server({.certificate = {certs.server, certs.server_key, ""}});
    CHECK_THROWS_AS(Agent(reactor, named), std::invalid_argument);
}

TEST_CASE("agent: https against Python's ssl server (ALPN http/1.1) and openssl s_server -www",
          "[web][agent][peers][tls]") {
    const auto& certs = weft_test::tls_certs();
    weft::Reactor reactor;
    PeerProcess python_peer(reactor, "port ", {python(), WEFT_HTTP_SERVER_PEER, "--tls", certs.server, certs.server_key});
    PeerProcess s_server(reactor, "ACCEPT ",
                  {weft_test::openssl_binary(), "s_server", "-accept", "127.0.0.1:0", "-cert", certs.server, "-key",
                   certs.server_key, "-www", "-alpn", "http/1.1", "-naccept", "1"});
    AgentOptions options;
    options.ca_file = certs.ca;
    Agent agent(reactor, options);
    auto scenario = [&]() -> weft::Deferred<void> {
        const std::uint16_t port = co_await python_peer.ready;
        const std::string base = "https://localhost:" + std::to_string(port);
        auto first = co_await settle(agent.get(base + "/one"));
        INFO((first.failure ? first.failure->what() : ""));
        REQUIRE(first.response);
        CHECK(first.response->body == "hello from python, path /one");
        CHECK(first.response->header("X-Alpn") == "http/1.1");
        auto second = co_await settle(agent.get(base + "/two"));
        REQUIRE(second.response);
        CHECK(second.response->header("X-Connection") == first.response->header("X-Connection"));
        co_await python_peer.stop();

        const std::uint16_t s_port = co_await s_server.ready;
        auto page = co_await settle(agent.get("https://localhost:" + std::to_string(s_port) + "/"));
        INFO((page.failure ? page.failure->what() : ""));
        REQUIRE(page.response);
        CHECK(page.response->status == 200);
        CHECK(page.response->version == 10);
        INFO(page.response->body.substr(0, 300));
        CHECK(page.response->body.find("Ciphers supported in s_server binary") != std::string::npos);  // its page
        co_await s_server.stop();
    };
    REQUIRE(run_scenario(reactor, scenario, 20s));
}
