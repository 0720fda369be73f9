// Loopback tests of the transport's fast paths: replies written inside data_received (the reactor's write
// scratch, sent when the callback returns) and accepting a burst of connections in one turn. What matters
// to a user is that bytes arrive complete and in order whichever path they take, and that error paths
// drop what they should.
#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "support/loop.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <thread>

using namespace weft_test;
namespace asio = boost::asio;

namespace {
/// `n` bytes that differ from block to block, so a reordering or a lost piece shows.
std::string block(std::size_t index, std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (index * 31 + i * 7 + i / 13) % 26);
    return s;
}
}  // namespace

TEST_CASE("writes inside data_received keep their order across copies, shared buffers and sequences", "[tcp][write]") {
    weft::Reactor reactor;
    LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_data = [](Recorder& r, std::string_view) {
            r.transport().write("A");
            r.transport().write_shared(std::make_shared<const std::string>("S"));
            r.transport().write("B");
            std::string_view parts[] = {"C", "D"};
            r.transport().write_sequence(parts);
            r.transport().write_shared(std::make_shared<const std::string>("T"));
            r.transport().lose_connection();  // after everything above has been sent
        };
        return p;
    });
    auto port = reactor.listen_tcp(0, server, {"127.0.0.1"});
    std::string got;
    LambdaClientFactory client([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [](Recorder& r) { r.transport().write("go"); };
        p->on_lost = [&](Recorder& r, const weft::Reason&) { got = r.received; };
        return p;
    });
    client.on_end = [&] { reactor.stop(); };
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    REQUIRE(run_bounded(reactor));
    CHECK(got == "ASBCDT");
    REQUIRE(client.lost);
    CHECK(client.lost->clean());
}

TEST_CASE("views of the input and copies written in one callback keep their order, past the piece limit", "[tcp][write]") {
    // The server answers each chunk with "<" slice ">" for every 600-byte slice: large slices are sent
    // from the read buffer, the markers are copied, and a 64 KiB chunk makes far more pieces than the
    // scratch holds, so it spills into the queue midway. The client strips the markers and must get back
    // exactly what it sent.
    const std::string sent = block(3, 64 * 1024);
    weft::Reactor reactor;
    LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_data = [](Recorder& r, std::string_view data) {
            for (std::size_t at = 0; at < data.size(); at += 600) {
                r.transport().write("<");
                r.transport().write(data.substr(at, 600));
                r.transport().write(">");
            }
        };
        return p;
    });
    auto port = reactor.listen_tcp(0, server, {"127.0.0.1"});
    std::string unwrapped;
    bool well_formed = true;
    LambdaClientFactory client([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [&](Recorder& r) { r.transport().write(sent); };
        p->on_data = [&](Recorder& r, std::string_view) {
            // Take every complete <...> group; a group holds at most 600 bytes and no markers.
            std::size_t at = 0;
            while (at < r.received.size()) {
                if (r.received[at] != '<') {
                    well_formed = false;
                    break;
                }
                const std::size_t close = r.received.find('>', at);
                if (close == std::string::npos) break;
                if (close - at - 1 > 600) well_formed = false;
                unwrapped.append(r.received, at + 1, close - at - 1);
                at = close + 1;
            }
            r.received.erase(0, at);
            if (unwrapped.size() >= sent.size() || !well_formed) r.transport().lose_connection();
        };
        return p;
    });
    client.on_end = [&] { reactor.stop(); };
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    REQUIRE(run_bounded(reactor));
    CHECK(well_formed);
    CHECK(unwrapped == sent);
}

TEST_CASE("replies to a peer that is not reading are kept when the kernel takes only part of them", "[tcp][write]") {
    // The client sends one request at a time and reads nothing. Each 60 KiB reply fits the write scratch
    // and is sent when data_received returns, until the kernel's buffers are full and it takes only part
    // of one: the rest must be copied out of the scratch (which the next callback reuses) and kept.
    // Then the client reads everything and checks every byte.
    constexpr std::size_t block_size = 60 * 1024;
    constexpr std::size_t max_requests = 1000;  // 60 MB: far more than loopback's buffers, a bound only
    weft::Reactor reactor;
    std::size_t answered = 0;
    bool kept_part = false, done_requesting = false;
    weft::Transport* client_transport = nullptr;
    LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_data = [&](Recorder& r, std::string_view) {
            r.transport().write(block(answered++, block_size));
            reactor.call_soon([&] {  // the reply has been handed to the kernel, as far as it would go
                if (r.transport().buffered_bytes() == 0 && answered < max_requests) {
                    return client_transport->write("r\n");
                }
                kept_part = r.transport().buffered_bytes() > 0;
                done_requesting = true;
                client_transport->resume_producing();
            });
        };
        return p;
    });
    auto port = reactor.listen_tcp(0, server, {"127.0.0.1"});
    bool matched = false;
    LambdaClientFactory client([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [&](Recorder& r) {
            client_transport = &r.transport();
            r.transport().pause_producing();
            r.transport().write("r\n");
        };
        p->on_data = [&](Recorder& r, std::string_view) {
            if (!done_requesting || r.received.size() < answered * block_size) return;
            std::string expected;
            for (std::size_t i = 0; i < answered; ++i) expected += block(i, block_size);
            matched = r.received == expected;
            r.transport().lose_connection();
        };
        return p;
    });
    client.on_end = [&] { reactor.stop(); };
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    REQUIRE(run_bounded(reactor, std::chrono::seconds(60)));
    CHECK(kept_part);  // the kernel refused part of a reply: the path under test was taken
    CHECK(matched);
}

TEST_CASE("an echo of the input to a peer that is not reading arrives intact", "[tcp][write]") {
    // Large views of the input are sent from the reactor's read buffer without a copy. The client sends
    // 16 MiB and reads nothing until the server has received it all, so the kernel refuses part of the
    // echo again and again: each time the refused part must be copied out before the next read reuses the
    // buffer. Every byte is checked.
    const std::string sent = block(7, 16 * 1024 * 1024);
    weft::Reactor reactor;
    std::size_t server_got = 0, most_buffered = 0;
    weft::Transport* client_transport = nullptr;
    LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_data = [&](Recorder& r, std::string_view data) {
            r.transport().write(data);
            server_got += data.size();
            reactor.call_soon([&] {
                most_buffered = std::max(most_buffered, r.transport().buffered_bytes());
                if (server_got == sent.size()) client_transport->resume_producing();
            });
        };
        return p;
    });
    auto port = reactor.listen_tcp(0, server, {"127.0.0.1"});
    bool matched = false;
    LambdaClientFactory client([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [&](Recorder& r) {
            client_transport = &r.transport();
            r.transport().pause_producing();
            r.transport().write(sent);
        };
        p->on_data = [&](Recorder& r, std::string_view) {
            if (r.received.size() < sent.size()) return;
            matched = r.received == sent;
            r.transport().lose_connection();
        };
        return p;
    });
    client.on_end = [&] { reactor.stop(); };
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    REQUIRE(run_bounded(reactor, std::chrono::seconds(60)));
    CHECK(most_buffered > 0);  // the kernel refused part of the echo: the path under test was taken
    CHECK(matched);
}

TEST_CASE("a reply written inside data_received is dropped by an abort or a throw in the same callback", "[tcp][write][errors]") {
    const bool throws = GENERATE(false, true);
    weft::Reactor reactor;
    LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_data = [throws](Recorder& r, std::string_view) {
            r.transport().write("must not arrive");
            if (throws) throw std::runtime_error("protocol bug");
            r.transport().abort_connection();
        };
        return p;
    });
    auto port = reactor.listen_tcp(0, server, {"127.0.0.1"});
    LambdaClientFactory client([](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [](Recorder& r) { r.transport().write("go"); };
        return p;
    });
    client.on_end = [&] { reactor.stop(); };
    reactor.connect_tcp("127.0.0.1", port->port(), client);
    REQUIRE(run_bounded(reactor));
    REQUIRE(client.lost);
    CHECK_FALSE(client.lost->clean());  // a reset, not an orderly close
}

TEST_CASE("a write to another connection from inside data_received is delivered", "[tcp][write]") {
    // A relay: what one client sends, the server writes to the other client's transport. Only the
    // connection whose callback runs uses the write scratch; the other's write takes the queued path.
    weft::Reactor reactor;
    std::vector<Recorder*> conns;
    std::string relayed;
    LambdaClientFactory receiver([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_data = [&](Recorder& r, std::string_view) {
            if (r.received.size() < 6) return;
            relayed = r.received;
            reactor.stop();
        };
        return p;
    });
    LambdaClientFactory sender([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [](Recorder& r) { r.transport().write("hello\n"); };
        return p;
    });
    std::shared_ptr<weft::ListeningPort> port;
    LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [&](Recorder& r) {
            conns.push_back(&r);
            if (conns.size() == 1) reactor.connect_tcp("127.0.0.1", port->port(), sender);  // the receiver is in
        };
        p->on_data = [&](Recorder& r, std::string_view data) {
            for (Recorder* other : conns) {
                if (other != &r) other->transport().write(data);
            }
            r.transport().write("ok\n");
        };
        return p;
    });
    port = reactor.listen_tcp(0, server, {"127.0.0.1"});
    reactor.connect_tcp("127.0.0.1", port->port(), receiver);
    REQUIRE(run_bounded(reactor));
    CHECK(relayed == "hello\n");
}

TEST_CASE("a burst of pending connections is accepted several per turn, and every one is served", "[tcp][listen]") {
    // 100 clients connect (the kernel completes the handshakes from the listen backlog) before the reactor
    // runs, so all are pending at the first wake-up. They are accepted in bursts: more than one per turn,
    // at most 64 (TcpPort::max_accepts_per_turn), and each gets its echo.
    constexpr int clients = 100;
    weft::Reactor reactor;
    int turn = 0, accepted_this_turn = 0, largest_burst = 0, served = 0;
    bool turn_marker_pending = false;
    struct Counting : weft::Factory {
        std::function<void()> on_build;
        std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override {
            on_build();
            return std::make_unique<Echo>();
        }
    } counting;
    counting.on_build = [&] {
        if (!turn_marker_pending) {  // the first connection of a turn: the marker runs on the next one
            turn_marker_pending = true;
            accepted_this_turn = 0;
            reactor.call_soon([&] {
                turn_marker_pending = false;
                ++turn;
            });
        }
        largest_burst = std::max(largest_burst, ++accepted_this_turn);
    };
    auto port = reactor.listen_tcp(0, counting, {"127.0.0.1"});

    asio::io_context io;
    std::vector<asio::ip::tcp::socket> sockets;
    for (int i = 0; i < clients; ++i) {
        sockets.emplace_back(io);
        sockets.back().connect({asio::ip::make_address("127.0.0.1"), port->port()});
        asio::write(sockets.back(), asio::buffer("ping", 4));
        const ::timeval limit{20, 0};  // a hung server fails the reads instead of hanging the test
        ::setsockopt(sockets.back().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    }
    // Reading the echoes needs the reactor running: a thread reads them while this one runs the loop.
    std::thread reader([&] {
        for (auto& s : sockets) {
            char buf[4];
            boost::system::error_code ec;
            asio::read(s, asio::buffer(buf), ec);
            if (!ec && std::string_view(buf, 4) == "ping") ++served;
        }
        for (auto& s : sockets) s.close();  // so the server's lingering closes end at once
        reactor.stop();
    });
    const bool stopped = run_bounded(reactor);
    reader.join();
    REQUIRE(stopped);
    CHECK(served == clients);
    CHECK(largest_burst > 1);
    CHECK(largest_burst <= 64);
    CHECK(reactor.stats().accepted == static_cast<std::uint64_t>(clients));
}
