// wire.hpp on testing::StringTransport (the loopback tests are in test_wire_loopback.cpp).
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "weft/testing/feed.hpp"
#include "weft/protocols/wire.hpp"
#include "weft/testing/string_transport.hpp"

using weft::testing::chunkings;
using weft::testing::feed;
using weft::testing::StringTransport;
namespace wp = weft::protocols;

namespace {
std::chrono::system_clock::time_point at_unix(std::int64_t seconds) {
    return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}
}  // namespace

TEST_CASE("Echo writes back everything in every chunking, Discard writes nothing", "[wire]") {
    const std::string input = std::string("hello\r\nworld\0binary\xff", 19) + std::string(300, 'x');
    for (const auto chunk : chunkings) {
        StringTransport t;
        wp::Echo echo;
        echo.make_connection(t);
        feed(echo, input, chunk);
        CHECK(t.value() == input);
        StringTransport t2;
        wp::Discard discard;
        discard.make_connection(t2);
        feed(discard, input, chunk);
        CHECK(t2.value().empty());
        CHECK_FALSE(t2.disconnecting());
    }
}

TEST_CASE("Echo pauses its transport's reading while the echo is backed up",
          "[wire]") {
    // Issue 10, item 5: a protocol that writes in reply to its input must not queue whatever a peer that
    // never reads sends it. The behaviour of such a transport is tested on TCP and StandardIO in
    // test_core_write_memory; here, that Echo asks for it.
    StringTransport t;
    wp::Echo echo;
    echo.make_connection(t);
    CHECK(t.reading_backpressure);
    CHECK(t.producer() == nullptr);  // the producer slot stays free for the protocol's own producer
}

TEST_CASE("Chargen is a pull producer writing the RFC 864 pattern one block per request", "[wire][chargen]") {
    StringTransport t;
    wp::Chargen chargen;
    chargen.make_connection(t);
    CHECK(t.producer() == &chargen);
    CHECK_FALSE(t.streaming());
    CHECK(t.value().empty());  // nothing until the transport asks

    chargen.resume_producing();
    const std::string first = t.clear();
    CHECK(first == wp::Chargen::block());
    REQUIRE(first.size() == 95 * 74);
    // Every line: 72 printable characters then CRLF; line n starts at ' ' + n, wrapping after '~'.
    for (std::size_t line = 0; line < 95; ++line) {
        const std::string_view l = std::string_view(first).substr(line * 74, 74);
        CHECK(l.substr(72) == "\r\n");
        for (std::size_t i = 0; i < 72; ++i) {
            const char c = l[i];
            REQUIRE(c >= ' ');
            REQUIRE(c <= '~');
            REQUIRE(c == static_cast<char>(' ' + (line + i) % 95));
        }
    }
    CHECK(first.substr(0, 10) == " !\"#$%&'()");
    CHECK(first.substr(74 * 94, 3) == "~ !");  // the last line wraps round

    chargen.resume_producing();  // the next request continues the cycle seamlessly
    CHECK(t.value() == first);
    t.clear();

    chargen.data_received("ignored");
    CHECK(t.value().empty());

    chargen.stop_producing();
    chargen.resume_producing();
    CHECK(t.value().empty());
    chargen.connection_lost(weft::Reason::done());
    CHECK(t.producer() == nullptr);
}

TEST_CASE("QOTD and Who send their text and close", "[wire]") {
    StringTransport t;
    wp::QOTD qotd;
    qotd.make_connection(t);
    CHECK(t.value() == "An apple a day keeps the doctor away.\r\n");
    CHECK(t.disconnect_requested());

    StringTransport t2;
    wp::QOTD custom("Simple is better than complex.\r\n");
    custom.make_connection(t2);
    CHECK(t2.value() == "Simple is better than complex.\r\n");

    struct Rotating : wp::QOTD {
        std::string get_quote() override { return "quote " + std::to_string(++n) + "\r\n"; }
        int n = 0;
    };
    StringTransport t3;
    Rotating rotating;
    rotating.make_connection(t3);
    CHECK(t3.value() == "quote 1\r\n");

    StringTransport t4;
    wp::Who who;
    who.make_connection(t4);
    CHECK(t4.value() == "root\r\n");
    CHECK(t4.disconnect_requested());
}

TEST_CASE("Daytime sends asctime-style UTC text and closes (RFC 867)", "[wire][time]") {
    CHECK(wp::Daytime::format(at_unix(0)) == "Thu Jan  1 00:00:00 1970\r\n");
    CHECK(wp::Daytime::format(at_unix(784111777)) == "Sun Nov  6 08:49:37 1994\r\n");
    CHECK(wp::Daytime::format(at_unix(1795332882)) == "Sun Nov 22 07:34:42 2026\r\n");
    StringTransport t;
    wp::Daytime daytime([] { return at_unix(784111777) + std::chrono::milliseconds(999); });
    daytime.make_connection(t);
    CHECK(t.value() == "Sun Nov  6 08:49:37 1994\r\n");
    CHECK(t.disconnect_requested());
}

TEST_CASE("Time sends big-endian 32-bit seconds since 1900 and closes (RFC 868)", "[wire][time]") {
    CHECK(wp::Time::rfc868_seconds(at_unix(0)) == 2208988800u);
    // The RFC's own examples: 2,398,291,200 is 1976-01-01 00:00 UTC.
    CHECK(wp::Time::rfc868_seconds(at_unix(189302400)) == 2398291200u);
    // The 32-bit field wraps on 2036-02-07 06:28:16 UTC.
    CHECK(wp::Time::rfc868_seconds(at_unix(2085978496)) == 0u);
    StringTransport t;
    wp::Time time([] { return at_unix(0); });
    time.make_connection(t);
    CHECK(t.value() == std::string("\x83\xaa\x7e\x80", 4));
    CHECK(t.disconnect_requested());
}
