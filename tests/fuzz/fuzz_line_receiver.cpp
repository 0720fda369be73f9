// libFuzzer target: LineReceiver with mode switches, pausing, clear_line_buffer and delimiter changes,
// all driven by the lines of the input itself. See docs/fuzzing.md for the input format and invariants.
//
// Header: flags bits 0-2 pick the delimiter, bits 3-4 the line_length_exceeded policy (0 lose the
// connection, 1 sink everything after it as raw data, 2-3 keep going in line mode), bit 5 hands
// set_line_mode() a copy of the unread raw bytes instead of the view it was given.
// A line that starts with '!' is a command: !R<n> raw mode for n bytes (then set_line_mode(rest)),
// !P pause, !S stop_producing, !Q lose_connection, !C<n> clear_line_buffer() and treat n bytes as raw,
// !D<k> set_delimiter(delimiters[k % 8]).

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/testing/string_transport.hpp"

namespace {

using weft::fuzz::Event;
using weft::fuzz::Events;

// Self-overlapping ones ("aa", "abab", "aab") exercise the delimiter-straddles-a-chunk-boundary code.
constexpr std::string_view delimiters[8] = {"\r\n", "\n", "\r\n\r\n", "aa", "aab", "abab", std::string_view("\0", 1),
                                            "xyzzy"};

enum class Exceed { lose, sink, keep_going };

constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

// Events: L line, D raw data (merged: raw, cleared and exceeded-and-sunk bytes), X exceeded, E end
// (what clear_line_buffer() returns after the last chunk).
class Receiver final : public weft::protocols::LineReceiver {
public:
    Receiver(std::string_view stream, Exceed exceed, bool copy_extra)
        : stream_(stream), exceed_(exceed), copy_extra_(copy_extra) {}

    Events events;
    std::size_t cursor = 0;  // how much of the stream the callbacks have been handed (and kept)
    bool stopped = false;

    void line_received(std::string_view line) override {
        check_live();
        const std::string copy(line);
        const std::string_view delim = delimiter();
        WEFT_FUZZ_CHECK(line.size() <= max_length(), "a line over max_length was delivered: " + std::to_string(line.size()));
        // The delimiter ends the line at its first occurrence (self-overlapping delimiters included).
        WEFT_FUZZ_CHECK((copy + std::string(delim)).find(delim) == line.size(),
                        "the line contains the delimiter: " + weft::fuzz::escape(line));
        WEFT_FUZZ_CHECK(stream_.substr(cursor, line.size()) == line && stream_.substr(cursor + line.size(), delim.size()) == delim,
                        "the line is not the next bytes of the stream: " + weft::fuzz::escape(line));
        cursor += line.size() + delim.size();
        weft::fuzz::record(events, 'L', line);
        command(copy);
        // Views are valid for the whole callback, whatever the callback did to the receiver.
        WEFT_FUZZ_CHECK(line == copy, "the line view changed during line_received");
    }

    void raw_data_received(std::string_view data) override {
        check_live();
        WEFT_FUZZ_CHECK(!line_mode(), "raw_data_received in line mode");
        const std::string copy(data);
        WEFT_FUZZ_CHECK(stream_.substr(cursor).starts_with(data),
                        "raw data is not the next bytes of the stream: " + weft::fuzz::escape(data));
        const std::size_t take = std::min(raw_budget_, data.size());
        take_raw(data.substr(0, take));
        if (raw_budget_ == 0) {
            if (copy_extra_) {
                const std::string rest(data.substr(take));  // dies on return: set_line_mode must copy it
                set_line_mode(rest);
            } else {
                set_line_mode(data.substr(take));
            }
        }
        WEFT_FUZZ_CHECK(data == copy, "the raw view changed during raw_data_received");
    }

    void line_length_exceeded(std::string_view line) override {
        check_live();
        WEFT_FUZZ_CHECK(line.size() > max_length(), "line_length_exceeded with a short line: " + std::to_string(line.size()));
        WEFT_FUZZ_CHECK(stream_.substr(cursor).starts_with(line),
                        "line_length_exceeded's argument is not the next bytes of the stream");
        switch (exceed_) {
            case Exceed::lose:
                cursor += line.size();
                weft::fuzz::record(events, 'X', {});
                LineReceiver::line_length_exceeded(line);
                break;
            case Exceed::sink:
                // Everything from the over-long line on is raw data: its concatenation is the same
                // however the input was chunked, so chunked and whole runs stay comparable.
                set_raw_mode();
                raw_budget_ = unlimited;
                take_raw(line);
                break;
            case Exceed::keep_going:
                cursor += line.size();
                weft::fuzz::record(events, 'X', {});
                break;
        }
    }

    /// Checks that hold between deliveries: called after every data_received/resume_producing.
    void check_between(std::size_t fed) {
        WEFT_FUZZ_CHECK(cursor <= fed, "delivered more than was fed");
        if (transport().disconnecting() || paused()) return;
        const std::string_view pending = stream_.substr(cursor, fed - cursor);
        if (!line_mode()) {
            WEFT_FUZZ_CHECK(pending.empty(), "raw mode kept " + std::to_string(pending.size()) + " bytes");
            return;
        }
        // Whole lines are delivered at once, and the partial line kept is bounded by the max_length rule.
        WEFT_FUZZ_CHECK(pending.find(delimiter()) == std::string_view::npos,
                        "a whole line is still buffered: " + weft::fuzz::escape(pending));
        WEFT_FUZZ_CHECK(pending.size() < max_length() + delimiter().size(),
                        "buffered " + std::to_string(pending.size()) + " bytes, max_length " + std::to_string(max_length()));
    }

    /// After the last chunk: what is left is exactly the unconsumed end of the stream (or nothing once
    /// disconnecting).
    void finish() {
        const std::string rest = clear_line_buffer();
        // Paused or not (stop_producing does both), nothing is kept once disconnecting: the regression
        // input corpus/line_receiver/stop-producing-keeps-input checks it.
        if (transport().disconnecting()) {
            WEFT_FUZZ_CHECK(rest.empty(), "input kept after lose_connection: " + weft::fuzz::escape(rest));
        } else if (!transport().disconnecting()) {
            WEFT_FUZZ_CHECK(rest == stream_.substr(cursor), "clear_line_buffer() is not the unconsumed input: got " +
                                                                weft::fuzz::escape(rest) + ", expected " +
                                                                weft::fuzz::escape(stream_.substr(cursor)));
        }
        weft::fuzz::record(events, 'E', transport().disconnecting() ? std::string("closed") : rest);
    }

private:
    void check_live() const {
        WEFT_FUZZ_CHECK(!stopped, "delivery after stop_producing");
        WEFT_FUZZ_CHECK(!paused(), "delivery while paused");
        WEFT_FUZZ_CHECK(!transport().disconnecting(), "delivery after lose_connection");
    }

    void take_raw(std::string_view data) {
        cursor += data.size();
        if (raw_budget_ != unlimited) raw_budget_ -= data.size();
        weft::fuzz::record(events, 'D', data, 'D');
    }

    void command(std::string_view line) {
        if (line.size() < 2 || line[0] != '!') return;
        const std::size_t n = weft::fuzz::leading_number(line.substr(2));
        switch (line[1]) {
            case 'R':
                set_raw_mode();
                raw_budget_ = n;
                break;
            case 'P': pause_producing(); break;
            case 'S':
                stop_producing();
                stopped = true;
                break;
            case 'Q': transport().lose_connection(); break;
            case 'C': {
                // The rest of the input so far; the next n bytes of the stream are treated as raw data.
                const std::string rest = clear_line_buffer();
                WEFT_FUZZ_CHECK(stream_.substr(cursor).starts_with(rest),
                                "clear_line_buffer() in line_received is not the input after the line");
                raw_budget_ = n;
                const std::size_t take = std::min(n, rest.size());
                take_raw(std::string_view(rest).substr(0, take));
                if (raw_budget_ > 0) {
                    set_raw_mode();
                } else if (take < rest.size()) {
                    // Hand the rest back: data_received inside a callback only buffers, and the buffer is
                    // empty, so it is parsed next, before anything that arrives later.
                    data_received(std::string_view(rest).substr(take));
                }
                break;
            }
            case 'D': set_delimiter(delimiters[n % 8]); break;
            default: break;
        }
    }

    std::string_view stream_;
    Exceed exceed_;
    bool copy_extra_;
    std::size_t raw_budget_ = 0;
};

struct Run {
    Events events;
    bool stopped;
};

Run run(const weft::fuzz::Input& in, bool chunked) {
    const auto exceed = static_cast<Exceed>(std::min((in.flags >> 3) & 3, 2));
    weft::testing::StringTransport transport;
    Receiver r(in.stream, exceed, (in.flags & 0x20) != 0);
    r.set_delimiter(delimiters[in.flags & 7]);
    if (in.limit != 255) r.set_max_length(in.limit);
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
    // Each resume delivers at least up to the next !P line, so this ends.
    while (r.paused() && !r.stopped) {
        WEFT_FUZZ_CHECK(transport.producer_state() == weft::testing::StringTransport::ProducerState::paused,
                        "the receiver is paused but its transport is not");
        r.resume_producing();
        r.check_between(fed);
    }
    r.finish();
    Events events = std::move(r.events);
    if (exceed == Exceed::keep_going) {
        weft::fuzz::cut_after_first(events, 'X');
    }
    return {std::move(events), r.stopped};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = weft::fuzz::Input::parse(data, size);
    const Run chunked = run(in, true);
    const Run whole = run(in, false);
    WEFT_FUZZ_CHECK(chunked.events == whole.events, weft::fuzz::first_difference(chunked.events, whole.events));
    return 0;
}
