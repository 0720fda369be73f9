// The Agent on a testing::MemoryReactor: what it asks the network for (host, port, the connect timeout,
// TLS for https), and its timeouts and cancellation on the fake clock, with no sockets.
#include <catch2/catch.hpp>

#include "support/deferred_results.hpp"
#include "weft/deferred_endpoints.hpp"
#include "weft/testing/memory_reactor.hpp"
#include "weft/web/agent.hpp"

using namespace std::chrono_literals;
using weft::web::Agent;
using weft::web::AgentOptions;

TEST_CASE("agent (memory): the connect timeout, host, port and TLS go to the connector", "[web][agent]") {
    weft::testing::MemoryReactor memory;
    AgentOptions options;
    options.connect_timeout = 3s;
    Agent agent(memory, options);
    auto plain = agent.get("http://example.org:8080/a");
    auto secure = agent.get("https://[::1]/b");
    REQUIRE(memory.tcp_clients.size() == 2);
    CHECK(memory.tcp_clients[0].host == "example.org");
    CHECK(memory.tcp_clients[0].port == 8080);
    CHECK(memory.tcp_clients[0].options.timeout == 3s);
    CHECK(memory.tcp_clients[0].options.tls == nullptr);
    CHECK(memory.tcp_clients[1].host == "::1");
    CHECK(memory.tcp_clients[1].port == 443);
    CHECK(memory.tcp_clients[1].options.tls != nullptr);
    for (auto& client : memory.tcp_clients) client.connector->fail(weft::Reason::error("refused"));
    auto f = weft_test::failure_of(plain);
    REQUIRE(f);
    CHECK(f->check<weft::ConnectError>());
    CHECK(weft_test::failure_of(secure));
}

TEST_CASE("agent (memory): response_timeout on the reactor's clock stops a connect that hangs", "[web][agent]") {
    weft::testing::MemoryReactor memory;
    AgentOptions options;
    options.response_timeout = 5s;
    Agent agent(memory, options);
    auto d = agent.get("http://example.org/");
    REQUIRE(memory.tcp_clients.size() == 1);
    memory.advance(4s);
    CHECK_FALSE(d.called());
    memory.advance(1s);
    auto f = weft_test::failure_of(d);
    REQUIRE(f);
    CHECK(f->check<weft::TimeoutError>());
    CHECK(memory.tcp_clients[0].connector->stop_connecting_calls() == 1);
    memory.tcp_clients[0].connector->fail(weft::Reason::aborted());  // what a reactor delivers after a stop
}

TEST_CASE("agent (memory): cancelling while connecting stops the attempt", "[web][agent]") {
    weft::testing::MemoryReactor memory;
    Agent agent(memory);
    auto d = agent.get("http://example.org/");
    d.cancel();
    auto f = weft_test::failure_of(d);
    REQUIRE(f);
    CHECK(f->check<weft::CancelledError>());
    REQUIRE(memory.tcp_clients.size() == 1);
    CHECK(memory.tcp_clients[0].connector->stop_connecting_calls() == 1);
    memory.tcp_clients[0].connector->fail(weft::Reason::aborted());
}
