// The stream core (framework/src/stream/stream_transport.hpp) over a scripted backend (FakeStream), on a
// real Reactor whose io_context the test turns by hand: each behaviour happens at a step the test chose,
// so would-block, short writes, EOF, errors and timeouts are deterministic.
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "stream/stream_transport.hpp"
#include "support/fake_stream.hpp"
#include "weft/reactor.hpp"

using namespace std::chrono_literals;
using weft::ConnectionState;
using weft::Reason;
using weft_test::FakeState;
using weft_test::FakeStream;
using weft_test::ReadStep;
using weft_test::WriteStep;

namespace {

using Core = weft::detail::StreamTransport<FakeStream>;

/// What the protocol saw; outlives the protocol (the transport destroys it after connection_lost).
struct Record {
    std::string received;
    int data_calls = 0;
    int read_lost = 0;
    int write_lost = 0;
    int lost_count = 0;
    std::optional<Reason> lost;
    int depth = 0;                 // > 0 while inside a protocol callback or a test's call into the transport
    bool lost_inside_call = false; // connection_lost ran while depth > 0
    std::function<void(weft::Transport&, std::string_view)> on_data;
    std::function<void(weft::Transport&)> on_read_lost;
    std::vector<std::string>* events = nullptr;
};

class TestProtocol : public weft::Protocol {
public:
    explicit TestProtocol(Record& r) : r_(r) {}
    void data_received(std::string_view data) override {
        ++r_.depth;
        r_.received.append(data);
        ++r_.data_calls;
        r_.events->push_back("data " + std::to_string(data.size()));
        if (r_.on_data) r_.on_data(transport(), data);
        --r_.depth;
    }
    void connection_lost(const Reason& reason) override {
        if (r_.depth > 0) r_.lost_inside_call = true;
        ++r_.lost_count;
        r_.lost = reason;
        r_.events->push_back("lost");
    }

protected:
    Record& r_;
};

class HalfCloseProtocol : public TestProtocol, public weft::HalfCloseable {
public:
    using TestProtocol::TestProtocol;
    void read_connection_lost() override {
        ++r_.read_lost;
        r_.events->push_back("read_connection_lost");
        if (r_.on_read_lost) r_.on_read_lost(transport());
    }
    void write_connection_lost() override {
        ++r_.write_lost;
        r_.events->push_back("write_connection_lost");
    }
};

struct CountingProducer : weft::Producer {
    int pauses = 0, resumes = 0, stops = 0;
    std::function<void()> on_resume;
    void pause_producing() override { ++pauses; }
    void resume_producing() override {
        ++resumes;
        if (on_resume) on_resume();
    }
    void stop_producing() override { ++stops; }
};

std::string bytes(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (seed * 7 + i * 13 + i / 29) % 26);
    return s;
}

std::ptrdiff_t position(const std::vector<std::string>& events, const std::string& e, std::size_t from = 0) {
    for (std::size_t i = from; i < events.size(); ++i) {
        if (events[i] == e) return static_cast<std::ptrdiff_t>(i);
    }
    return -1;
}

/// A transport on a FakeStream, on a reactor the test turns with step().
struct Harness {
    Record rec;
    weft::Reactor reactor;
    std::shared_ptr<FakeState> fake = std::make_shared<FakeState>(reactor.context());
    std::shared_ptr<Core> t;

    explicit Harness(bool half_closeable = false) {
        rec.events = &fake->events;
        std::unique_ptr<weft::Protocol> p;
        if (half_closeable) {
            p = std::make_unique<HalfCloseProtocol>(rec);
        } else {
            p = std::make_unique<TestProtocol>(rec);
        }
        t = std::make_shared<Core>(reactor.core(), FakeStream(fake), std::move(p));
    }
    ~Harness() { fake->forget_waits(); }
    Harness(const Harness&) = delete;
    Harness& operator=(const Harness&) = delete;

    void start() { call([&] { t->start(); }); }

    /// Runs what is ready on the reactor (posted handlers, the flush batch, fired waits), without blocking.
    void step() {
        reactor.context().restart();
        reactor.context().poll();
    }
    void readable() {
        REQUIRE(fake->fire_readable());
        step();
    }
    void writable() {
        REQUIRE(fake->fire_writable());
        step();
    }
    /// Runs the reactor (timers included) until `done`, for at most `limit`.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!done()) {
            if (std::chrono::steady_clock::now() > deadline) return false;
            reactor.context().restart();
            reactor.context().run_one_for(10ms);
        }
        return true;
    }
    /// A call into the transport from the test (as from a timer): connection_lost must not run inside it.
    template <class F>
    void call(F&& f) {
        ++rec.depth;
        std::forward<F>(f)();
        --rec.depth;
    }
    [[nodiscard]] std::size_t write_calls() const { return fake->writer.calls(); }
};

}  // namespace

TEST_CASE("stream core: data_received gets the scripted chunks in order", "[stream_core][read]") {
    Harness h;
    h.fake->reads = {ReadStep::data("abc"), ReadStep::data("def")};
    CHECK(h.t->state() == ConnectionState::connecting);
    h.start();
    CHECK(h.t->state() == ConnectionState::connected);
    // The first read happens at once; a short read then waits for readability rather than reading again.
    CHECK(h.rec.received == "abc");
    CHECK(h.fake->read_calls == 1);
    CHECK(h.fake->readable_waits == 1);
    h.step();
    CHECK(h.rec.received == "abc");  // nothing until the descriptor is readable
    h.readable();
    CHECK(h.rec.received == "abcdef");
    CHECK(h.fake->readable_waits == 2);
    h.readable();  // spurious: the read would block, and the core waits again
    CHECK(h.rec.received == "abcdef");
    CHECK(h.fake->readable_waits == 3);
    h.fake->reads = {ReadStep::interrupted(), ReadStep::data("ghi")};  // EINTR is retried at once
    h.readable();
    CHECK(h.rec.received == "abcdefghi");
    CHECK(h.rec.data_calls == 3);
    CHECK(h.rec.lost_count == 0);
}

TEST_CASE("stream core: EAGAIN on the first read waits for readability", "[stream_core][read]") {
    Harness h;
    h.fake->reads = {ReadStep::would_block(), ReadStep::data("late")};
    h.start();
    CHECK(h.rec.data_calls == 0);
    CHECK(h.fake->readable_waits == 1);
    h.step();
    CHECK(h.rec.data_calls == 0);
    h.readable();
    CHECK(h.rec.received == "late");
}

TEST_CASE("stream core: a full read reads again on a later turn, as does a backend that never waits", "[stream_core][read]") {
    Harness h;
    const std::string full = bytes(weft::detail::ReactorCore::read_buffer_size, 1);
    h.fake->reads = {ReadStep::data(full + "tail")};
    h.start();
    CHECK(h.rec.received == full);
    CHECK(h.fake->readable_waits == 0);  // more is probably there: no wait
    h.step();
    CHECK(h.rec.received == full + "tail");
    CHECK(h.fake->readable_waits == 1);

    Harness f;
    f.fake->wait_after_short_read = false;  // a regular file: readiness is never signalled
    f.fake->reads = {ReadStep::data("a"), ReadStep::data("b"), ReadStep::eof()};
    f.start();
    CHECK(f.rec.received == "a");
    f.step();
    CHECK(f.rec.received == "ab");
    CHECK(f.fake->readable_waits == 0);
    CHECK(f.rec.lost_count == 1);  // EOF, nothing to flush: closed and lost within the same steps
    CHECK(f.rec.lost->clean());
}

TEST_CASE("stream core: a reply written inside data_received leaves in one write right after it returns",
          "[stream_core][write]") {
    Harness h;
    const std::string input = bytes(1000, 2);  // a view of it is sent without a copy
    const auto small = std::make_shared<const std::string>("small-shared ");
    const auto large = std::make_shared<const std::string>(bytes(2000, 3));
    h.rec.on_data = [&](weft::Transport& t, std::string_view data) {
        t.write("one ");
        const std::string_view seq[] = {"two ", "three "};
        t.write_sequence(seq);
        t.write_shared(small);
        t.write(data);
        t.write_shared(large);
        t.write(" end");
    };
    h.fake->reads = {ReadStep::data(input)};
    h.start();
    REQUIRE(h.write_calls() == 1);
    CHECK(h.fake->writer.received == "one two three small-shared " + input + *large + " end");
    CHECK(h.reactor.stats().write_calls == 1);
    // In the same handler as the read, between data_received and the next wait.
    const auto& ev = h.fake->events;
    const auto data_at = position(ev, "data 1000");
    REQUIRE(data_at >= 0);
    CHECK(ev.at(static_cast<std::size_t>(data_at) + 1).rfind("write ", 0) == 0);
    CHECK(ev.at(static_cast<std::size_t>(data_at) + 2) == "wait readable");
    CHECK(h.t->buffered_bytes() == 0);
    CHECK(large.use_count() == 1);
    CHECK(small.use_count() == 1);
}

TEST_CASE("stream core: writes made outside data_received leave in one write at the end of the turn",
          "[stream_core][write]") {
    Harness h;
    h.start();
    h.call([&] {
        h.t->write("a");
        h.t->write("b");
        const std::string_view seq[] = {"c", "d"};
        h.t->write_sequence(seq);
    });
    CHECK(h.write_calls() == 0);  // never inside the call
    CHECK(h.t->buffered_bytes() == 4);
    h.step();
    CHECK(h.write_calls() == 1);
    CHECK(h.fake->writer.received == "abcd");
    CHECK(h.t->buffered_bytes() == 0);
    h.step();
    CHECK(h.write_calls() == 1);
}

TEST_CASE("stream core: a short write keeps the rest and sends it when the backend is writable", "[stream_core][write]") {
    Harness h;
    h.rec.on_data = [](weft::Transport& t, std::string_view) { t.write("hello world"); };
    h.fake->writer.script = {WriteStep::take(3)};
    h.fake->writer.otherwise = WriteStep::would_block();
    h.fake->reads = {ReadStep::data("x")};
    h.start();
    CHECK(h.fake->writer.received == "hel");
    CHECK(h.write_calls() == 2);  // 3 bytes, then would block
    CHECK(h.t->buffered_bytes() == 8);
    CHECK(h.fake->writable_waits == 1);
    // More output while waiting queues behind the rest; nothing is tried until writability.
    h.call([&] { h.t->write("!"); });
    h.step();
    h.step();
    CHECK(h.write_calls() == 2);
    CHECK(h.t->buffered_bytes() == 9);
    h.fake->writer.otherwise = WriteStep::take();
    h.writable();
    CHECK(h.fake->writer.received == "hello world!");
    CHECK(h.write_calls() == 3);
    CHECK(h.t->buffered_bytes() == 0);
    CHECK(h.rec.lost_count == 0);
}

TEST_CASE("stream core: the unsent part of a reply that viewed the input survives the next read", "[stream_core][write]") {
    Harness h;
    const std::string first = bytes(1000, 4), second = bytes(1000, 5);
    h.rec.on_data = [](weft::Transport& t, std::string_view data) {
        if (data.front() == 'X') return;
        t.write(data);  // the echo is a view of the read buffer
    };
    h.fake->writer.script = {WriteStep::take(100)};
    h.fake->writer.otherwise = WriteStep::would_block();
    h.fake->reads = {ReadStep::data(first)};
    h.start();
    CHECK(h.fake->writer.received == first.substr(0, 100));
    // The next read overwrites the shared read buffer before the rest can be sent.
    h.fake->reads = {ReadStep::data("X" + second)};
    h.readable();
    CHECK(h.rec.received == first + "X" + second);
    h.fake->writer.otherwise = WriteStep::take();
    h.writable();
    CHECK(h.fake->writer.received == first);
}

TEST_CASE("stream core: write_shared copies a small buffer and holds a large one until it is sent", "[stream_core][write]") {
    Harness h;
    h.start();
    h.fake->writer.otherwise = WriteStep::would_block();
    const auto small = std::make_shared<const std::string>(bytes(weft::detail::WriteQueue::copy_shared_below - 1, 6));
    const auto large = std::make_shared<const std::string>(bytes(weft::detail::WriteQueue::copy_shared_below, 7));
    h.call([&] {
        h.t->write_shared(small);
        h.t->write_shared(large);
        h.t->write("z");
    });
    h.step();
    CHECK(h.write_calls() == 1);
    CHECK(small.use_count() == 1);
    CHECK(large.use_count() == 2);
    CHECK(h.t->buffered_bytes() == small->size() + large->size() + 1);
    h.fake->writer.otherwise = WriteStep::take();
    h.writable();
    CHECK(h.fake->writer.received == *small + *large + "z");
    CHECK(large.use_count() == 1);
}

TEST_CASE("stream core: peer EOF gives a half-closeable protocol read_connection_lost; it may still write",
          "[stream_core][eof]") {
    Harness h(true);
    h.fake->reads = {ReadStep::data("q"), ReadStep::eof()};
    h.start();
    h.readable();
    CHECK(h.rec.read_lost == 1);
    CHECK(h.t->state() == ConnectionState::read_half_closed);
    CHECK(h.fake->close_calls == 0);
    const int waits = h.fake->readable_waits;
    h.call([&] { h.t->write("answer"); });
    h.step();
    CHECK(h.fake->writer.received == "answer");
    CHECK(h.fake->readable_waits == waits);  // no more reading after EOF
    CHECK(h.t->state() == ConnectionState::read_half_closed);
    h.call([&] { h.t->lose_connection(); });
    CHECK(h.t->state() == ConnectionState::disconnecting);
    CHECK(h.fake->close_calls == 0);  // never inside the call
    h.step();
    CHECK(h.t->state() == ConnectionState::disconnected);
    CHECK(h.fake->close_calls == 1);
    CHECK_FALSE(h.fake->closed_with_reset);
    REQUIRE(h.rec.lost_count == 1);
    CHECK(h.rec.lost->clean());
}

TEST_CASE("stream core: peer EOF on another protocol loses the connection after flushing", "[stream_core][eof]") {
    Harness h;
    h.rec.on_data = [](weft::Transport& t, std::string_view) { t.write("bye"); };
    h.fake->writer.otherwise = WriteStep::would_block();
    h.fake->reads = {ReadStep::data("x")};
    h.start();
    CHECK(h.fake->writer.received.empty());
    h.fake->reads = {ReadStep::eof()};
    h.readable();
    CHECK(h.t->state() == ConnectionState::disconnecting);
    CHECK(h.fake->close_calls == 0);  // "bye" is still owed
    h.step();
    CHECK(h.fake->close_calls == 0);
    h.fake->writer.otherwise = WriteStep::take();
    h.writable();
    CHECK(h.fake->writer.received == "bye");
    CHECK(h.fake->close_calls == 1);
    CHECK_FALSE(h.fake->closed_with_reset);
    CHECK_FALSE(h.fake->closed_with_linger);  // the peer's EOF came: nothing left to drain
    CHECK(position(h.fake->events, "write 3") < position(h.fake->events, "close"));
    h.step();
    REQUIRE(h.rec.lost_count == 1);
    CHECK(h.rec.lost->clean());
    CHECK(h.rec.read_lost == 0);
}

TEST_CASE("stream core: EPIPE on write loses the connection with Reason::lost carrying EPIPE", "[stream_core][error]") {
    Harness h;
    h.rec.on_data = [](weft::Transport& t, std::string_view) { t.write("reply"); };
    h.fake->writer.script = {WriteStep::fail(EPIPE)};
    h.fake->reads = {ReadStep::data("x")};
    h.start();
    CHECK(h.t->state() == ConnectionState::disconnected);
    CHECK(h.fake->close_calls == 1);
    CHECK_FALSE(h.fake->closed_with_reset);
    CHECK(h.rec.lost_count == 0);  // posted: not inside the read handler's call chain
    h.step();
    REQUIRE(h.rec.lost_count == 1);
    CHECK(h.rec.lost->kind() == Reason::Kind::lost);
    CHECK(h.rec.lost->code() == std::error_code(EPIPE, std::system_category()));
    CHECK_FALSE(h.rec.lost_inside_call);
    // Later writes are ignored.
    h.call([&] { h.t->write("more"); });
    h.step();
    CHECK(h.write_calls() == 1);
}

TEST_CASE("stream core: a read error loses the connection with its errno", "[stream_core][error]") {
    Harness h;
    h.fake->reads = {ReadStep::data("ok"), ReadStep::fail(ECONNRESET)};
    h.start();
    h.readable();
    CHECK(h.t->state() == ConnectionState::disconnected);
    CHECK(h.fake->close_calls == 1);
    h.step();
    REQUIRE(h.rec.lost_count == 1);
    CHECK(h.rec.received == "ok");
    CHECK(h.rec.lost->kind() == Reason::Kind::lost);
    CHECK(h.rec.lost->code() == std::error_code(ECONNRESET, std::system_category()));
}

TEST_CASE("stream core: lose_connection with output the peer never takes is aborted by the disconnect timeout",
          "[stream_core][close]") {
    Harness h;
    h.reactor.set_disconnect_timeout(20ms);
    h.start();
    h.fake->writer.otherwise = WriteStep::would_block();
    h.call([&] { h.t->write("stuck"); });
    h.step();
    CHECK(h.fake->writable_waits == 1);
    h.call([&] { h.t->lose_connection(); });
    CHECK(h.t->state() == ConnectionState::disconnecting);
    h.step();
    CHECK(h.fake->close_calls == 0);
    REQUIRE(h.run_until([&] { return h.rec.lost_count > 0; }));
    CHECK(h.fake->close_calls == 1);
    CHECK(h.fake->closed_with_reset);
    CHECK(h.rec.lost->kind() == Reason::Kind::error);
    CHECK(h.rec.lost->message() == "timed out flushing output");
    CHECK(h.write_calls() == 1);
}

TEST_CASE("stream core: a lose_connection that drains in time is not cut by the disconnect timeout", "[stream_core][close]") {
    Harness h;
    h.reactor.set_disconnect_timeout(20ms);
    h.start();
    h.fake->writer.otherwise = WriteStep::would_block();
    h.call([&] {
        h.t->write("slow");
        h.t->lose_connection();
    });
    h.step();
    h.fake->writer.otherwise = WriteStep::take();
    h.writable();
    CHECK(h.fake->writer.received == "slow");
    CHECK(h.fake->close_calls == 1);
    CHECK_FALSE(h.fake->closed_with_reset);
    h.step();
    REQUIRE(h.rec.lost_count == 1);
    CHECK(h.rec.lost->clean());
    CHECK(h.reactor.pending_calls().empty());  // the timer was cancelled
}

TEST_CASE("stream core: lose_write_connection shuts the write side once, after the output drained", "[stream_core][close]") {
    Harness h(true);
    h.start();
    h.fake->writer.script = {WriteStep::would_block()};
    h.call([&] { h.t->write("data"); });
    h.step();
    CHECK(h.fake->writable_waits == 1);
    h.call([&] { h.t->lose_write_connection(); });
    h.step();
    CHECK(h.fake->shutdown_write_calls == 0);  // "data" is still queued
    h.call([&] { h.t->write("ignored"); });  // writing ends with lose_write_connection
    CHECK(h.t->buffered_bytes() == 4);
    h.writable();
    CHECK(h.fake->writer.received == "data");
    CHECK(h.fake->shutdown_write_calls == 1);
    CHECK(h.fake->written_at_shutdown == 4);
    CHECK(h.t->state() == ConnectionState::write_half_closed);
    CHECK(h.rec.write_lost == 1);
    h.call([&] { h.t->lose_write_connection(); });
    h.step();
    CHECK(h.fake->shutdown_write_calls == 1);
    // Reading goes on; the peer's EOF then ends the connection cleanly.
    h.fake->reads = {ReadStep::data("in")};
    h.readable();
    CHECK(h.rec.received == "in");
    h.fake->reads = {ReadStep::eof()};
    h.readable();
    CHECK(h.t->state() == ConnectionState::disconnected);
    h.step();
    REQUIRE(h.rec.lost_count == 1);
    CHECK(h.rec.lost->clean());
    CHECK(h.rec.read_lost == 0);
}

TEST_CASE("stream core: lose_write_connection with nothing queued shuts down on a later turn", "[stream_core][close]") {
    Harness h;
    h.start();
    h.call([&] { h.t->lose_write_connection(); });
    CHECK(h.fake->shutdown_write_calls == 0);
    h.step();
    CHECK(h.fake->shutdown_write_calls == 1);
    CHECK(h.t->state() == ConnectionState::write_half_closed);
}

TEST_CASE("stream core: connection_lost comes exactly once, on a later turn, never inside a call", "[stream_core][close]") {
    Harness h;
    h.start();
    h.call([&] {
        h.t->abort_connection();
        h.t->abort_connection();
        h.t->lose_connection();
        h.t->shutdown(true);
    });
    CHECK(h.t->state() == ConnectionState::disconnected);
    CHECK(h.rec.lost_count == 0);
    h.step();
    CHECK(h.rec.lost_count == 1);
    CHECK(h.rec.lost->kind() == Reason::Kind::aborted);
    h.step();
    CHECK(h.rec.lost_count == 1);
    CHECK_FALSE(h.rec.lost_inside_call);
    CHECK(h.t->lost());
    CHECK(h.t->protocol() == nullptr);  // released after connection_lost
    CHECK(h.reactor.connection_count() == 0);

    // Aborted from inside data_received: still delivered after the callback returned.
    Harness d;
    d.rec.on_data = [](weft::Transport& t, std::string_view) { t.abort_connection(); };
    d.fake->reads = {ReadStep::data("x")};
    d.start();
    CHECK(d.rec.lost_count == 0);
    d.step();
    CHECK(d.rec.lost_count == 1);
    CHECK_FALSE(d.rec.lost_inside_call);
}

TEST_CASE("stream core: states follow connecting, connected, half-closed, disconnecting, disconnected", "[stream_core][state]") {
    using S = ConnectionState;
    {
        Harness h;
        std::vector<S> seen{h.t->state()};
        h.start();
        seen.push_back(h.t->state());
        h.call([&] { h.t->lose_write_connection(); });
        h.step();
        seen.push_back(h.t->state());
        h.call([&] { h.t->lose_connection(); });
        seen.push_back(h.t->state());
        h.step();
        seen.push_back(h.t->state());
        CHECK(seen == std::vector<S>{S::connecting, S::connected, S::write_half_closed, S::disconnecting, S::disconnected});
        h.step();
        CHECK(h.rec.lost->clean());
    }
    {
        Harness h(true);
        h.fake->reads = {ReadStep::eof()};
        std::vector<S> seen{h.t->state()};
        h.start();
        seen.push_back(h.t->state());
        h.fake->writer.otherwise = WriteStep::would_block();
        h.call([&] { h.t->write("x"); });
        h.step();
        h.call([&] { h.t->lose_connection(); });
        seen.push_back(h.t->state());
        h.step();
        seen.push_back(h.t->state());  // still flushing
        h.fake->writer.otherwise = WriteStep::take();
        h.writable();
        seen.push_back(h.t->state());
        CHECK(seen == std::vector<S>{S::connecting, S::read_half_closed, S::disconnecting, S::disconnecting, S::disconnected});
        CHECK(h.fake->writer.received == "x");
    }
}

TEST_CASE("stream core: a streaming producer is paused above the high watermark and resumed at the low one",
          "[stream_core][producer]") {
    Harness h;
    h.start();
    CountingProducer p;
    h.t->set_write_buffer_limits(100, 10);
    h.t->register_producer(p, true);
    h.fake->writer.otherwise = WriteStep::would_block();
    h.call([&] { h.t->write(bytes(60, 1)); });
    CHECK(p.pauses == 0);
    h.call([&] { h.t->write(bytes(60, 2)); });
    CHECK(p.pauses == 1);  // at once, inside write(): a producer looping on write() sees it
    h.step();
    CHECK(h.fake->writable_waits == 1);
    h.fake->writer.script = {WriteStep::take(50)};
    h.writable();
    CHECK(h.t->buffered_bytes() == 70);
    CHECK(p.resumes == 0);  // above the low watermark
    h.fake->writer.script = {WriteStep::take(60)};
    h.writable();
    CHECK(h.t->buffered_bytes() == 10);
    CHECK(p.resumes == 1);
    CHECK(p.pauses == 1);
    h.fake->writer.otherwise = WriteStep::take();
    h.writable();
    CHECK(h.fake->writer.received == bytes(60, 1) + bytes(60, 2));
    CHECK(p.resumes == 1);
    CHECK(p.stops == 0);
    h.call([&] { h.t->abort_connection(); });
    h.step();
    CHECK(p.stops == 1);  // stopped with the connection
}

TEST_CASE("stream core: a pull producer is asked for more each time the output drained", "[stream_core][producer]") {
    Harness h;
    h.start();
    CountingProducer p;
    int pieces = 0;
    p.on_resume = [&] {
        if (++pieces <= 3) {
            h.t->write("p" + std::to_string(pieces));
        } else {
            h.t->unregister_producer();
        }
    };
    h.t->register_producer(p, false);
    CHECK(p.resumes == 0);  // on the next turn
    h.step();
    CHECK(h.fake->writer.received == "p1p2p3");
    CHECK(p.resumes == 4);
    CHECK(h.write_calls() == 3);
}

TEST_CASE("stream core: pause_reading_while_backed_up stops reading above the high watermark until drained",
          "[stream_core][producer]") {
    Harness h;
    h.t->set_write_buffer_limits(100, 10);
    h.t->pause_reading_while_backed_up();
    h.rec.on_data = [](weft::Transport& t, std::string_view data) { t.write(data); };
    h.fake->writer.otherwise = WriteStep::would_block();
    h.fake->reads = {ReadStep::data(bytes(200, 3)), ReadStep::data("more")};
    h.start();
    CHECK(h.rec.received == bytes(200, 3));
    CHECK(h.fake->readable_waits == 0);  // backed up: not reading
    h.step();
    CHECK(h.fake->read_calls == 1);
    h.fake->writer.otherwise = WriteStep::take();
    h.writable();
    CHECK(h.rec.received == bytes(200, 3) + "more");
    CHECK(h.fake->writer.received == bytes(200, 3) + "more");
}

TEST_CASE("stream core: a throwing callback aborts its connection with a reset", "[stream_core][error]") {
    Harness h;
    h.rec.on_data = [](weft::Transport& t, std::string_view) {
        t.write("partial");
        throw std::runtime_error("protocol bug");
    };
    h.fake->reads = {ReadStep::data("x")};
    h.start();
    CHECK(h.t->state() == ConnectionState::disconnected);
    CHECK(h.fake->close_calls == 1);
    CHECK(h.fake->closed_with_reset);
    CHECK(h.write_calls() == 0);  // what it wrote before throwing is dropped
    h.step();
    REQUIRE(h.rec.lost_count == 1);
    CHECK(h.rec.lost->kind() == Reason::Kind::error);
    CHECK(h.rec.lost->message().find("protocol bug") != std::string::npos);
    CHECK(h.write_calls() == 0);
}

TEST_CASE("stream core: abort_connection drops pending output and writes no more", "[stream_core][close]") {
    Harness h;
    h.start();
    h.fake->writer.otherwise = WriteStep::would_block();
    const auto shared = std::make_shared<const std::string>(bytes(1000, 8));
    h.call([&] {
        h.t->write("pending");
        h.t->write_shared(shared);
    });
    h.step();
    CHECK(h.write_calls() == 1);
    h.fake->writer.otherwise = WriteStep::take();
    h.call([&] { h.t->abort_connection(); });
    CHECK(h.t->buffered_bytes() == 0);
    CHECK(shared.use_count() == 1);  // released at once
    CHECK(h.fake->closed_with_reset);
    CHECK_FALSE(h.fake->fire_writable());  // the close cancelled the wait
    h.call([&] { h.t->write("after"); });
    h.step();
    h.step();
    CHECK(h.write_calls() == 1);
    CHECK(h.fake->writer.received.empty());
    REQUIRE(h.rec.lost_count == 1);
    CHECK(h.rec.lost->kind() == Reason::Kind::aborted);
}
