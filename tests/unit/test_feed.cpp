// testing::feed and feed_every_chunking: input in every chunking.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "weft/protocols/basic.hpp"
#include "weft/testing/feed.hpp"
#include "weft/testing/string_transport.hpp"

using weft::testing::Chunking;
using weft::testing::feed;
using weft::testing::feed_every_chunking;
using weft::testing::StringTransport;

namespace {
struct Lines : weft::protocols::LineReceiver {
    std::vector<std::string> lines;
    void line_received(std::string_view line) override { lines.emplace_back(line); }
};

// The classic bug: treats each data_received as whole lines, so a line cut in two is seen as two lines.
struct NaiveLines : weft::Protocol {
    std::vector<std::string> lines;
    void data_received(std::string_view data) override {
        while (!data.empty()) {
            const auto end = data.find("\r\n");
            lines.emplace_back(data.substr(0, end));
            if (end == std::string_view::npos) break;
            data.remove_prefix(end + 2);
        }
    }
};

struct Sizes : weft::Protocol {
    std::vector<std::size_t> sizes;
    std::string seen;
    void data_received(std::string_view data) override {
        sizes.push_back(data.size());
        seen.append(data);
    }
};

template <class P>
std::vector<std::string> lines_of(const Chunking& c) {
    StringTransport t;
    P p;
    p.make_connection(t);
    c.feed(p);
    return p.lines;
}
}  // namespace

TEST_CASE("feed: delivers whole or in chunks of the given size", "[testing][feed]") {
    StringTransport t;
    Sizes p;
    p.make_connection(t);
    feed(p, "abcdefg", 3);
    CHECK(p.sizes == std::vector<std::size_t>{3, 3, 1});
    CHECK(p.seen == "abcdefg");
    Sizes whole;
    whole.make_connection(t);
    feed(whole, "abcdefg", 0);
    CHECK(whole.sizes == std::vector<std::size_t>{7});
}

TEST_CASE("feed_every_chunking: a correct parser gives the same result in every chunking", "[testing][feed]") {
    const auto report = feed_every_chunking("one\r\ntwo\r\nthree\r\n", 9, lines_of<Lines>);
    CHECK(report.consistent());
    CHECK(report.whole == std::vector<std::string>{"one", "two", "three"});
}

TEST_CASE("feed_every_chunking: names the chunk sizes where a parser goes wrong", "[testing][feed]") {
    const auto report = feed_every_chunking("one\r\ntwo\r\n", 4, lines_of<NaiveLines>);
    CHECK_FALSE(report.consistent());
    std::vector<std::size_t> sizes;
    for (const auto& [size, lines] : report.differing) sizes.push_back(size);
    CHECK(sizes == std::vector<std::size_t>{1, 2, 3, 4});
    CHECK(report.differing.front().second.size() > 2);  // byte by byte: every byte is a "line"
}

TEST_CASE("feed_every_chunking: runs the whole input and every size up to the maximum", "[testing][feed]") {
    std::vector<std::size_t> seen;
    const auto report = feed_every_chunking("abc", 5, [&](const Chunking& c) {
        seen.push_back(c.size);
        CHECK(c.input == "abc");
        return 0;
    });
    CHECK(report.consistent());
    CHECK(seen == std::vector<std::size_t>{0, 1, 2, 3, 4, 5});
}
