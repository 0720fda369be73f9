#pragma once
// Shared by the libFuzzer targets (docs/fuzzing.md): the hard invariant check, the input header, the
// chunker that turns the header into chunk sizes, and the recorded-event list that chunked and whole
// delivery are compared on.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "weft/log.hpp"
#include "weft/protocol.hpp"

namespace weft::fuzz {

/// Prints what broke and aborts: libFuzzer then saves the input as a crash. Not assert(): NDEBUG (the
/// RelWithDebInfo default) would compile the checks away and the fuzzer would check nothing.
[[noreturn]] inline void fail(const char* what, const char* file, int line, std::string_view detail) {
    std::fprintf(stderr, "\n*** weft fuzz invariant violated: %s\n    at %s:%d\n", what, file, line);
    if (!detail.empty()) std::fprintf(stderr, "    %.*s\n", static_cast<int>(detail.size()), detail.data());
    std::fflush(stderr);
    std::abort();
}

// A macro so the message names the failed expression and its line.
#define WEFT_FUZZ_CHECK(cond, detail)                                                    \
    do {                                                                                 \
        if (!(cond)) ::weft::fuzz::fail(#cond, __FILE__, __LINE__, (detail));           \
    } while (false)

/// Every target's input is a 4-byte header then the stream. A fixed header (instead of
/// FuzzedDataProvider taking bytes from the end) keeps the seed corpus readable: a seed is 4 bytes of
/// settings followed by the bytes a peer would send.
struct Input {
    std::uint8_t flags = 0;       ///< target-specific switches
    std::uint8_t limit = 0;       ///< max_length (255: the receiver's default)
    std::uint8_t seed = 0;        ///< seeds the chunk sizes
    std::uint8_t chunk_max = 0;   ///< chunks are 0..chunk_max+1 bytes
    std::string_view stream;

    static Input parse(const std::uint8_t* data, std::size_t size) {
        Input in;
        std::uint8_t header[4] = {0, 0, 0, 0};
        const std::size_t h = size < 4 ? size : 4;
        for (std::size_t i = 0; i < h; ++i) header[i] = data[i];
        in.flags = header[0];
        in.limit = header[1];
        in.seed = header[2];
        in.chunk_max = header[3];
        in.stream = std::string_view(reinterpret_cast<const char*>(data) + h, size - h);
        return in;
    }
};

/// Deterministic chunk sizes from the header (splitmix64): the same input always chunks the same way,
/// so a saved crash reproduces.
class Chunker {
public:
    Chunker(std::uint64_t seed, std::size_t chunk_max) : state_(seed * 0x9e3779b97f4a7c15ULL + 1), max_(chunk_max) {}

    std::uint64_t next() noexcept {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    /// 0..chunk_max+1 bytes: empty chunks are legal input too.
    std::size_t size() noexcept { return static_cast<std::size_t>(next() % (max_ + 2)); }
    bool coin() noexcept { return (next() & 1) != 0; }

private:
    std::uint64_t state_;
    std::size_t max_;
};

/// Hands `piece` to the protocol from an exactly-sized heap copy freed right after the call: a receiver
/// that keeps a view past data_received, or reads past the chunk, is caught by ASan.
inline void deliver_copy(Protocol& protocol, std::string_view piece) {
    if (piece.empty()) {
        protocol.data_received({});
        return;
    }
    const std::unique_ptr<char[]> copy(new char[piece.size()]);
    std::copy(piece.begin(), piece.end(), copy.get());
    protocol.data_received(std::string_view(copy.get(), piece.size()));
}

/// One callback as seen by the protocol. Kinds are single letters chosen per target.
struct Event {
    char kind;
    std::string data;
    bool operator==(const Event&) const = default;
};

using Events = std::vector<Event>;

/// Feeds in.stream to `protocol`, whole or in the Chunker's sizes (each piece from its own copy), and
/// calls after(fed, chunker) after each piece with the number of bytes fed so far.
template <class After>
void feed(Protocol& protocol, const Input& in, bool chunked, After&& after) {
    Chunker chunker(in.seed, in.chunk_max);
    std::size_t fed = 0;
    while (fed < in.stream.size()) {
        const std::size_t n = chunked ? std::min(chunker.size(), in.stream.size() - fed) : in.stream.size();
        deliver_copy(protocol, in.stream.substr(fed, n));
        fed += n;
        after(fed, chunker);
    }
}

/// Keeps the events up to and including the first of `kind`. After an over-long line a receiver drops
/// what it had buffered, and what that was depends on the chunking: only the events before are comparable.
inline void cut_after_first(Events& events, char kind) {
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (events[i].kind == kind) {
            events.resize(i + 1);
            return;
        }
    }
}

/// Appends, merging into the previous event when both are of the mergeable kind `merge` (raw data is
/// cut wherever the chunks were cut, so only its concatenation is comparable).
inline void record(Events& events, char kind, std::string_view data, char merge = '\0') {
    if (kind == merge && !events.empty() && events.back().kind == merge) {
        events.back().data.append(data);
        return;
    }
    events.push_back({kind, std::string(data)});
}

inline std::string escape(std::string_view s, std::size_t limit = 80) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out.append(buf);
        }
    }
    if (s.size() > limit) out.append("...(" + std::to_string(s.size()) + " bytes)");
    return out;
}

inline std::string describe(const Events& events) {
    std::string out;
    for (const Event& e : events) out.append(" ").append(1, e.kind).append("[").append(escape(e.data, 40)).append("]");
    return out;
}

/// The first difference between chunked and whole delivery, for the failure message.
inline std::string first_difference(const Events& chunked, const Events& whole) {
    std::size_t i = 0;
    while (i < chunked.size() && i < whole.size() && chunked[i] == whole[i]) ++i;
    std::string out = "events differ at #" + std::to_string(i) + " (chunked " + std::to_string(chunked.size()) +
                      ", whole " + std::to_string(whole.size()) + "): chunked";
    out += describe(Events(chunked.begin() + static_cast<std::ptrdiff_t>(std::min(i, chunked.size())),
                           chunked.begin() + static_cast<std::ptrdiff_t>(std::min(i + 3, chunked.size()))));
    out += " | whole";
    out += describe(Events(whole.begin() + static_cast<std::ptrdiff_t>(std::min(i, whole.size())),
                           whole.begin() + static_cast<std::ptrdiff_t>(std::min(i + 3, whole.size()))));
    return out;
}

/// A decimal number at the start of `s` (0 if none), at most 4 digits: command arguments in the streams.
inline std::size_t leading_number(std::string_view s) noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.size() && i < 4 && s[i] >= '0' && s[i] <= '9'; ++i) {
        n = n * 10 + static_cast<std::size_t>(s[i] - '0');
    }
    return n;
}

}  // namespace weft::fuzz

// Every target is one translation unit that includes this header once, so the hook is defined here.
// The receivers and the chat log each over-long line, parse error and departure: at a thousand runs a
// second that would drown the fuzzer's own output (and slow it down). $WEFT_LOG_LEVEL=debug brings the
// log back when reproducing a crash.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    weft::init_logging({}, weft::LogLevel::fatal);
    return 0;
}
