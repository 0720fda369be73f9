// Property tests: random byte streams cut at random points must give the same callbacks as the same stream
// delivered whole. Fixed seeds and bounded sizes keep them deterministic and fast.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "weft/protocols/basic.hpp"
#include "weft/testing/string_transport.hpp"

using weft::testing::StringTransport;

namespace {

struct Event {
    char kind;  // 'L' line, 'R' raw bytes (consecutive raw deliveries merged), 'X' too long, 'S' string
    std::string data;
    friend bool operator==(const Event&, const Event&) = default;
};

std::ostream& operator<<(std::ostream& os, const Event& e) { return os << e.kind << ':' << e.data.size(); }

void record(std::vector<Event>& events, char kind, std::string_view data) {
    if (kind == 'R' && !events.empty() && events.back().kind == 'R') {
        events.back().data.append(data);  // raw chunk boundaries mean nothing
        return;
    }
    events.push_back({kind, std::string(data)});
}

// A LineReceiver driven by its input: "#<d>" reads d raw bytes then returns to line mode, "P" pauses,
// "Q" loses the connection. Every choice depends on content only, never on chunking.
struct ModalRecorder : weft::protocols::LineReceiver {
    void line_received(std::string_view line) override {
        record(events, 'L', line);
        ++lines;
        if (line.size() == 2 && line[0] == '#' && line[1] >= '0' && line[1] <= '9') {
            raw_left = static_cast<std::size_t>(line[1] - '0');
            if (raw_left > 0) set_raw_mode();
        } else if (line == "P") {
            pause_producing();
        } else if (line == "Q") {
            transport().lose_connection();
        }
    }
    void raw_data_received(std::string_view data) override {
        const auto take = std::min(raw_left, data.size());
        record(events, 'R', data.substr(0, take));
        raw_left -= take;
        if (raw_left == 0) {
            if (lines % 2 == 1) {
                const std::string copy(data.substr(take));  // exercises the copying path
                set_line_mode(copy);
            } else {
                set_line_mode(data.substr(take));  // and the in-place one
            }
        }
    }
    void line_length_exceeded(std::string_view line) override {
        record(events, 'X', line);
        LineReceiver::line_length_exceeded(line);
    }
    std::vector<Event> events;
    std::size_t raw_left = 0;
    std::size_t lines = 0;
};

struct LineOnlyEventRecorder : weft::protocols::LineOnlyReceiver {
    void line_received(std::string_view line) override {
        record(events, 'L', line);
        if (line == "Q") transport().lose_connection();
    }
    void line_length_exceeded(std::string_view line) override {
        record(events, 'X', line);
        LineOnlyReceiver::line_length_exceeded(line);
    }
    std::vector<Event> events;
};

// A random stream of line material: short words, whole and partial delimiters, commands, over-long runs.
std::string line_stream(std::mt19937& rng, const std::string& delimiter, std::size_t max_length, bool commands) {
    std::uniform_int_distribution<int> pick(0, 99);
    std::string alphabet = commands ? "ab#P" : "ab";
    alphabet += delimiter;  // bytes of the delimiter appear on their own too
    std::string out;
    const std::size_t target = std::uniform_int_distribution<std::size_t>(0, 400)(rng);
    while (out.size() < target) {
        const int r = pick(rng);
        if (r < 30) {
            out += delimiter;
        } else if (r < 45) {
            out += delimiter.substr(0, std::uniform_int_distribution<std::size_t>(0, delimiter.size() - 1)(rng));
        } else if (r < 52 && commands) {
            out += "#" + std::to_string(pick(rng) % 10) + delimiter;
        } else if (r < 55 && commands) {
            out += "P" + delimiter;
        } else if (r < 57) {
            out += "Q" + delimiter;
        } else if (r < 61) {
            out += std::string(max_length + std::uniform_int_distribution<std::size_t>(0, 6)(rng), 'z');
        } else {
            const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 6)(rng);
            for (std::size_t i = 0; i < n; ++i) {
                out += alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
            }
        }
    }
    return out;
}

// Random cut points, biased towards small chunks where the boundary cases are.
std::vector<std::size_t> random_cuts(std::mt19937& rng, std::size_t size) {
    std::vector<std::size_t> sizes;
    std::uniform_int_distribution<int> pick(0, 9);
    for (std::size_t at = 0; at < size;) {
        const std::size_t n = pick(rng) < 7 ? std::uniform_int_distribution<std::size_t>(1, 4)(rng)
                                            : std::uniform_int_distribution<std::size_t>(1, 64)(rng);
        sizes.push_back(std::min(n, size - at));
        at += sizes.back();
    }
    return sizes;
}

// Feeds `input` in `sizes` pieces (one piece if empty); a paused producer is resumed after every third
// piece and at the end, so pausing delays delivery but must not change it.
template <class P>
void deliver(P& p, const std::string& input, const std::vector<std::size_t>& sizes) {
    auto drain = [&p] {
        if constexpr (std::is_base_of_v<weft::Producer, P>) {
            for (int guard = 0; p.paused() && guard < 100000; ++guard) p.resume_producing();
        }
    };
    if (sizes.empty()) {
        p.data_received(input);
        drain();
        return;
    }
    std::size_t at = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        const std::string piece = input.substr(at, sizes[i]);  // its own buffer: views must not outlive the call
        p.data_received(piece);
        if (i % 3 == 2) drain();  // the other pieces arrive while still paused, and are kept
        at += sizes[i];
    }
    drain();
}

// The whole delivery is the reference; a chunked one must match it, except that an over-long line may be
// detected earlier (before its delimiter arrived), so its 'X' argument may be shorter.
void check_same(const std::vector<Event>& whole, const std::vector<Event>& cut, std::size_t max_length,
                bool x_is_prefix) {
    REQUIRE(cut.size() == whole.size());
    for (std::size_t i = 0; i < whole.size(); ++i) {
        CAPTURE(i);
        REQUIRE(cut[i].kind == whole[i].kind);
        if (whole[i].kind != 'X') {
            CHECK(cut[i].data == whole[i].data);
            continue;
        }
        CHECK(i + 1 == whole.size());  // the default loses the connection: nothing after it
        REQUIRE(cut[i].data.size() >= max_length + 1);
        if (x_is_prefix) {
            CHECK(whole[i].data.starts_with(cut[i].data));
        } else {
            CHECK(cut[i].data.substr(0, max_length + 1) == whole[i].data.substr(0, max_length + 1));
        }
    }
}

}  // namespace

TEST_CASE("Property: LineReceiver gives the same callbacks whatever the chunking", "[basic][property][line]") {
    for (const std::string delimiter : {"\n", "\r\n", "aab", "##"}) {
        for (std::uint32_t seed = 1; seed <= 150; ++seed) {
            CAPTURE(delimiter, seed);
            std::mt19937 rng(seed);
            const std::size_t max_length = std::uniform_int_distribution<std::size_t>(4, 24)(rng);
            const std::string input = line_stream(rng, delimiter, max_length, true);

            auto run = [&](const std::vector<std::size_t>& sizes) {
                StringTransport t;
                ModalRecorder p;
                p.set_delimiter(delimiter);
                p.set_max_length(max_length);
                p.make_connection(t);
                deliver(p, input, sizes);
                return p.events;
            };
            const auto whole = run({});
            check_same(whole, run(std::vector<std::size_t>(input.size(), 1)), max_length, true);
            for (int cut = 0; cut < 4; ++cut) check_same(whole, run(random_cuts(rng, input.size())), max_length, true);
        }
    }
}

TEST_CASE("Property: LineOnlyReceiver gives the same callbacks whatever the chunking, and the same lines as "
          "LineReceiver",
          "[basic][property][lineonly]") {
    for (const std::string delimiter : {"\n", "\r\n", "aab"}) {
        for (std::uint32_t seed = 1; seed <= 150; ++seed) {
            CAPTURE(delimiter, seed);
            std::mt19937 rng(seed);
            const std::size_t max_length = std::uniform_int_distribution<std::size_t>(4, 24)(rng);
            const std::string input = line_stream(rng, delimiter, max_length, false);

            auto run = [&](const std::vector<std::size_t>& sizes) {
                StringTransport t;
                LineOnlyEventRecorder p;
                p.set_delimiter(delimiter);
                p.set_max_length(max_length);
                p.make_connection(t);
                deliver(p, input, sizes);
                return p.events;
            };
            const auto whole = run({});
            check_same(whole, run(std::vector<std::size_t>(input.size(), 1)), max_length, false);
            for (int cut = 0; cut < 4; ++cut) {
                check_same(whole, run(random_cuts(rng, input.size())), max_length, false);
            }
            // Without commands a LineReceiver sees the same lines.
            StringTransport t;
            ModalRecorder lr;
            lr.set_delimiter(delimiter);
            lr.set_max_length(max_length);
            lr.make_connection(t);
            lr.data_received(input);
            REQUIRE(lr.events.size() == whole.size());
            for (std::size_t i = 0; i < whole.size(); ++i) {
                CHECK(lr.events[i].kind == whole[i].kind);
                if (whole[i].kind == 'L') CHECK(lr.events[i].data == whole[i].data);
            }
        }
    }
}

namespace {

template <class Base>
struct StringEventRecorder : Base {
    void string_received(std::string_view s) override {
        record(events, 'S', s);
        if (s == "P") this->pause_producing();
    }
    void length_limit_exceeded(std::size_t length) override {
        record(events, 'X', std::to_string(length));  // keeps the connection: the payload is skipped
    }
    std::vector<Event> events;
};

}  // namespace

TEMPLATE_TEST_CASE("Property: IntN receivers give the same callbacks whatever the chunking",
                   "[basic][property][intn]", weft::protocols::Int8StringReceiver,
                   weft::protocols::Int16StringReceiver, weft::protocols::Int32StringReceiver) {
    for (std::uint32_t seed = 1; seed <= 200; ++seed) {
        CAPTURE(seed);
        std::mt19937 rng(seed);
        const std::size_t max_length = std::uniform_int_distribution<std::size_t>(0, 40)(rng);
        const std::size_t plen = StringEventRecorder<TestType>{}.prefix_length();
        std::string input;
        const int frames = std::uniform_int_distribution<int>(0, 30)(rng);
        for (int f = 0; f < frames; ++f) {
            const std::size_t n = std::uniform_int_distribution<int>(0, 9)(rng) == 0
                                      ? std::string("P").size()
                                      : std::uniform_int_distribution<std::size_t>(0, 60)(rng);
            for (std::size_t i = 0; i < plen; ++i) input += static_cast<char>((n >> (8 * (plen - 1 - i))) & 0xff);
            if (n == 1 && std::uniform_int_distribution<int>(0, 1)(rng) == 0) {
                input += "P";
            } else {
                for (std::size_t i = 0; i < n; ++i) input += static_cast<char>('a' + rng() % 26);
            }
        }
        input += std::string(std::uniform_int_distribution<std::size_t>(0, plen + 3)(rng), '\x01');  // a partial tail

        auto run = [&](const std::vector<std::size_t>& sizes) {
            StringTransport t;
            StringEventRecorder<TestType> p;
            p.set_max_length(max_length);
            p.make_connection(t);
            deliver(p, input, sizes);
            return p.events;
        };
        const auto whole = run({});
        CHECK(run(std::vector<std::size_t>(input.size(), 1)) == whole);
        for (int cut = 0; cut < 4; ++cut) CHECK(run(random_cuts(rng, input.size())) == whole);
    }
}

TEST_CASE("Property: NetstringReceiver gives the same callbacks whatever the chunking",
          "[basic][property][netstring]") {
    for (std::uint32_t seed = 1; seed <= 300; ++seed) {
        CAPTURE(seed);
        std::mt19937 rng(seed);
        std::string input;
        const int frames = std::uniform_int_distribution<int>(0, 20)(rng);
        for (int f = 0; f < frames; ++f) {
            std::string payload;
            const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 40)(rng);
            for (std::size_t i = 0; i < n; ++i) payload += ":,0123456789abc"[rng() % 15];
            std::string frame = std::to_string(n) + ":" + payload + ",";
            if (std::uniform_int_distribution<int>(0, 15)(rng) == 0) {
                // Corrupt one byte somewhere in the frame.
                frame[rng() % frame.size()] = "x:,0"[rng() % 4];
            }
            input += frame;
        }
        auto run = [&](const std::vector<std::size_t>& sizes) {
            StringTransport t;
            struct R : weft::protocols::NetstringReceiver {
                void string_received(std::string_view s) override { record(events, 'S', s); }
                std::vector<Event> events;
            } p;
            p.set_max_length(35);
            p.make_connection(t);
            deliver(p, input, sizes);
            if (p.broken_peer()) record(p.events, 'B', {});
            CHECK(p.broken_peer() == t.disconnecting());
            return p.events;
        };
        const auto whole = run({});
        CHECK(run(std::vector<std::size_t>(input.size(), 1)) == whole);
        for (int cut = 0; cut < 4; ++cut) CHECK(run(random_cuts(rng, input.size())) == whole);
    }
}
