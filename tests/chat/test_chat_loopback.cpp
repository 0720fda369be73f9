// Loopback tests of the chat server: the room and several real TCP clients on one reactor (127.0.0.1,
// port 0). Each test stops the reactor itself when what it waits for has happened; run_bounded fails it
// if that takes more than a few seconds. Nothing sleeps.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "chat_test_client.hpp"

using namespace chat_test;
using weft_test::run_bounded;
using namespace std::chrono_literals;


TEST_CASE("loopback: every line reaches every client, each sender's lines in order", "[chat][loopback]") {
    ChatLoop loop(ChatOptions{.flood_limit = 0});  // a throughput test, not a flood one
    constexpr std::size_t clients = 4;
    constexpr std::size_t per_client = 300;
    std::vector<Record> records(clients);
    std::size_t welcomed = 0;
    auto done = [&] {
        return std::all_of(records.begin(), records.end(),
                           [&](const Record& r) { return r.messages == clients * per_client; });
    };
    for (auto& r : records) {
        // Nobody speaks before everyone is in the room, so everyone must hear everything.
        r.on_welcome = [&](Record&) {
            if (++welcomed < clients) return;
            for (auto& speaker : records) {
                std::string burst;
                for (std::size_t i = 0; i < per_client; ++i) burst += numbered(i, 40) + "\n";
                speaker.send(burst);
            }
        };
        r.on_line = [&](Record&, std::string_view) {
            if (done()) loop.stop();
        };
        loop.connect(r);
    }
    REQUIRE(run_bounded(loop.reactor, 20s));
    for (const auto& r : records) {
        for (const auto& speaker : records) {
            std::vector<std::string> from;
            for (const auto& l : r.lines) {
                if (l.starts_with(speaker.name + ": ")) from.push_back(l.substr(speaker.name.size() + 2));
            }
            REQUIRE(from.size() == per_client);
            for (std::size_t i = 0; i < per_client; ++i) CHECK(from[i] == numbered(i, 40));
        }
    }
    CHECK(loop.room.stats().lines_relayed == clients * per_client);
}

TEST_CASE("loopback: /nick, /who and /quit, the quitter gets everything, then a clean close", "[chat][loopback]") {
    ChatLoop loop;
    Record a;
    Record b;
    a.on_welcome = [&](Record&) { loop.connect(b); };
    b.on_welcome = [&](Record&) { a.send("/nick alice\n/who\nbye now\n/quit\nnot relayed\n"); };
    b.on_line = [&](Record&, std::string_view line) {
        if (line == "* alice left") loop.stop();
    };
    loop.connect(a);
    REQUIRE(run_bounded(loop.reactor, 10s));
    REQUIRE(a.lost);
    CHECK(a.lost->clean());
    const std::vector<std::string> a_expected{
        "Welcome to the chat server, " + a.name,
        "* " + b.name + " joined",
        "* " + a.name + " is now known as alice",
        "* online (2): " + std::min(b.name, std::string("alice")) + ", " + std::max(b.name, std::string("alice")),
        "alice: bye now",
        "* bye",
    };
    CHECK(a.lines == a_expected);
    const std::vector<std::string> b_expected{
        "Welcome to the chat server, " + b.name,
        "* " + a.name + " is now known as alice",
        "alice: bye now",
        "* alice left",
    };
    CHECK(b.lines == b_expected);
    CHECK(loop.clients_at_stop == 1);
}

TEST_CASE("loopback: an over-long line gets an error and a disconnect, the others carry on", "[chat][loopback]") {
    ChatLoop loop(ChatOptions{.max_line = 100});
    Record a;
    Record b;
    a.on_welcome = [&](Record&) { loop.connect(b); };
    b.on_welcome = [&](Record&) { a.send("fits\n" + std::string(150, 'x') + "\nnot relayed\n"); };
    b.on_line = [&](Record& self, std::string_view line) {
        if (line == "* " + a.name + " left") self.send("still here\n");
        if (line == b.name + ": still here") loop.stop();
    };
    loop.connect(a);
    REQUIRE(run_bounded(loop.reactor, 10s));
    REQUIRE(a.lost);
    REQUIRE(a.lines.size() >= 3);
    CHECK(a.lines[a.lines.size() - 2] == a.name + ": fits");
    CHECK(a.lines.back() == "! line too long (max 100 bytes)");
    CHECK(b.count_from(a.name) == 1);
    CHECK(b.has("* " + a.name + " left"));
}

TEST_CASE("loopback: a client that never reads is cut at the limit, the server's buffer stays bounded",
          "[chat][loopback]") {
    constexpr std::size_t limit = 256 * 1024;
    ChatLoop loop(ChatOptions{.send_buffer_limit = limit, .flood_limit = 0});  // the talker floods
    Record slow;
    Record fast;
    const std::string line = std::string(1000, 'f') + "\n";
    constexpr std::size_t window = 100;  // lines in flight: ~100 KB, well under the limit for the fast one
    constexpr std::size_t total = 32 * 1024;  // 32 MB in all, whenever the slow one is cut
    std::size_t sent = 0;
    std::size_t echoed = 0;
    bool cut_seen = false;
    auto send_one = [&] {
        fast.send(line);
        ++sent;
    };
    slow.on_welcome = [&](Record& self) {
        self.transport->pause_producing();  // reads nothing more, ever
        loop.connect(fast);
    };
    fast.on_welcome = [&](Record&) {
        for (std::size_t i = 0; i < window; ++i) send_one();
    };
    fast.on_line = [&](Record&, std::string_view l) {
        if (l == "* " + slow.name + " left (too slow)") {
            cut_seen = true;
        } else if (l.starts_with(fast.name + ": ")) {
            ++echoed;
            if (sent < total) send_one();
        }
        if (sent == total && echoed == sent) loop.stop();
    };
    loop.connect(slow);
    REQUIRE(run_bounded(loop.reactor, 30s));
    CHECK(cut_seen);
    CHECK(sent == total);
    CHECK(echoed == sent);  // the fast one got every line back, during and after the cut
    CHECK(loop.room.stats().cut_slow == 1);
    // The slow one's queue grew to the limit, and past it by no more than what one turn can queue (the
    // fast one's window), far below the hard limit: the check after each turn's flush cut it.
    CHECK(loop.room.stats().peak_buffered > limit);
    CHECK(loop.room.stats().peak_buffered <= limit + 2 * window * (line.size() + 30));
    CHECK(loop.room.stats().peak_buffered < loop.room.options().hard_send_limit());
}

TEST_CASE("loopback: clients that read promptly survive a burst bigger than the limit", "[chat][loopback]") {
    // One 64 KiB read of these lines is ~80 KB per recipient once named: over the limit within the turn,
    // gone once the turn has flushed. Nobody here is slow, so nobody may be cut.
    ChatLoop loop(ChatOptions{.send_buffer_limit = 64 * 1024, .flood_limit = 0});  // the burst is the point
    Record observer;
    Record talker;
    constexpr std::size_t lines = 2000;
    observer.on_welcome = [&](Record&) { loop.connect(talker); };
    talker.on_welcome = [&](Record& self) {
        std::string burst;
        for (std::size_t i = 0; i < lines; ++i) burst += numbered(i, 85) + "\n";
        self.send(burst);
    };
    auto done = [&] { return observer.count_from(talker.name) == lines && talker.count_from(talker.name) == lines; };
    observer.on_line = talker.on_line = [&](Record&, std::string_view) {
        if (done()) loop.stop();
    };
    observer.on_lost = talker.on_lost = [&](Record&) { loop.stop(); };
    loop.connect(observer);
    REQUIRE(run_bounded(loop.reactor, 10s));
    CHECK(done());
    CHECK(loop.room.stats().cut_slow == 0);
    CHECK(loop.room.stats().peak_buffered > 64 * 1024);  // the burst did go over the limit within a turn
}

TEST_CASE("loopback: a reset in the middle of a line is a departure and breaks no broadcast", "[chat][loopback]") {
    ChatLoop loop(ChatOptions{.flood_limit = 0});  // the talker floods
    Record quitter;
    Record talker;
    Record listener;
    constexpr std::size_t lines = 2000;
    std::size_t welcomed = 0;
    auto start = [&](Record&) {
        if (++welcomed < 3) return;
        std::string burst;
        for (std::size_t i = 0; i < lines; ++i) burst += numbered(i, 60) + "\n";
        talker.send(burst);
        quitter.send("complete\nhalf a li");
    };
    quitter.on_welcome = talker.on_welcome = listener.on_welcome = start;
    quitter.on_line = [&](Record& self, std::string_view l) {
        // The server has read this far: now go, in the middle of the next line and of the talker's burst.
        if (l == self.name + ": complete") self.transport->abort_connection();
    };
    listener.on_line = [&](Record& self, std::string_view) {
        if (self.count_from(talker.name) == lines && self.has("* " + quitter.name + " left")) loop.stop();
    };
    loop.connect(quitter);
    loop.connect(talker);
    loop.connect(listener);
    REQUIRE(run_bounded(loop.reactor, 10s));
    CHECK(listener.count_from(quitter.name) == 1);  // "complete"; the half line is never relayed
    CHECK(std::count(listener.lines.begin(), listener.lines.end(), "* " + quitter.name + " left") == 1);
    CHECK(loop.clients_at_stop == 2);
}

TEST_CASE("loopback: a half-closed client still gets everything owed, then the server closes",
          "[chat][loopback]") {
    ChatLoop loop(ChatOptions{.flood_limit = 0});  // the talker floods
    Record half;
    Record talker;
    constexpr std::size_t lines = 3000;  // ~300 KB: more than the sockets hold while the client is paused
    half.on_welcome = [&](Record& self) {
        self.transport->pause_producing();  // from now on the server queues what it owes
        loop.connect(talker);
    };
    talker.on_welcome = [&](Record&) {
        std::string burst;
        for (std::size_t i = 0; i < lines; ++i) burst += numbered(i, 100) + "\n";
        talker.send(burst);
    };
    talker.on_line = [&](Record& self, std::string_view l) {
        if (l == self.name + ": " + numbered(lines - 1, 100)) {
            // All of it is queued for `half` by now. It says goodbye, shuts its write side, and reads again.
            half.send("goodbye\n");
            half.transport->lose_write_connection();
            half.transport->resume_producing();
        }
    };
    half.on_lost = [&](Record&) { loop.stop(); };
    loop.connect(half);
    REQUIRE(run_bounded(loop.reactor, 10s));
    REQUIRE(half.lost);
    CHECK(half.lost->clean());
    CHECK(half.count_from(talker.name) == lines);
    REQUIRE(!half.lines.empty());
    CHECK(half.lines.back() == half.name + ": goodbye");
    CHECK(talker.has(half.name + ": goodbye"));
}

TEST_CASE("loopback: over --max-clients a newcomer is told the server is full", "[chat][loopback]") {
    ChatLoop loop(ChatOptions{.max_clients = 2});
    Record a;
    Record b;
    Record c;
    a.on_welcome = [&](Record&) { loop.connect(b); };
    b.on_welcome = [&](Record&) { loop.connect(c); };
    c.on_lost = [&](Record&) { a.send("after\n"); };
    a.on_line = [&](Record& self, std::string_view l) {
        if (l == self.name + ": after") loop.stop();
    };
    loop.connect(a);
    REQUIRE(run_bounded(loop.reactor, 10s));
    CHECK(c.lines == std::vector<std::string>{"! server full"});
    REQUIRE(c.lost);
    CHECK(a.lines == std::vector<std::string>{"Welcome to the chat server, " + a.name, "* " + b.name + " joined",
                                              a.name + ": after"});
    CHECK(loop.room.stats().refused_full == 1);
}

TEST_CASE("loopback: --idle-timeout disconnects a silent client", "[chat][loopback]") {
    ChatLoop loop(ChatOptions{.idle_timeout = 200ms});
    Record quiet;
    quiet.on_lost = [&](Record&) { loop.stop(); };
    loop.connect(quiet);
    REQUIRE(run_bounded(loop.reactor, 10s));
    CHECK(quiet.lines.back() == "! idle for 0.2 s, disconnecting");
    CHECK(loop.room.stats().cut_idle == 1);
}

TEST_CASE("loopback: clients coming and going at random moments during broadcasts", "[chat][loopback]") {
    ChatLoop loop;
    constexpr std::size_t stayers = 5;
    constexpr std::size_t goers = 30;
    constexpr std::size_t lines = 200;
    std::vector<Record> stay(stayers);
    std::vector<Record> go(goers);
    std::vector<std::size_t> payloads(stayers);  // stayers' numbered lines each stayer got
    std::size_t welcomed = 0;
    std::size_t gone = 0;
    auto everyone_done = [&] {
        return gone == goers &&
               std::all_of(payloads.begin(), payloads.end(), [&](std::size_t n) { return n == stayers * lines; });
    };
    for (std::size_t k = 0; k < stayers; ++k) {
        // Once every stayer is in, they all talk while the goers come and go.
        stay[k].on_welcome = [&](Record&) {
            if (++welcomed < stayers) return;
            for (auto& g : go) loop.connect(g);
            for (auto& speaker : stay) {
                std::string burst;
                for (std::size_t i = 0; i < lines; ++i) burst += numbered(i, 30) + "\n";
                speaker.send(burst);
            }
        };
        stay[k].on_line = [&, k](Record&, std::string_view l) {
            const std::size_t colon = l.find(": ");
            if (colon != std::string_view::npos && colon + 2 < l.size() && l[colon + 2] >= '0' && l[colon + 2] <= '9') {
                ++payloads[k];
            }
            if (everyone_done()) loop.stop();
        };
        loop.connect(stay[k]);
    }
    for (std::size_t i = 0; i < goers; ++i) {
        // Each leaves its own way, after a few lines of its own: quit, EOF, reset, over-long line, or a
        // close in the middle of a line.
        go[i].on_welcome = [&, i](Record& self) {
            self.send("hello from a goer\n");
            switch (i % 5) {
                case 0: self.send("/quit\n"); break;
                case 1: self.transport->lose_write_connection(); break;
                case 2: self.transport->abort_connection(); break;
                case 3: self.send(std::string(5000, 'z') + "\n"); break;
                default: self.send("half"); self.transport->lose_connection(); break;
            }
        };
        go[i].on_lost = [&](Record&) {
            ++gone;
            if (everyone_done()) loop.stop();
        };
    }
    REQUIRE(run_bounded(loop.reactor, 20s));
    for (const auto& r : stay) {
        for (const auto& s : stay) CHECK(r.count_from(s.name) == lines);
    }
    CHECK(loop.clients_at_stop == stayers);
}
