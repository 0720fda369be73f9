#pragma once
// Helpers of the logging and signal process tests: a server child whose stderr is a pipe the test holds,
// a bounded line reader for that pipe, and one timed connect/echo/close cycle on plain sockets.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reliability.hpp"
#include "support/child_process.hpp"

namespace log_test {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// A server child process whose stderr is the write end of a pipe; the test keeps the read end (and may
/// never read it, or close it). The port comes from its "listening on" line.
class ServerWithStderrPipe {
public:
    explicit ServerWithStderrPipe(std::vector<std::string> argv) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        weft_test::ChildOptions options;
        options.stderr_fd = fds[1];
        child_ = std::make_unique<weft_test::ChildProcess>(std::move(argv), options);
        ::close(fds[1]);
        err_ = fds[0];
        port_ = child_->read_listening_port();
    }
    ~ServerWithStderrPipe() { close_stderr(); }
    ServerWithStderrPipe(const ServerWithStderrPipe&) = delete;
    ServerWithStderrPipe& operator=(const ServerWithStderrPipe&) = delete;

    weft_test::ChildProcess& child() { return *child_; }
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

    /// The log reader goes away: the server's next write to stderr gets EPIPE (or SIGPIPE).
    void close_stderr() {
        if (err_ >= 0) ::close(err_);
        err_ = -1;
    }

    /// Reads stderr until a line containing `needle` came (returned), or `limit` passed (nullopt). Every
    /// line read is kept in lines().
    std::optional<std::string> read_stderr_until(std::string_view needle, std::chrono::milliseconds limit) {
        const auto deadline = steady::now() + limit;
        for (;;) {
            for (auto nl = buffered_.find('\n'); nl != std::string::npos; nl = buffered_.find('\n')) {
                std::string line = buffered_.substr(0, nl);
                buffered_.erase(0, nl + 1);
                lines_.push_back(line);
                if (line.find(needle) != std::string::npos) return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
            if (err_ < 0 || left.count() <= 0) return std::nullopt;
            pollfd p{err_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[65536];
            const ssize_t n = ::read(err_, buf, sizeof buf);
            if (n <= 0) return std::nullopt;
            buffered_.append(buf, static_cast<std::size_t>(n));
        }
    }
    [[nodiscard]] const std::vector<std::string>& lines() const noexcept { return lines_; }

private:
    std::unique_ptr<weft_test::ChildProcess> child_;
    int err_ = -1;
    std::uint16_t port_ = 0;
    std::string buffered_;
    std::vector<std::string> lines_;
};

/// One cycle against an echo server: connect, send "x\n", read it back, close. Returns the time it took,
/// or nullopt if any step failed or the answer did not come within `limit`.
inline std::optional<std::chrono::duration<double>> echo_cycle(std::uint16_t port, std::chrono::milliseconds limit) {
    const auto t0 = steady::now();
    const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return std::nullopt;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::optional<std::chrono::duration<double>> took;
    if (::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 && ::send(s, "x\n", 2, MSG_NOSIGNAL) == 2) {
        std::string got;
        const auto deadline = t0 + limit;
        while (got.size() < 2) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
            pollfd p{s, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
            char buf[16];
            const ssize_t n = ::recv(s, buf, sizeof buf, 0);
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
        }
        if (got == "x\n") took = steady::now() - t0;
    }
    ::close(s);
    return took;
}

/// Runs `cycles` echo cycles one after the other; stops at the first failure (a server that froze would
/// otherwise cost `limit` per cycle).
struct CycleRun {
    int done = 0;
    int failed = 0;
    double max_seconds = 0;
    double total_seconds = 0;
};
inline CycleRun run_echo_cycles(std::uint16_t port, int cycles, std::chrono::milliseconds limit) {
    CycleRun r;
    const auto t0 = steady::now();
    for (int i = 0; i < cycles; ++i) {
        const auto took = echo_cycle(port, limit);
        if (!took) {
            ++r.failed;
            break;
        }
        ++r.done;
        r.max_seconds = std::max(r.max_seconds, took->count());
    }
    r.total_seconds = std::chrono::duration<double>(steady::now() - t0).count();
    return r;
}

}  // namespace log_test
