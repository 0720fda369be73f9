// No data lost under load: 1000 weft-chat clients each send numbered lines; every receiver checks, per
// sender, that the numbers arrive in order, once, and all of them, including from senders that quit.
#include <catch2/catch.hpp>

#include <charconv>

#include "reliability.hpp"

using namespace reliability;

#ifdef WEFT_CHAT_BINARY
TEST_CASE("weft-chat under load delivers every line to every client still connected in order and once",
          "[reliability][load][noloss][chat]") {
    constexpr std::size_t n = 1000;
    const int per_sender = full_run() ? 100 : 20;  // 20,000 lines (20 million deliveries) in CI
    const int per_quitter = per_sender / 2;       // every tenth client quits halfway
    constexpr int window = 4;                      // own lines in flight: bounds what the server holds
    REQUIRE(raise_fd_limit() >= n + 64);
    Server chat({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "error",
        // Issue 10's input budget and per-address limit off: these tests send bursts from many loopback
        // clients on purpose (tests/chat/test_chat_limits.cpp covers the limits).
        "--flood-limit", "0", "--max-per-address", "0"});
    REQUIRE(chat.port() != 0);

    asio::io_context io;  // before the clients: their sockets must go before it
    struct Client {
        std::shared_ptr<LineClient> conn;
        bool quitter = false;
        int limit = 0;     // lines it sends
        int sent = 0;      // lines sent
        int echoed = 0;    // own lines heard back
        bool quit_sent = false;
        bool done = false;  // non-quitter: heard everything; quitter: got EOF after "* bye"
        std::vector<int> next;     // per sender index: the next number expected
        std::vector<char> gone;    // per sender index: its "left" notice came
        std::uint64_t heard = 0;   // numbered lines heard
        std::size_t departures = 0;
    };
    std::vector<Client> clients(n);
    std::vector<int> by_port(65536, -1);
    std::size_t welcomed = 0, finished = 0, errors = 0, early_close = 0, cut = 0;
    std::uint64_t deliveries = 0;
    std::string first_error;
    const std::size_t quitters = n / 10;
    const std::uint64_t expected_heard =
        static_cast<std::uint64_t>(n - quitters) * per_sender + static_cast<std::uint64_t>(quitters) * per_quitter;
    bool sending = false;

    Deadline deadline(io, full_run() ? 600s : 90s);
    // A checker error means the test has failed, and a receiver that missed a line would wait for it
    // until the deadline: stop at once.
    auto fail = [&](std::string what) {
        if (errors++ == 0) first_error = std::move(what);
        io.stop();
    };
    std::function<void(Client&)> pump = [&](Client& c) {
        while (c.sent < c.limit && c.sent - c.echoed < window) {
            c.conn->send(std::to_string(c.sent) + "\n");
            ++c.sent;
        }
        if (c.quitter && c.sent == c.limit && !c.quit_sent) {
            c.quit_sent = true;
            c.conn->send("/quit\n");
        }
    };
    auto check_done = [&](Client& c) {
        if (c.done || c.quitter) return;
        if (c.heard == expected_heard && c.departures == quitters) {
            c.done = true;
            if (++finished == n) io.stop();
        }
    };
    auto start_sending = [&] {
        sending = true;
        for (auto& c : clients) pump(c);
    };

    std::size_t started = 0;
    std::function<void()> connect_more = [&] {
        while (started < n && started - welcomed < 256) {
            const std::size_t i = started++;
            Client& me = clients[i];
            me.quitter = i % 10 == 9;
            me.limit = me.quitter ? per_quitter : per_sender;
            me.next.assign(n, 0);
            me.gone.assign(n, 0);
            me.conn = std::make_shared<LineClient>(io);
            me.conn->on_connect = [&, i](LineClient& self) { by_port[self.local_port()] = static_cast<int>(i); };
            me.conn->on_line = [&, i](LineClient& self, std::string_view line) {
                Client& c = clients[i];
                // "127.0.0.1:PORT: N", "* 127.0.0.1:PORT left", or the rest.
                if (line.rfind("127.0.0.1:", 0) == 0) {
                    unsigned port = 0;
                    int seq = -1;
                    const char* p = line.data() + 10;
                    const char* end = line.data() + line.size();
                    auto r1 = std::from_chars(p, end, port);
                    if (r1.ptr + 2 > end || r1.ptr[0] != ':' || r1.ptr[1] != ' ') return fail("bad line " + std::string(line));
                    auto r2 = std::from_chars(r1.ptr + 2, end, seq);
                    if (r2.ptr != end || port > 65535 || by_port[port] < 0) return fail("bad line " + std::string(line));
                    const auto from = static_cast<std::size_t>(by_port[port]);
                    ++deliveries;
                    if (c.gone[from]) fail("line after departure: " + std::string(line));
                    if (seq != c.next[from]) {
                        fail("client " + std::to_string(i) + " expected " + std::to_string(c.next[from]) + " from " +
                             std::to_string(from) + ", got " + std::to_string(seq));
                    }
                    c.next[from] = seq + 1;
                    ++c.heard;
                    if (from == i) {
                        ++c.echoed;
                        pump(c);
                    }
                    check_done(c);
                } else if (line.rfind("* 127.0.0.1:", 0) == 0 && line.ends_with(" left")) {
                    unsigned port = 0;
                    std::from_chars(line.data() + 12, line.data() + line.size(), port);
                    if (port > 65535 || by_port[port] < 0) return fail("bad notice " + std::string(line));
                    const auto from = static_cast<std::size_t>(by_port[port]);
                    // Everything it sent before leaving must have arrived, before the notice.
                    if (!clients[from].quitter || c.next[from] != clients[from].limit) {
                        fail("client " + std::to_string(i) + " saw " + std::string(line) + " after " +
                             std::to_string(c.next[from]) + " of its lines");
                    }
                    c.gone[from] = 1;
                    ++c.departures;
                    check_done(c);
                } else if (line.rfind("Welcome", 0) == 0) {
                    if (++welcomed == n) start_sending();
                    connect_more();
                } else if (line.ends_with("(too slow)")) {
                    ++cut;
                } else if (line != "* bye" && !line.ends_with(" joined")) {
                    fail("unexpected line " + std::string(line));
                }
                (void)self;
            };
            me.conn->on_close = [&, i](LineClient&, const boost::system::error_code&) {
                Client& c = clients[i];
                if (!c.quitter || !c.quit_sent) {
                    ++early_close;
                    io.stop();
                    return;
                }
                c.done = true;
                if (++finished == n) io.stop();
            };
            me.conn->connect(chat.endpoint());
        }
    };
    connect_more();
    // A line lost at the end of a sender's run breaks no sequence; it only leaves receivers waiting. Once
    // sending has begun, ten seconds without a single delivery ends the run (it then fails as incomplete).
    asio::steady_timer watchdog(io);
    std::uint64_t last_deliveries = 0;
    int quiet_seconds = 0;
    bool stalled = false;
    std::function<void(const boost::system::error_code&)> watch = [&](const boost::system::error_code& ec) {
        if (ec) return;
        quiet_seconds = (sending && deliveries == last_deliveries) ? quiet_seconds + 1 : 0;
        last_deliveries = deliveries;
        if (quiet_seconds == 10) {
            stalled = true;
            return io.stop();
        }
        watchdog.expires_after(1s);
        watchdog.async_wait(watch);
    };
    watch({});
    const auto t0 = steady::now();
    io.run();
    watchdog.cancel();
    const double seconds = seconds_since(t0);
    std::size_t incomplete = 0;
    for (const auto& c : clients) incomplete += c.done ? 0 : 1;
    const std::uint64_t lines_sent = static_cast<std::uint64_t>(n - quitters) * per_sender +
                                     static_cast<std::uint64_t>(quitters) * per_quitter;
    figure("no-loss", "clients=" + std::to_string(n) + " (" + std::to_string(quitters) + " quit halfway) lines sent=" +
                          std::to_string(lines_sent) + " deliveries checked=" + std::to_string(deliveries) + " in " +
                          std::to_string(seconds) + " s (" + std::to_string(static_cast<double>(deliveries) / seconds) +
                          " per s, joins included) errors=" + std::to_string(errors) + " incomplete=" +
                          std::to_string(incomplete) + " server CPU " + std::to_string(cpu_seconds(chat.pid())) + " s");
    INFO("first error: " << first_error);
    CHECK_FALSE(stalled);
    REQUIRE_FALSE(deadline.expired());
    CHECK(sending);
    CHECK(errors == 0);
    CHECK(early_close == 0);
    CHECK(cut == 0);
    CHECK(incomplete == 0);
    CHECK(chat.describe() == "running");
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}
#endif
