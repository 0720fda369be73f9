#pragma once
// FakeStream: a stream core backend whose reads, writes and readiness are scripted by the test, so
// would-block, short writes, EOF and broken pipes happen on demand (tests/unit/test_stream_core.cpp).
// ScriptedWriter is its write side alone, also used on a WriteQueue (tests/unit/test_write_queue.cpp).
// Includes framework/src headers: only for tests built with that include path (test_core_stream).

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>
#include <sys/uio.h>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "weft/address.hpp"
#include "weft/transport.hpp"

namespace weft::detail {
class ReactorCore;
}

namespace weft_test {

/// What one write call does.
struct WriteStep {
    enum class Kind { take, would_block, interrupted, fail };
    Kind kind = Kind::take;
    std::size_t bytes = SIZE_MAX;  // take: at most this many
    int error = 0;                 // fail: errno

    static WriteStep take(std::size_t n = SIZE_MAX) { return {Kind::take, n, 0}; }
    static WriteStep would_block() { return {Kind::would_block, 0, 0}; }
    static WriteStep interrupted() { return {Kind::interrupted, 0, 0}; }
    static WriteStep fail(int e) { return {Kind::fail, 0, e}; }
};

/// A gathered-write function that follows a script (then `otherwise`) and records what it was given.
struct ScriptedWriter {
    std::deque<WriteStep> script;
    WriteStep otherwise = WriteStep::take();
    std::string received;             // every byte taken, in order
    std::vector<std::size_t> counts;  // iovec count of each call
    std::vector<std::size_t> offered; // bytes offered by each call

    [[nodiscard]] std::size_t calls() const noexcept { return counts.size(); }

    ssize_t operator()(const ::iovec* iov, std::size_t count) {
        counts.push_back(count);
        std::size_t total = 0;
        for (std::size_t i = 0; i < count; ++i) total += iov[i].iov_len;
        offered.push_back(total);
        WriteStep step = otherwise;
        if (!script.empty()) {
            step = script.front();
            script.pop_front();
        }
        switch (step.kind) {
            case WriteStep::Kind::would_block: errno = EAGAIN; return -1;
            case WriteStep::Kind::interrupted: errno = EINTR; return -1;
            case WriteStep::Kind::fail: errno = step.error; return -1;
            case WriteStep::Kind::take: break;
        }
        const std::size_t want = std::min(step.bytes, total);
        std::size_t taken = 0;
        for (std::size_t i = 0; i < count && taken < want; ++i) {
            const std::size_t n = std::min(iov[i].iov_len, want - taken);
            received.append(static_cast<const char*>(iov[i].iov_base), n);
            taken += n;
        }
        return static_cast<ssize_t>(taken);
    }
};

/// What one read call does.
struct ReadStep {
    enum class Kind { data, would_block, interrupted, eof, fail };
    Kind kind = Kind::data;
    std::string bytes;
    int error = 0;

    static ReadStep data(std::string s) { return {Kind::data, std::move(s), 0}; }
    static ReadStep would_block() { return {Kind::would_block, {}, 0}; }
    static ReadStep interrupted() { return {Kind::interrupted, {}, 0}; }
    static ReadStep eof() { return {Kind::eof, {}, 0}; }
    static ReadStep fail(int e) { return {Kind::fail, {}, e}; }
};

/// The fake's state, shared between the backend (moved into the transport) and the test.
struct FakeState {
    using Handler = std::function<void(const boost::system::error_code&)>;

    explicit FakeState(boost::asio::io_context& context) : io(context) {}
    FakeState(const FakeState&) = delete;
    FakeState& operator=(const FakeState&) = delete;

    boost::asio::io_context& io;
    std::deque<ReadStep> reads;  // empty: would block
    ScriptedWriter writer;
    bool wait_after_short_read = true;

    Handler on_readable;  // the outstanding waits, fired by the test
    Handler on_writable;
    int read_calls = 0;
    int readable_waits = 0;
    int writable_waits = 0;
    int shutdown_write_calls = 0;
    std::size_t written_at_shutdown = 0;  // writer.received.size() when shutdown_write() came
    int close_calls = 0;
    bool closed_with_reset = false;
    bool closed_with_linger = false;
    std::size_t writes_at_close = 0;
    /// Every backend call and (from the test's protocols) every callback, in order.
    std::vector<std::string> events;

    /// The descriptor became readable: the stored handler runs on the reactor's next turn (as Asio would).
    /// Returns false if nothing waited.
    bool fire_readable() { return fire(on_readable, {}); }
    bool fire_writable() { return fire(on_writable, {}); }
    /// Drops the stored handlers (they hold the transport): a test's last step.
    void forget_waits() {
        on_readable = nullptr;
        on_writable = nullptr;
    }

    bool fire(Handler& h, boost::system::error_code ec) {
        if (!h) return false;
        boost::asio::post(io, [h = std::exchange(h, nullptr), ec] { h(ec); });
        return true;
    }
};

class FakeStream {
public:
    using Interface = weft::Transport;

    explicit FakeStream(std::shared_ptr<FakeState> state) : s_(std::move(state)) {}

    ssize_t read(char* buffer, std::size_t size) {
        ++s_->read_calls;
        if (s_->reads.empty()) {
            s_->events.emplace_back("read EAGAIN");
            errno = EAGAIN;
            return -1;
        }
        ReadStep& step = s_->reads.front();
        switch (step.kind) {
            case ReadStep::Kind::would_block:
                s_->reads.pop_front();
                s_->events.emplace_back("read EAGAIN");
                errno = EAGAIN;
                return -1;
            case ReadStep::Kind::interrupted:
                s_->reads.pop_front();
                s_->events.emplace_back("read EINTR");
                errno = EINTR;
                return -1;
            case ReadStep::Kind::eof:
                s_->reads.pop_front();
                s_->events.emplace_back("read EOF");
                return 0;
            case ReadStep::Kind::fail: {
                const int e = step.error;
                s_->reads.pop_front();
                s_->events.emplace_back("read error");
                errno = e;
                return -1;
            }
            case ReadStep::Kind::data: break;
        }
        const std::size_t n = std::min(size, step.bytes.size());
        std::memcpy(buffer, step.bytes.data(), n);
        s_->events.push_back("read " + std::to_string(n));
        if (n == step.bytes.size()) {
            s_->reads.pop_front();
        } else {
            step.bytes.erase(0, n);
        }
        return static_cast<ssize_t>(n);
    }

    ssize_t write(const ::iovec* iov, std::size_t count) {
        const std::size_t before = s_->writer.received.size();
        const ssize_t got = s_->writer(iov, count);
        const int saved = errno;
        s_->events.push_back(got < 0 ? "write -1" : "write " + std::to_string(s_->writer.received.size() - before));
        errno = saved;
        return got;
    }

    template <class H>
    void wait_readable(H&& handler) {
        ++s_->readable_waits;
        s_->events.emplace_back("wait readable");
        s_->on_readable = std::forward<H>(handler);
    }
    template <class H>
    void wait_writable(H&& handler) {
        ++s_->writable_waits;
        s_->events.emplace_back("wait writable");
        s_->on_writable = std::forward<H>(handler);
    }
    [[nodiscard]] bool wait_after_short_read() const { return s_->wait_after_short_read; }

    void shutdown_write() {
        ++s_->shutdown_write_calls;
        s_->written_at_shutdown = s_->writer.received.size();
        s_->events.emplace_back("shutdown_write");
    }

    /// As closing a descriptor does, cancels the outstanding waits (their handlers see operation_aborted).
    void close(weft::detail::ReactorCore&, bool reset, bool linger) {
        ++s_->close_calls;
        s_->closed_with_reset = reset;
        s_->closed_with_linger = linger;
        s_->writes_at_close = s_->writer.calls();
        s_->events.emplace_back(reset ? "close reset" : "close");
        s_->fire(s_->on_readable, boost::asio::error::operation_aborted);
        s_->fire(s_->on_writable, boost::asio::error::operation_aborted);
    }

    [[nodiscard]] weft::Address peer() const { return {"fake-peer", 1}; }
    [[nodiscard]] weft::Address host() const { return {"fake-host", 2}; }
    [[nodiscard]] std::string describe(std::uint64_t id) const { return "fake " + std::to_string(id); }

private:
    std::shared_ptr<FakeState> s_;
};

}  // namespace weft_test
