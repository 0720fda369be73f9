// LineStream over weft::testing::StringTransport: reads in order and at the end, one reader at a time,
// cancel, backpressure both ways, over-long lines, and lifetimes (the handle outlives the protocol).
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/deferred_results.hpp"
#include "weft/coroutine.hpp"
#include "weft/protocols/line_stream.hpp"
#include "weft/testing/string_transport.hpp"

using weft::Deferred;
using weft::Failure;
using weft::Reason;
using weft::protocols::LineStream;
using weft::protocols::LineStreamHandle;
using weft::testing::StringTransport;
using Line = std::optional<std::string>;

namespace {

using weft_test::failure_of;
using weft_test::result_of;

struct Connected {
    StringTransport transport;
    std::unique_ptr<LineStream> stream;
    explicit Connected(std::unique_ptr<LineStream> s = std::make_unique<LineStream>()) : stream(std::move(s)) {
        stream->make_connection(transport);
    }
    void lose(const Reason& reason) {
        transport.set_state(weft::ConnectionState::disconnected);
        stream->connection_lost(reason);
    }
};

}  // namespace

TEST_CASE("LineStream: lines already received come from fired Deferreds, later ones resume the reader",
          "[line_stream]") {
    Connected c;
    c.stream->data_received("one\r\ntwo\r\nthr");
    Deferred<Line> first = c.stream->read_line();
    CHECK(first.called());
    CHECK(result_of(first) == Line("one"));
    CHECK(result_of(c.stream->read_line()) == Line("two"));
    Deferred<Line> third = c.stream->read_line();
    CHECK_FALSE(third.called());
    c.stream->data_received("ee\r\n");
    CHECK(result_of(third) == Line("three"));
}

TEST_CASE("LineStream: a coroutine reads and writes top to bottom; nullopt at a clean end", "[line_stream]") {
    Connected c;
    std::vector<std::string> got;
    bool ended = false;
    auto session = [&](LineStreamHandle s) -> Deferred<void> {
        s.write_line("HELLO");
        while (auto line = co_await s.read_line()) {
            got.push_back(*line);
            s.write_line("echo: " + *line);
        }
        ended = true;
    };
    auto done = session(c.stream->handle());
    CHECK(c.transport.value() == "HELLO\r\n");
    c.stream->data_received("a\r\nb\r\n");
    CHECK(got == std::vector<std::string>{"a", "b"});
    CHECK(c.transport.value() == "HELLO\r\necho: a\r\necho: b\r\n");
    c.lose(Reason::done());
    CHECK(ended);
    CHECK(done.called());
}

TEST_CASE("LineStream: a connection lost with an error fails the read after the lines received before it",
          "[line_stream]") {
    Connected c;
    c.stream->data_received("last\r\n");
    c.lose(Reason::lost(std::make_error_code(std::errc::connection_reset)));
    CHECK(result_of(c.stream->read_line()) == Line("last"));
    auto f = failure_of(c.stream->read_line());
    REQUIRE(f);
    CHECK(f->check<weft::protocols::ConnectionLostError>());
    // A pending read fails the same way.
    Connected c2;
    auto pending = c2.stream->read_line();
    c2.lose(Reason::aborted());
    auto f2 = failure_of(pending);
    REQUIRE(f2);
    CHECK(f2->check<weft::protocols::ConnectionLostError>());
}

TEST_CASE("LineStream: a second read_line while one is pending is a StateError; a cancelled one leaves the line",
          "[line_stream]") {
    Connected c;
    auto first = c.stream->read_line();
    auto second = failure_of(c.stream->read_line());
    REQUIRE(second);
    CHECK(second->check<weft::StateError>());
    first.cancel();
    CHECK(failure_of(first)->check<weft::CancelledError>());
    c.stream->data_received("kept\r\n");
    CHECK(result_of(c.stream->read_line()) == Line("kept"));
}

TEST_CASE("LineStream: lines not read are bounded: the stream pauses its transport above the limit",
          "[line_stream][backpressure]") {
    Connected c(std::make_unique<LineStream>(200));  // 200 bytes: 4 lines of 10 + 32 overhead fit, the 5th pauses
    std::string input;
    for (int i = 0; i < 100; ++i) input += "line-" + std::to_string(1000 + i) + "\r\n";  // 9 bytes a line
    c.stream->data_received(input);
    CHECK(c.stream->paused());
    CHECK(c.transport.producer_state() == StringTransport::ProducerState::paused);
    const std::size_t held = c.stream->buffered_lines();
    CHECK(held == 5);  // 5 * (9 + 32) = 205 > 200: paused after the 5th line; the rest waits unparsed
    std::vector<std::string> got;
    std::size_t max_held = held;
    for (int i = 0; i < 100; ++i) {
        auto line = result_of(c.stream->read_line());
        REQUIRE(line);
        REQUIRE(*line);
        got.push_back(**line);
        max_held = std::max(max_held, c.stream->buffered_lines());
    }
    CHECK(got.front() == "line-1000");
    CHECK(got.back() == "line-1099");
    CHECK(max_held <= 5);
    CHECK_FALSE(c.stream->paused());
    CHECK(c.transport.producer_state() == StringTransport::ProducerState::producing);
}

TEST_CASE("LineStream: an over-long line loses the connection; the reads after the lines before it fail",
          "[line_stream]") {
    Connected c;
    c.stream->set_max_length(10);
    c.stream->data_received("short\r\n" + std::string(50, 'x') + "\r\n");
    CHECK(c.transport.disconnect_requested());
    CHECK(result_of(c.stream->read_line()) == Line("short"));
    auto f = failure_of(c.stream->read_line());
    REQUIRE(f);
    CHECK(f->check<weft::protocols::LineTooLongError>());

    Connected c2;
    c2.stream->set_max_length(10);
    auto pending = c2.stream->read_line();
    c2.stream->data_received(std::string(50, 'x'));
    auto f2 = failure_of(pending);
    REQUIRE(f2);
    CHECK(f2->check<weft::protocols::LineTooLongError>());
}

TEST_CASE("LineStream: drain waits while the transport has paused the stream's writing", "[line_stream][backpressure]") {
    Connected c;
    REQUIRE(c.transport.producer() != nullptr);  // registered as the transport's streaming producer
    CHECK(c.transport.streaming());
    CHECK(c.stream->drain().called());
    c.transport.producer()->pause_producing();  // what the transport does above its high watermark
    auto d = c.stream->drain();
    auto d2 = c.stream->drain();
    CHECK_FALSE(d.called());
    c.transport.producer()->resume_producing();  // ...and at its low watermark
    CHECK(d.called());
    CHECK(d2.called());

    c.transport.producer()->pause_producing();
    auto lost = c.stream->drain();
    c.lose(Reason::lost(std::make_error_code(std::errc::broken_pipe)));
    auto f = failure_of(lost);
    REQUIRE(f);
    CHECK(f->check<weft::protocols::ConnectionLostError>());
    CHECK(failure_of(c.stream->drain()));
}

TEST_CASE("LineStream: the handle outlives the protocol; closed() fires at connection_lost", "[line_stream][lifetime]") {
    Connected c;
    LineStreamHandle h = c.stream->handle();
    auto closed = h.closed();
    c.stream->data_received("left over\r\n");
    h.close();
    CHECK(c.transport.disconnect_requested());
    c.lose(Reason::done());
    CHECK(closed.called());
    c.stream.reset();  // the connection destroys its protocol after connection_lost
    CHECK_FALSE(h.connected());
    CHECK(result_of(h.read_line()) == Line("left over"));
    auto end = result_of(h.read_line());
    REQUIRE(end);
    CHECK_FALSE(end->has_value());
    h.write_line("dropped");  // no transport: ignored
    CHECK(h.drain().called());
    CHECK(h.closed().called());
}

TEST_CASE("LineStream: destroyed without connection_lost, a coroutine waiting on it is destroyed (no leak)",
          "[line_stream][lifetime]") {
    bool frame_gone = false;
    struct Sentinel {
        bool* flag;
        ~Sentinel() { *flag = true; }
    };
    {
        Connected c;
        auto session = [&](LineStreamHandle s) -> Deferred<void> {
            Sentinel guard{&frame_gone};
            co_await s.read_line();
        };
        session(c.stream->handle());
        CHECK_FALSE(frame_gone);
    }
    CHECK(frame_gone);
}

TEST_CASE("LineStream: a handler runs from connection_made", "[line_stream]") {
    std::vector<std::string> got;
    auto stream = std::make_unique<LineStream>([&](LineStreamHandle s) -> Deferred<void> {
        s.write_line("ready");
        auto line = co_await s.read_line();
        got.push_back(line.value_or("<end>"));
    });
    Connected c(std::move(stream));
    CHECK(c.transport.value() == "ready\r\n");
    c.stream->data_received("go\r\n");
    CHECK(got == std::vector<std::string>{"go"});
}
