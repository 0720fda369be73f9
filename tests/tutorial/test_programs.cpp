// The tutorial's whole programs (qotd_server.cpp, chat_server.cpp) run as processes on a free loopback port,
// with weft clients in this process talking to them.
#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/loop.hpp"
#include "weft/protocols/basic.hpp"

#if !defined(WEFT_TUTORIAL_QOTD_SERVER) || !defined(WEFT_TUTORIAL_CHAT_SERVER)
#error "WEFT_TUTORIAL_QOTD_SERVER and WEFT_TUTORIAL_CHAT_SERVER must name the tutorial's programs"
#endif

using weft_test::ChildProcess;

namespace {
// Records the lines it gets and hands each to a callback; stops nothing by itself.
struct LineClient : weft::protocols::LineReceiver {
    std::vector<std::string> lines;
    std::function<void(LineClient&, std::string_view)> on_line;
    std::function<void(const weft::Reason&)> on_lost;
    void line_received(std::string_view line) override {
        lines.emplace_back(line);
        if (on_line) on_line(*this, line);
    }
    void connection_lost(const weft::Reason& reason) override {
        if (on_lost) on_lost(reason);
    }
};

std::unique_ptr<weft::ClientFactory> factory_of(LineClient*& out, std::function<void(LineClient&)> setup) {
    return weft::ClientFactory::from_function([&out, setup] {
        auto p = std::make_unique<LineClient>();
        out = p.get();
        setup(*p);
        return p;
    });
}
}  // namespace

TEST_CASE("tutorial program qotd_server sends a quote and closes", "[tutorial]") {
    ChildProcess server({WEFT_TUTORIAL_QOTD_SERVER, "tcp:0:interface=127.0.0.1"});
    const auto port = server.read_listening_port();
    REQUIRE(port != 0);
    weft::Reactor reactor;
    LineClient* client = nullptr;
    std::vector<std::string> lines;
    std::optional<weft::Reason> lost;
    auto factory = factory_of(client, [&](LineClient& c) {
        c.on_lost = [&, &c = c](const weft::Reason& reason) {
            lines = c.lines;
            lost = reason;
            reactor.stop();
        };
    });
    reactor.connect_tcp("127.0.0.1", port, *factory);
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(lines == std::vector<std::string>{"An apple a day keeps the doctor away"});
    REQUIRE(lost);
    CHECK(lost->clean());
}

TEST_CASE("tutorial program chat_server asks for names and relays lines to the others", "[tutorial]") {
    ChildProcess server({WEFT_TUTORIAL_CHAT_SERVER, "tcp:0:interface=127.0.0.1"});
    const auto port = server.read_listening_port();
    REQUIRE(port != 0);
    weft::Reactor reactor;
    LineClient* alice = nullptr;
    LineClient* bob = nullptr;
    std::vector<std::string> bob_lines;
    std::vector<std::string> alice_lines;  // copied before the shutdown destroys the protocols
    // Bob connects once Alice has her name, asks for hers, gets another, and hears Alice.
    auto bob_factory = factory_of(bob, [&](LineClient& c) {
        c.on_line = [&](LineClient& self, std::string_view line) {
            if (line == "What's your name?") self.send_line("alice");
            if (line == "Name taken, please choose another.") self.send_line("bob");
            if (line == "Welcome, bob!") alice->send_line("hi bob");
            if (line == "<alice> hi bob") {
                bob_lines = self.lines;
                alice_lines = alice->lines;
                reactor.stop();
            }
        };
    });
    auto alice_factory = factory_of(alice, [&](LineClient& c) {
        c.on_line = [&](LineClient& self, std::string_view line) {
            if (line == "What's your name?") self.send_line("alice");
            if (line == "Welcome, alice!") reactor.connect_tcp("127.0.0.1", port, *bob_factory);
        };
    });
    reactor.connect_tcp("127.0.0.1", port, *alice_factory);
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(bob_lines == std::vector<std::string>{"What's your name?", "Name taken, please choose another.",
                                                "Welcome, bob!", "<alice> hi bob"});
    CHECK(alice_lines == std::vector<std::string>{"What's your name?", "Welcome, alice!"});
}
