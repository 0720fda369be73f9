// wire.hpp services, a line protocol and the policy wrappers over real loopback TCP connections
// (127.0.0.1, port 0). Every run is bounded: a test that does not finish in time fails instead of hanging.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "weft/client_factory.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/protocols/policies.hpp"
#include "weft/protocols/wire.hpp"
#include "support/loop.hpp"
#include "weft/reactor.hpp"

using namespace std::chrono_literals;
namespace wp = weft::protocols;
using weft_test::run_bounded;

namespace {

// The client side of every test: records what arrives, hooks decide what to do.
struct Client : weft::Protocol {
    std::string received;
    std::optional<weft::Reason> lost;
    std::function<void(Client&)> on_made;
    std::function<void(Client&)> on_data;
    std::function<void(Client&)> on_lost;

    void connection_made() override {
        if (on_made) on_made(*this);
    }
    void data_received(std::string_view data) override {
        received.append(data);
        if (on_data) on_data(*this);
    }
    void connection_lost(const weft::Reason& reason) override {
        lost = reason;
        if (on_lost) on_lost(*this);
    }
};

// Builds Clients; stops the reactor when `expected` connections have ended.
struct ClientFactory : weft::ClientFactory {
    ClientFactory(weft::Reactor& r, std::function<void(Client&)> setup, int expected_ends = 1)
        : reactor(r), configure(std::move(setup)), remaining(expected_ends) {}
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override {
        auto c = std::make_unique<Client>();
        c->on_lost = [this](Client& self) {
            finished.push_back(self.received);
            finished_at.push_back(reactor.seconds());
        };
        configure(*c);
        return c;
    }
    void client_connection_failed(weft::Connector&, const weft::Reason& reason) override {
        failures.push_back(reason);
        end();
    }
    void client_connection_lost(weft::Connector&, const weft::Reason& reason) override {
        losses.push_back(reason);
        end();
    }
    void end() {
        if (--remaining != 0) return;
        if (on_end) {
            on_end();
        } else {
            reactor.stop();
        }
    }
    std::function<void()> on_end;  // when every expected connection ended; default: stop the reactor
    weft::Reactor& reactor;
    std::function<void(Client&)> configure;
    int remaining;
    std::vector<std::string> finished;  // what each connection received, in the order they ended
    std::vector<double> finished_at;     // and when (reactor.seconds())
    std::vector<weft::Reason> failures, losses;
};

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + i / 251) & 0xff);
    return s;
}

std::chrono::system_clock::time_point fixed_time() {
    return std::chrono::system_clock::time_point(std::chrono::seconds(784111777));  // Sun Nov  6 08:49:37 1994
}

}  // namespace

TEST_CASE("Loopback: Echo returns 1 MiB unchanged", "[wire][loopback]") {
    weft::Reactor reactor;
    auto server = weft::Factory::for_protocol<wp::Echo>();
    auto port = reactor.listen_tcp(0, *server, {"127.0.0.1"});
    const std::string payload = pattern(1 << 20);
    std::string echoed;
    ClientFactory client(reactor, [&](Client& c) {
        c.on_made = [&](Client& self) { self.transport().write(payload); };
        c.on_data = [&](Client& self) {
            if (self.received.size() >= payload.size()) {
                echoed = self.received;
                self.transport().lose_connection();
            }
        };
    });
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    REQUIRE(run_bounded(reactor));
    REQUIRE(client.losses.size() == 1);
    CHECK(client.losses[0].clean());
    CHECK(echoed == payload);
}

TEST_CASE("Loopback: Discard reads everything and sends nothing", "[wire][loopback]") {
    struct CountingDiscard : wp::Discard {
        CountingDiscard(std::size_t* total, std::function<void()> on_lost) : total_(total), on_lost_(std::move(on_lost)) {}
        void data_received(std::string_view data) override { *total_ += data.size(); }
        void connection_lost(const weft::Reason&) override { on_lost_(); }
        std::size_t* total_;
        std::function<void()> on_lost_;
    };
    weft::Reactor reactor;
    std::size_t discarded = 0;
    int ends = 2;  // the client's connection and the server's
    auto stop_after_both = [&] {
        if (--ends == 0) reactor.stop();
    };
    auto server = weft::Factory::for_protocol<CountingDiscard>(&discarded, std::function<void()>(stop_after_both));
    auto port = reactor.listen_tcp(0, *server, {"127.0.0.1"});
    ClientFactory client(reactor, [&](Client& c) {
        c.on_made = [&](Client& self) {
            self.transport().write(pattern(256 * 1024));
            self.transport().lose_connection();  // flushes first
        };
    });
    client.on_end = stop_after_both;
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    REQUIRE(run_bounded(reactor));
    REQUIRE(client.losses.size() == 1);
    CHECK(client.losses[0].clean());
    CHECK(client.finished == std::vector<std::string>{""});
    CHECK(discarded == 256 * 1024);
}

TEST_CASE("Loopback: Chargen streams the pattern and never buffers more than a block for a slow reader",
          "[wire][loopback][chargen]") {
    struct WatchedChargen : wp::Chargen {
        explicit WatchedChargen(std::size_t* max_buffered) : max_(max_buffered) {}
        void resume_producing() override {
            Chargen::resume_producing();
            *max_ = std::max(*max_, transport().buffered_bytes());
        }
        std::size_t* max_;
    };
    weft::Reactor reactor;
    std::size_t max_buffered = 0;
    auto server = weft::Factory::for_protocol<WatchedChargen>(&max_buffered);
    auto port = reactor.listen_tcp(0, *server, {"127.0.0.1"});
    const std::string& block = wp::Chargen::block();
    const std::size_t want = 40 * block.size() + 123;
    bool matches = false;
    ClientFactory client(reactor, [&](Client& c) {
        c.on_made = [&](Client& self) {
            // A slow reader: read nothing for a while, so the server's socket buffers fill up.
            self.transport().pause_producing();
            reactor.call_later(200ms, [&self] { self.transport().resume_producing(); });
        };
        c.on_data = [&](Client& self) {
            if (self.received.size() < want) return;
            matches = true;
            for (std::size_t i = 0; i < self.received.size() && matches; i += block.size()) {
                matches = std::string_view(self.received).substr(i, block.size()) ==
                          std::string_view(block).substr(0, std::min(block.size(), self.received.size() - i));
            }
            self.transport().lose_connection();
            self.on_data = nullptr;
        };
    });
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    REQUIRE(run_bounded(reactor));
    REQUIRE(client.losses.size() == 1);
    CHECK(matches);
    CHECK(max_buffered > 0);
    CHECK(max_buffered <= block.size());
}

TEST_CASE("Loopback: QOTD, Daytime and Time answer and close", "[wire][loopback]") {
    weft::Reactor reactor;
    auto qotd = weft::Factory::for_protocol<wp::QOTD>();
    auto daytime = weft::Factory::for_protocol<wp::Daytime>(wp::WallClock(fixed_time));
    auto time = weft::Factory::for_protocol<wp::Time>(wp::WallClock(fixed_time));
    auto p1 = reactor.listen_tcp(0, *qotd, {"127.0.0.1"});
    auto p2 = reactor.listen_tcp(0, *daytime, {"127.0.0.1"});
    auto p3 = reactor.listen_tcp(0, *time, {"127.0.0.1"});
    int ends = 3;
    auto stop_after_all = [&] {
        if (--ends == 0) reactor.stop();
    };
    auto no_setup = [](Client&) {};
    ClientFactory c1(reactor, no_setup), c2(reactor, no_setup), c3(reactor, no_setup);
    for (auto* c : {&c1, &c2, &c3}) c->on_end = stop_after_all;
    reactor.connect_tcp("127.0.0.1", p1->port(), c1);
    reactor.connect_tcp("127.0.0.1", p2->port(), c2);
    reactor.connect_tcp("127.0.0.1", p3->port(), c3);
    REQUIRE(run_bounded(reactor));
    std::vector<std::string> answers;
    for (auto* c : {&c1, &c2, &c3}) {
        REQUIRE(c->losses.size() == 1);
        CHECK(c->losses[0].clean());
        REQUIRE(c->finished.size() == 1);
        answers.push_back(c->finished[0]);
    }
    CHECK(answers[0] == "An apple a day keeps the doctor away.\r\n");
    CHECK(answers[1] == "Sun Nov  6 08:49:37 1994\r\n");
    const std::uint32_t s = wp::Time::rfc868_seconds(fixed_time());
    CHECK(answers[2] == std::string{static_cast<char>(s >> 24), static_cast<char>((s >> 16) & 0xff),
                                    static_cast<char>((s >> 8) & 0xff), static_cast<char>(s & 0xff)});
}

TEST_CASE("Loopback: a LineReceiver answers 20000 pipelined lines in order", "[basic][loopback]") {
    struct Upper : wp::LineReceiver {
        void line_received(std::string_view line) override {
            std::string up(line);
            for (auto& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            send_line(up);
        }
    };
    weft::Reactor reactor;
    auto server = weft::Factory::for_protocol<Upper>();
    auto port = reactor.listen_tcp(0, *server, {"127.0.0.1"});
    std::string request, expected;
    for (int i = 0; i < 20000; ++i) {
        request += "line number " + std::to_string(i) + "\r\n";
        expected += "LINE NUMBER " + std::to_string(i) + "\r\n";
    }
    std::string got;
    ClientFactory client(reactor, [&](Client& c) {
        c.on_made = [&](Client& self) { self.transport().write(request); };
        c.on_data = [&](Client& self) {
            if (self.received.size() >= expected.size()) {
                got = self.received;
                self.transport().lose_connection();
            }
        };
    });
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    REQUIRE(run_bounded(reactor));
    CHECK(got == expected);
}

TEST_CASE("Loopback: LimitTotalConnectionsFactory refuses over the limit, TimeoutFactory closes idle ones",
          "[policies][loopback]") {
    weft::Reactor reactor;
    auto echo = weft::Factory::for_protocol<wp::Echo>();
    wp::TimeoutFactory idle(*echo, reactor, 300ms);
    wp::LimitTotalConnectionsFactory limited(idle, 1);
    auto port = reactor.listen_tcp(0, limited, {"127.0.0.1"});

    // The first connection is served (its echo arrives) and then times out, idle; the second, made while
    // the first is up, is refused: closed without a byte.
    ClientFactory client(
        reactor, [&](Client& c) { c.on_made = [](Client& self) { self.transport().write("ping"); }; }, 2);
    const double start = reactor.seconds();
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    bool second_started = false;
    reactor.call_later(100ms, [&] {
        second_started = limited.connection_count() == 1;
        reactor.connect_tcp("127.0.0.1", port->port(), client);
    });
    REQUIRE(run_bounded(reactor));
    CHECK(second_started);
    REQUIRE(client.losses.size() == 2);
    CHECK(client.finished == std::vector<std::string>{"", "ping"});
    CHECK(client.finished_at.at(1) - start >= 0.3);
    CHECK(limited.connection_count() == 0);
    CHECK(limited.protocols().empty());
}
