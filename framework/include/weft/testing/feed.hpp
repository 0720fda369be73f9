#pragma once
// weft::testing::feed and feed_every_chunking: feed a protocol its input in every chunking, since parsing
// bugs live at chunk boundaries (Twisted's protocol tests do the same with packet sizes 1..9).

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "weft/protocol.hpp"

namespace weft::testing {

/// 0 means "whole"; then every chunk size from 1 to 9.
inline constexpr std::array<std::size_t, 10> chunkings{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

/// Delivers `input` to `protocol` in chunks of `chunk` bytes (0: all at once). Each chunk is copied into
/// its own std::string that dies after the call, so a protocol that keeps a view past data_received reads
/// freed memory (and ASan says so). Every chunk is delivered, even after the protocol called
/// lose_connection(): what a protocol does with input it should ignore is part of what is tested.
inline void feed(Protocol& protocol, std::string_view input, std::size_t chunk) {
    if (chunk == 0) chunk = std::max<std::size_t>(input.size(), 1);
    for (std::size_t at = 0; at < input.size(); at += chunk) {
        const std::string piece(input.substr(at, chunk));
        protocol.data_received(piece);
    }
}

/// One way of cutting the input, handed to feed_every_chunking's callback.
struct Chunking {
    std::size_t size;        ///< bytes per data_received call; 0 = the whole input at once
    std::string_view input;  ///< the input to feed
    /// Feeds the input to `protocol` cut this way.
    void feed(Protocol& protocol) const { testing::feed(protocol, input, size); }
};

/// What feed_every_chunking found: the result of the whole input fed at once, and each chunk size whose
/// result differed from it.
template <class Result>
struct ChunkingReport {
    Result whole;  ///< what `run` returned for the whole input fed at once
    /// (chunk size, result) for each chunk size whose result was not == whole, in increasing size; empty
    /// when every chunking agreed.
    std::vector<std::pair<std::size_t, Result>> differing;
    /// Every chunking gave the same result as the whole input.
    [[nodiscard]] bool consistent() const noexcept { return differing.empty(); }
};

/// Runs `run(chunking)` for the whole input and for every chunk size from 1 to `max_chunk`; `run` builds a
/// fresh protocol (and transport), calls chunking.feed(protocol) and returns what it observed (anything
/// comparable with ==, e.g. the transport's value() or the lines received). Framework-neutral: check
/// report.consistent() and report.whole with your test framework.
///
///     auto report = weft::testing::feed_every_chunking("a\r\nb\r\n", 9, [](const weft::testing::Chunking& c) {
///         weft::testing::StringTransport t;
///         Echo p;
///         p.make_connection(t);
///         c.feed(p);
///         return t.value();
///     });
///     CHECK(report.consistent());
template <class Run>
auto feed_every_chunking(std::string_view input, std::size_t max_chunk, Run&& run)
    -> ChunkingReport<std::decay_t<std::invoke_result_t<Run&, const Chunking&>>> {
    using Result = std::decay_t<std::invoke_result_t<Run&, const Chunking&>>;
    ChunkingReport<Result> report{run(Chunking{0, input}), {}};
    for (std::size_t size = 1; size <= max_chunk; ++size) {
        Result got = run(Chunking{size, input});
        if (!(got == report.whole)) report.differing.emplace_back(size, std::move(got));
    }
    return report;
}

}  // namespace weft::testing
