// libFuzzer target: weft::web's WebSocket frame decoder (web/src/websocket_frame.hpp, private): frames,
// fragmentation, control frames, close bodies, UTF-8 validation, the message limit. See docs/fuzzing.md.
//
// Header: flags bit 0 the client side (frames must be unmasked; else the server side: masked); limit sets
// max_message_size = (limit + 1) * 64. The stream is what the peer sends.
//
// Invariants: whole and chunked delivery give the same events and the same error; every text message and
// close reason is valid UTF-8 by an independent decoder; no message exceeds the limit and no control
// payload 125 bytes; every message re-encoded by frame_header/encode_frame decodes to itself.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "websocket_frame.hpp"

namespace {

using namespace weft::web::detail;
using weft::web::MessageType;
using weft::fuzz::Events;

// Code point by code point, the plain way (RFC 3629), to check the table-driven validator against.
bool plain_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        auto b = static_cast<unsigned char>(s[i]);
        std::size_t n;
        std::uint32_t cp;
        if (b < 0x80) {
            ++i;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            n = 1;
            cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            n = 2;
            cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            n = 3;
            cp = b & 0x07;
        } else {
            return false;
        }
        if (s.size() - i < n + 1) return false;
        for (std::size_t k = 1; k <= n; ++k) {
            auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3F);
        }
        const std::uint32_t min[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n + 1;
    }
    return true;
}

struct Recorder final : FrameHandler {
    Events events;
    std::size_t max_message;
    explicit Recorder(std::size_t max) : max_message(max) {}
    void on_message(std::string_view data, MessageType type) override {
        WEFT_FUZZ_CHECK(data.size() <= max_message, "a message over the limit");
        if (type == MessageType::text) WEFT_FUZZ_CHECK(plain_utf8(data), "invalid UTF-8 delivered: " + weft::fuzz::escape(data));
        events.push_back({type == MessageType::text ? 't' : 'b', std::string(data)});
    }
    void on_ping(std::string_view payload) override {
        WEFT_FUZZ_CHECK(payload.size() <= 125, "a ping over 125 bytes");
        events.push_back({'i', std::string(payload)});
    }
    void on_pong(std::string_view payload) override {
        WEFT_FUZZ_CHECK(payload.size() <= 125, "a pong over 125 bytes");
        events.push_back({'o', std::string(payload)});
    }
    void on_close(std::uint16_t code, std::string_view reason) override {
        WEFT_FUZZ_CHECK(code == weft::web::close_code::no_status || valid_close_code(code), "an invalid close code accepted");
        WEFT_FUZZ_CHECK(plain_utf8(reason), "a close reason that is not UTF-8 accepted");
        events.push_back({'c', std::to_string(code) + ":" + std::string(reason)});
    }
};

struct Outcome {
    Events events;
    std::optional<FrameError> error;
};

Outcome run(const weft::fuzz::Input& in, bool chunked, bool client, std::size_t max) {
    FrameDecoder decoder(!client, max);
    Recorder recorder(max);
    Outcome out;
    weft::fuzz::Chunker chunker(in.seed, in.chunk_max);
    std::size_t fed = 0;
    while (fed < in.stream.size() && !out.error) {
        const std::size_t n = chunked ? std::min(chunker.size(), in.stream.size() - fed) : in.stream.size();
        const std::string copy(in.stream.substr(fed, n));  // a view kept past feed() would be caught by ASan
        out.error = decoder.feed(copy, recorder);
        fed += n;
    }
    out.events = std::move(recorder.events);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = weft::fuzz::Input::parse(data, size);
    const bool client = (in.flags & 1) != 0;
    const std::size_t max = (static_cast<std::size_t>(in.limit) + 1) * 64;
    const Outcome whole = run(in, false, client, max);
    const Outcome chunked = run(in, true, client, max);
    WEFT_FUZZ_CHECK(whole.events == chunked.events, "events differ: " + weft::fuzz::first_difference(chunked.events, whole.events));
    WEFT_FUZZ_CHECK(whole.error.has_value() == chunked.error.has_value(), "an error in one delivery only");
    if (whole.error) {
        WEFT_FUZZ_CHECK(whole.error->code == chunked.error->code, "different close codes");
        const auto c = whole.error->code;
        WEFT_FUZZ_CHECK(c == 1002 || c == 1007 || c == 1009, "an unexpected close code " + std::to_string(c));
    }
    // The encoder's frames decode to what they carry (server frames as the client sees them, and back).
    for (const auto& e : whole.events) {
        if (e.kind != 't' && e.kind != 'b') continue;
        const std::array<unsigned char, 4> key{1, 2, 3, 4};
        const std::string frame = encode_frame(e.kind == 't' ? Opcode::text : Opcode::binary, e.data, true, client ? &key : nullptr);
        FrameDecoder back(client, max);
        Recorder again(max);
        WEFT_FUZZ_CHECK(!back.feed(frame, again), "a re-encoded message does not decode");
        WEFT_FUZZ_CHECK(again.events.size() == 1 && again.events[0] == e, "a re-encoded message decodes differently");
    }
    return 0;
}
