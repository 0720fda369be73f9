// weft::web::Agent over loopback: against weft's own HTTP server (methods, keep-alive reuse, redirects),
// and against a raw server sending exact bytes (chunked, close-delimited, 1xx, malformed, limits, a
// server that never answers, a stale keep-alive connection).
#include <catch2/catch.hpp>


#include "agent_support.hpp"
#include "web_support.hpp"
#include "support/deferred_results.hpp"
#include "weft/coroutine.hpp"
#include "weft/deferred_endpoints.hpp"
#include "weft/web/agent.hpp"

using namespace agent_test;
using weft::web::Agent;
using weft::web::AgentOptions;
using weft::web::Request;
using weft::web::Resource;

namespace {

// weft's server with a counting listener: GET /hello?name=, POST /echo, /old -> 302 /new, /loop -> itself.
struct Served {
    web_test::WebServer server;
    int connections = 0;
    std::unique_ptr<weft_test::LambdaFactory> counting;
    std::shared_ptr<weft::ListeningPort> port;

    Served() {
        auto hello = std::make_shared<Resource>();
        hello->on("GET", [](Request& r) {
            r.set_header("Content-Type", "text/plain");
            r.finish("hello " + std::string(r.query_param("name").value_or("?")));
        });
        auto echo = std::make_shared<Resource>();
        echo->on("POST", [](Request& r) {
            r.set_header("X-Method", r.method());
            r.set_header("X-Agent", std::string(r.header("User-Agent").value_or("-")));
            r.finish(r.body());
        });
        echo->on("GET", [](Request& r) { r.finish("echo got a GET"); });
        auto redirect = [](int status, std::string to) {
            auto res = std::make_shared<Resource>();
            auto handler = [status, to](Request& r) {
                r.set_status(status);
                r.set_header("Location", to);
                r.finish("moved");
            };
            res->on("GET", handler);
            res->on("POST", handler);
            return res;
        };
        server.root->put_child("hello", hello);
        server.root->put_child("echo", echo);
        server.root->put_child("old", redirect(302, "/hello?name=redirected"));
        server.root->put_child("see-other", redirect(303, "echo"));
        server.root->put_child("keep", redirect(307, "/echo"));
        server.root->put_child("loop", redirect(301, "/loop"));
        server.start();
        counting = std::make_unique<weft_test::LambdaFactory>([this](const weft::Address& peer) {
            ++connections;
            return server.site->build_protocol(peer);
        });
        port = server.reactor.listen_tcp(0, *counting, {"127.0.0.1"});
    }
    [[nodiscard]] std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port->port()) + path;
    }
};

std::string chunked_answer() {
    return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
}

}  // namespace

TEST_CASE("agent: GET, POST, HEAD and a 404 against weft's server, all on one keep-alive connection", "[web][agent]") {
    Served s;
    Agent agent(s.server.reactor);
    auto scenario = [&]() -> weft::Deferred<void> {
        auto get = co_await settle(agent.get(s.url("/hello?name=you")));
        REQUIRE(get.response);
        CHECK(get.response->status == 200);
        CHECK(get.response->reason == "OK");
        CHECK(get.response->body == "hello you");
        CHECK(get.response->header("content-type") == "text/plain");
        CHECK(get.response->url == s.url("/hello?name=you"));

        // (An initializer list inside a co_await expression trips GCC 12: "array used as initializer".)
        std::vector<weft::web::Header> headers{{"Content-Type", "text/plain"}};
        auto post = co_await settle(agent.request("POST", s.url("/echo"), headers, "a body"));
        REQUIRE(post.response);
        CHECK(post.response->body == "a body");
        CHECK(post.response->header("X-Method") == "POST");
        CHECK(post.response->header("X-Agent") == "weft");

        auto head = co_await settle(agent.request("HEAD", s.url("/hello?name=you")));
        REQUIRE(head.response);
        CHECK(head.response->status == 200);
        CHECK(head.response->body.empty());
        CHECK(head.response->header("Content-Length") == "9");

        auto missing = co_await settle(agent.get(s.url("/missing")));
        REQUIRE(missing.response);
        CHECK(missing.response->status == 404);

        CHECK(s.connections == 1);
        CHECK(agent.idle_connections() == 1);
    };
    REQUIRE(run_scenario(s.server.reactor, scenario));
}

TEST_CASE("agent: without persistence each request has its own connection, sent with Connection: close", "[web][agent]") {
    Served s;
    AgentOptions options;
    options.persistent = false;
    Agent agent(s.server.reactor, options);
    auto scenario = [&]() -> weft::Deferred<void> {
        for (int i = 0; i < 3; ++i) {
            auto o = co_await settle(agent.get(s.url("/hello?name=" + std::to_string(i))));
            REQUIRE(o.response);
            CHECK(o.response->body == "hello " + std::to_string(i));
        }
        CHECK(s.connections == 3);
        CHECK(agent.idle_connections() == 0);
    };
    REQUIRE(run_scenario(s.server.reactor, scenario));
}

TEST_CASE("agent: redirects are returned as they are unless max_redirects says to follow them", "[web][agent]") {
    Served s;
    Agent plain(s.server.reactor);
    AgentOptions options;
    options.max_redirects = 3;
    Agent agent(s.server.reactor, options);
    auto scenario = [&]() -> weft::Deferred<void> {
        auto o = co_await settle(plain.get(s.url("/old")));
        REQUIRE(o.response);
        CHECK(o.response->status == 302);
        CHECK(o.response->header("Location") == "/hello?name=redirected");
        CHECK(o.response->body == "moved");

        auto followed = co_await settle(agent.get(s.url("/old")));
        REQUIRE(followed.response);
        CHECK(followed.response->status == 200);
        CHECK(followed.response->body == "hello redirected");
        CHECK(followed.response->url == s.url("/hello?name=redirected"));

        // 303 after a POST: a GET without the body, to a relative Location.
        auto see_other = co_await settle(agent.request("POST", s.url("/see-other"), {}, "data"));
        REQUIRE(see_other.response);
        CHECK(see_other.response->body == "echo got a GET");
        // 307 repeats the method and the body.
        auto keep = co_await settle(agent.request("POST", s.url("/keep"), {}, "data"));
        REQUIRE(keep.response);
        CHECK(keep.response->body == "data");
        CHECK(keep.response->header("X-Method") == "POST");
        // A loop stops at the limit with the last 3xx.
        auto loop = co_await settle(agent.get(s.url("/loop")));
        REQUIRE(loop.response);
        CHECK(loop.response->status == 301);
    };
    REQUIRE(run_scenario(s.server.reactor, scenario));
}

TEST_CASE("agent: chunked, close-delimited and Content-Length bodies; 1xx responses are skipped", "[web][agent]") {
    weft::Reactor reactor;
    RawServer server(reactor, [](int n, weft::Transport& t, const std::string&) {
        if (n == 0) t.write(chunked_answer());
        if (n == 1) t.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                            "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nnew");
        if (n == 2) {
            t.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ");
            t.write("the end");
            t.lose_connection();
        }
        if (n == 3) t.write("HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\n1.0!");
    });
    Agent agent(reactor);
    auto scenario = [&]() -> weft::Deferred<void> {
        auto chunked = co_await settle(agent.get(server.url("/c")));
        REQUIRE(chunked.response);
        CHECK(chunked.response->body == "hello world");
        auto interim = co_await settle(agent.get(server.url("/i")));
        REQUIRE(interim.response);
        CHECK(interim.response->status == 201);
        CHECK(interim.response->body == "new");
        CHECK(server.accepted == 1);  // both on one connection
        auto delimited = co_await settle(agent.get(server.url("/d")));
        REQUIRE(delimited.response);
        CHECK(delimited.response->body == "until the end");
        auto old = co_await settle(agent.get(server.url("/o")));
        REQUIRE(old.response);
        CHECK(old.response->version == 10);
        CHECK(old.response->body == "1.0!");
        CHECK(server.accepted == 2);           // the closed connection was not reused
        CHECK(agent.idle_connections() == 0);  // HTTP/1.0 without keep-alive is not kept
        CHECK(server.last_request.starts_with("GET /o HTTP/1.1\r\nHost: 127.0.0.1:"));
    };
    REQUIRE(run_scenario(reactor, scenario));
}

TEST_CASE("agent: malformed, oversized and truncated responses fail with ResponseFailed", "[web][agent]") {
    weft::Reactor reactor;
    RawServer server(reactor, [](int n, weft::Transport& t, const std::string&) {
        if (n == 0) t.write("HTTP/1.1 abc\r\n\r\n");
        if (n == 1) t.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        if (n == 2) {
            t.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nonly");
            t.lose_connection();
        }
        if (n == 3) t.write("HTTP/1.1 200 OK\r\nX-Big: " + std::string(2000, 'x') + "\r\n\r\n");
        if (n == 4) t.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
        if (n == 5) t.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        if (n == 6) t.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n" + std::string(128, 'c') + "\r\n");
        if (n == 7) {
            t.write("HTTP/1.1 200 OK\r\n\r\n" + std::string(60, 'e'));
            t.write(std::string(60, 'e'));  // the body ends with the connection, which never closes
        }
    });
    AgentOptions options;
    options.max_body_bytes = 100;
    options.max_header_bytes = 1024;
    Agent agent(reactor, options);
    const std::vector<std::pair<std::string, std::string>> cases{
        {"/malformed", "malformed response"},
        {"/big", "body is larger than 100 bytes"},
        {"/truncated", "lost before the response was complete"},
        {"/header", "header is larger than 1024 bytes"},
        {"/two-lengths", "malformed response"},
        {"/bad-chunk", "malformed response"},
        {"/big-chunked", "body is larger than 100 bytes"},
        {"/big-until-close", "body is larger than 100 bytes"}};
    auto scenario = [&]() -> weft::Deferred<void> {
        for (const auto& [path, words] : cases) {
            auto o = co_await settle(agent.get(server.url(path)));
            INFO(path);
            REQUIRE(o.failure);
            CHECK(o.failure->check<weft::web::ResponseFailed>());
            INFO(o.failure->what());
            CHECK(std::string(o.failure->what()).find(words) != std::string::npos);
        }
        CHECK(agent.idle_connections() == 0);
        CHECK(server.accepted == 8);
    };
    REQUIRE(run_scenario(reactor, scenario));
}

TEST_CASE("agent: a server that never answers gives TimeoutError after response_timeout", "[web][agent]") {
    weft::Reactor reactor;
    RawServer server(reactor, [](int, weft::Transport&, const std::string&) {});
    AgentOptions options;
    options.response_timeout = 200ms;
    Agent agent(reactor, options);
    auto scenario = [&]() -> weft::Deferred<void> {
        const auto start = std::chrono::steady_clock::now();
        auto o = co_await settle(agent.get(server.url("/slow")));
        REQUIRE(o.failure);
        CHECK(o.failure->check<weft::TimeoutError>());
        CHECK(std::chrono::steady_clock::now() - start >= 200ms);
        CHECK(server.requests == 1);
        co_await server.lost_at_least(1);  // the connection was aborted, not kept
        CHECK(agent.idle_connections() == 0);
    };
    REQUIRE(run_scenario(reactor, scenario));
}

TEST_CASE("agent: cancelling the Deferred aborts the request's connection", "[web][agent]") {
    weft::Reactor reactor;
    weft::Deferred<weft::web::Response> d;
    RawServer server(reactor, [&](int, weft::Transport&, const std::string&) {
        reactor.call_soon([&] { d.cancel(); });  // once the request is in, not inside its delivery
    });
    Agent agent(reactor);
    auto scenario = [&]() -> weft::Deferred<void> {
        d = agent.get(server.url("/x"));
        auto o = co_await settle(d);
        REQUIRE(o.failure);
        CHECK(o.failure->check<weft::CancelledError>());
        co_await server.lost_at_least(1);
        CHECK(agent.idle_connections() == 0);
    };
    REQUIRE(run_scenario(reactor, scenario));
}

TEST_CASE("agent: a refused connection fails with ConnectError", "[web][agent]") {
    weft::Reactor reactor;
    weft_test::LambdaFactory nobody(nullptr);
    auto port = reactor.listen_tcp(0, nobody, {"127.0.0.1"});
    const auto number = port->port();
    port->stop_listening();
    Agent agent(reactor);
    auto scenario = [&]() -> weft::Deferred<void> {
        auto o = co_await settle(agent.get("http://127.0.0.1:" + std::to_string(number) + "/"));
        REQUIRE(o.failure);
        CHECK(o.failure->check<weft::ConnectError>());
    };
    REQUIRE(run_scenario(reactor, scenario));
}

TEST_CASE("agent: a bad URL, method or header fails the Deferred with invalid_argument", "[web][agent]") {
    weft::Reactor reactor;
    Agent agent(reactor);
    for (auto d : {agent.get("not a url"), agent.get("ftp://example.org/"), agent.get("http:///path"),
                   agent.request("GE T", "http://127.0.0.1:1/"),
                   agent.request("GET", "http://127.0.0.1:1/", {{"X-A", "b\r\nX-Injected: 1"}}),
                   agent.request("GET", "http://127.0.0.1:1/", {{"Content-Length", "3"}})}) {
        auto f = weft_test::failure_of(d);
        REQUIRE(f);
        CHECK(f->check<std::invalid_argument>());
    }
}

TEST_CASE("agent: idle connections are bounded per host and closed after idle_timeout", "[web][agent]") {
    weft::Reactor reactor;
    RawServer server(reactor, [](int, weft::Transport& t, const std::string&) {
        t.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    AgentOptions options;
    options.max_idle_per_host = 1;
    options.idle_timeout = 100ms;
    Agent agent(reactor, options);
    auto scenario = [&]() -> weft::Deferred<void> {
        // Two at once: two connections; only one stays idle.
        std::vector<weft::Deferred<weft::web::Response>> requests;
        requests.push_back(agent.get(server.url("/a")));
        requests.push_back(agent.get(server.url("/b")));
        auto both = co_await weft::gather(std::move(requests));
        CHECK(both.size() == 2);
        CHECK(server.accepted == 2);
        CHECK(agent.idle_connections() == 1);
        // The idle one goes after idle_timeout.
        co_await server.lost_at_least(2);
        CHECK(agent.idle_connections() == 0);
    };
    REQUIRE(run_scenario(reactor, scenario));
}

TEST_CASE("agent: a keep-alive connection the server drops as a request goes out is retried for GET, not POST",
          "[web][agent]") {
    weft::Reactor reactor;
    // Each connection answers its first request and closes at its second without answering (a server's
    // idle timeout racing the client's next request).
    RawServer server(reactor, [&](int n, weft::Transport& t, const std::string&) {
        if (n % 2 == 0) {  // requests 0 and 2 are the first of their connections
            t.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        } else {
            t.lose_connection();
        }
    });
    Agent agent(reactor);
    auto scenario = [&]() -> weft::Deferred<void> {
        auto first = co_await settle(agent.get(server.url("/1")));
        INFO((first.failure ? first.failure->what() : ""));
        REQUIRE(first.response);
        auto retried = co_await settle(agent.get(server.url("/2")));
        INFO((retried.failure ? retried.failure->what() : ""));
        REQUIRE(retried.response);
        CHECK(retried.response->body == "ok");
        CHECK(server.accepted == 2);
        auto post = co_await settle(agent.request("POST", server.url("/3"), {}, "x"));
        REQUIRE(post.failure);
        CHECK(post.failure->check<weft::web::ResponseFailed>());
        CHECK(server.accepted == 2);
    };
    REQUIRE(run_scenario(reactor, scenario));
}

TEST_CASE("agent: a connection with bytes after a response is not reused", "[web][agent]") {
    weft::Reactor reactor;
    RawServer server(reactor, [](int n, weft::Transport& t, const std::string&) {
        t.write(n == 0 ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra"
                       : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    Agent agent(reactor);
    auto scenario = [&]() -> weft::Deferred<void> {
        auto first = co_await settle(agent.get(server.url("/1")));
        REQUIRE(first.response);
        CHECK(first.response->body == "ok");
        CHECK(agent.idle_connections() == 0);
        auto second = co_await settle(agent.get(server.url("/2")));
        REQUIRE(second.response);
        CHECK(second.response->body == "ok");
        CHECK(server.accepted == 2);
    };
    REQUIRE(run_scenario(reactor, scenario));
}

TEST_CASE("agent: a followed redirect to another origin drops Authorization and Cookie; the same origin keeps them",
          "[web][agent]") {
    weft::Reactor reactor;
    std::vector<std::string> other_seen;
    RawServer other(reactor, [&](int, weft::Transport& t, const std::string& request) {
        other_seen.push_back(request);
        t.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthere");
    });
    std::vector<std::string> first_seen;
    RawServer first(reactor, [&](int n, weft::Transport& t, const std::string& request) {
        first_seen.push_back(request);
        const std::string to = n == 0 ? "/same" : other.url("/elsewhere");
        t.write("HTTP/1.1 302 Found\r\nLocation: " + to + "\r\nContent-Length: 0\r\n\r\n");
    });
    AgentOptions options;
    options.max_redirects = 2;
    Agent agent(reactor, options);
    std::vector<weft::web::Header> credentials{{"Authorization", "Bearer secret"}, {"Cookie", "a=b"}, {"X-Other", "kept"}};
    auto scenario = [&]() -> weft::Deferred<void> {
        auto o = co_await settle(agent.request("GET", first.url("/start"), credentials));
        REQUIRE(o.response);
        CHECK(o.response->body == "there");
        CHECK(o.response->url == other.url("/elsewhere"));
        REQUIRE(first_seen.size() == 2);
        CHECK(first_seen[1].starts_with("GET /same HTTP/1.1\r\n"));
        CHECK(first_seen[1].find("Authorization: Bearer secret\r\n") != std::string::npos);
        REQUIRE(other_seen.size() == 1);
        CHECK(other_seen[0].find("Authorization") == std::string::npos);
        CHECK(other_seen[0].find("Cookie") == std::string::npos);
        CHECK(other_seen[0].find("X-Other: kept\r\n") != std::string::npos);
        CHECK(other_seen[0].find("Host: 127.0.0.1:" + std::to_string(other.port->port()) + "\r\n") != std::string::npos);
    };
    REQUIRE(run_scenario(reactor, scenario));
}

TEST_CASE("agent: an Agent destroyed with a request in flight lets it finish and keeps nothing", "[web][agent]") {
    weft::Reactor reactor;
    RawServer server(reactor, [&](int, weft::Transport& t, const std::string&) {
        t.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate");
    });
    auto agent = std::make_unique<Agent>(reactor);
    auto scenario = [&]() -> weft::Deferred<void> {
        auto pending = agent->get(server.url("/"));
        agent.reset();
        auto o = co_await settle(std::move(pending));
        REQUIRE(o.response);
        CHECK(o.response->body == "late");
        co_await server.lost_at_least(1);  // not kept idle: the pool is gone
    };
    REQUIRE(run_scenario(reactor, scenario));
}
