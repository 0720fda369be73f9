// Faults against the real binaries: descriptors running out during accept, peers that reset while the
// server writes, half-close, silent and trickling peers, peers that never read, and endless lines.
#include <catch2/catch.hpp>

#include "reliability.hpp"

using namespace reliability;

namespace {

std::size_t tcp_wmem_max() {
    std::ifstream in("/proc/sys/net/ipv4/tcp_wmem");
    std::size_t min = 0, def = 0, max = 4 << 20;
    in >> min >> def >> max;
    return max;
}

bool is_eof(const boost::system::error_code& ec) { return ec == asio::error::eof; }

/// Reads everything a test's io_context has to do for `window`, then returns: a measuring window, not a
/// synchronisation (what is measured is what did *not* happen in it).
void run_for(asio::io_context& io, steady::duration window) {
    io.restart();
    io.run_for(window);
}

}  // namespace

namespace {

/// Starts a server with RLIMIT_NOFILE 64 (soft and hard, so that weft-chat cannot raise it) and opens 40
/// connections more than it can hold. Each connection sends `hello` once connected; `answered` tells
/// whether a line is the server's answer. Checks that the server stops accepting without spinning while it
/// is out of descriptors, and serves the waiting connections once descriptors are freed.
void out_of_descriptors(const std::string& name, std::vector<std::string> argv, const std::string& hello,
                        const std::function<bool(std::string_view)>& answered) {
    constexpr rlim_t limit = 64;
    constexpr std::size_t waiting = 40;  // connections beyond the limit, left in the listen backlog
    Server server(std::move(argv), limit);
    REQUIRE(server.port() != 0);
    std::string probe_expect = hello.empty() ? "Welcome" : hello.substr(0, hello.size() - 1);
    const long fds_idle = serving_fd_baseline(server, hello, probe_expect);
    REQUIRE(fds_idle > 0);
    // Roughly what it can hold; the exact figure is what it accepted once out of descriptors.
    const std::size_t total = limit - static_cast<std::size_t>(fds_idle) + waiting;
    REQUIRE(total > waiting + 8);

    asio::io_context io;
    std::vector<std::shared_ptr<LineClient>> clients;
    std::vector<char> served(total, 0);
    std::size_t served_count = 0, closed = 0;
    for (std::size_t i = 0; i < total; ++i) {
        auto c = std::make_shared<LineClient>(io);
        c->on_connect = [&hello](LineClient& self) {
            if (!hello.empty()) self.send(hello);
        };
        c->on_line = [&, i](LineClient&, std::string_view line) {
            if (answered(line) && !served[i]) {
                served[i] = 1;
                ++served_count;
            }
        };
        c->on_close = [&](LineClient&, const boost::system::error_code&) { ++closed; };
        clients.push_back(c);
        c->connect(server.endpoint());
    }
    // The server is exhausted once it holds `limit` descriptors and has answered every connection it
    // accepted (no new answer for 200 ms); only /proc can tell us the first.
    const auto t0 = steady::now();
    auto last_change = steady::now();
    std::size_t last_count = 0;
    while (seconds_since(t0) < 15) {
        run_for(io, 10ms);
        if (served_count != last_count) {
            last_count = served_count;
            last_change = steady::now();
        }
        if (fd_count(server.pid()) == static_cast<long>(limit) && steady::now() - last_change > 200ms) break;
    }
    REQUIRE(fd_count(server.pid()) == static_cast<long>(limit));
    const std::size_t room = served_count;
    REQUIRE(room + waiting + 2 >= total);  // it filled its table before refusing
    REQUIRE(room < total);

    // Exhausted for two seconds: its CPU time in that window says whether it spins on EMFILE.
    const double cpu0 = cpu_seconds(server.pid());
    run_for(io, 2s);
    const double cpu_exhausted = cpu_seconds(server.pid()) - cpu0;
    CHECK(served_count == room);  // nobody else got in
    CHECK(closed == 0);

    // Free the descriptors: the waiting connections must be accepted and served, after the back-off.
    for (std::size_t i = 0; i < clients.size(); ++i) {
        if (served[i]) clients[i]->close();
    }
    const auto t_release = steady::now();
    while (served_count < total && seconds_since(t_release) < 15) run_for(io, 10ms);
    const double recovery = seconds_since(t_release);
    figure(name, "RLIMIT_NOFILE=" + std::to_string(limit) + " accepted_before_exhaustion=" + std::to_string(room) +
                     " waiting=" + std::to_string(total - room) + " server_cpu_in_2s_exhausted=" +
                     std::to_string(cpu_exhausted) + "s all_waiting_served_after=" + std::to_string(recovery) + "s");
    CHECK(cpu_exhausted < 0.2);  // a busy loop would burn ~2 s of CPU here
    CHECK(served_count == total);
    CHECK(server.describe() == "running");
    server.signal(SIGTERM);
    CHECK(exited_zero(server.wait(20s)));
}

}  // namespace

#ifdef WEFT_ECHO_BINARY
TEST_CASE("weft-echo out of descriptors in accept: no spinning and it accepts again once they free up",
          "[reliability][fault][emfile][echo]") {
    out_of_descriptors("emfile-echo", {WEFT_ECHO_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "error"},
                       "x\n", [](std::string_view line) { return line == "x"; });
}

TEST_CASE("weft-echo survives peers that reset while it writes to them (no SIGPIPE) and serves the next",
          "[reliability][fault][reset][echo]") {
    constexpr std::size_t peers = 32;
    constexpr std::size_t chunk = 64 * 1024;
    Server echo({WEFT_ECHO_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "error"});
    REQUIRE(echo.port() != 0);
    const long fds_idle = serving_fd_baseline(echo, "x\n", "x");
    REQUIRE(fds_idle > 0);

    asio::io_context io;
    Deadline deadline(io, 30s);
    const std::string block(chunk, 'r');
    std::size_t resets = 0;
    std::vector<std::shared_ptr<LineClient>> clients;
    // Each peer sends (i + 1) * 64 KiB without reading a byte, through a 4 KiB receive buffer: the echo
    // piles up in the server's output queue. Then it resets. The server is mid-write to it when the RST
    // comes; its next write gets EPIPE/ECONNRESET, which must not be a SIGPIPE.
    // The pumps live here, not in their own handlers: a handler that owned its pump would destroy it while
    // it runs.
    std::vector<std::unique_ptr<std::function<void()>>> pumps;
    for (std::size_t i = 0; i < peers; ++i) {
        auto c = std::make_shared<LineClient>(io, 4096);
        c->pause_reading();
        auto sent = std::make_shared<std::size_t>(0);
        pumps.push_back(std::make_unique<std::function<void()>>());
        std::function<void()>* pump = pumps.back().get();
        *pump = [&, c, sent, pump, i] {
            if (*sent == (i + 1) * chunk) {
                c->reset();
                if (++resets == peers) io.stop();
                return;
            }
            *sent += chunk;
            asio::async_write(c->socket(), asio::buffer(block), [pump](const boost::system::error_code& ec, std::size_t) {
                if (!ec) (*pump)();
            });
        };
        c->on_connect = [pump](LineClient&) { (*pump)(); };
        clients.push_back(c);
        c->connect(echo.endpoint());
    }
    io.run();
    REQUIRE_FALSE(deadline.expired());
    CHECK(resets == peers);
    const long rss_peak = vm_rss_kib(echo.pid());

    // Still alive, and serving.
    std::string got;
    auto next = std::make_shared<LineClient>(io);
    next->on_connect = [](LineClient& self) { self.send("still there?\n"); };
    next->on_line = [&](LineClient& self, std::string_view line) {
        got = line;
        self.close();
        io.stop();
    };
    next->connect(echo.endpoint());
    io.restart();
    io.run_for(10s);
    CHECK(echo.describe() == "running");
    CHECK(got == "still there?");
    const bool fds_back = poll_until([&] { return fd_count(echo.pid()) == fds_idle; }, 10s);
    figure("reset-echo", "peers=" + std::to_string(peers) + " reset after 64 KiB..2 MiB unread each; server alive=" +
                             std::to_string(echo.alive()) + " VmRSS=" + std::to_string(rss_peak) +
                             "KiB fds back to idle=" + std::to_string(fds_back));
    CHECK(fds_back);
    echo.signal(SIGTERM);
    CHECK(exited_zero(echo.wait(20s)));
}

TEST_CASE("weft-echo: a peer that half-closes gets every byte back and then EOF", "[reliability][fault][halfclose][echo]") {
    constexpr int lines = 20000;
    Server echo({WEFT_ECHO_BINARY, "--host", "127.0.0.1", "--port", "0", "--mode", "line", "--log-level", "error"});
    REQUIRE(echo.port() != 0);
    asio::io_context io;
    Deadline deadline(io, 30s);
    int next_expected = 0, out_of_order = 0;
    bool clean_eof = false;
    auto c = std::make_shared<LineClient>(io);
    c->on_connect = [&](LineClient& self) {
        std::string all;
        for (int i = 0; i < lines; ++i) all += "line " + std::to_string(i) + "\n";
        self.send(std::move(all));
    };
    c->on_drained = [](LineClient& self) { self.shutdown_send(); };
    c->on_line = [&](LineClient&, std::string_view line) {
        if (line != "line " + std::to_string(next_expected)) ++out_of_order;
        ++next_expected;
    };
    c->on_close = [&](LineClient&, const boost::system::error_code& ec) {
        clean_eof = is_eof(ec);
        io.stop();
    };
    c->connect(echo.endpoint());
    io.run();
    REQUIRE_FALSE(deadline.expired());
    figure("halfclose-echo", "lines=" + std::to_string(lines) + " echoed=" + std::to_string(next_expected) +
                                 " clean_eof=" + std::to_string(clean_eof));
    CHECK(next_expected == lines);
    CHECK(out_of_order == 0);
    CHECK(clean_eof);
    echo.signal(SIGTERM);
    CHECK(exited_zero(echo.wait(20s)));
}
#endif

#ifdef WEFT_CHAT_BINARY
namespace {

std::vector<std::string> chat_argv(std::vector<std::string> extra) {
    std::vector<std::string> argv{WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "error",
        // Issue 10's input budget and per-address limit off: these tests send bursts from many loopback
        // clients on purpose (tests/chat/test_chat_limits.cpp covers the limits).
        "--flood-limit", "0", "--max-per-address", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

/// A chat client that records every line and how it ended.
struct Recorded {
    std::shared_ptr<LineClient> client;
    std::vector<std::string> lines;
    std::optional<boost::system::error_code> end;
    steady::time_point connected_at{};
    steady::time_point ended_at{};
    bool welcomed = false;

    bool saw(std::string_view line) const {
        return std::find(lines.begin(), lines.end(), line) != lines.end();
    }
};

std::shared_ptr<Recorded> recorded(asio::io_context& io, const tcp::endpoint& ep, std::function<void(Recorded&)> on_any = {},
                                   std::size_t rcvbuf = 0) {
    auto r = std::make_shared<Recorded>();
    r->client = std::make_shared<LineClient>(io, rcvbuf);
    Recorded* raw = r.get();
    r->client->on_connect = [raw](LineClient&) { raw->connected_at = steady::now(); };
    r->client->on_line = [raw, on_any](LineClient&, std::string_view line) {
        if (line.rfind("Welcome to the chat server, ", 0) == 0) raw->welcomed = true;
        raw->lines.emplace_back(line);
        if (on_any) on_any(*raw);
    };
    r->client->on_close = [raw, on_any](LineClient&, const boost::system::error_code& ec) {
        raw->end = ec;
        raw->ended_at = steady::now();
        if (on_any) on_any(*raw);
    };
    r->client->connect(ep);
    return r;
}

}  // namespace

TEST_CASE("weft-chat out of descriptors in accept: no spinning and it welcomes the waiting clients once they free up",
          "[reliability][fault][emfile][chat]") {
    out_of_descriptors("emfile-chat", chat_argv({}), "",
                       [](std::string_view line) { return line.rfind("Welcome to the chat server, ", 0) == 0; });
}

TEST_CASE("weft-chat: a client that half-closes has its line relayed and gets it back before EOF while others see it leave",
          "[reliability][fault][halfclose][chat]") {
    Server chat(chat_argv({}));
    REQUIRE(chat.port() != 0);
    asio::io_context io;
    auto b = recorded(io, chat.endpoint());
    REQUIRE(run_until(io, [&] { return b->welcomed; }, 10s));
    auto a = recorded(io, chat.endpoint());
    REQUIRE(run_until(io, [&] { return a->welcomed; }, 10s));
    a->client->on_drained = [](LineClient& self) { self.shutdown_send(); };
    a->client->send("hello, then EOF\n");
    const std::string name = a->client->chat_name();
    REQUIRE(run_until(io, [&] { return a->end && b->saw("* " + name + " left"); }, 10s));
    figure("halfclose-chat", "half-closing client got " + std::to_string(a->lines.size()) + " lines then " +
                                 a->end->message() + "; the other saw " + std::to_string(b->lines.size()) + " lines");
    CHECK(is_eof(*a->end));
    CHECK(a->saw(name + ": hello, then EOF"));
    const std::vector<std::string> seen_by_b{"* " + name + " joined", name + ": hello, then EOF", "* " + name + " left"};
    CHECK(std::vector<std::string>(b->lines.end() - 3, b->lines.end()) == seen_by_b);
    CHECK(chat.describe() == "running");
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}

TEST_CASE("weft-chat --idle-timeout 1 disconnects clients that connect and send nothing",
          "[reliability][fault][idle][chat]") {
    constexpr std::size_t silent = 200;
    Server chat(chat_argv({"--idle-timeout", "1"}));
    REQUIRE(chat.port() != 0);
    asio::io_context io;
    std::vector<std::shared_ptr<Recorded>> clients;
    for (std::size_t i = 0; i < silent; ++i) clients.push_back(recorded(io, chat.endpoint()));
    REQUIRE(run_until(io, [&] {
        return std::all_of(clients.begin(), clients.end(), [](const auto& r) { return r->end.has_value(); });
    }, 20s));
    double shortest = 1e9, longest = 0;
    std::size_t told = 0, eof = 0;
    for (auto& r : clients) {
        const double t = std::chrono::duration<double>(r->ended_at - r->connected_at).count();
        shortest = std::min(shortest, t);
        longest = std::max(longest, t);
        if (r->saw("! idle for 1 s, disconnecting")) ++told;
        if (is_eof(*r->end)) ++eof;
    }
    figure("idle", "silent clients=" + std::to_string(silent) + " told_idle=" + std::to_string(told) + " clean_eof=" +
                       std::to_string(eof) + " cut after " + std::to_string(shortest) + ".." + std::to_string(longest) + " s");
    CHECK(told == silent);
    CHECK(eof == silent);
    CHECK(shortest >= 0.9);
    CHECK(longest < 3.0);
    CHECK(chat.describe() == "running");
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}

TEST_CASE("weft-chat --idle-timeout 1 cuts a slowloris that trickles bytes but never ends a line",
          "[reliability][fault][slowloris][chat]") {
    // One byte every 250 ms, never a "\n": input keeps arriving, but no line ever completes. An idle or
    // line timeout must cut it; we give it 5 s (five timeouts).
    Server chat(chat_argv({"--idle-timeout", "1"}));
    REQUIRE(chat.port() != 0);
    asio::io_context io;
    auto loris = recorded(io, chat.endpoint());
    REQUIRE(run_until(io, [&] { return loris->welcomed; }, 10s));
    std::size_t trickled = 0;
    asio::steady_timer tick(io);
    std::function<void(const boost::system::error_code&)> drip = [&](const boost::system::error_code& ec) {
        if (ec || loris->end) return;
        loris->client->send("z");
        ++trickled;
        tick.expires_after(250ms);
        tick.async_wait(drip);
    };
    drip({});
    const auto t0 = steady::now();
    run_until(io, [&] { return loris->end.has_value(); }, 5s);
    tick.cancel();
    const double alive_for = seconds_since(t0);
    figure("slowloris", std::string(loris->end ? "cut" : "NOT cut") + " after " + std::to_string(alive_for) +
                            " s, having trickled " + std::to_string(trickled) + " bytes without a newline");
    CHECK(loris->end.has_value());
    CHECK(chat.describe() == "running");
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}

TEST_CASE("weft-chat: a trickle that never ends a line is cut at --max-line bytes", "[reliability][fault][slowloris][chat]") {
    // What bounds a slowloris today: the line limit. 32 bytes at one per 20 ms.
    Server chat(chat_argv({"--max-line", "32"}));
    REQUIRE(chat.port() != 0);
    asio::io_context io;
    auto loris = recorded(io, chat.endpoint());
    REQUIRE(run_until(io, [&] { return loris->welcomed; }, 10s));
    std::size_t trickled = 0;
    asio::steady_timer tick(io);
    std::function<void(const boost::system::error_code&)> drip = [&](const boost::system::error_code& ec) {
        if (ec || loris->end) return;
        loris->client->send("z");
        ++trickled;
        tick.expires_after(20ms);
        tick.async_wait(drip);
    };
    drip({});
    const bool cut = run_until(io, [&] { return loris->end.has_value(); }, 10s);
    tick.cancel();
    figure("slowloris-max-line", "cut=" + std::to_string(cut) + " after " + std::to_string(trickled) + " bytes (max-line 32)");
    CHECK(cut);
    CHECK(loris->saw("! line too long (max 32 bytes)"));
    CHECK(trickled >= 32);
    CHECK(trickled < 64);
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}

TEST_CASE("weft-chat cuts a client that never reads at --send-buffer-limit and the others lose nothing",
          "[reliability][fault][slow][chat]") {
    // More for the sleeper than the kernel can buffer for it (its send buffer grows up to tcp_wmem's
    // maximum, 4 MiB by default), so that the rest has to queue in the server: 6 MiB by default.
    const int lines = static_cast<int>((tcp_wmem_max() + (2 << 20)) / 86);
    // 256 KiB: above what one 64 KiB read of these lines turns into (~80 KiB per recipient), see the
    // next test for why that matters.
    Server chat(chat_argv({"--send-buffer-limit", "262144"}));
    REQUIRE(chat.port() != 0);
    const long rss_before = vm_rss_kib(chat.pid());
    asio::io_context io;
    auto observer = recorded(io, chat.endpoint());
    REQUIRE(run_until(io, [&] { return observer->welcomed; }, 10s));
    auto sleeper = recorded(io, chat.endpoint(), {}, 4096);
    REQUIRE(run_until(io, [&] { return sleeper->welcomed; }, 10s));
    sleeper->client->pause_reading();
    auto talker = recorded(io, chat.endpoint());
    REQUIRE(run_until(io, [&] { return talker->welcomed; }, 10s));

    const std::string name = talker->client->chat_name();
    const std::string pad(80, '.');
    std::string all;
    for (int i = 0; i < lines; ++i) all += std::to_string(i) + pad + "\n";
    const auto t0 = steady::now();
    talker->client->send(std::move(all));
    const std::string cut_notice = "* " + sleeper->client->chat_name() + " left (too slow)";
    const std::string last = name + ": " + std::to_string(lines - 1) + pad;
    REQUIRE(run_until(io, [&] { return observer->saw(last) && talker->saw(last); }, 30s));
    const double seconds = seconds_since(t0);
    const long rss_after = vm_rss_kib(chat.pid());

    // The observer got every line, in order, once, and the cut notice somewhere among them.
    int next = 0, wrong = 0;
    std::size_t cut_at = 0;
    for (const auto& l : observer->lines) {
        if (l == cut_notice) cut_at = static_cast<std::size_t>(next);
        if (l.rfind(name + ": ", 0) != 0) continue;
        if (l != name + ": " + std::to_string(next) + pad) ++wrong;
        ++next;
    }
    // The sleeper finds a reset after what the kernel had taken.
    sleeper->client->start_reading();
    run_until(io, [&] { return sleeper->end.has_value(); }, 10s);
    figure("never-reads", "send-buffer-limit=262144 lines=" + std::to_string(lines) + " of 86 B; sleeper cut after line " +
                              std::to_string(cut_at) + "; relay took " + std::to_string(seconds) + " s; server VmRSS " +
                              std::to_string(rss_before) + " -> " + std::to_string(rss_after) + " KiB; sleeper saw " +
                              (sleeper->end ? sleeper->end->message() : std::string("nothing")));
    CHECK(observer->saw(cut_notice));
    CHECK(next == lines);
    CHECK(wrong == 0);
    CHECK(cut_at > 0);
    CHECK(sleeper->end.has_value());
    CHECK_FALSE(sleeper->saw(last));
    if (!sanitized) CHECK(rss_after - rss_before < 16 * 1024);
    CHECK(chat.describe() == "running");
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}

TEST_CASE("weft-chat --send-buffer-limit 65536 does not cut clients that read promptly when one sends a burst",
          "[reliability][fault][slow][chat]") {
    // 2,000 lines of 86 bytes in one write (172 KB). The server reads 64 KiB at a time and queues the
    // broadcast of all of it (~80 KiB per recipient with the name prefix) in one loop turn, before any of
    // it can be flushed. Every client here reads at once: none is "too slow", and all must stay.
    constexpr int lines = 2000;
    Server chat(chat_argv({"--send-buffer-limit", "65536"}));
    REQUIRE(chat.port() != 0);
    asio::io_context io;
    auto observer = recorded(io, chat.endpoint());
    REQUIRE(run_until(io, [&] { return observer->welcomed; }, 10s));
    auto talker = recorded(io, chat.endpoint());
    REQUIRE(run_until(io, [&] { return talker->welcomed; }, 10s));
    const std::string name = talker->client->chat_name();
    const std::string pad(80, '.');
    std::string all;
    for (int i = 0; i < lines; ++i) all += std::to_string(i) + pad + "\n";
    talker->client->send(std::move(all));
    const std::string last = name + ": " + std::to_string(lines - 1) + pad;
    run_until(io, [&] { return (observer->saw(last) && talker->saw(last)) || observer->end || talker->end; }, 20s);
    const auto relayed = std::count_if(observer->lines.begin(), observer->lines.end(),
                                       [&](const std::string& l) { return l.rfind(name + ": ", 0) == 0; });
    figure("burst-vs-limit", "send-buffer-limit=65536, burst of " + std::to_string(lines) +
                                 " lines: observer got " + std::to_string(relayed) + " then " +
                                 (observer->end ? observer->end->message() : std::string("stayed connected")) +
                                 "; talker " + (talker->end ? talker->end->message() : std::string("stayed connected")));
    CHECK_FALSE(observer->end.has_value());
    CHECK_FALSE(talker->end.has_value());
    CHECK(relayed == lines);
    CHECK(chat.describe() == "running");
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}

TEST_CASE("weft-chat survives a client that resets while it is writing to it", "[reliability][fault][reset][chat]") {
    Server chat(chat_argv({}));
    REQUIRE(chat.port() != 0);
    asio::io_context io;
    auto observer = recorded(io, chat.endpoint());
    REQUIRE(run_until(io, [&] { return observer->welcomed; }, 10s));
    std::vector<std::shared_ptr<Recorded>> victims;
    for (int i = 0; i < 8; ++i) {
        victims.push_back(recorded(io, chat.endpoint(), {}, 4096));
        REQUIRE(run_until(io, [&] { return victims.back()->welcomed; }, 10s));
        victims.back()->client->pause_reading();
    }
    // 4,000 lines of 100 bytes: each victim has ~400 KiB owed, below the 1 MiB limit, mostly queued in
    // the server because the victim reads nothing.
    const std::string pad(94, '.');
    std::string all;
    for (int i = 0; i < 4000; ++i) all += std::to_string(i % 10) + pad + "\n";
    observer->client->send(std::move(all));
    const std::string last = observer->client->chat_name() + ": 9" + pad;
    REQUIRE(run_until(io, [&] { return std::count(observer->lines.begin(), observer->lines.end(), last) == 400; }, 30s));
    for (auto& v : victims) v->client->reset();
    std::size_t left = 0;
    REQUIRE(run_until(io, [&] {
        left = 0;
        for (auto& v : victims) left += observer->saw("* " + v->client->chat_name() + " left") ? 1 : 0;
        return left == victims.size();
    }, 10s));
    observer->client->send("after the resets\n");
    const bool served = run_until(io, [&] { return observer->saw(observer->client->chat_name() + ": after the resets"); }, 10s);
    figure("reset-chat", "victims=8 with ~400 KiB owed each, reset; server alive=" + std::to_string(chat.alive()) +
                             " departures announced=" + std::to_string(left) + " still relaying=" + std::to_string(served));
    CHECK(served);
    CHECK(chat.describe() == "running");
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}

TEST_CASE("weft-chat cuts a client that sends a flood without a newline after --max-line bytes",
          "[reliability][fault][maxline][chat]") {
    const std::uint64_t flood = full_run() ? (1ULL << 30) : (64ULL << 20);
    Server chat(chat_argv({"--max-line", "4096"}));
    REQUIRE(chat.port() != 0);
    const long rss_before = vm_rss_kib(chat.pid());
    asio::io_context io;
    auto observer = recorded(io, chat.endpoint());
    REQUIRE(run_until(io, [&] { return observer->welcomed; }, 10s));
    auto flooder = recorded(io, chat.endpoint());
    REQUIRE(run_until(io, [&] { return flooder->welcomed; }, 10s));

    // Writes 64 KiB blocks until `flood` bytes are out or the server ended the connection.
    const std::string block(64 * 1024, 'x');
    std::uint64_t sent = 0;
    bool write_failed = false;
    std::function<void()> pump = [&] {
        if (flooder->end || sent >= flood) return;
        asio::async_write(flooder->client->socket(), asio::buffer(block), [&](const boost::system::error_code& ec, std::size_t n) {
            sent += n;
            if (ec) {
                write_failed = true;
                return;
            }
            pump();
        });
    };
    pump();
    const auto t0 = steady::now();
    const bool ended = run_until(io, [&] { return flooder->end.has_value() || write_failed || sent >= flood; }, 120s);
    const double seconds = seconds_since(t0);
    const long rss_after = vm_rss_kib(chat.pid());
    flooder->client->close();
    const std::string name = flooder->client->chat_name();
    run_until(io, [&] { return observer->saw("* " + name + " left"); }, 10s);
    figure("no-delimiter", "offered " + std::to_string(flood >> 20) + " MiB; sent " + std::to_string(sent) +
                               " bytes before the server ended it after " + std::to_string(seconds) + " s; server VmRSS " +
                               std::to_string(rss_before) + " -> " + std::to_string(rss_after) + " KiB");
    CHECK(ended);
    CHECK(flooder->saw("! line too long (max 4096 bytes)"));
    CHECK(flooder->end.has_value());
    CHECK(sent < flood);  // stopped long before the end of the flood
    CHECK(observer->saw("* " + name + " left"));
    if (!sanitized) CHECK(rss_after - rss_before < 16 * 1024);
    CHECK(chat.describe() == "running");
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}
#endif
