// weft-chat's abuse limits against the real binary (issue 10, items 4 and 6), with the helpers of the
// reliability tests (tests/reliability/reliability.hpp): a mass departure of thousands of clients that
// never read, a flooder whose input is taken at the budgeted rate while the others are served, the
// per-address limit and the first-line deadline. Figures go to stdout as "FIGURE [name] ...".
#include <catch2/catch.hpp>

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <map>

#include "reliability/reliability.hpp"

using namespace reliability;

#ifndef WEFT_CHAT_BINARY
#error "WEFT_CHAT_BINARY must name the weft-chat executable"
#endif

namespace {

std::vector<std::string> chat_argv(std::vector<std::string> extra) {
    std::vector<std::string> argv{WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "error"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

/// Reads a process's VmRSS every few milliseconds on `io` and keeps the largest value seen.
class RssSampler {
public:
    RssSampler(asio::io_context& io, pid_t pid) : timer_(io), pid_(pid) { arm(); }
    void stop() {
        stopped_ = true;
        timer_.cancel();
    }
    [[nodiscard]] long peak_kib() const noexcept { return peak_; }
    void reset_peak() { peak_ = vm_rss_kib(pid_); }

private:
    void arm() {
        timer_.expires_after(10ms);
        timer_.async_wait([this](const boost::system::error_code& ec) {
            if (ec || stopped_) return;
            peak_ = std::max(peak_, vm_rss_kib(pid_));
            arm();
        });
    }
    asio::steady_timer timer_;
    pid_t pid_;
    long peak_ = 0;
    bool stopped_ = false;
};

/// A count of departures in a line: "* NAME left (idle)" is one, "* N others left" is N.
std::size_t departures_in(std::string_view line) {
    if (!line.starts_with("* ")) return 0;
    if (line.ends_with(" left (idle)")) return 1;
    if (line.ends_with(" others left")) return std::stoul(std::string(line.substr(2)));
    return 0;
}

}  // namespace

TEST_CASE("weft-chat: thousands of non-reading clients timing out together cost bounded memory and no stall",
          "[reliability][chat][departures]") {
    // WEFT_RELIABILITY_DEPARTURES overrides the count (the issue saw 6,000).
    const char* env_n = std::getenv("WEFT_RELIABILITY_DEPARTURES");
    const std::size_t n = env_n != nullptr ? std::stoul(env_n) : 5000;
    constexpr std::size_t max_pending = 256;  // connects not yet announced: stay within the listen backlog
    REQUIRE(raise_fd_limit() >= n + 64);
    // Idle timeout long enough for all of them to join first; the observer keeps itself active.
    Server chat(chat_argv({"--idle-timeout", "4", "--first-line-timeout", "0", "--max-per-address", "0"}));
    REQUIRE(chat.port() != 0);
    REQUIRE(serving_fd_baseline(chat, "", "Welcome") > 0);
    const long rss_start = vm_rss_kib(chat.pid());

    asio::io_context io;
    RssSampler sampler(io, chat.pid());
    std::size_t joined = 0, departed = 0, observer_closed = 0;
    long rss_joined = 0;
    double wave_start = -1, wave_end = -1, worst_rtt = 0, worst_rtt_in_wave = 0;
    const auto t0 = steady::now();
    std::vector<std::shared_ptr<LineClient>> silent;
    silent.reserve(n);

    auto observer = std::make_shared<LineClient>(io);
    std::map<std::uint64_t, steady::time_point> pings;  // sequence -> sent
    std::uint64_t next_ping = 0;
    asio::steady_timer ping_timer(io);
    std::function<void()> ping = [&] {
        // Every 200 ms: its idle timer never fires, and the round trip shows whether the loop stalls.
        pings[next_ping] = steady::now();
        observer->send("ping " + std::to_string(next_ping++) + "\n");
        ping_timer.expires_after(200ms);
        ping_timer.async_wait([&](const boost::system::error_code& ec) {
            if (!ec) ping();
        });
    };
    std::function<void()> connect_more = [&] {
        while (silent.size() < n && silent.size() - joined < max_pending) {
            auto c = std::make_shared<LineClient>(io, 4096);  // a small window: it fills up at once
            c->pause_reading();                               // and it never reads
            silent.push_back(c);
            c->connect(chat.endpoint());
        }
    };
    observer->on_line = [&](LineClient& self, std::string_view line) {
        if (line.starts_with("Welcome to the chat server, ")) {
            ping();
            connect_more();
        } else if (line.starts_with("* ") && line.ends_with(" joined")) {
            if (++joined == n) {
                rss_joined = vm_rss_kib(chat.pid());
                sampler.reset_peak();
            }
            connect_more();
        } else if (const std::size_t d = departures_in(line); d != 0) {
            if (wave_start < 0) wave_start = seconds_since(t0);
            departed += d;
            if (departed >= n) {
                wave_end = seconds_since(t0);
                io.stop();
            }
        } else if (const std::string prefix = self.chat_name() + ": ping "; line.starts_with(prefix)) {
            const auto seq = std::stoull(std::string(line.substr(prefix.size())));
            const double rtt = std::chrono::duration<double>(steady::now() - pings[seq]).count();
            pings.erase(seq);
            worst_rtt = std::max(worst_rtt, rtt);
            if (wave_start >= 0) worst_rtt_in_wave = std::max(worst_rtt_in_wave, rtt);
        }
    };
    observer->on_close = [&](LineClient&, const boost::system::error_code&) {
        ++observer_closed;
        io.stop();
    };
    observer->connect(chat.endpoint());
    Deadline deadline(io, 120s);
    io.run();
    sampler.stop();
    INFO("joined " << joined << " departed " << departed << " observer closed " << observer_closed);
    REQUIRE_FALSE(deadline.expired());
    REQUIRE(observer_closed == 0);
    REQUIRE(joined == n);
    REQUIRE(departed == n);
    // Pings still in flight at the end count with their age so far: a stall that outlasts the wave shows.
    for (const auto& [seq, sent] : pings) {
        worst_rtt_in_wave = std::max(worst_rtt_in_wave, std::chrono::duration<double>(steady::now() - sent).count());
    }
    const long rss_peak = std::max(sampler.peak_kib(), vm_rss_kib(chat.pid()));
    // Afterwards the memory goes back: the connections are freed and the heap trimmed (1 s later).
    long rss_after = 0;
    const bool returned = poll_until(
        [&] {
            rss_after = vm_rss_kib(chat.pid());
            return rss_after - rss_start < 24 * 1024;
        },
        15s);
    figure("chat-departures", "clients=" + std::to_string(n) + " wave_s=" + std::to_string(wave_end - wave_start) +
                                  " worst_ping_rtt_in_wave_s=" + std::to_string(worst_rtt_in_wave) +
                                  " worst_ping_rtt_s=" + std::to_string(worst_rtt));
    figure("chat-departures", "VmRSS start=" + std::to_string(rss_start) + "KiB all_joined=" +
                                  std::to_string(rss_joined) + "KiB peak_in_wave=" + std::to_string(rss_peak) +
                                  "KiB after=" + std::to_string(rss_after) + "KiB");
    CHECK(worst_rtt_in_wave < 1.0);  // was a 4.5 s stall with 6,000
    if (!sanitized) {
        CHECK(rss_peak - rss_joined < 64 * 1024);  // was 31 MB -> 975 MB with 6,000
        CHECK(returned);                           // 205-291 MB stayed
    }
    CHECK(chat.describe() == "running");
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}

TEST_CASE("weft-chat --flood-limit: a flooder's lines are taken at the budgeted rate, in order, while others are served",
          "[reliability][chat][flood]") {
    // 50 lines/s with 250 saved up: 400 lines at once take about (400 - 251) / 50 = 3 s to get through.
    constexpr int rate = 50, lines = 400;
    Server chat(chat_argv({"--flood-limit", std::to_string(rate)}));
    REQUIRE(chat.port() != 0);
    asio::io_context io;
    auto flooder = std::make_shared<LineClient>(io);
    auto talker = std::make_shared<LineClient>(io);
    int relayed = 0, out_of_order = 0, closed = 0;
    double first_at = -1, last_at = -1, worst_rtt = 0;
    steady::time_point ping_sent{};
    int pongs = 0;
    const auto t0 = steady::now();
    asio::steady_timer ping_timer(io);
    std::function<void()> ping = [&] {
        ping_sent = steady::now();
        talker->send("ping\n");
    };
    flooder->on_line = [&](LineClient& self, std::string_view line) {
        if (line.starts_with("Welcome")) {
            talker->connect(chat.endpoint());
            return;
        }
        const std::string prefix = self.chat_name() + ": flood ";
        if (!line.starts_with(prefix)) return;
        if (first_at < 0) first_at = seconds_since(t0);
        if (std::stoi(std::string(line.substr(prefix.size()))) != relayed) ++out_of_order;
        if (++relayed == lines) {
            last_at = seconds_since(t0);
            io.stop();
        }
    };
    talker->on_line = [&](LineClient& self, std::string_view line) {
        if (line.starts_with("Welcome")) {
            std::string burst;
            for (int k = 0; k < lines; ++k) burst += "flood " + std::to_string(k) + "\n";
            flooder->send(burst);
            ping();
        } else if (line == self.chat_name() + ": ping") {
            ++pongs;
            worst_rtt = std::max(worst_rtt, std::chrono::duration<double>(steady::now() - ping_sent).count());
            // The talker sends one line per 100 ms, well within its own budget, throughout the flood.
            ping_timer.expires_after(100ms);
            ping_timer.async_wait([&](const boost::system::error_code& ec) {
                if (!ec) ping();
            });
        }
    };
    flooder->on_close = talker->on_close = [&](LineClient&, const boost::system::error_code&) {
        ++closed;
        io.stop();
    };
    flooder->connect(chat.endpoint());
    Deadline deadline(io, 30s);
    io.run();
    REQUIRE_FALSE(deadline.expired());
    REQUIRE(closed == 0);
    REQUIRE(relayed == lines);
    const double took = last_at - first_at;
    figure("chat-flood", "lines=" + std::to_string(lines) + " flood_limit=" + std::to_string(rate) +
                             " relayed_over_s=" + std::to_string(took) + " rate_after_burst=" +
                             std::to_string((lines - 5 * rate) / took) + "/s talker_pongs=" + std::to_string(pongs) +
                             " talker_worst_rtt_s=" + std::to_string(worst_rtt));
    CHECK(out_of_order == 0);
    CHECK(took > 0.8 * (lines - 5 * rate - 1) / rate);  // held to the rate (all at once without the budget)
    CHECK(took < 3.0 * (lines - 5 * rate) / rate);
    CHECK(pongs >= 10);
    CHECK(worst_rtt < 0.5);  // the others are served meanwhile
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}

TEST_CASE("weft-chat --max-per-address: the connection past the limit is told why and closed, a freed place is taken",
          "[reliability][chat][per-address]") {
    Server chat(chat_argv({"--max-per-address", "3"}));
    REQUIRE(chat.port() != 0);
    asio::io_context io;
    std::vector<std::shared_ptr<LineClient>> clients;
    std::vector<std::string> refused_lines;
    int welcomed = 0, refused_closed = 0;
    std::function<void()> add = [&] {
        auto c = std::make_shared<LineClient>(io);
        const std::size_t index = clients.size();
        c->on_line = [&, index](LineClient&, std::string_view line) {
            if (line.starts_with("Welcome")) {
                ++welcomed;
                if (welcomed == 3) add();  // the fourth: one too many
                if (welcomed == 4) io.stop();
            } else if (index == 3) {
                refused_lines.emplace_back(line);
            }
        };
        c->on_close = [&, index](LineClient&, const boost::system::error_code&) {
            if (index != 3) return io.stop();  // nobody else may be closed
            ++refused_closed;
            clients[0]->close();  // a place frees up: the fifth gets it
            add();
        };
        clients.push_back(c);
        c->connect(chat.endpoint());
    };
    for (int k = 0; k < 3; ++k) add();
    Deadline deadline(io, 20s);
    io.run();
    REQUIRE_FALSE(deadline.expired());
    CHECK(refused_lines == std::vector<std::string>{"! too many connections from your address (max 3)"});
    CHECK(refused_closed == 1);
    CHECK(welcomed == 4);  // three, then the fifth once the first had gone
    REQUIRE(clients.size() == 5);
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}

TEST_CASE("weft-chat --first-line-timeout: a client that never completes a line is cut, one that talked stays",
          "[reliability][chat][first-line]") {
    Server chat(chat_argv({"--first-line-timeout", "1", "--idle-timeout", "0"}));
    REQUIRE(chat.port() != 0);
    asio::io_context io;
    auto silent = std::make_shared<LineClient>(io);
    auto talker = std::make_shared<LineClient>(io);
    std::vector<std::string> silent_lines;
    bool talker_saw_it = false, silent_closed = false, talker_closed = false;
    steady::time_point connected{};
    double cut_after = -1;
    silent->on_connect = [&](LineClient&) { connected = steady::now(); };
    silent->on_line = [&](LineClient& self, std::string_view line) {
        silent_lines.emplace_back(line);
        if (line.starts_with("Welcome")) {
            self.send("no newline yet");  // a trickle is not a line
            talker->connect(chat.endpoint());
        }
    };
    silent->on_close = [&](LineClient&, const boost::system::error_code&) {
        silent_closed = true;
        cut_after = std::chrono::duration<double>(steady::now() - connected).count();
        if (talker_saw_it) io.stop();
    };
    talker->on_line = [&](LineClient& self, std::string_view line) {
        if (line.starts_with("Welcome")) self.send("hello\n");
        if (line == "* " + silent->chat_name() + " left (idle)") {
            talker_saw_it = true;
            if (silent_closed) io.stop();
        }
    };
    talker->on_close = [&](LineClient&, const boost::system::error_code&) {
        talker_closed = true;
        io.stop();
    };
    silent->connect(chat.endpoint());
    Deadline deadline(io, 20s);
    io.run();
    REQUIRE_FALSE(deadline.expired());
    CHECK_FALSE(talker_closed);
    CHECK(talker_saw_it);
    REQUIRE(!silent_lines.empty());  // the welcome, the talker's join and line, then why it is cut
    CHECK(silent_lines.back() == "! no line within 1 s of connecting, disconnecting");
    CHECK(cut_after > 0.9);
    CHECK(cut_after < 5.0);
    figure("chat-first-line", "silent client cut after " + std::to_string(cut_after) + " s (--first-line-timeout 1)");
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}
