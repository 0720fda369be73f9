// docs/web.md's client example, as written there, against weft's server over loopback.
#include <catch2/catch.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

#include "web_support.hpp"
#include "weft/coroutine.hpp"
#include "weft/web/agent.hpp"

#ifndef WEFT_DOCS_WEB_MD
#error "WEFT_DOCS_WEB_MD must name docs/web.md, WEFT_AGENT_DOCS_EXAMPLE this file"
#endif

using namespace std::chrono_literals;

namespace {

// From docs/web.md, as written there.
// Fetches a page, then posts to the same server on the same keep-alive connection.
weft::Deferred<void> fetch(weft::web::Agent& agent, std::string base) {
    weft::web::Response page = co_await agent.get(base + "/hello?name=agent");  // a 404 is a Response too
    std::cout << page.status << ' ' << page.body << '\n';
    auto posted = co_await agent.request("POST", base + "/echo", {}, "hi");      // method, url, headers, body
    std::cout << posted.status << ' ' << posted.header("Content-Type").value_or("-") << '\n';
}   // ConnectError, ResponseFailed, TimeoutError: exceptions at the co_await (and the Deferred's failure)

}  // namespace

TEST_CASE("agent: docs/web.md's client example fetches and posts", "[web][agent][docs]") {
    web_test::WebServer server;
    server.root->put_child("hello", web_test::text("hello"));
    auto echo = std::make_shared<weft::web::Resource>();
    echo->on("POST", [](weft::web::Request& r) {
        r.set_header("Content-Type", "text/plain");
        r.finish(r.body());
    });
    server.root->put_child("echo", echo);
    server.start();
    auto& reactor = server.reactor;
    std::ostringstream out;
    auto* saved = std::cout.rdbuf(out.rdbuf());
    {
        // From docs/web.md (run() bounded here).
        weft::web::Agent agent(reactor);  // AgentOptions: timeouts, limits, pool, redirects, ca_file
        fetch(agent, "http://127.0.0.1:" + std::to_string(server.port->port())).add_both([&](auto...) { reactor.stop(); });
        CHECK(weft_test::run_bounded(reactor, 10s));
    }
    std::cout.rdbuf(saved);
    CHECK(out.str() == "200 hello\n200 text/plain\n");
}

namespace {
// The text from the line opening fetch() to the line closing it.
std::string fetch_function(const std::string& path) {
    std::ifstream in(path);
    std::stringstream all;
    all << in.rdbuf();
    const std::string text = all.str();
    const auto from = text.find("weft::Deferred<void> fetch(");
    const auto to = text.find("}   // ConnectError", from);
    if (from == std::string::npos || to == std::string::npos) return "(not found in " + path + ")";
    return text.substr(from, to - from);
}
}  // namespace

TEST_CASE("agent: the client example here is docs/web.md's, line for line", "[web][agent][docs]") {
    CHECK(fetch_function(WEFT_AGENT_DOCS_EXAMPLE) == fetch_function(WEFT_DOCS_WEB_MD));
}
