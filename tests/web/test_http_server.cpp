// weft::web's HTTP/1.1 server over loopback: parsing, keep-alive, HEAD, pipelining, late answers, and
// clients that disconnect first. Raw clients send exact bytes; responses are checked byte for byte
// (Date aside).
#include <catch2/catch.hpp>

#include "web_support.hpp"
#include "weft/web/request.hpp"

using namespace web_test;
using weft::web::Request;
using weft::web::Resource;

namespace {
// Echoes the body of POSTs, with the method and body size in headers.
std::shared_ptr<Resource> echo_body() {
    auto r = std::make_shared<Resource>();
    r->on("POST", [](Request& request) {
        request.set_header("X-Body-Bytes", std::to_string(request.body().size()));
        request.finish(request.body());
    });
    return r;
}
}  // namespace

TEST_CASE("web: a GET gets status line, headers and body, and the connection stays open", "[web]") {
    WebServer server;
    server.root->put_child("hello", text("hello"));
    server.start();
    auto seen = server.exchange_n({"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"}, 1);
    REQUIRE(seen.in_time);
    CHECK_FALSE(seen.closed_by_server);
    CHECK(without_date(seen.bytes) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: weft\r\nContent-Length: 5\r\n\r\nhello");
    CHECK(seen.bytes.find("\r\nDate: ") != std::string::npos);
    CHECK(seen.bytes.find(" GMT\r\n") != std::string::npos);
}

TEST_CASE("web: three pipelined requests in one write are answered in order on one connection", "[web]") {
    WebServer server;
    server.root->put_child("a", text("first"));
    server.root->put_child("b", text("second!"));
    server.root->put_child("post", echo_body());
    server.start();
    auto seen = server.exchange_n({"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                                   "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
                                   "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"},
                                  3);
    REQUIRE(seen.in_time);
    auto responses = split_responses(seen.bytes);
    REQUIRE(responses.size() == 3);
    CHECK(responses[0].body == "first");
    CHECK(responses[1].body == "body");
    CHECK(responses[2].body == "second!");
    CHECK_FALSE(seen.closed_by_server);
}

TEST_CASE("web: a request sent one byte per write, with a chunked body, is parsed whole", "[web]") {
    WebServer server;
    server.root->put_child("post", echo_body());
    server.start();
    auto seen = server.exchange_n(bytewise("POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                           "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: t\r\n\r\n"),
                                  1);
    REQUIRE(seen.in_time);
    CHECK(without_date(seen.bytes) ==
          "HTTP/1.1 200 OK\r\nX-Body-Bytes: 12\r\nServer: weft\r\nContent-Length: 12\r\n\r\nhello, world");
}

TEST_CASE("web: HTTP/1.0 closes after the response unless it asks for keep-alive", "[web]") {
    WebServer server;
    server.root->put_child("a", text("A"));
    server.start();
    SECTION("plain HTTP/1.0") {
        auto seen = server.exchange({"GET /a HTTP/1.0\r\n\r\n"});
        REQUIRE(seen.in_time);
        CHECK(seen.closed_by_server);
        CHECK(without_date(seen.bytes) ==
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: weft\r\nContent-Length: 1\r\nConnection: close\r\n\r\nA");
    }
    SECTION("HTTP/1.0 with Connection: keep-alive, twice on one connection") {
        auto seen = server.exchange_n({"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                                       "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"},
                                      2);
        REQUIRE(seen.in_time);
        CHECK_FALSE(seen.closed_by_server);
        auto responses = split_responses(seen.bytes);
        REQUIRE(responses.size() == 2);
        CHECK(responses[1].header("Connection") == "keep-alive");
    }
}

TEST_CASE("web: Connection: close is answered, then the connection closes and later requests are ignored",
          "[web]") {
    WebServer server;
    int calls = 0;
    auto counted = std::make_shared<Resource>();
    counted->on("GET", [&](Request& r) {
        ++calls;
        r.finish("x");
    });
    server.root->put_child("a", counted);
    server.start();
    auto seen = server.exchange({"GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /a HTTP/1.1\r\n\r\n"});
    REQUIRE(seen.in_time);
    CHECK(seen.closed_by_server);
    auto responses = split_responses(seen.bytes);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].header("Connection") == "close");
    CHECK(calls == 1);
}

TEST_CASE("web: HEAD gets GET's headers and no body; the connection carries on", "[web]") {
    WebServer server;
    server.root->put_child("a", text("hello"));
    server.start();
    auto seen = server.exchange_n({"HEAD /a HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\n"}, 2, {true, false});
    REQUIRE(seen.in_time);
    CHECK(without_date(seen.bytes) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: weft\r\nContent-Length: 5\r\n\r\n"
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: weft\r\nContent-Length: 5\r\n\r\nhello");
}

TEST_CASE("web: a handler that answers later keeps the order of pipelined responses", "[web]") {
    WebServer server;
    std::shared_ptr<Request> held;
    auto slow = std::make_shared<Resource>();
    slow->on("GET", [&](Request& r) {
        held = r.shared_from_this();
        // Answered two loop turns later, after the fast request behind it has finished.
        server.reactor.call_later(0s, [&] {
            server.reactor.call_later(0s, [&] { held->finish("slow"); });
        });
    });
    bool fast_finished_first = false;
    auto fast = std::make_shared<Resource>();
    fast->on("GET", [&](Request& r) {
        fast_finished_first = held && !held->finished();
        r.finish("fast");
    });
    server.root->put_child("slow", slow);
    server.root->put_child("fast", fast);
    server.start();
    auto seen = server.exchange_n({"GET /slow HTTP/1.1\r\n\r\nGET /fast HTTP/1.1\r\n\r\n"}, 2);
    REQUIRE(seen.in_time);
    CHECK(fast_finished_first);
    auto responses = split_responses(seen.bytes);
    REQUIRE(responses.size() == 2);
    CHECK(responses[0].body == "slow");
    CHECK(responses[1].body == "fast");
}

TEST_CASE("web: a client that disconnects before the answer fails notify_finish; a finished one fires it",
          "[web]") {
    WebServer server;
    std::shared_ptr<Request> held;
    bool failed = false;
    bool succeeded = false;
    auto slow = std::make_shared<Resource>();
    slow->on("GET", [&](Request& r) {
        held = r.shared_from_this();
        r.notify_finish().add_callbacks([&] { succeeded = true; },
                                        [&](const weft::Failure& f) {
                                            failed = f.check<weft::web::ConnectionLostError>();
                                            server.reactor.stop();
                                        });
    });
    auto quick = std::make_shared<Resource>();
    quick->on("GET", [&](Request& r) {
        r.notify_finish().add_callback([&] { succeeded = true; });
        r.finish("ok");
    });
    server.root->put_child("slow", slow);
    server.root->put_child("quick", quick);
    server.start();

    SECTION("disconnect first") {
        // The client closes once the handler holds the request; the handler hears it.
        weft_test::LambdaClientFactory client([&](const weft::Address&) {
            auto p = std::make_unique<weft_test::Recorder>();
            p->on_made = [&](weft_test::Recorder& rec) {
                rec.transport().write("GET /slow HTTP/1.1\r\n\r\n");
                auto* t = &rec.transport();
                auto poll = std::make_shared<std::function<void()>>();
                *poll = [&, t, weak = std::weak_ptr(poll)] {
                    if (held) return t->lose_connection();
                    server.reactor.call_later(1ms, [weak] {
                        if (auto f = weak.lock()) (*f)();
                    });
                };
                (*poll)();
                rec.on_lost = [poll](weft_test::Recorder&, const weft::Reason&) {};
            };
            return p;
        });
        server.reactor.connect_tcp("127.0.0.1", server.port->port(), client);
        REQUIRE(weft_test::run_bounded(server.reactor, 10s));
        CHECK(failed);
        CHECK_FALSE(succeeded);
        CHECK(held->disconnected());
        held->write("ignored");
        held->finish();  // ignored too, without throwing
    }
    SECTION("answered") {
        auto seen = server.exchange_n({"GET /quick HTTP/1.1\r\n\r\n"}, 1);
        REQUIRE(seen.in_time);
        CHECK(succeeded);
    }
}

TEST_CASE("web: Expect: 100-continue gets 100 before the body is sent, and then the response", "[web]") {
    WebServer server;
    server.root->put_child("post", echo_body());
    server.start();
    bool body_sent = false;
    auto seen = server.exchange(
        {"POST /post HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"},
        [](const std::string& b) { return split_responses(b).size() >= 2; },
        [&](weft::Transport& t, const std::string& received) {
            if (!body_sent && received == "HTTP/1.1 100 Continue\r\n\r\n") {
                body_sent = true;
                t.write("hello");
            }
        });
    REQUIRE(seen.in_time);
    CHECK(body_sent);
    auto responses = split_responses(seen.bytes);
    REQUIRE(responses.size() == 2);
    CHECK(responses[0].status_line == "HTTP/1.1 100 Continue");
    CHECK(responses[1].status_line == "HTTP/1.1 200 OK");
    CHECK(responses[1].body == "hello");
}

TEST_CASE("web: a handler that throws gets a 500 and the connection carries on", "[web]") {
    WebServer server;
    auto boom = std::make_shared<Resource>();
    boom->on("GET", [](Request& r) {
        r.write("partial");
        throw std::runtime_error("boom");
    });
    server.root->put_child("boom", boom);
    server.root->put_child("a", text("A"));
    server.start();
    auto seen = server.exchange_n({"GET /boom HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\n"}, 2);
    REQUIRE(seen.in_time);
    auto responses = split_responses(seen.bytes);
    REQUIRE(responses.size() == 2);
    CHECK(responses[0].status_line == "HTTP/1.1 500 Internal Server Error");
    CHECK(responses[0].body == "Internal Server Error\n");
    CHECK(responses[1].body == "A");
}
