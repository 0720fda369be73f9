// Resources (children, per-method handlers, 404/405 with Allow, leaves), the request's view of the
// target through Boost.URL, the JSON helpers, and the access log.
#include <catch2/catch.hpp>

#include <regex>

#include <boost/json.hpp>

#include "support/log_capture.hpp"
#include "web_support.hpp"
#include "weft/log.hpp"
#include "weft/web/json_body.hpp"
#include "weft/web/request.hpp"

using namespace web_test;
using weft::web::Request;
using weft::web::Resource;

namespace {
// A leaf answering with what it saw of the request.
struct Inspect : Resource {
    bool is_leaf() const noexcept override { return true; }
    void render(Request& r) override {
        std::string out = "path=" + r.path() + "\n";
        for (const auto& s : r.prepath()) out += "pre=" + s + "\n";
        for (const auto& s : r.postpath()) out += "post=" + s + "\n";
        for (const auto& [k, v] : r.query()) out += "q:" + k + "=" + v + "\n";
        out += "header=" + std::string(r.header("x-thing").value_or("-")) + "\n";
        out += "peer=" + r.peer().host + "\n";
        r.finish(out);
    }
};
}  // namespace

TEST_CASE("web: the resource tree finds children by segment; 404 for a missing one, 405 with Allow", "[web]") {
    WebServer server;
    auto api = std::make_shared<Resource>();
    auto items = std::make_shared<Resource>();
    items->on("GET", [](Request& r) { r.finish("items"); });
    items->on("POST", [](Request& r) {
        r.set_status(201);
        r.finish("made");
    });
    api->put_child("items", items);
    server.root->put_child("api", api);
    server.root->on("GET", [](Request& r) { r.finish("root"); });
    server.start();

    auto seen = server.exchange_n({"GET / HTTP/1.1\r\n\r\n"
                                   "GET /api/items HTTP/1.1\r\n\r\n"
                                   "POST /api/items HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
                                   "GET /api/nothing HTTP/1.1\r\n\r\n"
                                   "GET /api/items/deeper HTTP/1.1\r\n\r\n"
                                   "DELETE /api/items HTTP/1.1\r\n\r\n"},
                                  6);
    REQUIRE(seen.in_time);
    auto r = split_responses(seen.bytes);
    REQUIRE(r.size() == 6);
    CHECK(r[0].body == "root");
    CHECK(r[1].body == "items");
    CHECK(r[2].status_line == "HTTP/1.1 201 Created");
    CHECK(r[2].body == "made");
    CHECK(r[3].status_line == "HTTP/1.1 404 Not Found");
    CHECK(r[4].status_line == "HTTP/1.1 404 Not Found");
    CHECK(r[5].status_line == "HTTP/1.1 405 Method Not Allowed");
    CHECK(r[5].header("Allow") == "GET, POST, HEAD");
    CHECK_FALSE(seen.closed_by_server);  // none of these is a reason to close
}

TEST_CASE("web: a leaf sees the decoded path, prepath/postpath, query parameters, headers and peer", "[web]") {
    WebServer server;
    server.root->put_child("inspect", std::make_shared<Inspect>());
    server.start();
    auto seen = server.exchange_n({"GET /inspect/a%20b/c%2Fd?x=1&y=hello%20world&z=a+b&flag HTTP/1.1\r\n"
                                   "X-Thing: 42\r\n\r\n"},
                                  1);
    REQUIRE(seen.in_time);
    auto r = split_responses(seen.bytes);
    REQUIRE(r.size() == 1);
    CHECK(r[0].body ==
          "path=/inspect/a b/c/d\n"
          "pre=inspect\npost=a b\npost=c/d\n"
          "q:x=1\nq:y=hello world\nq:z=a b\nq:flag=\n"
          "header=42\npeer=127.0.0.1\n");
}

// Request::parse_target splits a target without escapes, query or dot segments itself (no Boost.URL parse):
// these must come out as Boost.URL gives them, which the other targets still go through.
TEST_CASE("web: plain targets are split into the same path and segments as Boost.URL splits them", "[web]") {
    WebServer server;
    server.root->put_child("inspect", std::make_shared<Inspect>());
    server.start();
    auto seen = server.exchange_n({"GET /inspect/a/b/ HTTP/1.1\r\n\r\n"
                                   "GET /inspect HTTP/1.1\r\n\r\n"
                                   "GET /inspect/x:y@z/!$&'()*+,;=/-._~ HTTP/1.1\r\n\r\n"
                                   "GET /inspect//a HTTP/1.1\r\n\r\n"
                                   "GET /inspect/.hidden/a.b HTTP/1.1\r\n\r\n"},
                                  5);
    REQUIRE(seen.in_time);
    auto r = split_responses(seen.bytes);
    REQUIRE(r.size() == 5);
    CHECK(r[0].body == "path=/inspect/a/b/\npre=inspect\npost=a\npost=b\npost=\nheader=-\npeer=127.0.0.1\n");
    CHECK(r[1].body == "path=/inspect\npre=inspect\nheader=-\npeer=127.0.0.1\n");
    CHECK(r[2].body == "path=/inspect/x:y@z/!$&'()*+,;=/-._~\npre=inspect\npost=x:y@z\npost=!$&'()*+,;=\npost=-._~\n"
                       "header=-\npeer=127.0.0.1\n");
    CHECK(r[3].body == "path=/inspect//a\npre=inspect\npost=\npost=a\nheader=-\npeer=127.0.0.1\n");
    CHECK(r[4].body == "path=/inspect/.hidden/a.b\npre=inspect\npost=.hidden\npost=a.b\nheader=-\npeer=127.0.0.1\n");
}

TEST_CASE("web: JSON in and out with Boost.JSON; invalid JSON can be refused with 400", "[web]") {
    WebServer server;
    auto sum = std::make_shared<Resource>();
    sum->on("POST", [](Request& r) {
        auto body = weft::web::parse_json_body(r);
        if (!body || !body->is_array()) return weft::web::send_error(r, 400, "expected a JSON array");
        std::int64_t total = 0;
        for (const auto& v : body->as_array()) total += v.to_number<std::int64_t>();
        weft::web::finish_json(r, boost::json::object{{"sum", total}, {"count", body->as_array().size()}});
    });
    server.root->put_child("sum", sum);
    server.start();
    auto seen = server.exchange_n({"POST /sum HTTP/1.1\r\nContent-Length: 9\r\n\r\n[1, 2, 3]"
                                   "POST /sum HTTP/1.1\r\nContent-Length: 4\r\n\r\n[1, "},
                                  2);
    REQUIRE(seen.in_time);
    auto r = split_responses(seen.bytes);
    REQUIRE(r.size() == 2);
    CHECK(r[0].header("Content-Type") == "application/json");
    CHECK(r[0].body == R"({"sum":6,"count":3})");
    CHECK(r[1].status_line == "HTTP/1.1 400 Bad Request");
    CHECK(r[1].body == "Bad Request: expected a JSON array\n");
}

TEST_CASE("web: a response header with CR or LF is refused, so input cannot forge headers", "[web]") {
    WebServer server;
    auto forge = std::make_shared<Resource>();
    forge->on("GET", [](Request& r) {
        r.set_header("X-Name", std::string(r.query_param("name").value_or("")));
        r.finish("not reached");
    });
    server.root->put_child("forge", forge);
    server.start();
    auto seen = server.exchange_n({"GET /forge?name=a%0D%0ASet-Cookie:%20x=1 HTTP/1.1\r\n\r\n"}, 1);
    REQUIRE(seen.in_time);
    auto r = split_responses(seen.bytes);
    REQUIRE(r.size() == 1);
    CHECK(r[0].status_line == "HTTP/1.1 500 Internal Server Error");
    CHECK(r[0].header("Set-Cookie") == "<none>");
}

TEST_CASE("web: each response is logged in the common log format", "[web]") {
    weft_test::LogCapture capture;
    weft::init_logging(weft::LogLevel::info);
    WebServer server;
    server.root->put_child("a", text("hello"));
    server.start({}, true);
    auto seen = server.exchange_n({"GET /missing HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\nGET /a?q=\"x\" HTTP/1.1\r\n\r\n"}, 3);
    REQUIRE(seen.in_time);
    weft::init_logging(weft::LogLevel::warning);
    std::vector<std::string> lines;
    for (const auto& m : capture.messages()) {
        if (m.starts_with("127.0.0.1 - - [")) lines.push_back(m);
    }
    REQUIRE(lines.size() == 3);
    const std::regex clf(R"re(127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] "(.*)" (\d+) (\S+))re");
    std::smatch m;
    REQUIRE(std::regex_match(lines[0], m, clf));
    CHECK(m[1] == "GET /missing HTTP/1.1");
    CHECK(m[2] == "404");
    REQUIRE(std::regex_match(lines[1], m, clf));
    CHECK(m[1] == "GET /a HTTP/1.1");
    CHECK(m[2] == "200");
    CHECK(m[3] == "5");
    REQUIRE(std::regex_match(lines[2], m, clf));
    CHECK(m[1] == "GET /a?q=\\x22x\\x22 HTTP/1.1");  // quotes escaped: one line, unforgeable
    CHECK(m[2] == "400");                            // a quote is not valid in a target
}
