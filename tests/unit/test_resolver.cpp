// Name resolution: the default ThreadedResolver (numeric addresses at once, names through getaddrinfo on
// the thread pool) and connect_tcp through a resolver plugged into the reactor. Cases that use the pool's
// threads say "thread" so that tests/run-all runs them under TSan.
#include <catch2/catch.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/loop.hpp"
#include "weft/resolver.hpp"
#include "weft/thread_pool.hpp"

using namespace weft_test;
using weft::Address;
using weft::Deferred;
using weft::Failure;

namespace {

/// A resolver for tests: names from a table, or one that never answers, or one that fails.
struct FakeResolver : weft::Resolver {
    std::map<std::string, std::vector<std::string>> names;
    bool never = false;
    std::optional<std::string> fail_with;
    int calls = 0;
    int cancelled = 0;

    Deferred<std::vector<Address>> resolve(const std::string& host, std::uint16_t port) override {
        ++calls;
        if (never) return Deferred<std::vector<Address>>([this](Deferred<std::vector<Address>>&) { ++cancelled; });
        if (fail_with) return weft::fail<std::vector<Address>>(Failure(std::runtime_error(*fail_with)));
        std::vector<Address> out;
        for (const auto& h : names.at(host)) out.emplace_back(h, port);
        return weft::succeed(std::move(out));
    }
};

}  // namespace

TEST_CASE("resolver: a numeric address is resolved at once, without a thread", "[resolver]") {
    weft::Reactor reactor;
    std::vector<Address> got;
    weft::resolve(reactor, "127.0.0.1", 80).add_callback([&](std::vector<Address> a) { got = std::move(a); });
    REQUIRE(got.size() == 1);  // fired inside resolve(): no thread, no loop turn
    CHECK(got[0] == Address("127.0.0.1", 80));
    weft::resolve(reactor, "::1", 443).add_callback([&](std::vector<Address> a) { got = std::move(a); });
    REQUIRE(got.size() == 1);
    CHECK(got[0].to_string() == "[::1]:443");
    CHECK(reactor.thread_pool().threads() == 0);  // made by this call, never used
}

TEST_CASE("resolver (thread pool): localhost through getaddrinfo", "[resolver][thread]") {
    weft::Reactor reactor;
    std::vector<Address> got;
    std::string error;
    bool on_loop = false;
    reactor.call_when_running([&] {
        const auto loop = std::this_thread::get_id();
        weft::resolve(reactor, "localhost", 8080)
            .add_callback([&, loop](std::vector<Address> a) {
                got = std::move(a);
                on_loop = std::this_thread::get_id() == loop;
            })
            .add_errback([&](Failure f) { error = f.what(); })
            .add_callback([&] { reactor.stop(); });
    });
    REQUIRE(run_bounded(reactor));
    CHECK(error.empty());
    CHECK(on_loop);
    REQUIRE_FALSE(got.empty());
    bool loopback = false;
    for (const auto& a : got) {
        CHECK(a.port == 8080);
        loopback = loopback || a.host == "127.0.0.1" || a.host == "::1";
    }
    CHECK(loopback);
}

TEST_CASE("resolver: an empty name fails with ResolveError", "[resolver]") {
    weft::Reactor reactor;
    std::optional<Failure> failure;
    weft::resolve(reactor, "", 80).add_errback([&](Failure f) {
        failure = f;
        return std::vector<Address>{};
    });
    REQUIRE(failure);
    CHECK(failure->check<weft::ResolveError>());
}

TEST_CASE("resolver: connect_tcp resolves a name through the reactor's resolver", "[resolver][connector]") {
    weft::Reactor reactor;
    auto fake = std::make_shared<FakeResolver>();
    fake->names["weft.test"] = {"127.0.0.1"};
    reactor.set_resolver(fake);
    LambdaFactory server([](const Address&) { return std::make_unique<Echo>(); });
    auto port = reactor.listen_tcp(0, server, {.interface = "127.0.0.1"});
    std::string echoed;
    LambdaClientFactory client([&](const Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [](Recorder& r) { r.transport().write("ping"); };
        p->on_data = [&](Recorder& r, std::string_view) {
            echoed = r.received;
            if (echoed == "ping") reactor.stop();
        };
        return p;
    });
    auto connector = reactor.connect_tcp("weft.test", port->address().port, client);
    REQUIRE(run_bounded(reactor, std::chrono::seconds(10)));
    CHECK(echoed == "ping");
    CHECK(fake->calls == 1);
}

TEST_CASE("resolver: a resolver that never answers: the connect timeout fires and cancels the resolution",
          "[resolver][connector]") {
    weft::Reactor reactor;
    auto fake = std::make_shared<FakeResolver>();
    fake->never = true;
    reactor.set_resolver(fake);
    LambdaClientFactory client([](const Address&) { return std::make_unique<Recorder>(); });
    client.on_end = [&] { reactor.stop(); };
    weft::ConnectOptions options;
    options.timeout = std::chrono::milliseconds(50);
    auto connector = reactor.connect_tcp("weft.test", 9, client, options);
    REQUIRE(run_bounded(reactor, std::chrono::seconds(10)));
    REQUIRE(client.failed);
    CHECK(client.failed->to_string().find("timed out") != std::string::npos);
    CHECK(fake->calls == 1);
    CHECK(fake->cancelled == 1);
}

TEST_CASE("resolver: stop_connecting during resolution cancels it", "[resolver][connector]") {
    weft::Reactor reactor;
    auto fake = std::make_shared<FakeResolver>();
    fake->never = true;
    reactor.set_resolver(fake);
    LambdaClientFactory client([](const Address&) { return std::make_unique<Recorder>(); });
    client.on_end = [&] { reactor.stop(); };
    auto connector = reactor.connect_tcp("weft.test", 9, client);
    reactor.call_when_running([&] {
        reactor.call_soon([&] { connector->stop_connecting(); });  // after started_connecting asked the resolver
    });
    REQUIRE(run_bounded(reactor, std::chrono::seconds(10)));
    REQUIRE(client.failed);
    CHECK(fake->cancelled == 1);
}

TEST_CASE("resolver: a failing resolver fails the attempt with a clear reason", "[resolver][connector]") {
    weft::Reactor reactor;
    auto fake = std::make_shared<FakeResolver>();
    fake->fail_with = "no such name in the test table";
    reactor.set_resolver(fake);
    LambdaClientFactory client([](const Address&) { return std::make_unique<Recorder>(); });
    client.on_end = [&] { reactor.stop(); };
    auto connector = reactor.connect_tcp("weft.test", 9, client);
    REQUIRE(run_bounded(reactor, std::chrono::seconds(10)));
    REQUIRE(client.failed);
    CHECK(client.failed->to_string().find("cannot resolve weft.test: no such name in the test table") !=
          std::string::npos);
}

TEST_CASE("resolver: a resolver giving a name instead of an address fails the attempt clearly", "[resolver][connector]") {
    weft::Reactor reactor;
    auto fake = std::make_shared<FakeResolver>();
    fake->names["weft.test"] = {"not-an-address"};
    reactor.set_resolver(fake);
    LambdaClientFactory client([](const Address&) { return std::make_unique<Recorder>(); });
    client.on_end = [&] { reactor.stop(); };
    auto connector = reactor.connect_tcp("weft.test", 9, client);
    REQUIRE(run_bounded(reactor, std::chrono::seconds(10)));
    REQUIRE(client.failed);
    CHECK(client.failed->to_string().find("not a numeric address") != std::string::npos);
}

TEST_CASE("resolver (thread pool): connect_tcp to localhost through the default resolver", "[resolver][connector][thread]") {
    weft::Reactor reactor;
    LambdaFactory server([](const Address&) { return std::make_unique<Echo>(); });
    auto port = reactor.listen_tcp(0, server, {.interface = "127.0.0.1"});
    bool made = false;
    LambdaClientFactory client([&](const Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [&](Recorder&) {
            made = true;
            reactor.stop();
        };
        return p;
    });
    client.on_end = [&] { reactor.stop(); };
    auto connector = reactor.connect_tcp("localhost", port->address().port, client);
    REQUIRE(run_bounded(reactor, std::chrono::seconds(10)));
    CHECK(made);
}
