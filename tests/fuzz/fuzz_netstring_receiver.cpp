// libFuzzer target: NetstringReceiver, checked against a reference parser written from the spec
// (http://cr.yp.to/proto/netstrings.txt plus weft's rules: no leading zeros, max_length). See
// docs/fuzzing.md for the input format and invariants.
//
// Header: limit 255 is the default max_length (99999), anything else is max_length itself. flags is
// unused. A string "!Q" loses the connection.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/testing/string_transport.hpp"

namespace {

using weft::fuzz::Events;

bool digit(char c) { return c >= '0' && c <= '9'; }

// Events: S string, E end state (broken / closed / open).
// The reference: a frame at a time over the whole stream. It stops at the first error (the receiver
// then reports broken_peer) or at an incomplete frame at the end (not an error: more may come).
Events reference(std::string_view s, std::size_t max_length) {
    Events out;
    std::size_t p = 0;
    for (;;) {
        if (p == s.size()) break;  // between frames
        std::size_t q = p;
        std::size_t length = 0;
        std::size_t digits = 0;
        bool error = false;
        while (q < s.size() && digit(s[q])) {
            const auto d = static_cast<std::size_t>(s[q] - '0');
            if (digits > 0 && length == 0) { error = true; break; }        // leading zero
            if (length > max_length / 10 || length * 10 + d > max_length) { error = true; break; }
            length = length * 10 + d;
            ++digits;
            ++q;
        }
        if (!error && q == s.size()) break;  // incomplete length
        if (error || digits == 0 || s[q] != ':') {
            weft::fuzz::record(out, 'E', "broken");
            return out;
        }
        ++q;
        if (s.size() - q <= length) break;  // incomplete payload or missing comma
        if (s[q + length] != ',') {
            weft::fuzz::record(out, 'E', "broken");
            return out;
        }
        const std::string_view string = s.substr(q, length);
        weft::fuzz::record(out, 'S', string);
        p = q + length + 1;
        if (string == "!Q") {
            weft::fuzz::record(out, 'E', "closed");
            return out;
        }
    }
    weft::fuzz::record(out, 'E', "open");
    return out;
}

class Receiver final : public weft::protocols::NetstringReceiver {
public:
    explicit Receiver(std::string_view stream) : stream_(stream) {}

    Events events;
    std::size_t cursor = 0;

    void string_received(std::string_view string) override {
        WEFT_FUZZ_CHECK(!transport().disconnecting(), "delivery after lose_connection");
        WEFT_FUZZ_CHECK(!broken_peer(), "delivery after a parse error");
        WEFT_FUZZ_CHECK(string.size() <= max_length(), "a string over max_length was delivered");
        const std::string copy(string);
        const std::string frame = std::to_string(string.size()) + ":" + copy + ",";
        WEFT_FUZZ_CHECK(stream_.substr(cursor, frame.size()) == frame,
                        "the string is not the next netstring of the stream: " + weft::fuzz::escape(string));
        cursor += frame.size();
        weft::fuzz::record(events, 'S', string);
        if (copy == "!Q") transport().lose_connection();
        WEFT_FUZZ_CHECK(string == copy, "the string view changed during string_received");
    }

private:
    std::string_view stream_;
};

Events run(const weft::fuzz::Input& in, bool chunked) {
    weft::testing::StringTransport transport;
    Receiver r(in.stream);
    if (in.limit != 255) r.set_max_length(in.limit);
    r.make_connection(transport);

    weft::fuzz::feed(r, in, chunked, [&](std::size_t fed, weft::fuzz::Chunker&) {
        WEFT_FUZZ_CHECK(!r.broken_peer() || transport.disconnecting(), "broken_peer without lose_connection");
        if (!transport.disconnecting() && fed - r.cursor < 64) {
            // What is kept is the start of a valid netstring: the reference finds nothing in it.
            const Events rest = reference(in.stream.substr(r.cursor, fed - r.cursor), r.max_length());
            WEFT_FUZZ_CHECK(rest.size() == 1 && rest[0].data == "open",
                            "kept input that is a whole netstring or an error: " +
                                weft::fuzz::escape(in.stream.substr(r.cursor, fed - r.cursor)));
        }
    });
    weft::fuzz::record(r.events, 'E', r.broken_peer() ? "broken" : transport.disconnecting() ? "closed" : "open");
    return std::move(r.events);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = weft::fuzz::Input::parse(data, size);
    const Events chunked = run(in, true);
    const Events whole = run(in, false);
    const Events expected = reference(in.stream, in.limit == 255 ? 99999 : in.limit);
    WEFT_FUZZ_CHECK(whole == expected, "whole delivery vs the reference: " + weft::fuzz::first_difference(whole, expected));
    WEFT_FUZZ_CHECK(chunked == whole, weft::fuzz::first_difference(chunked, whole));
    return 0;
}
