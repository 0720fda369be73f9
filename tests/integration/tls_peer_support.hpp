#pragma once
// What the TLS real-peer tests share: a weft reactor on a thread of its own (so the test's thread can drive
// blocking peers — openssl s_client, Python — top to bottom), state shared with it under a lock, a weft
// TLS echo server that records what its connections saw, and peer processes with stdin on a pipe.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/child_process.hpp"
#include "support/loop.hpp"
#include "support/tls_certs.hpp"
#include "weft/reactor.hpp"
#include "weft/tls_context.hpp"
#include "weft/tls_transport.hpp"

namespace weft_test {

using namespace std::chrono_literals;

/// A value shared between the loop thread and the test's thread: updated under a lock, waited for with a
/// deadline. Catch2's assertions stay on the test's thread.
template <class T>
class Shared {
public:
    template <class F>
    auto update(F&& fn) {
        std::lock_guard lock(mutex_);
        if constexpr (std::is_void_v<std::invoke_result_t<F, T&>>) {
            fn(value_);
            changed_.notify_all();
        } else {
            auto result = fn(value_);
            changed_.notify_all();
            return result;
        }
    }
    /// True once `pred(value)` holds; false if it did not within `limit`.
    template <class Pred>
    bool wait_for(Pred&& pred, std::chrono::milliseconds limit = 10s) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, limit, [&] { return pred(value_); });
    }
    T snapshot() {
        std::lock_guard lock(mutex_);
        return value_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    T value_{};
};

/// A weft Reactor built and run on a thread of its own. Everything weft is done on that thread through
/// call(); objects that must go before the reactor (ports, connectors) are handed to keep(). The loop is
/// bounded: it stops by itself after `limit`.
class LoopThread {
public:
    explicit LoopThread(weft::Duration limit = 60s) {
        std::promise<void> running;
        auto started = running.get_future();
        thread_ = std::thread([this, limit, &running] {
            weft::Reactor reactor;
            {
                std::lock_guard lock(mutex_);
                reactor_ = &reactor;
            }
            reactor.call_when_running([&running] { running.set_value(); });
            run_bounded(reactor, limit, false);
            {
                std::lock_guard lock(mutex_);
                reactor_ = nullptr;
            }
            kept_.clear();  // ports and connectors go before their reactor
        });
        if (started.wait_for(10s) != std::future_status::ready) throw std::runtime_error("the loop thread did not start");
    }
    ~LoopThread() { stop(); }
    LoopThread(const LoopThread&) = delete;
    LoopThread& operator=(const LoopThread&) = delete;

    /// Runs `fn(reactor)` on the loop thread and returns its result (or rethrows what it threw). Fails
    /// the test if the loop does not run it within 10 s.
    template <class F>
    auto call(F&& fn) -> std::invoke_result_t<F, weft::Reactor&> {
        using R = std::invoke_result_t<F, weft::Reactor&>;
        auto task = std::make_shared<std::packaged_task<R(weft::Reactor&)>>(std::forward<F>(fn));
        auto result = task->get_future();
        {
            std::lock_guard lock(mutex_);
            if (reactor_ == nullptr) throw std::runtime_error("LoopThread::call: the loop has ended");
            weft::Reactor* reactor = reactor_;
            reactor_->call_from_thread([task, reactor] { (*task)(*reactor); });
        }
        if (result.wait_for(10s) != std::future_status::ready) throw std::runtime_error("LoopThread::call: timed out");
        return result.get();
    }
    /// Keeps `object` alive until the loop ends, then releases it before the reactor. Loop thread only
    /// (inside call()).
    void keep(std::shared_ptr<void> object) { kept_.push_back(std::move(object)); }
    /// Orderly shutdown (every connection gets connection_lost), then joins the thread.
    void stop() {
        {
            std::lock_guard lock(mutex_);
            if (reactor_ != nullptr) reactor_->stop();
        }
        if (thread_.joinable()) thread_.join();
    }

private:
    std::mutex mutex_;
    weft::Reactor* reactor_ = nullptr;
    std::vector<std::shared_ptr<void>> kept_;  // loop thread only
    std::thread thread_;
};

/// What one server-side TLS connection saw.
struct TlsSeen {
    bool made = false;
    bool tls_at_made = false;  // transport().as_tls() was there in connection_made
    bool handshake = false;
    std::string version;
    std::string cipher;
    std::string alpn;
    std::string sni;
    std::string subject;
    bool resumed = false;
    std::string received;
    bool read_lost = false;
    std::optional<weft::Reason> lost;
};
using TlsLog = Shared<std::vector<TlsSeen>>;

inline void record_tls(TlsSeen& seen, weft::TlsTransport& tls) {
    seen.handshake = tls.handshake_done();
    seen.version = tls.protocol_version();
    seen.cipher = tls.cipher();
    seen.alpn = tls.negotiated_protocol();
    seen.sni = tls.server_name();
    seen.subject = tls.peer_certificate_subject();
    seen.resumed = tls.session_reused();
}

/// A TLS echo server protocol recording into a TlsLog. Half-closeable: when the peer's close_notify (or
/// EOF) comes it writes "bye after close_notify\n" and then closes.
class TlsEchoServer final : public weft::Protocol, public weft::TlsHandshakeListener, public weft::HalfCloseable {
public:
    explicit TlsEchoServer(TlsLog& log) : log_(log) {}
    void connection_made() override {
        const bool tls = transport().as_tls() != nullptr;
        index_ = log_.update([tls](std::vector<TlsSeen>& all) {
            all.emplace_back();
            all.back().made = true;
            all.back().tls_at_made = tls;
            return all.size() - 1;
        });
    }
    void handshake_completed() override {
        weft::TlsTransport* tls = transport().as_tls();
        log_.update([&](std::vector<TlsSeen>& all) {
            if (tls != nullptr) record_tls(all[index_], *tls);
            else all[index_].handshake = true;
        });
    }
    void data_received(std::string_view data) override {
        transport().write(data);
        log_.update([&](std::vector<TlsSeen>& all) { all[index_].received.append(data); });
    }
    void read_connection_lost() override {
        log_.update([&](std::vector<TlsSeen>& all) { all[index_].read_lost = true; });
        transport().write("bye after close_notify\n");
        transport().lose_connection();
    }
    void connection_lost(const weft::Reason& reason) override {
        log_.update([&](std::vector<TlsSeen>& all) { all[index_].lost = reason; });
    }

private:
    TlsLog& log_;
    std::size_t index_ = 0;
};

/// A weft TLS echo server on 127.0.0.1:0 in a LoopThread. The context is made on the loop thread.
struct TlsEchoFixture {
    TlsLog log;
    LambdaFactory factory{[this](const weft::Address&) { return std::make_unique<TlsEchoServer>(log); }};
    std::shared_ptr<weft::TlsContext> context;
    LoopThread loop;  // after the factory: the loop (and its port) ends first
    std::uint16_t port = 0;

    explicit TlsEchoFixture(weft::TlsServerOptions options) {
        port = loop.call([&](weft::Reactor& reactor) {
            context = weft::TlsContext::server(options);
            weft::ListenOptions listen;
            listen.interface = "127.0.0.1";
            auto p = reactor.listen_ssl(0, factory, context, listen);
            loop.keep(p);
            return p->address().port;
        });
    }
    /// Connection number `i` once `pred` holds for it (and it exists); nullopt after 10 s.
    template <class Pred>
    std::optional<TlsSeen> wait_connection(std::size_t i, Pred&& pred, std::chrono::milliseconds limit = 10s) {
        std::optional<TlsSeen> out;
        log.wait_for(
            [&](const std::vector<TlsSeen>& all) {
                if (all.size() <= i || !pred(all[i])) return false;
                out = all[i];
                return true;
            },
            limit);
        return out;
    }
    std::size_t connections() {
        return log.update([](std::vector<TlsSeen>& all) { return all.size(); });
    }
};

/// Options for a server with the localhost certificate.
inline weft::TlsServerOptions localhost_server() {
    const auto& c = tls_certs();
    weft::TlsServerOptions o;
    o.certificate.certificate_file = c.server;
    o.certificate.private_key_file = c.server_key;
    return o;
}

/// A peer program with stdin on a pipe the test writes, stdout read line by line, stderr into a file.
class PeerProcess {
public:
    PeerProcess(std::vector<std::string> argv, const TempDir& dir) : argv_(argv) {
        static int counter = 0;
        err_path_ = dir.file("peer-" + std::to_string(++counter) + ".err");
        int in[2];
        if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (err < 0) throw std::runtime_error("cannot open " + err_path_);
        ChildOptions options;
        options.stdin_fd = in[0];
        options.stderr_fd = err;
        child_ = std::make_unique<ChildProcess>(std::move(argv), options);
        ::close(in[0]);
        ::close(err);
        in_ = in[1];
    }
    ~PeerProcess() { close_stdin(); }
    PeerProcess(const PeerProcess&) = delete;
    PeerProcess& operator=(const PeerProcess&) = delete;

    /// Writes all of `data` to the child's stdin (false if it has gone).
    bool write(std::string_view data) {
        ::signal(SIGPIPE, SIG_IGN);  // a peer that has exited must fail the write, not kill the test
        while (!data.empty() && in_ >= 0) {
            const ssize_t n = ::write(in_, data.data(), data.size());
            if (n <= 0) return false;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return data.empty();
    }
    void close_stdin() {
        if (in_ >= 0) ::close(in_);
        in_ = -1;
    }
    std::optional<std::string> read_line(std::chrono::milliseconds limit = 10s) {
        auto line = child_->read_line(limit);
        if (line) lines_.push_back(*line);
        return line;
    }
    /// Reads lines until one contains `needle`; that line, or nullopt at the end or after `limit`.
    std::optional<std::string> read_until(std::string_view needle, std::chrono::milliseconds limit = 10s) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            auto line = read_line(left);
            if (!line) return std::nullopt;
            if (line->find(needle) != std::string::npos) return line;
        }
    }
    std::optional<int> wait(std::chrono::milliseconds limit = 10s) { return child_->wait(limit); }
    /// What it wrote to stderr so far.
    [[nodiscard]] std::string err() const { return read_file(err_path_); }
    /// For failure messages: the command, its stdout lines read so far, and its stderr.
    [[nodiscard]] std::string describe() const {
        std::string out = "command:";
        for (const auto& a : argv_) out += " " + a;
        out += "\nstdout lines read:";
        for (const auto& l : lines_) out += "\n  " + l;
        out += "\nstderr:\n" + err();
        return out;
    }
    ChildProcess& child() { return *child_; }

private:
    std::vector<std::string> argv_;
    std::string err_path_;
    std::unique_ptr<ChildProcess> child_;
    std::vector<std::string> lines_;
    int in_ = -1;
};

/// `openssl s_client` to 127.0.0.1:port, verifying against the test CA, failing on a verification error.
inline std::vector<std::string> s_client(std::uint16_t port, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{openssl_binary(), "s_client", "-connect", "127.0.0.1:" + std::to_string(port),
                                  "-CAfile", tls_certs().ca, "-verify_return_error"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

}  // namespace weft_test
