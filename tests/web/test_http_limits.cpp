// Limits and request-smuggling defences over loopback: each violation gets its status, and the server
// closes the connection after it (a request pipelined behind it is never answered).
#include <catch2/catch.hpp>

#include "web_support.hpp"
#include "weft/web/request.hpp"

using namespace web_test;
using namespace std::string_literals;
using weft::web::Request;
using weft::web::Resource;

namespace {

struct Case {
    std::string name;
    std::string request;
    std::string status_line;
};

std::shared_ptr<Resource> counting(int& calls);

// Sends `request` followed by a valid pipelined GET to a fresh server (a reactor's stop closes its ports);
// expects exactly one answer with `status_line`, a Connection: close, and the server closing.
void check_refused(const weft::web::ServerOptions& options, const Case& c) {
    INFO(c.name);
    WebServer server;
    int calls = 0;
    server.root->put_child("echo", counting(calls));
    server.start(options);
    auto seen = server.exchange({c.request + "GET /echo HTTP/1.1\r\n\r\n"});
    REQUIRE(seen.in_time);
    CHECK(seen.closed_by_server);
    INFO(seen.bytes);
    auto responses = split_responses(seen.bytes);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status_line == c.status_line);
    CHECK(responses[0].header("Connection") == "close");
    CHECK(calls == 0);  // neither the bad request nor the one behind it reached a handler
}

std::shared_ptr<Resource> counting(int& calls) {
    auto r = std::make_shared<Resource>();
    auto handler = [&calls](Request& request) {
        ++calls;
        request.finish(request.body());
    };
    r->on("GET", handler);
    r->on("POST", handler);
    return r;
}

}  // namespace

TEST_CASE("web: requests over each limit get 413, 414 or 431 and the connection is closed", "[web][limits]") {
    weft::web::ServerOptions options;
    options.max_request_line = 100;
    options.max_header_bytes = 400;
    options.max_headers = 5;
    options.max_body_bytes = 10;

    for (const auto& c : std::vector<Case>{
             {"request line over 100 bytes", "GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n",
              "HTTP/1.1 414 URI Too Long"},
             {"header over 400 bytes", "GET /echo HTTP/1.1\r\nX-Big: " + std::string(400, 'b') + "\r\n\r\n",
              "HTTP/1.1 431 Request Header Fields Too Large"},
             {"six header fields",
              "GET /echo HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\n\r\n",
              "HTTP/1.1 431 Request Header Fields Too Large"},
             {"Content-Length over 10", "POST /echo HTTP/1.1\r\nContent-Length: 11\r\n\r\n0123456789a",
              "HTTP/1.1 413 Content Too Large"},
             {"chunked body over 10",
              "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n012345\r\n0\r\n\r\n",
              "HTTP/1.1 413 Content Too Large"},
         }) {
        check_refused(options, c);
    }

    // Just under each limit is fine.
    WebServer server;
    int calls = 0;
    server.root->put_child("echo", counting(calls));
    server.start(options);
    auto seen = server.exchange_n({"POST /echo HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nContent-Length: 10\r\n\r\n0123456789"}, 1);
    REQUIRE(seen.in_time);
    auto responses = split_responses(seen.bytes);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status_line == "HTTP/1.1 200 OK");
    CHECK(responses[0].body == "0123456789");
}

TEST_CASE("web: smuggling vectors get 400 and the connection is closed", "[web][limits]") {
    weft::web::ServerOptions options;
    const std::string bad = "HTTP/1.1 400 Bad Request";
    for (const auto& c : std::vector<Case>{
             {"Content-Length then Transfer-Encoding",
              "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", bad},
             {"Transfer-Encoding then Content-Length",
              "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", bad},
             {"two equal Content-Length fields",
              "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", bad},
             {"two different Content-Length fields",
              "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", bad},
             {"a Content-Length list", "POST /echo HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", bad},
             {"a non-numeric Content-Length", "POST /echo HTTP/1.1\r\nContent-Length: 3a\r\n\r\nabc", bad},
             {"a negative Content-Length", "POST /echo HTTP/1.1\r\nContent-Length: -3\r\n\r\nabc", bad},
             {"a Content-Length with a plus", "POST /echo HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", bad},
             {"obs-fold", "GET /echo HTTP/1.1\r\nX-A: one\r\n two\r\n\r\n", bad},
             {"obs-fold with a tab", "GET /echo HTTP/1.1\r\nX-A: one\r\n\ttwo\r\n\r\n", bad},
             {"a chunk size that is not hex",
              "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", bad},
             {"a chunk size that overflows",
              "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabc\r\n0\r\n\r\n", bad},
             {"a chunk without its CRLF",
              "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n", bad},
             {"Transfer-Encoding other than chunked",
              "POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc", bad},
             {"Transfer-Encoding: chunked twice",
              "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", bad},
             {"chunked in HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", bad},
             {"a space before the colon", "GET /echo HTTP/1.1\r\nHost : x\r\n\r\n", bad},
             {"a bare LF line end", "GET /echo HTTP/1.1\nHost: x\n\n", bad},
             {"a NUL in a header value", "GET /echo HTTP/1.1\r\nX: a\0b\r\n\r\n"s, bad},
             {"a bad request target", "GET echo HTTP/1.1\r\n\r\n", bad},
             {"HTTP/1.2", "GET /echo HTTP/1.2\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
             {"HTTP/2.0", "GET /echo HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
             {"a malformed version", "GET /echo HTTP/1.x\r\n\r\n", bad},
             {"an HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
             {"Expect other than 100-continue", "POST /echo HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\na",
              "HTTP/1.1 417 Expectation Failed"},
         }) {
        check_refused(options, c);
    }
}

TEST_CASE("web: a chunk-size line or trailer that never ends is bounded like a header: 400 and a close",
          "[web][limits]") {
    // Beast 1.81 bounds neither a chunk-size line's extensions nor the trailer section: without the server's
    // own bound these bytes pile up in memory until body_timeout (a minute).
    for (const auto& [name, tail] : std::vector<std::pair<std::string, std::string>>{
             {"chunk extension", "1;" + std::string(20000, 'a')},
             {"trailer", "0\r\nX-Trailer: " + std::string(20000, 't')}}) {
        INFO(name);
        WebServer server;
        int calls = 0;
        server.root->put_child("echo", counting(calls));
        server.start(weft::web::ServerOptions{});  // max_header_bytes 16 KiB
        auto seen = server.exchange({"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + tail});
        REQUIRE(seen.in_time);
        CHECK(seen.closed_by_server);
        auto responses = split_responses(seen.bytes);
        REQUIRE(responses.size() == 1);
        CHECK(responses[0].status_line == "HTTP/1.1 400 Bad Request");
        CHECK(calls == 0);
    }
}

TEST_CASE("web: a header that is not finished within header_timeout gets 408 and a close", "[web][limits]") {
    WebServer server;
    int calls = 0;
    server.root->put_child("echo", counting(calls));
    weft::web::ServerOptions options;
    options.header_timeout = 50ms;
    server.start(options);
    auto seen = server.exchange({"GET /echo HTTP/1.1\r\nHost: x\r\n"});  // never finished
    REQUIRE(seen.in_time);
    CHECK(seen.closed_by_server);
    auto responses = split_responses(seen.bytes);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].status_line == "HTTP/1.1 408 Request Timeout");
    CHECK(calls == 0);
}

TEST_CASE("web: an idle keep-alive connection is closed after keep_alive_timeout", "[web][limits]") {
    WebServer server;
    server.root->put_child("a", text("A"));
    weft::web::ServerOptions options;
    options.keep_alive_timeout = 50ms;
    server.start(options);
    auto seen = server.exchange({"GET /a HTTP/1.1\r\n\r\n"});  // the client waits for the server to close
    REQUIRE(seen.in_time);
    CHECK(seen.closed_by_server);
    auto responses = split_responses(seen.bytes);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].body == "A");
    CHECK(responses[0].header("Connection") == "<none>");
}
