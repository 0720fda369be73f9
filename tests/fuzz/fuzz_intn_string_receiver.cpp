// libFuzzer target: Int8/Int16/Int32StringReceiver, one executable each (WEFT_FUZZ_PREFIX is 1, 2 or 4).
// See docs/fuzzing.md for the input format and invariants.
//
// Header: flags bit 0 keeps the connection on length_limit_exceeded (the default loses it); limit 255
// is the default max_length (99999), 254 no limit at all, anything else is max_length itself.
// A string "!P" pauses, "!S" stops producing, "!Q" loses the connection.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "fuzz_common.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/testing/string_transport.hpp"

#ifndef WEFT_FUZZ_PREFIX
#error "WEFT_FUZZ_PREFIX (1, 2 or 4) must be defined"
#endif

namespace {

using weft::fuzz::Events;

constexpr std::size_t plen = WEFT_FUZZ_PREFIX;
using Base = std::conditional_t<plen == 1, weft::protocols::Int8StringReceiver,
                                std::conditional_t<plen == 2, weft::protocols::Int16StringReceiver,
                                                   weft::protocols::Int32StringReceiver>>;

// The length prefix at `at` in the stream, decoded independently of the receiver.
std::size_t length_at(std::string_view stream, std::size_t at) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < plen; ++i) n = (n << 8) | static_cast<unsigned char>(stream[at + i]);
    return n;
}

// Events: S string, X length_limit_exceeded (with the length).
class Receiver final : public Base {
public:
    Receiver(std::string_view stream, bool keep_going) : stream_(stream), keep_going_(keep_going) {}

    Events events;
    std::size_t cursor = 0;  // the start of the next frame in the stream (may pass its end while skipping)
    bool stopped = false;

    void string_received(std::string_view string) override {
        check_live();
        const std::string copy(string);
        WEFT_FUZZ_CHECK(string.size() <= max_length(), "a string over max_length was delivered");
        WEFT_FUZZ_CHECK(cursor + plen + string.size() <= stream_.size() &&
                            length_at(stream_, cursor) == string.size() &&
                            stream_.substr(cursor + plen, string.size()) == string,
                        "the string is not the next frame of the stream: " + weft::fuzz::escape(string));
        cursor += plen + string.size();
        weft::fuzz::record(events, 'S', string);
        if (copy == "!P") pause_producing();
        if (copy == "!S") {
            stop_producing();
            stopped = true;
        }
        if (copy == "!Q") transport().lose_connection();
        WEFT_FUZZ_CHECK(string == copy, "the string view changed during string_received");
    }

    void length_limit_exceeded(std::size_t length) override {
        check_live();
        WEFT_FUZZ_CHECK(length > max_length(), "length_limit_exceeded for an allowed length");
        WEFT_FUZZ_CHECK(cursor + plen <= stream_.size() && length_at(stream_, cursor) == length,
                        "length_limit_exceeded's length is not the next prefix of the stream");
        cursor += plen + length;
        weft::fuzz::record(events, 'X', std::to_string(length));
        if (!keep_going_) IntNStringReceiver::length_limit_exceeded(length);
    }

    /// Between deliveries, unless paused or closing: what is kept is one incomplete frame (or the rest of
    /// a skipped payload), never a complete one.
    void check_between(std::size_t fed) const {
        if (stopped || paused() || transport().disconnecting() || cursor >= fed) return;
        const std::size_t pending = fed - cursor;
        if (pending < plen) return;
        const std::size_t length = length_at(stream_, cursor);
        WEFT_FUZZ_CHECK(length <= max_length(), "an over-long prefix was read but not reported");
        WEFT_FUZZ_CHECK(pending < plen + length, "a complete frame is still buffered");
    }

private:
    void check_live() const {
        WEFT_FUZZ_CHECK(!stopped, "delivery after stop_producing");
        WEFT_FUZZ_CHECK(!paused(), "delivery while paused");
        WEFT_FUZZ_CHECK(!transport().disconnecting(), "delivery after lose_connection");
    }

    std::string_view stream_;
    bool keep_going_;
};

Events run(const weft::fuzz::Input& in, bool chunked) {
    weft::testing::StringTransport transport;
    Receiver r(in.stream, (in.flags & 1) != 0);
    if (in.limit == 254) {
        r.set_max_length(std::numeric_limits<std::size_t>::max());
    } else if (in.limit != 255) {
        r.set_max_length(in.limit);
    }
    r.make_connection(transport);

    std::size_t fed = 0;
    weft::fuzz::feed(r, in, chunked, [&](std::size_t so_far, weft::fuzz::Chunker& chunker) {
        fed = so_far;
        r.check_between(fed);
        if (r.paused() && !r.stopped && chunker.coin()) {
            r.resume_producing();
            r.check_between(fed);
        }
    });
    while (r.paused() && !r.stopped) {
        r.resume_producing();
        r.check_between(fed);
    }
    weft::fuzz::record(r.events, 'E', transport.disconnecting() ? "closed" : "open");
    return std::move(r.events);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = weft::fuzz::Input::parse(data, size);
    const Events chunked = run(in, true);
    const Events whole = run(in, false);
    WEFT_FUZZ_CHECK(chunked == whole, weft::fuzz::first_difference(chunked, whole));
    return 0;
}
