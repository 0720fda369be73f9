// Peers that do not read, against the real binaries (issue 10, items 3, 5 and 9): what the server holds
// for them must follow the limits it sets, in memory actually used (VmHWM, the peak resident set, read
// from /proc after resetting it through /proc/PID/clear_refs), not only in bytes counted.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>


#include "reliability.hpp"

using namespace reliability;

namespace {

/// A /proc/PID/status figure in KiB ("VmHWM:", "VmRSS:"), 0 if absent.
long status_kib(pid_t pid, std::string_view key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size()));
    }
    return 0;
}

/// Resets the process's VmHWM to its current VmRSS (Linux 4.0+), so that a later VmHWM is the peak of
/// what follows only.
bool reset_peak_rss(pid_t pid) {
    std::ofstream out("/proc/" + std::to_string(pid) + "/clear_refs");
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

// ------------------------------------------------------------------------------------------ weft-echo

constexpr std::size_t block_size = 64 * 1024;
constexpr std::size_t line_size = 64;

/// Block `k` of the byte stream the pusher sends: 64-byte lines, each its number in ten digits, letters
/// and "\n", so that a lost, repeated or reordered piece shows.
std::string make_block(std::uint64_t k) {
    std::string b;
    b.reserve(block_size);
    for (std::uint64_t n = k * (block_size / line_size); b.size() < block_size; ++n) {
        char digits[11];
        std::snprintf(digits, sizeof digits, "%010llu", static_cast<unsigned long long>(n));
        b.append(digits, 10);
        b.append(line_size - 11, static_cast<char>('a' + n % 26));
        b.push_back('\n');
    }
    return b;
}

/// Compares what comes back with the stream, in order.
class StreamCheck {
public:
    void add(const char* p, std::size_t n) {
        while (n > 0) {
            if (got_ / block_size != k_ || block_.empty()) {
                k_ = got_ / block_size;
                block_ = make_block(k_);
            }
            const std::size_t off = got_ % block_size;
            const std::size_t m = std::min(n, block_size - off);
            if (std::memcmp(p, block_.data() + off, m) != 0) same_ = false;
            got_ += m;
            p += m;
            n -= m;
        }
    }
    [[nodiscard]] std::uint64_t got() const noexcept { return got_; }
    [[nodiscard]] bool same() const noexcept { return same_; }

private:
    std::uint64_t got_ = 0;
    std::uint64_t k_ = 0;
    std::string block_;
    bool same_ = true;
};

int connect_loopback(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
    return fd;
}

/// Sends the stream without reading until `cap` bytes are sent or the socket has accepted nothing for
/// `stalled` (the server stopped reading and every buffer on the way is full). Returns the bytes sent.
std::uint64_t push_until_refused(int fd, std::uint64_t cap, std::chrono::milliseconds stalled) {
    std::uint64_t pushed = 0, k = 0;
    std::string block = make_block(0);
    std::size_t off = 0;
    while (pushed < cap) {
        const ssize_t n = ::send(fd, block.data() + off, block.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            pushed += static_cast<std::uint64_t>(n);
            off += static_cast<std::size_t>(n);
            if (off == block.size()) {
                block = make_block(++k);
                off = 0;
            }
            continue;
        }
        REQUIRE((n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)));
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(stalled.count())) == 0) break;
    }
    return pushed;
}

/// Reads until `expected` bytes came back (or `limit` passes), checking them against the stream.
StreamCheck read_back(int fd, std::uint64_t expected, steady::duration limit) {
    StreamCheck check;
    std::vector<char> buf(256 * 1024);
    const auto t0 = steady::now();
    while (check.got() < expected && steady::now() - t0 < limit) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n > 0) {
            check.add(buf.data(), static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) break;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
        pollfd p{fd, POLLIN, 0};
        ::poll(&p, 1, 1000);
    }
    return check;
}

struct Received {
    std::string data;
    bool eof = false;
};

/// Reads from the non-blocking `fd` until `want` bytes, EOF or `limit`.
Received receive(int fd, std::size_t want, steady::duration limit) {
    Received r;
    const auto t0 = steady::now();
    char buf[4096];
    while (r.data.size() < want && steady::now() - t0 < limit) {
        const ssize_t n = ::recv(fd, buf, std::min(sizeof buf, want - r.data.size()), 0);
        if (n > 0) {
            r.data.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) {
            r.eof = true;
            break;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
        pollfd p{fd, POLLIN, 0};
        ::poll(&p, 1, 100);
    }
    return r;
}

}  // namespace

#ifdef WEFT_ECHO_BINARY

TEST_CASE("weft-echo holds a few MiB at most for a peer that sends without reading, and then echoes it all",
          "[reliability][fault][slow][memory][echo]") {
    // Issue 10, item 5: the echo stops reading while its output is backed up (the transport as its own
    // producer), so a peer that pushes without reading fills its own socket buffers, not the server's
    // memory. The pusher offers 512 MiB and stops when the socket has refused everything for a second;
    // without back-pressure the server reads all of it (RSS +512 MiB).
    const std::string mode = GENERATE(std::string("raw"), std::string("line"));
    constexpr std::uint64_t offered = 512ull << 20;
    constexpr long max_growth_kib = 4 * 1024;
    Server echo({WEFT_ECHO_BINARY, "--host", "127.0.0.1", "--port", "0", "--mode", mode, "--log-level", "warning"});
    REQUIRE(echo.port() != 0);
    const int fd = connect_loopback(echo.port());
    const long rss_before = status_kib(echo.pid(), "VmRSS:");
    REQUIRE(reset_peak_rss(echo.pid()));
    const auto t0 = steady::now();
    const std::uint64_t pushed = push_until_refused(fd, offered, 1000ms);
    const double push_seconds = seconds_since(t0);
    const long peak = status_kib(echo.pid(), "VmHWM:");
    // A line echo returns whole lines only: the pusher may have stopped inside one.
    const std::uint64_t expected = mode == "line" ? pushed - pushed % line_size : pushed;
    const auto t1 = steady::now();
    const StreamCheck back = read_back(fd, expected, 60s);
    const double read_seconds = seconds_since(t1);
    ::close(fd);
    figure("echo non-reader " + mode, "offered " + std::to_string(offered >> 20) + " MiB; the server stopped taking it after " +
                                         std::to_string(pushed) + " B (" + std::to_string(push_seconds) +
                                         " s, incl. the 1 s stall check); server VmRSS " + std::to_string(rss_before) +
                                         " KiB, peak VmHWM " + std::to_string(peak) + " KiB (+" +
                                         std::to_string(peak - rss_before) + " KiB); all " + std::to_string(back.got()) +
                                         " B echoed back in " + std::to_string(read_seconds) + " s");
    CHECK(pushed < offered);  // it stopped reading
    if (!sanitized) CHECK(peak - rss_before <= max_growth_kib);
    CHECK(back.got() == expected);
    CHECK(back.same());
    CHECK(echo.describe() == "running");
    echo.signal(SIGTERM);
    CHECK(exited_zero(echo.wait(20s)));
}

TEST_CASE("weft-echo --max-line counts the newline, as weft-chat does, and logs the line it cuts",
          "[reliability][fault][maxline][echo]") {
    // Issue 10, item 9: with --max-line 8, "1234567\n" (8 bytes) is echoed and "12345678\n" (9) ends the
    // connection with a warning naming it. stderr joins stdout so that the log can be read.
    weft_test::ChildProcess echo({"/bin/sh", "-c",
                                  "exec \"$0\" --host 127.0.0.1 --port 0 --mode line --max-line 8 --log-level warning 2>&1",
                                  WEFT_ECHO_BINARY});
    const std::uint16_t port = echo.read_listening_port();
    REQUIRE(port != 0);
    const int fd = connect_loopback(port);
    sockaddr_in local{};
    socklen_t local_size = sizeof local;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) == 0);
    const std::string peer = "127.0.0.1:" + std::to_string(ntohs(local.sin_port));
    REQUIRE(::send(fd, "1234567\n", 8, MSG_NOSIGNAL) == 8);
    const Received first = receive(fd, 8, 10s);
    CHECK(first.data == "1234567\n");
    REQUIRE(::send(fd, "12345678\nafter\n", 15, MSG_NOSIGNAL) == 15);
    const Received rest = receive(fd, 64, 10s);
    ::close(fd);
    CHECK(rest.eof);
    CHECK(rest.data.empty());  // neither the long line nor what followed it
    std::optional<std::string> log;
    for (auto line = echo.read_line(10s); line; line = echo.read_line(10s)) {
        if (line->find("line too long") != std::string::npos) {
            log = line;
            break;
        }
    }
    REQUIRE(log.has_value());
    CHECK(log->find("[warning]") != std::string::npos);
    CHECK(log->find("[conn ") != std::string::npos);
    CHECK(log->find(peer) != std::string::npos);
    echo.signal(SIGTERM);
    CHECK(exited_zero(echo.wait(20s)));
}

#endif  // WEFT_ECHO_BINARY

#ifdef WEFT_CHAT_BINARY

TEST_CASE("weft-chat: clients that never read cost at most 1.5x --send-buffer-limit each under a flood of 6-byte lines",
          "[reliability][fault][slow][memory][chat]") {
    // Issue 10, item 3: 20 clients stop reading after their welcome; a talker named "a" sends "b" lines in
    // rounds of 4,096 (each round waits for its own echo), so each recipient gets "a: b\r\n", 6 bytes, per
    // line until it is cut as too slow at the default limit (1 MiB). Before the fix each queued line cost
    // a queue entry and a shared buffer, ~10 MiB per client under a 1 MiB limit.
    constexpr int sleepers = 20;
    constexpr double limit_kib = 1024;  // weft-chat's default --send-buffer-limit, 1 MiB
    constexpr std::size_t round_lines = 4096;
    constexpr std::size_t max_lines = 8u << 20;  // a bound only: far more than needed to cut them all
    Server chat({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "error",
                 "--flood-limit", "0"});  // the flood is the point (issue 10, item 6 limits it otherwise)
    REQUIRE(chat.port() != 0);
    asio::io_context io;
    std::vector<std::shared_ptr<LineClient>> sleeping;
    int welcomed = 0;
    for (int i = 0; i < sleepers; ++i) {
        auto c = std::make_shared<LineClient>(io, 4096);
        c->on_line = [&welcomed](LineClient& self, std::string_view line) {
            if (line.rfind("Welcome to the chat server, ", 0) != 0) return;
            ++welcomed;
            self.pause_reading();
        };
        c->connect(chat.endpoint());
        sleeping.push_back(c);
    }
    REQUIRE(run_until(io, [&] { return welcomed == sleepers; }, 20s));

    auto talker = std::make_shared<LineClient>(io);
    bool talker_in = false, named = false;
    int cut = 0;
    std::size_t sent = 0, echoed = 0;
    std::string round;
    for (std::size_t i = 0; i < round_lines; ++i) round += "b\n";
    talker->on_line = [&](LineClient& self, std::string_view line) {
        if (line == "a: b") {
            if (++echoed == sent && sent < max_lines && cut < sleepers) {
                self.send(round);
                sent += round_lines;
            }
        } else if (line.rfind("Welcome to the chat server, ", 0) == 0) {
            talker_in = true;
        } else if (line == "* " + self.chat_name() + " is now known as a") {
            named = true;
        } else if (line.size() > 16 && line.substr(line.size() - 16) == " left (too slow)") {
            ++cut;
        }
    };
    talker->connect(chat.endpoint());
    REQUIRE(run_until(io, [&] { return talker_in; }, 10s));
    talker->send("/nick a\n");
    REQUIRE(run_until(io, [&] { return named; }, 10s));

    const long rss_before = status_kib(chat.pid(), "VmRSS:");
    REQUIRE(reset_peak_rss(chat.pid()));
    const auto t0 = steady::now();
    talker->send(round);
    sent = round_lines;
    const bool all_cut = run_until(io, [&] { return cut == sleepers; }, 90s);
    const double seconds = seconds_since(t0);
    const long peak = status_kib(chat.pid(), "VmHWM:");
    const double per_client_kib = static_cast<double>(peak - rss_before) / sleepers;
    figure("chat non-readers 6-byte lines",
           std::to_string(sleepers) + " non-readers, default --send-buffer-limit (1 MiB); " + std::to_string(echoed) +
               " lines of 6 B relayed in " + std::to_string(seconds) + " s; " + std::to_string(cut) +
               " cut as too slow; server VmRSS " + std::to_string(rss_before) + " KiB, peak VmHWM " +
               std::to_string(peak) + " KiB = " + std::to_string(per_client_kib) + " KiB per non-reader (" +
               std::to_string(per_client_kib / limit_kib) + "x the limit)");
    CHECK(all_cut);
    if (!sanitized) CHECK(per_client_kib <= 1.5 * limit_kib);
    CHECK(chat.describe() == "running");
    chat.signal(SIGTERM);
    CHECK(exited_zero(chat.wait(20s)));
}

#endif  // WEFT_CHAT_BINARY
