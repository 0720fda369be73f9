// Int8/16/32StringReceiver and NetstringReceiver, after twisted/protocols/test/test_basic.py.
#include <catch2/catch.hpp>

#include <string>
#include <tuple>
#include <vector>

#include "weft/testing/feed.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/testing/string_transport.hpp"

using weft::testing::chunkings;
using weft::testing::feed;
using weft::testing::StringTransport;

namespace {

template <class Base>
struct Strings : Base {
    Strings() { this->set_max_length(50); }  // Twisted's TestMixin
    void string_received(std::string_view s) override { received.emplace_back(s); }
    std::vector<std::string> received;
};

template <class Base>
struct LimitRecorder : Strings<Base> {
    void length_limit_exceeded(std::size_t length) override { lengths.push_back(length); }
    std::vector<std::size_t> lengths;
};

// Big-endian prefix of `size` bytes, as Python's struct.pack("!B"/"!H"/"!I").
std::string prefix(std::size_t size, std::size_t length) {
    std::string out(size, '\0');
    for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((length >> (8 * (size - 1 - i))) & 0xff);
    return out;
}

std::string netstring(std::string_view s) { return std::to_string(s.size()) + ":" + std::string(s) + ","; }

}  // namespace

TEMPLATE_TEST_CASE("IntNStringReceiver: strings in every chunking (test_receive, test_data)", "[basic][intn]",
                   weft::protocols::Int8StringReceiver, weft::protocols::Int16StringReceiver,
                   weft::protocols::Int32StringReceiver) {
    const std::vector<std::string> strings{"a", std::string(16, 'b'), "", std::string(50, 'c'), "d"};
    Strings<TestType> probe;
    std::string input;
    for (const auto& s : strings) input += prefix(probe.prefix_length(), s.size()) + s;
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        StringTransport t;
        Strings<TestType> r;
        r.make_connection(t);
        feed(r, input, chunk);
        CHECK(r.received == strings);
        CHECK_FALSE(t.disconnecting());
    }
}

TEMPLATE_TEST_CASE("IntNStringReceiver: partial input delivers nothing (test_partial)", "[basic][intn]",
                   weft::protocols::Int8StringReceiver, weft::protocols::Int16StringReceiver,
                   weft::protocols::Int32StringReceiver) {
    Strings<TestType> probe;
    const std::size_t n = probe.prefix_length();
    for (const std::string& partial : std::vector<std::string>{prefix(n, 8) + "dzadz", prefix(n, 1).substr(0, n - 1), std::string()}) {
        for (const auto chunk : chunkings) {
            StringTransport t;
            Strings<TestType> r;
            r.make_connection(t);
            feed(r, partial, chunk);
            CHECK(r.received.empty());
        }
    }
}

TEMPLATE_TEST_CASE("IntNStringReceiver: send_string frames with the prefix (test_send, test_tooLongSend)",
                   "[basic][intn]", weft::protocols::Int8StringReceiver, weft::protocols::Int16StringReceiver,
                   weft::protocols::Int32StringReceiver) {
    StringTransport t;
    Strings<TestType> r;
    r.make_connection(t);
    const std::size_t n = r.prefix_length();
    r.send_string(std::string(16, 'b'));
    CHECK(t.value() == prefix(n, 16) + std::string(16, 'b'));
    t.clear();
    r.send_string("foo");
    CHECK(t.value() == std::string(n - 1, '\0') + "\x03" + "foo");
    if (n < 4) {
        t.clear();
        const std::size_t max = (std::size_t{1} << (8 * n)) - 1;
        r.send_string(std::string(max, 'x'));
        CHECK(t.value().size() == n + max);
        CHECK_THROWS_AS(r.send_string(std::string(max + 1, 'x')), weft::protocols::StringTooLongError);
        CHECK(t.value().size() == n + max);  // nothing written by the failed call
    }
}

TEMPLATE_TEST_CASE("IntNStringReceiver: a prefix above max_length calls length_limit_exceeded "
                   "(test_lengthLimitExceeded, test_longStringNotDelivered, test_illegal)",
                   "[basic][intn][limits]", weft::protocols::Int8StringReceiver,
                   weft::protocols::Int16StringReceiver, weft::protocols::Int32StringReceiver) {
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        StringTransport t;
        LimitRecorder<TestType> r;
        r.set_max_length(10);
        r.make_connection(t);
        const std::size_t n = r.prefix_length();
        feed(r, prefix(n, 3) + "abc" + prefix(n, 11) + std::string(11, 'x') + prefix(n, 2) + "ok", chunk);
        // The over-long string's payload is skipped; parsing goes on after it.
        CHECK(r.received == std::vector<std::string>{"abc", "ok"});
        CHECK(r.lengths == std::vector<std::size_t>{11});
        CHECK_FALSE(t.disconnecting());  // the override does not disconnect
    }
    SECTION("the default loses the connection, byte by byte") {
        StringTransport t;
        Strings<TestType> r;  // max_length 50
        r.make_connection(t);
        const std::size_t n = r.prefix_length();
        feed(r, prefix(n, 51) + std::string(51, 'a'), 1);
        CHECK(t.disconnecting());
        CHECK(r.received.empty());
    }
    SECTION("max_length itself is allowed; default max_length is 99999") {
        StringTransport t;
        Strings<TestType> r;
        r.make_connection(t);
        const std::size_t n = r.prefix_length();
        feed(r, prefix(n, 50) + std::string(50, 'a'), 3);
        CHECK(r.received.size() == 1);
        struct Plain : TestType {
            void string_received(std::string_view) override {}
        };
        CHECK(Plain{}.max_length() == 99999);
    }
}

TEMPLATE_TEST_CASE("IntNStringReceiver: pausing after each string gets one string per resume",
                   "[basic][intn][producer]", weft::protocols::Int8StringReceiver,
                   weft::protocols::Int16StringReceiver, weft::protocols::Int32StringReceiver) {
    struct Pausing : Strings<TestType> {
        void string_received(std::string_view s) override {
            Strings<TestType>::string_received(s);
            this->pause_producing();
        }
    };
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        StringTransport t;
        Pausing r;
        r.make_connection(t);
        const std::size_t n = r.prefix_length();
        feed(r, prefix(n, 1) + "a" + prefix(n, 2) + "bb" + prefix(n, 0) + prefix(n, 1), chunk);
        CHECK(r.received == std::vector<std::string>{"a"});
        CHECK(t.producer_state() == StringTransport::ProducerState::paused);
        r.resume_producing();
        CHECK(r.received == std::vector<std::string>{"a", "bb"});
        r.resume_producing();
        CHECK(r.received == std::vector<std::string>{"a", "bb", ""});
        r.resume_producing();  // only a prefix is waiting
        CHECK(r.received.size() == 3);
        CHECK_FALSE(r.paused());
        r.data_received("c");
        CHECK(r.received == std::vector<std::string>{"a", "bb", "", "c"});
    }
}

TEMPLATE_TEST_CASE("IntNStringReceiver: re-entrant input only buffers, nothing after lose_connection",
                   "[basic][intn]", weft::protocols::Int8StringReceiver, weft::protocols::Int16StringReceiver,
                   weft::protocols::Int32StringReceiver) {
    struct P : Strings<TestType> {
        void string_received(std::string_view s) override {
            ++depth;
            max_depth = std::max(max_depth, depth);
            Strings<TestType>::string_received(s);
            if (s == "inject") this->data_received(prefix(this->prefix_length(), 1) + "x");
            if (s == "quit") this->transport().lose_connection();
            --depth;
        }
        int depth = 0, max_depth = 0;
    };
    StringTransport t;
    P r;
    r.make_connection(t);
    const std::size_t n = r.prefix_length();
    r.data_received(prefix(n, 6) + "inject" + prefix(n, 1) + "a");
    CHECK(r.max_depth == 1);
    CHECK(r.received == std::vector<std::string>{"inject", "a", "x"});
    r.data_received(prefix(n, 4) + "quit" + prefix(n, 1) + "b");
    r.data_received(prefix(n, 1) + "c");
    CHECK(r.received == std::vector<std::string>{"inject", "a", "x", "quit"});
}

TEST_CASE("NetstringReceiver: strings in every chunking (test_buffer)", "[basic][netstring]") {
    const std::vector<std::string> strings{"hello", "world", "how", "are", "you123", ":today", std::string(515, 'a'),
                                           "",      "1:a,"};
    for (const auto chunk : chunkings) {
        CAPTURE(chunk);
        StringTransport t;
        Strings<weft::protocols::NetstringReceiver> r;
        r.set_max_length(699);
        r.make_connection(t);
        for (const auto& s : strings) r.send_string(s);
        const std::string out = t.clear();
        feed(r, out, chunk);
        CHECK(r.received == strings);
        CHECK_FALSE(r.broken_peer());
    }
}

TEST_CASE("NetstringReceiver: valid netstrings (Twisted's receive tests)", "[basic][netstring]") {
    struct Case {
        std::vector<std::string> parts;
        std::vector<std::string> strings;
    };
    const std::vector<Case> cases{
        {{"0:,"}, {""}},
        {{"1:a,"}, {"a"}},
        {{"2:ab,"}, {"ab"}},
        {{"4:1:a,,"}, {"1:a,"}},                                   // nested
        {{"4:aa", "aa,"}, {"aaaa"}},                               // portions 1
        {{"1", "0:01234", "56789", ","}, {"0123456789"}},          // portions 2
        {{"2", ":", "a", "b", ","}, {"ab"}},                       // portions 3
        {{"1:a,1", ":b,"}, {"a", "b"}},                            // two netstrings
        {{"50:" + std::string(50, 'x') + ","}, {std::string(50, 'x')}},  // exactly max_length
    };
    for (const auto& c : cases) {
        CAPTURE(c.parts);
        StringTransport t;
        Strings<weft::protocols::NetstringReceiver> r;
        r.make_connection(t);
        for (const auto& part : c.parts) r.data_received(part);
        CHECK(r.received == c.strings);
        CHECK_FALSE(t.disconnecting());
        CHECK_FALSE(r.broken_peer());
    }
}

TEST_CASE("NetstringReceiver: every parse error loses the connection and marks the peer broken",
          "[basic][netstring]") {
    const std::vector<std::string> illegal{
        "9999999999999999999999",  // too long (and would overflow)
        "abc",                     // no length
        "4:abcde",                 // no comma
        "51:" + std::string(50, 'a') + "b,",  // over max_length (50)
        "2:aaa,",                  // more data than specified
        "0:a,",                    // border case of the above
        ":aaa,",                   // missing number
        "3aaa,",                   // missing colon
        "aaa,",                    // missing number and colon
        "aaa",                     // only data
        "01:a,",                   // leading zero
        "00:,",                    // leading zero
        "51",                      // over max_length before the colon arrives
    };
    for (const auto& s : illegal) {
        for (const auto chunk : chunkings) {
            CAPTURE(s, chunk);
            StringTransport t;
            Strings<weft::protocols::NetstringReceiver> r;
            r.make_connection(t);
            feed(r, s, chunk);
            CHECK(t.disconnecting());
            CHECK(r.broken_peer());
            CHECK(r.received.empty());
        }
    }
    SECTION("a broken peer's later input is ignored, even if valid") {
        Strings<weft::protocols::NetstringReceiver> r;  // no transport: nothing stops delivery but the flag
        r.data_received("1:a,x");
        CHECK(r.broken_peer());
        r.data_received("1:b,");
        CHECK(r.received == std::vector<std::string>{"a"});
    }
}

TEST_CASE("NetstringReceiver: length limit border cases (test_consumeLengthBorderCase*)", "[basic][netstring]") {
    for (const auto& [max, input, ok] : std::vector<std::tuple<std::size_t, std::string, bool>>{
             {12, "12:", true}, {11, "12:", false}, {11, "1000:", false}, {99999, "99999:", true},
             {99999, "100000:", false}, {0, "0:,", true}, {0, "1:", false}, {9, "9:", true}, {9, "10", false}}) {
        CAPTURE(max, input);
        StringTransport t;
        Strings<weft::protocols::NetstringReceiver> r;
        r.set_max_length(max);
        r.make_connection(t);
        r.data_received(input);
        CHECK(r.broken_peer() == !ok);
    }
    CHECK(Strings<weft::protocols::NetstringReceiver>{}.max_length() == 50);
    struct Plain : weft::protocols::NetstringReceiver {
        void string_received(std::string_view) override {}
    };
    CHECK(Plain{}.max_length() == 99999);
}

TEST_CASE("NetstringReceiver: send_string, stop after lose_connection, re-entrant input", "[basic][netstring]") {
    struct P : Strings<weft::protocols::NetstringReceiver> {
        void string_received(std::string_view s) override {
            ++depth;
            max_depth = std::max(max_depth, depth);
            received.emplace_back(s);
            if (s == "inject") data_received("1:x,");
            if (s == "quit") transport().lose_connection();
            --depth;
        }
        int depth = 0, max_depth = 0;
    };
    StringTransport t;
    P r;
    r.make_connection(t);
    r.send_string("hello");
    r.send_string("");
    CHECK(t.value() == "5:hello,0:,");
    r.data_received(netstring("inject") + netstring("a"));
    CHECK(r.max_depth == 1);
    CHECK(r.received == std::vector<std::string>{"inject", "a", "x"});
    r.data_received(netstring("quit") + netstring("b"));
    CHECK(r.received == std::vector<std::string>{"inject", "a", "x", "quit"});
    r.data_received(netstring("c"));
    CHECK(r.received.size() == 4);
    CHECK_FALSE(r.broken_peer());
}

TEST_CASE("IntN: stop_producing inside string_received drops the rest of the input", "[basic][intn]") {
    struct Stopper : weft::protocols::Int16StringReceiver {
        std::vector<std::string> got;
        void string_received(std::string_view s) override {
            got.emplace_back(s);
            if (s == "stop") stop_producing();
        }
    } p;
    weft::testing::StringTransport t;
    p.make_connection(t);
    auto frame = [](std::string_view s) {
        return std::string{static_cast<char>(s.size() >> 8), static_cast<char>(s.size() & 0xff)} + std::string(s);
    };
    p.data_received(frame("a") + frame("stop") + frame("kept"));
    p.data_received(frame("later"));
    CHECK(p.got == std::vector<std::string>{"a", "stop"});
    CHECK(t.disconnecting());
}
