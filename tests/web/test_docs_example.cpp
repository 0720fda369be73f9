// docs/web.md's 20-line app, its tree built as the page shows, answering over loopback.
#include <catch2/catch.hpp>

#include "web_support.hpp"
#include "weft/web/json_body.hpp"

using namespace web_test;

TEST_CASE("web: docs/web.md's example answers GET with a query and POST with JSON", "[web][docs]") {
    WebServer server;
    // From docs/web.md, as written there.
    auto root = server.root;
    auto hello = std::make_shared<weft::web::Resource>();
    hello->on("GET", [](weft::web::Request& r) {  // GET /hello?name=you
        r.set_header("Content-Type", "text/plain; charset=utf-8");
        r.finish("Hello, " + std::string(r.query_param("name").value_or("world")) + "!\n");
    });
    hello->on("POST", [](weft::web::Request& r) {  // echoes a JSON body back, or 400
        auto body = weft::web::parse_json_body(r);
        if (!body) return weft::web::send_error(r, 400, "not JSON");
        weft::web::finish_json(r, {{"you sent", *body}});
    });
    root->put_child("hello", hello);
    server.start();

    auto seen = server.exchange_n({"GET /hello?name=you HTTP/1.1\r\n\r\n"
                                   "GET /hello HTTP/1.1\r\n\r\n"
                                   "POST /hello HTTP/1.1\r\nContent-Length: 7\r\n\r\n[1,\"a\"]"
                                   "POST /hello HTTP/1.1\r\nContent-Length: 3\r\n\r\n{x}"},
                                  4);
    REQUIRE(seen.in_time);
    auto r = split_responses(seen.bytes);
    REQUIRE(r.size() == 4);
    CHECK(r[0].body == "Hello, you!\n");
    CHECK(r[1].body == "Hello, world!\n");
    CHECK(r[2].body == R"({"you sent":[1,"a"]})");
    CHECK(r[3].status_line == "HTTP/1.1 400 Bad Request");
}
