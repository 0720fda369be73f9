#pragma once
// Helpers of the fault and load tests (docs/reliability.md): a server child process whose pid we know (to
// read its memory, descriptors and CPU time from /proc), the figures we read there, bounded polling, and a
// line client on raw Boost.Asio so that thousands of them run on one io_context.

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/child_process.hpp"

namespace reliability {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// True in a sanitizer build (every target of it is instrumented, the servers too): memory figures are
/// then the sanitizer's (redzones, quarantine), so the memory bounds are not checked, only printed.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif

/// WEFT_RELIABILITY_FULL=1 runs the long variants (sizes of the issue); CI runs the smaller ones.
inline bool full_run() {
    const char* v = std::getenv("WEFT_RELIABILITY_FULL");
    return v != nullptr && std::string_view(v) == "1";
}

/// Prints one figure line; docs/reliability.md quotes them. Goes to stdout so ctest -V shows it.
inline void figure(const std::string& test, const std::string& text) {
    std::cout << "FIGURE [" << test << "] " << text << std::endl;
}

inline double seconds_since(steady::time_point t0) {
    return std::chrono::duration<double>(steady::now() - t0).count();
}

/// Lifts this process's soft descriptor limit to the hard one (children inherit it); returns the limit.
inline rlim_t raise_fd_limit() {
    rlimit l{};
    getrlimit(RLIMIT_NOFILE, &l);
    l.rlim_cur = l.rlim_max;
    setrlimit(RLIMIT_NOFILE, &l);
    getrlimit(RLIMIT_NOFILE, &l);
    return l.rlim_cur;
}

/// VmRSS of a process in KiB (0 if it is gone).
inline long vm_rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return 0;
}

/// Open descriptors of a process.
inline long fd_count(pid_t pid) {
    std::error_code ec;
    long n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        ++n;
    }
    return n;
}

/// User plus system CPU time of a process, in seconds (resolution: one clock tick, usually 10 ms).
inline double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the command name (which may contain spaces) start at the last ')'.
    std::istringstream rest(stat.substr(stat.rfind(')') + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// Polls `done` every 5 ms until it holds or `limit` passes. Only for what nothing can signal to us (the
/// state of another process seen through /proc). Returns whether it held.
template <class F>
bool poll_until(F&& done, std::chrono::milliseconds limit) {
    const auto deadline = steady::now() + limit;
    while (!done()) {
        if (steady::now() >= deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

/// One of our servers as a child process (tests/support/child_process.hpp), optionally with a lower
/// descriptor limit (soft and hard), and the port from its "listening on HOST:PORT" line.
class Server : public weft_test::ChildProcess {
public:
    explicit Server(std::vector<std::string> argv, std::optional<rlim_t> nofile = std::nullopt)
        : ChildProcess(std::move(argv), with_limit(nofile)), port_(read_listening_port()) {}

    /// 0 if it never said.
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] tcp::endpoint endpoint() const { return {asio::ip::make_address("127.0.0.1"), port_}; }

private:
    static weft_test::ChildOptions with_limit(std::optional<rlim_t> nofile) {
        weft_test::ChildOptions options;
        options.nofile = nofile;
        return options;
    }

    std::uint16_t port_ = 0;
};

/// The server's own descriptors once it is serving. Right after "listening on" its loop may not have
/// started (the signal handling descriptors come with run()), so a probe connection is served first:
/// `hello` is sent and a line starting with `expect` awaited. Returns -1 if the probe failed.
inline long serving_fd_baseline(Server& server, std::string_view hello, std::string_view expect) {
    asio::io_context io;
    tcp::socket s(io);
    boost::system::error_code ec;
    s.connect(server.endpoint(), ec);
    if (ec) return -1;
    if (!hello.empty()) asio::write(s, asio::buffer(hello.data(), hello.size()), ec);
    std::string got;
    char c = 0;
    while (!ec && c != '\n' && got.size() < 4096) {
        s.read_some(asio::buffer(&c, 1), ec);
        got.push_back(c);
    }
    if (ec || got.rfind(expect, 0) != 0) return -1;
    const long with_probe = fd_count(server.pid());
    s.close();
    if (!poll_until([&] { return fd_count(server.pid()) == with_probe - 1; }, 10s)) return -1;
    return with_probe - 1;
}

inline bool exited_zero(const std::optional<int>& st) { return st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0; }

/// Stops `io` after `limit` and remembers that it had to: a test that is not done by then fails instead of
/// hanging. Cancel it (or let it go out of scope after run()) when the test finished in time.
class Deadline {
public:
    Deadline(asio::io_context& io, steady::duration limit) : timer_(io) {
        timer_.expires_after(limit);
        timer_.async_wait([this, &io](const boost::system::error_code& ec) {
            if (ec) return;
            expired_ = true;
            io.stop();
        });
    }
    void cancel() { timer_.cancel(); }
    [[nodiscard]] bool expired() const noexcept { return expired_; }

private:
    asio::steady_timer timer_;
    bool expired_ = false;
};

/// Runs `io` in short slices until `done()` or `limit`; returns whether done.
template <class F>
bool run_until(asio::io_context& io, F&& done, steady::duration limit) {
    const auto t0 = steady::now();
    while (!done()) {
        if (steady::now() - t0 >= limit) return false;
        io.restart();
        io.run_for(5ms);
    }
    return true;
}

/// A line client on raw Asio: one read in flight into its own buffer, lines split on "\n" ("\r" dropped),
/// a write queue with one write in flight. Callbacks run on the io_context's thread.
class LineClient : public std::enable_shared_from_this<LineClient> {
public:
    std::function<void(LineClient&, std::string_view)> on_line;
    /// The connection ended: EOF (ec == eof) or an error (reset, ...).
    std::function<void(LineClient&, const boost::system::error_code&)> on_close;
    std::function<void(LineClient&)> on_connect;
    /// Everything sent so far was handed to the kernel.
    std::function<void(LineClient&)> on_drained;

    explicit LineClient(asio::io_context& io, std::size_t rcvbuf = 0) : socket_(io), rcvbuf_(rcvbuf) {}

    void connect(const tcp::endpoint& ep) {
        socket_.open(tcp::v4());
        // A small receive buffer makes a client that does not read show up at the server quickly.
        if (rcvbuf_ != 0) socket_.set_option(asio::socket_base::receive_buffer_size(static_cast<int>(rcvbuf_)));
        socket_.async_connect(ep, [self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec) return self->closed(ec);
            self->connected_ = true;
            boost::system::error_code ignored;
            self->local_port_ = self->socket_.local_endpoint(ignored).port();
            if (self->on_connect) self->on_connect(*self);
            if (self->reading_) self->read();
        });
    }

    /// Starts (or resumes) reading; a client that is paused reads nothing, so the server's output for it
    /// piles up.
    void start_reading() {
        if (reading_) return;
        reading_ = true;
        if (connected_ && !read_in_flight_) read();
    }
    void pause_reading() { reading_ = false; }

    void send(std::string data) {
        if (!connected_ || closed_) return;
        queue_.push_back(std::move(data));
        if (queue_.size() == 1) write_next();
    }
    void shutdown_send() {
        boost::system::error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
    }
    /// Closes with SO_LINGER 0: the peer gets a reset.
    void reset() {
        boost::system::error_code ignored;
        socket_.set_option(asio::socket_base::linger(true, 0), ignored);
        socket_.close(ignored);
        closed_ = true;
    }
    void close() {
        boost::system::error_code ignored;
        socket_.close(ignored);
        closed_ = true;
    }

    [[nodiscard]] bool connected() const noexcept { return connected_; }
    [[nodiscard]] bool closed() const noexcept { return closed_; }
    [[nodiscard]] std::uint16_t local_port() const noexcept { return local_port_; }
    /// The chat server's default name for us: our address as it sees it.
    [[nodiscard]] std::string chat_name() const { return "127.0.0.1:" + std::to_string(local_port_); }
    [[nodiscard]] std::uint64_t bytes_read() const noexcept { return bytes_read_; }
    [[nodiscard]] std::size_t queued() const noexcept { return queue_.size(); }
    tcp::socket& socket() noexcept { return socket_; }

private:
    void read() {
        read_in_flight_ = true;
        socket_.async_read_some(asio::buffer(buf_), [self = shared_from_this()](const boost::system::error_code& ec,
                                                                                std::size_t n) {
            self->read_in_flight_ = false;
            if (ec) return self->closed(ec);
            self->bytes_read_ += n;
            self->split(std::string_view(self->buf_.data(), n));
            if (self->reading_ && !self->closed_) self->read();
        });
    }
    void split(std::string_view data) {
        while (!data.empty() && !closed_) {
            const auto nl = data.find('\n');
            if (nl == std::string_view::npos) {
                partial_.append(data);
                return;
            }
            std::string_view line = data.substr(0, nl);
            data.remove_prefix(nl + 1);
            if (!partial_.empty()) {
                partial_.append(line);
                line = partial_;
            }
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (on_line) on_line(*this, line);
            partial_.clear();
        }
    }
    void write_next() {
        asio::async_write(socket_, asio::buffer(queue_.front()),
                          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                              if (ec) return;  // the read side reports the end
                              self->queue_.pop_front();
                              if (!self->queue_.empty()) return self->write_next();
                              if (self->on_drained) self->on_drained(*self);
                          });
    }
    void closed(const boost::system::error_code& ec) {
        if (closed_) return;
        closed_ = true;
        if (on_close) on_close(*this, ec);
    }

    tcp::socket socket_;
    std::size_t rcvbuf_;
    std::array<char, 16384> buf_{};
    std::string partial_;
    std::deque<std::string> queue_;
    std::uint64_t bytes_read_ = 0;
    std::uint16_t local_port_ = 0;
    bool connected_ = false;
    bool closed_ = false;
    bool reading_ = true;
    bool read_in_flight_ = false;
};

}  // namespace reliability
