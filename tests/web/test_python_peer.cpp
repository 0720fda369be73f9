// Python's http.client (/usr/bin/python3) as a real peer of weft::web: one keep-alive connection, GET with
// a query, POST with a JSON body (plain and chunked), HEAD, 404 and 405.
#include <catch2/catch.hpp>

#include "web_support.hpp"
#include "weft/process_protocol.hpp"
#include "weft/web/json_body.hpp"

#include <boost/json.hpp>

#ifndef WEFT_HTTP_CLIENT_PEER
#error "WEFT_HTTP_CLIENT_PEER must name tests/web/http_client_peer.py"
#endif

using namespace web_test;
using weft::web::Request;

namespace {
struct Collect : weft::ProcessProtocol {
    std::string out;
    std::optional<weft::ProcessStatus> status;
    std::function<void()> on_end;
    void out_received(std::string_view data) override { out.append(data); }
    void process_ended(const weft::ProcessStatus& s) override {
        status = s;
        on_end();
    }
};
}  // namespace

TEST_CASE("web: Python's http.client talks to the server on one keep-alive connection", "[web][peers]") {
    WebServer server;
    int connections = 0;
    auto hello = std::make_shared<weft::web::Resource>();
    hello->on("GET", [](Request& r) {
        r.set_header("Content-Type", "text/plain");
        r.finish("hello " + std::string(r.query_param("name").value_or("?")));
    });
    auto sum = std::make_shared<weft::web::Resource>();
    sum->on("POST", [](Request& r) {
        auto body = weft::web::parse_json_body(r);
        if (!body || !body->is_array()) return weft::web::send_error(r, 400);
        std::int64_t total = 0;
        for (const auto& v : body->as_array()) total += v.to_number<std::int64_t>();
        weft::web::finish_json(r, {{"sum", total}});
    });
    server.root->put_child("hello", hello);
    server.root->put_child("sum", sum);
    server.start();
    weft_test::LambdaFactory counting([&](const weft::Address& peer) {
        ++connections;
        return server.site->build_protocol(peer);
    });
    auto port = server.reactor.listen_tcp(0, counting, {"127.0.0.1"});

    Collect client;
    client.on_end = [&] { server.reactor.stop(); };
    server.reactor.spawn_process(client, "/usr/bin/python3",
                                 {"/usr/bin/python3", WEFT_HTTP_CLIENT_PEER, std::to_string(port->port())});
    REQUIRE(weft_test::run_bounded(server.reactor, 20s));
    REQUIRE(client.status);
    CHECK(client.status->exit_code() == 0);
    CHECK(client.out ==
          "200 13 text/plain hello py thon\n"
          "200 9 application/json {\"sum\":6}\n"
          "200 9 application/json {\"sum\":9}\n"
          "200 7 text/plain \n"
          "404 28 text/plain; charset=utf-8 Not Found: No such resource\n\n"
          "405 19 text/plain; charset=utf-8 Method Not Allowed\n\n"
          "sock reused: True\n");
    CHECK(connections == 1);
}
