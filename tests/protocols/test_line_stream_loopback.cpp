// LineStream over real loopback TCP: a coroutine client and a coroutine server talking top to bottom, and
// backpressure end to end (a server that drains against a client that reads slowly keeps both bounded).
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/loop.hpp"
#include "weft/client_factory.hpp"
#include "weft/coroutine.hpp"
#include "weft/protocols/line_stream.hpp"
#include "weft/reactor.hpp"

using namespace std::chrono_literals;
using weft::Deferred;
using weft::Failure;
using weft::protocols::LineStream;
using weft::protocols::LineStreamHandle;
using weft_test::run_bounded;

namespace {

// docs/coroutines.md's client, verbatim but for printing into `out` instead of std::cout.
std::ostringstream out;

Deferred<void> session(LineStreamHandle s, weft::Reactor& reactor) {
    auto greeting = co_await weft::add_timeout(s.read_line(), 5s, reactor);   // TimeoutError after 5 s
    out << "server: " << greeting.value_or("(closed)") << '\n';
    for (const char* command : {"GET a", "GET b"}) {
        s.write_line(command);
        co_await s.drain();                        // waits only while the server does not read
        auto reply = co_await s.read_line();       // nullopt: the server closed the connection
        if (!reply) co_return;
        out << command << " -> " << *reply << '\n';
    }
    s.write_line("QUIT");
    s.close();
}

}  // namespace

TEST_CASE("LineStream over loopback: the client of docs/coroutines.md", "[line_stream][loopback][docs]") {
    weft::Reactor reactor;
    std::vector<std::string> server_got;
    auto server_factory = weft::Factory::for_protocol<LineStream>(
        LineStream::Handler([&](LineStreamHandle s) -> Deferred<void> {
            s.write_line("HELLO");
            while (auto line = co_await s.read_line()) {
                server_got.push_back(*line);
                if (line->starts_with("GET ")) s.write_line("value of " + line->substr(4));
            }
            reactor.stop();  // the client's QUIT and close reached us
        }));
    auto port = reactor.listen_tcp(0, *server_factory);
    auto factory = weft::ClientFactory::for_protocol<LineStream>(LineStream::Handler([&](LineStreamHandle s) {
        // As main() there, but the server stops the reactor here, once it has read everything.
        return session(s, reactor).add_errback([&](weft::Failure f) { reactor.stop(); return f; });
    }));
    auto connector = reactor.connect_tcp("127.0.0.1", port->address().port, *factory);
    REQUIRE(run_bounded(reactor, 20s, false));
    CHECK(out.str() == "server: HELLO\nGET a -> value of a\nGET b -> value of b\n");
    CHECK(server_got == std::vector<std::string>{"GET a", "GET b", "QUIT"});
}

TEST_CASE("LineStream over loopback: a coroutine client and server read top to bottom", "[line_stream][loopback]") {
    weft::Reactor reactor;
    std::vector<std::string> server_got;
    auto server_factory = weft::Factory::for_protocol<LineStream>(
        LineStream::Handler([&](LineStreamHandle s) -> Deferred<void> {
            s.write_line("WELCOME");
            while (auto line = co_await s.read_line()) {
                server_got.push_back(*line);
                if (*line == "quit") {
                    s.write_line("BYE");
                    s.close();
                    break;
                }
                std::string upper = *line;
                std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char ch) { return std::toupper(ch); });
                s.write_line(upper);
            }
        }));
    auto port = reactor.listen_tcp(0, *server_factory);

    std::vector<std::string> replies;
    std::optional<std::string> failure;
    bool end_seen = false;
    auto client = [&](LineStreamHandle s) -> Deferred<void> {
        replies.push_back(co_await s.read_line().add_callback([](std::optional<std::string> l) { return *l; }));
        for (const char* word : {"alpha", "beta", "quit"}) {
            s.write_line(word);
            co_await s.drain();
            auto reply = co_await s.read_line();
            replies.push_back(reply.value_or("<end>"));
        }
        end_seen = !(co_await s.read_line()).has_value();  // the server closed cleanly
        co_await s.closed();
    };
    weft_test::LambdaClientFactory client_factory([&](const weft::Address&) {
        return std::make_unique<LineStream>(LineStream::Handler([&](LineStreamHandle s) {
            return client(s).add_callbacks([&] { reactor.stop(); },
                                           [&](Failure f) {
                                               failure = f.what();
                                               reactor.stop();
                                           });
        }));
    });
    auto connector = reactor.connect_tcp("127.0.0.1", port->address().port, client_factory);
    REQUIRE(run_bounded(reactor, 20s, false));
    INFO(failure.value_or("no failure"));
    CHECK_FALSE(failure);
    CHECK(replies == std::vector<std::string>{"WELCOME", "ALPHA", "BETA", "BYE"});
    CHECK(server_got == std::vector<std::string>{"alpha", "beta", "quit"});
    CHECK(end_seen);
}

TEST_CASE("LineStream over loopback: drain against a slow reader keeps both sides bounded",
          "[line_stream][loopback][backpressure]") {
    weft::Reactor reactor;
    constexpr int kLines = 4000;
    const std::string payload(1000, 'p');
    int drains_that_waited = 0;
    auto server_factory = weft::Factory::for_protocol<LineStream>(
        LineStream::Handler([&](LineStreamHandle s) -> Deferred<void> {
            for (int i = 0; i < kLines; ++i) {
                s.write_line(payload);
                auto drained = s.drain();
                if (!drained.called()) ++drains_that_waited;
                co_await std::move(drained);
            }
            s.close();
        }));
    auto port = reactor.listen_tcp(0, *server_factory);

    int received = 0;
    std::size_t max_client_lines = 0;
    std::optional<std::string> failure;
    LineStream* client_stream = nullptr;
    auto client = [&](LineStreamHandle s) -> Deferred<void> {
        while (auto line = co_await s.read_line()) {
            ++received;
            max_client_lines = std::max(max_client_lines, client_stream->buffered_lines());
            if (received % 200 == 0) co_await weft::sleep(reactor, 1ms);  // a slow reader
        }
    };
    weft_test::LambdaClientFactory client_factory([&](const weft::Address&) {
        auto p = std::make_unique<LineStream>(
            LineStream::Handler([&](LineStreamHandle s) {
                return client(s).add_callbacks([&] { reactor.stop(); },
                                               [&](Failure f) {
                                                   failure = f.what();
                                                   reactor.stop();
                                               });
            }),
            16 * 1024);
        client_stream = p.get();
        return p;
    });
    auto connector = reactor.connect_tcp("127.0.0.1", port->address().port, client_factory);
    REQUIRE(run_bounded(reactor, 60s, false));
    INFO(failure.value_or("no failure"));
    CHECK_FALSE(failure);
    CHECK(received == kLines);
    CHECK(drains_that_waited > 0);  // the writer did wait for the reader
    // 16 KiB of unread lines at most: 1032 counted bytes a line, so the 16th pauses the reading.
    CHECK(max_client_lines <= 16);
}
