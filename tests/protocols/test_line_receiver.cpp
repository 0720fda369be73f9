// LineReceiver and LineOnlyReceiver, after twisted/protocols/test/test_basic.py, plus the chunking,
// re-entrancy and disconnect rules weft adds. Every input is fed whole, byte by byte and in chunks 1..9.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "weft/testing/feed.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/testing/clock.hpp"
#include "weft/testing/string_transport.hpp"

using namespace std::chrono_literals;
using weft::testing::chunkings;
using weft::testing::feed;
using weft::testing::Clock;
using weft::testing::StringTransport;

namespace {

// Twisted's LineTester: acts on some lines ("len N" then an empty line reads N raw bytes, "pause",
// "rawpause", "stop", "produce", "unproduce").
struct LineTester : weft::protocols::LineReceiver {
    explicit LineTester(Clock* c = nullptr) : clock(c) {
        set_delimiter("\n");
        set_max_length(64);
    }
    void line_received(std::string_view line) override {
        received.emplace_back(line);
        if (line.empty()) {
            set_raw_mode();
        } else if (line == "pause") {
            pause_producing();
            clock->call_later(0s, [this] { resume_producing(); });
        } else if (line == "rawpause") {
            pause_producing();
            set_raw_mode();
            received.emplace_back();
            clock->call_later(0s, [this] { resume_producing(); });
        } else if (line == "stop") {
            stop_producing();
        } else if (line.substr(0, 4) == "len ") {
            length = std::stoul(std::string(line.substr(4)));
        } else if (line.starts_with("produce")) {
            transport().register_producer(*this, false);
        } else if (line.starts_with("unproduce")) {
            transport().unregister_producer();
        }
    }
    void raw_data_received(std::string_view data) override {
        const auto take = std::min(length, data.size());
        received.back().append(data.substr(0, take));
        length -= take;
        if (length == 0) set_line_mode(data.substr(take));
    }
    void line_length_exceeded(std::string_view line) override {
        if (line.size() > max_length() + 1) set_line_mode(line.substr(max_length() + 1));
    }

    Clock* clock;
    std::vector<std::string> received;
    std::size_t length = 0;
};

// Records lines; the default line_length_exceeded (lose the connection) is kept unless told otherwise.
template <class Base>
struct Recorder : Base {
    void line_received(std::string_view line) override { lines.emplace_back(line); }
    void line_length_exceeded(std::string_view line) override {
        long_lines.emplace_back(line);
        if (disconnect_on_long) Base::line_length_exceeded(line);
    }
    std::vector<std::string> lines;
    std::vector<std::string> long_lines;
    bool disconnect_on_long = true;
};
using LineRecorder = Recorder<weft::protocols::LineReceiver>;
using LineOnlyRecorder = Recorder<weft::protocols::LineOnlyReceiver>;

const std::string line_tester_input =
    "len 10\n"
    "\n"
    "0123456789len 5\n"
    "\n"
    "1234\n"
    "len 20\n"
    "foo 123\n"
    "\n"
    "0123456789\n"
    "012345678len 0\n"
    "foo 5\n"
    "\n"
    "1234567890123456789012345678901234567890123456789012345678901234567890\n"
    "len 1\n"
    "\n"
    "a";

const std::vector<std::string> line_tester_output{
    "len 10", "0123456789", "len 5", "1234\n", "len 20", "foo 123", "0123456789\n012345678",
    "len 0",  "foo 5",      "",      "67890",  "len 1",  "a",
};

}  // namespace

TEST_CASE("LineReceiver: lines and raw data in every chunking (Twisted test_buffer)", "[basic][line]") {
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        StringTransport t;
        LineTester p;
        p.make_connection(t);
        feed(p, line_tester_input, chunk);
        CHECK(p.received == line_tester_output);
        CHECK_FALSE(t.disconnecting());
    }
}

TEST_CASE("LineReceiver: pausing inside line_received holds the rest until resume (test_pausing)",
          "[basic][line][producer]") {
    const std::string input = "twiddle1\ntwiddle2\npause\ntwiddle3\n";
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        StringTransport t;
        Clock clock;
        LineTester p(&clock);
        p.make_connection(t);
        feed(p, input, chunk);
        CHECK(p.received == std::vector<std::string>{"twiddle1", "twiddle2", "pause"});
        CHECK(t.producer_state() == StringTransport::ProducerState::paused);
        clock.advance(0s);
        CHECK(p.received == std::vector<std::string>{"twiddle1", "twiddle2", "pause", "twiddle3"});
        CHECK(t.producer_state() == StringTransport::ProducerState::producing);
    }
}

TEST_CASE("LineReceiver: pausing and switching to raw mode (test_rawPausing)", "[basic][line][producer]") {
    const std::string input = "twiddle1\ntwiddle2\nlen 5\nrawpause\n12345twiddle3\n";
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        StringTransport t;
        Clock clock;
        LineTester p(&clock);
        p.make_connection(t);
        feed(p, input, chunk);
        CHECK(p.received == std::vector<std::string>{"twiddle1", "twiddle2", "len 5", "rawpause", ""});
        clock.advance(0s);
        CHECK(p.received == std::vector<std::string>{"twiddle1", "twiddle2", "len 5", "rawpause", "12345", "twiddle3"});
    }
}

TEST_CASE("LineReceiver: stop_producing stops delivery and loses the connection (test_stopProducing)",
          "[basic][line][producer]") {
    const std::string input = "twiddle1\ntwiddle2\nstop\nmore\nstuff\n";
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        StringTransport t;
        LineTester p;
        p.make_connection(t);
        feed(p, input, chunk);
        CHECK(p.received == std::vector<std::string>{"twiddle1", "twiddle2", "stop"});
        CHECK(t.disconnect_requested());
        CHECK(t.producer_state() == StringTransport::ProducerState::stopped);
        // Nothing is delivered late, whatever arrives or is resumed afterwards.
        p.data_received("later\n");
        CHECK(p.received.size() == 3);
    }
}

TEST_CASE("LineReceiver: registers itself as a producer from line_received (test_lineReceiverAsProducer)",
          "[basic][line][producer]") {
    StringTransport t;
    LineTester p;
    p.make_connection(t);
    p.data_received("produce\nhello world\n");
    CHECK(t.producer() == &p);
    CHECK_FALSE(t.streaming());
    p.data_received("unproduce\ngoodbye\n");
    CHECK(t.producer() == nullptr);
    CHECK(p.received == std::vector<std::string>{"produce", "hello world", "unproduce", "goodbye"});
}

TEST_CASE("LineReceiver: clear_line_buffer from line_received returns and drops the rest (test_clearLineBuffer)",
          "[basic][line]") {
    struct Clearing : weft::protocols::LineReceiver {
        void line_received(std::string_view l) override {
            line = l;
            rest = clear_line_buffer();
        }
        std::string line, rest;
    };
    Clearing p;  // no transport at all, as in Twisted's test
    p.data_received("foo\r\nbar\r\nbaz");
    CHECK(p.line == "foo");
    CHECK(p.rest == "bar\r\nbaz");
    p.data_received("quux\r\n");  // the cleared bytes are really gone
    CHECK(p.line == "quux");
    CHECK(p.rest.empty());
    SECTION("the rest includes a partial line buffered from an earlier chunk") {
        Clearing q;
        q.data_received("fo");
        q.data_received("o\r\nbar");
        CHECK(q.line == "foo");
        CHECK(q.rest == "bar");
    }
    SECTION("outside a delivery it empties the partial line") {
        LineRecorder r;
        r.data_received("abc");
        CHECK(r.clear_line_buffer() == "abc");
        r.data_received("def\r\n");
        CHECK(r.lines == std::vector<std::string>{"def"});
    }
}

TEST_CASE("LineReceiver: flipping between raw and line mode many times uses no recursion (test_stackRecursion)",
          "[basic][line]") {
    // Twisted's FlippingLineTester: every line switches to raw mode, every raw chunk switches back, handing
    // back all but its first byte.
    struct Flipping : weft::protocols::LineReceiver {
        explicit Flipping(bool copy_extra) : copy(copy_extra) { set_delimiter("\n"); }
        void line_received(std::string_view line) override {
            lines.append(line);
            ++count;
            set_raw_mode();
        }
        void raw_data_received(std::string_view data) override {
            ++depth;
            max_depth = std::max(max_depth, depth);
            if (copy) {
                const std::string extra(data.substr(1));  // not a view into our input: the copying path
                set_line_mode(extra);
            } else {
                set_line_mode(data.substr(1));
            }
            --depth;
        }
        bool copy;
        int depth = 0, max_depth = 0;
        std::string lines;
        std::size_t count = 0;
    };
    const std::size_t flips = GENERATE(as<std::size_t>{}, 1000, 100000);
    for (const bool copy : {false, true}) {
        if (copy && flips > 1000) continue;  // the copying path is quadratic, as in Twisted
        std::string input;
        for (std::size_t i = 0; i < flips; ++i) input += "x\nx";
        StringTransport t;
        Flipping p(copy);
        p.make_connection(t);
        p.data_received(input);
        CHECK(p.count == flips);
        CHECK(p.lines == std::string(flips, 'x'));
        CHECK(p.max_depth == 1);  // set_line_mode(extra) never parses inside the raw callback
    }
}

TEST_CASE("LineReceiver: a line longer than max_length loses the connection (test_maximumLineLength)",
          "[basic][line][limits]") {
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        StringTransport t;
        LineRecorder p;
        p.disconnect_on_long = true;
        p.make_connection(t);
        feed(p, std::string(p.max_length() + 1, 'x') + "\r\nr", chunk);
        CHECK(t.disconnecting());
        CHECK(p.lines.empty());
        CHECK(p.long_lines.size() == 1);
        CHECK(p.long_lines.at(0).size() >= p.max_length() + 1);
    }
}

TEST_CASE("LineReceiver: a finished line of max_length is fine even if its delimiter was split "
          "(test_maximumLineLengthPartialDelimiter)",
          "[basic][line][limits]") {
    for (const std::string delim : {"\n", "\r\n", "abc"}) {
        StringTransport t;
        LineRecorder p;
        p.set_delimiter(delim);
        p.set_max_length(4);
        p.make_connection(t);
        const std::string line(3, 'x');
        p.data_received(line);
        p.data_received(delim.substr(0, delim.size() - 1));
        p.data_received(delim.substr(delim.size() - 1) + line);
        CHECK_FALSE(t.disconnecting());
        CHECK(p.lines == std::vector<std::string>{line});
        // A full max_length line plus all but the last delimiter byte is not over the limit either.
        p.data_received("y" + delim + std::string(4, 'z') + delim.substr(0, delim.size() - 1));
        CHECK_FALSE(t.disconnecting());
        p.data_received(delim.substr(delim.size() - 1));
        CHECK(p.lines == std::vector<std::string>{line, "xxxy", "zzzz"});
        CHECK(p.long_lines.empty());
    }
}

TEST_CASE("LineReceiver: an unfinished line of max_length plus a partial delimiter is not too long "
          "(test_notQuiteMaximumLineLengthUnfinished)",
          "[basic][line][limits]") {
    for (const auto chunk : chunkings) {
        StringTransport t;
        LineRecorder p;
        p.make_connection(t);
        feed(p, std::string(p.max_length(), 'x') + "\r", chunk);
        CHECK_FALSE(t.disconnecting());
        CHECK(p.long_lines.empty());
        // One more byte that is not the end of the delimiter makes it certain.
        p.data_received("y");
        CHECK(t.disconnecting());
        CHECK(p.long_lines.size() == 1);
        CHECK(p.long_lines.at(0) == std::string(p.max_length(), 'x') + "\ry");
    }
}

TEST_CASE("LineReceiver: line_length_exceeded gets everything buffered from the long line on "
          "(LineReceiverLineLengthExceededTests)",
          "[basic][line][limits]") {
    StringTransport t;
    LineRecorder p;
    p.disconnect_on_long = false;
    p.set_max_length(6);
    p.make_connection(t);
    const std::string excessive(6 * 2 + 2, 'x');

    SECTION("a long unended line") {
        p.data_received(excessive);
        CHECK(p.long_lines == std::vector<std::string>{excessive});
    }
    SECTION("a long line after a short one") {
        p.data_received("x\r\n" + excessive);
        CHECK(p.lines == std::vector<std::string>{"x"});
        CHECK(p.long_lines == std::vector<std::string>{excessive});
    }
    SECTION("a long line with a delimiter") {
        const std::string input = excessive + "\r\n" + excessive;
        p.data_received(input);
        CHECK(p.long_lines == std::vector<std::string>{input});
    }
    SECTION("multiple long lines") {
        const std::string input = excessive + "\r\n" + excessive + "\r\n";
        p.data_received(input);
        CHECK(p.long_lines == std::vector<std::string>{input});
    }
    SECTION("the buffer is emptied: parsing starts afresh") {
        p.data_received(excessive);
        p.data_received("ok\r\n");
        CHECK(p.lines == std::vector<std::string>{"ok"});
    }
    SECTION("a long line started in an earlier chunk") {
        p.data_received("xxxx");
        p.data_received("xxx\r\nrest");
        CHECK(p.long_lines == std::vector<std::string>{"xxxxxxx\r\nrest"});
    }
    CHECK(p.long_lines.size() == 1);
}

TEST_CASE("LineReceiver: an unfinished line of max_length + delimiter size loses the connection "
          "(test_maximumLineLengthRemaining)",
          "[basic][line][limits]") {
    for (const auto chunk : chunkings) {
        StringTransport t;
        LineRecorder p;
        p.make_connection(t);
        feed(p, std::string(p.max_length() + 2, 'x'), chunk);
        CHECK(t.disconnecting());
        CHECK(p.long_lines.size() == 1);
    }
}

TEST_CASE("LineReceiver: delivery stops once the transport is disconnecting, the rest is dropped",
          "[basic][line]") {
    struct Quitter : weft::protocols::LineReceiver {
        void line_received(std::string_view line) override {
            lines.emplace_back(line);
            if (line == "quit") transport().lose_connection();
            if (line == "raw") set_raw_mode();
        }
        void raw_data_received(std::string_view data) override {
            raw.append(data);
            if (raw.find("QUIT") != std::string::npos) transport().lose_connection();
        }
        std::vector<std::string> lines;
        std::string raw;
    };
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        StringTransport t;
        Quitter p;
        p.make_connection(t);
        feed(p, "a\r\nquit\r\nb\r\nc\r\n", chunk);
        CHECK(p.lines == std::vector<std::string>{"a", "quit"});
        p.data_received("d\r\n");
        p.resume_producing();
        CHECK(p.lines == std::vector<std::string>{"a", "quit"});
    }
    SECTION("in raw mode too") {
        StringTransport t;
        Quitter p;
        p.make_connection(t);
        p.data_received("raw\r\n12QUIT");
        p.data_received("34");
        CHECK(p.raw == "12QUIT");
    }
}

TEST_CASE("LineReceiver: data_received from inside line_received only buffers", "[basic][line]") {
    struct Injector : weft::protocols::LineReceiver {
        void line_received(std::string_view line) override {
            ++depth;
            max_depth = std::max(max_depth, depth);
            lines.emplace_back(line);
            if (line == "inject") data_received("one\r\n");
            if (line == "inject2") data_received("two\r\n");
            --depth;
        }
        std::vector<std::string> lines;
        int depth = 0, max_depth = 0;
    };
    // Injected bytes go after everything received so far, in the order they were injected, and are
    // parsed by the outer delivery (depth 1).
    const std::string input = "a\r\ninject\r\nb\r\ninject2\r\nc\r\n";
    Injector whole;
    whole.data_received(input);
    CHECK(whole.max_depth == 1);
    CHECK(whole.lines == std::vector<std::string>{"a", "inject", "b", "inject2", "c", "one", "two"});
    Injector bytes;
    feed(bytes, input, 1);
    CHECK(bytes.max_depth == 1);
    CHECK(bytes.lines == std::vector<std::string>{"a", "inject", "one", "b", "inject2", "two", "c"});
}

TEST_CASE("LineReceiver: a protocol that pauses after each line gets exactly one line per resume "
          "(ProducerTests.test_pauseResume)",
          "[basic][line][producer]") {
    struct Consuming : weft::protocols::LineReceiver {
        void line_received(std::string_view line) override {
            transport().write(line);
            transport().write("|");
            pause_producing();
        }
    };
    using State = StringTransport::ProducerState;
    StringTransport t;
    Consuming p;
    p.make_connection(t);

    p.data_received("hello, ");
    CHECK(t.value().empty());
    CHECK(t.producer_state() == State::producing);
    CHECK_FALSE(p.paused());

    p.data_received("world\r\n");
    CHECK(t.value() == "hello, world|");
    CHECK(t.producer_state() == State::paused);
    CHECK(p.paused());

    p.resume_producing();  // nothing is waiting
    CHECK(t.value() == "hello, world|");
    CHECK(t.producer_state() == State::producing);
    CHECK_FALSE(p.paused());

    p.data_received("hello\r\nworld\r\n");
    CHECK(t.value() == "hello, world|hello|");
    CHECK(p.paused());

    p.resume_producing();
    CHECK(t.value() == "hello, world|hello|world|");
    CHECK(p.paused());

    p.data_received("goodbye\r\n");  // while paused: kept
    CHECK(t.value() == "hello, world|hello|world|");

    p.resume_producing();
    CHECK(t.value() == "hello, world|hello|world|goodbye|");
    CHECK(p.paused());

    p.resume_producing();
    CHECK(t.value() == "hello, world|hello|world|goodbye|");
    CHECK_FALSE(p.paused());
    CHECK(t.producer_state() == State::producing);

    SECTION("many lines in one chunk, one per resume, in every chunking") {
        for (const auto chunk : chunkings) {
            CAPTURE(chunk);
            StringTransport t2;
            Consuming q;
            q.make_connection(t2);
            feed(q, "1\r\n22\r\n333\r\n4444\r\n", chunk);
            CHECK(t2.value() == "1|");
            q.resume_producing();
            CHECK(t2.value() == "1|22|");
            q.resume_producing();
            CHECK(t2.value() == "1|22|333|");
            q.resume_producing();
            CHECK(t2.value() == "1|22|333|4444|");
            CHECK(q.paused());
            q.resume_producing();
            CHECK(t2.value() == "1|22|333|4444|");
            CHECK_FALSE(q.paused());
        }
    }
}

TEST_CASE("LineReceiver: multi-byte and self-overlapping delimiters in every chunking", "[basic][line]") {
    struct Case {
        std::string delimiter, input;
        std::vector<std::string> lines;
    };
    const std::vector<Case> cases{
        {"\r\n", "a\r\n\r\nb\rc\r\n\n\r\r\n", {"a", "", "b\rc", "\n\r"}},
        {"aab", "xaaabyaabaab", {"xa", "y", ""}},
        {"||", "|a|||b||||", {"|a", "|b", ""}},
        {std::string(1, '\0'), std::string("one\0two\0\0", 9), {"one", "two", ""}},
    };
    for (const auto& c : cases) {
        for (const auto chunk : chunkings) {
            CAPTURE(c.delimiter, chunk);
            LineRecorder p;
            p.set_delimiter(c.delimiter);
            feed(p, c.input, chunk);
            CHECK(p.lines == c.lines);
            LineOnlyRecorder q;
            q.set_delimiter(c.delimiter);
            feed(q, c.input, chunk);
            CHECK(q.lines == c.lines);
        }
    }
}

TEST_CASE("LineReceiver: send_line, delimiter and defaults", "[basic][line]") {
    StringTransport t;
    LineRecorder p;
    p.make_connection(t);
    CHECK(p.delimiter() == "\r\n");
    CHECK(p.max_length() == 16384);
    CHECK(p.line_mode());
    p.send_line("hello");
    p.set_delimiter("\n");
    p.send_line("");
    CHECK(t.value() == "hello\r\n\n");
    CHECK_THROWS_AS(p.set_delimiter(""), std::invalid_argument);
    SECTION("raw mode without raw_data_received is an error (test_rawDataReceivedNotImplemented)") {
        p.set_raw_mode();
        CHECK_THROWS_AS(p.data_received("data"), weft::protocols::NotImplementedError);
    }
}

TEST_CASE("LineOnlyReceiver: lines in every chunking (test_buffer)", "[basic][lineonly]") {
    const std::string input = "foo\n    bleakness\n    desolation\n    plastic forks\n    ";
    for (const auto chunk : chunkings) {
        StringTransport t;
        LineOnlyRecorder p;
        p.set_delimiter("\n");
        p.set_max_length(64);
        p.make_connection(t);
        feed(p, input, chunk);
        CHECK(p.lines ==
              std::vector<std::string>{"foo", "    bleakness", "    desolation", "    plastic forks"});
    }
}

TEST_CASE("LineOnlyReceiver: max_length follows LineReceiver's rule (test_greaterThanMaximumLineLength)",
          "[basic][lineonly][limits]") {
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        SECTION("a long finished line") {
            StringTransport t;
            LineOnlyRecorder p;
            p.make_connection(t);
            feed(p, "ok\r\n" + std::string(p.max_length() + 1, 'x') + "\r\nr\r\n", chunk);
            CHECK(t.disconnecting());
            CHECK(p.lines == std::vector<std::string>{"ok"});
            REQUIRE(p.long_lines.size() == 1);
            CHECK(p.long_lines[0].substr(0, p.max_length() + 1) == std::string(p.max_length() + 1, 'x'));
            if (chunk == 0) CHECK(p.long_lines[0] == std::string(p.max_length() + 1, 'x'));
        }
        SECTION("max_length bytes and a partial delimiter is not too long") {
            StringTransport t;
            LineOnlyRecorder p;
            p.make_connection(t);
            feed(p, std::string(p.max_length(), 'x') + "\r", chunk);
            CHECK_FALSE(t.disconnecting());
            p.data_received("\n");
            CHECK(p.lines == std::vector<std::string>{std::string(p.max_length(), 'x')});
        }
        SECTION("an unfinished line of max_length + delimiter size") {
            StringTransport t;
            LineOnlyRecorder p;
            p.make_connection(t);
            feed(p, std::string(p.max_length() + 2, 'x'), chunk);
            CHECK(t.disconnecting());
            CHECK(p.long_lines.size() == 1);
        }
    }
}

TEST_CASE("LineOnlyReceiver: stops at lose_connection, re-entrant input only buffers", "[basic][lineonly]") {
    struct P : weft::protocols::LineOnlyReceiver {
        void line_received(std::string_view line) override {
            ++depth;
            max_depth = std::max(max_depth, depth);
            lines.emplace_back(line);
            if (line == "quit") transport().lose_connection();
            if (line == "inject") data_received("x\r\n");
            --depth;
        }
        std::vector<std::string> lines;
        int depth = 0, max_depth = 0;
    };
    P whole;
    whole.data_received("inject\r\na\r\n");
    CHECK(whole.max_depth == 1);
    CHECK(whole.lines == std::vector<std::string>{"inject", "a", "x"});
    P bytes;
    feed(bytes, "inject\r\na\r\n", 1);
    CHECK(bytes.max_depth == 1);
    CHECK(bytes.lines == std::vector<std::string>{"inject", "x", "a"});
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        StringTransport t;
        P p;
        p.make_connection(t);
        feed(p, "a\r\nquit\r\nb\r\nc\r\n", chunk);
        p.data_received("d\r\n");
        CHECK(p.lines == std::vector<std::string>{"a", "quit"});
        CHECK(t.disconnecting());
    }
}

TEMPLATE_TEST_CASE("Line receivers: a delimiter changed from line_received applies to the rest at once",
                   "[basic][line][lineonly]", weft::protocols::LineReceiver, weft::protocols::LineOnlyReceiver) {
    struct Switching : TestType {
        void line_received(std::string_view line) override {
            lines.emplace_back(line);
            if (line == "SWITCH") this->set_delimiter("\n");
            if (line == "BACK") this->set_delimiter("\r\n");
        }
        std::vector<std::string> lines;
    };
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        Switching p;
        feed(p, "a\r\nSWITCH\r\nb\nc\r\nBACK\nd\ne\r\n", chunk);
        CHECK(p.lines == std::vector<std::string>{"a", "SWITCH", "b", "c\r", "BACK", "d\ne"});
    }
    SECTION("changed between deliveries, it applies to the partial line already buffered") {
        Switching p;
        p.data_received("ab\nc");
        CHECK(p.lines.empty());
        p.set_delimiter("\n");
        p.data_received("d\n");
        CHECK(p.lines == std::vector<std::string>{"ab", "cd"});
    }
}

TEST_CASE("stop_producing inside line_received drops the rest of the input, now and later", "[basic][line]") {
    // Found by fuzz_line_receiver: stop_producing() pauses *and* loses the connection; input that can
    // never be delivered must be dropped, not kept (and grown by what the peer still sends).
    LineTester p;
    StringTransport t;
    p.make_connection(t);
    p.data_received("a\nstop\nkept after stop\n");
    p.data_received("and more from the peer\n");
    CHECK(p.received == std::vector<std::string>{"a", "stop"});
    CHECK(t.disconnecting());
    CHECK(p.clear_line_buffer().empty());
}
