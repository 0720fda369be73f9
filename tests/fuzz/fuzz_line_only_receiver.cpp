// libFuzzer target: LineOnlyReceiver. See docs/fuzzing.md for the input format and invariants.
//
// Header: flags bits 0-2 pick the delimiter, bit 3 keeps the connection on line_length_exceeded (the
// default loses it). A line "!Q" loses the connection.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/testing/string_transport.hpp"

namespace {

using weft::fuzz::Events;

constexpr std::string_view delimiters[8] = {"\r\n", "\n", "\r\n\r\n", "aa", "aab", "abab", std::string_view("\0", 1),
                                            "xyzzy"};

// Events: L line, X exceeded.
class Receiver final : public weft::protocols::LineOnlyReceiver {
public:
    Receiver(std::string_view stream, bool keep_going) : stream_(stream), keep_going_(keep_going) {}

    Events events;
    std::size_t cursor = 0;
    bool exceeded = false;  // from then on the receiver dropped input the cursor does not know about

    void line_received(std::string_view line) override {
        check_live();
        const std::string copy(line);
        const std::string_view delim = delimiter();
        WEFT_FUZZ_CHECK(line.size() <= max_length(), "a line over max_length was delivered: " + std::to_string(line.size()));
        WEFT_FUZZ_CHECK((copy + std::string(delim)).find(delim) == line.size(),
                        "the line contains the delimiter: " + weft::fuzz::escape(line));
        if (!exceeded) {
            WEFT_FUZZ_CHECK(stream_.substr(cursor, line.size()) == line && stream_.substr(cursor + line.size(), delim.size()) == delim,
                            "the line is not the next bytes of the stream: " + weft::fuzz::escape(line));
            cursor += line.size() + delim.size();
        }
        weft::fuzz::record(events, 'L', line);
        if (copy == "!Q") transport().lose_connection();
        WEFT_FUZZ_CHECK(line == copy, "the line view changed during line_received");
    }

    void line_length_exceeded(std::string_view line) override {
        check_live();
        WEFT_FUZZ_CHECK(line.size() > max_length(), "line_length_exceeded with a short line: " + std::to_string(line.size()));
        if (!exceeded) {
            WEFT_FUZZ_CHECK(stream_.substr(cursor).starts_with(line),
                            "line_length_exceeded's argument is not the over-long line");
        }
        exceeded = true;
        weft::fuzz::record(events, 'X', {});
        if (!keep_going_) LineOnlyReceiver::line_length_exceeded(line);
    }

    void check_between(std::size_t fed) const {
        if (exceeded || transport().disconnecting()) return;
        WEFT_FUZZ_CHECK(cursor <= fed, "delivered more than was fed");
        const std::string_view pending = stream_.substr(cursor, fed - cursor);
        WEFT_FUZZ_CHECK(pending.find(delimiter()) == std::string_view::npos,
                        "a whole line is still buffered: " + weft::fuzz::escape(pending));
        WEFT_FUZZ_CHECK(pending.size() < max_length() + delimiter().size(),
                        "buffered " + std::to_string(pending.size()) + " bytes, max_length " + std::to_string(max_length()));
    }

private:
    void check_live() const {
        WEFT_FUZZ_CHECK(!transport().disconnecting(), "delivery after lose_connection");
    }

    std::string_view stream_;
    bool keep_going_;
};

Events run(const weft::fuzz::Input& in, bool chunked) {
    weft::testing::StringTransport transport;
    Receiver r(in.stream, (in.flags & 8) != 0);
    r.set_delimiter(delimiters[in.flags & 7]);
    if (in.limit != 255) r.set_max_length(in.limit);
    r.make_connection(transport);

    weft::fuzz::feed(r, in, chunked, [&](std::size_t fed, weft::fuzz::Chunker&) { r.check_between(fed); });
    Events events = std::move(r.events);
    weft::fuzz::cut_after_first(events, 'X');
    return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = weft::fuzz::Input::parse(data, size);
    const Events chunked = run(in, true);
    const Events whole = run(in, false);
    WEFT_FUZZ_CHECK(chunked == whole, weft::fuzz::first_difference(chunked, whole));
    return 0;
}
