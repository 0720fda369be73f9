#pragma once
// Helpers shared by the protocol tests: feeding input in every chunking, since parsing bugs live at chunk
// boundaries (Twisted's tests do the same with packet sizes 1..9).

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "weft/protocol.hpp"

namespace weft::test {

/// 0 means "whole"; then every chunk size from 1 to 9.
inline constexpr std::array<std::size_t, 10> chunkings{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

/// Delivers `input` to `protocol` in chunks of `chunk` bytes (0: all at once). Each chunk is copied into
/// its own std::string that dies after the call, so a protocol that keeps a view past data_received reads
/// freed memory (and ASan says so).
inline void feed(Protocol& protocol, std::string_view input, std::size_t chunk) {
    if (chunk == 0) chunk = std::max<std::size_t>(input.size(), 1);
    for (std::size_t at = 0; at < input.size(); at += chunk) {
        const std::string piece(input.substr(at, chunk));
        protocol.data_received(piece);
    }
}

}  // namespace weft::test
