#pragma once
// The WebSocket frame codec (RFC 6455 section 5): a decoder that turns bytes into messages and control
// frames, and the encoder of frames. Private to weft::web; no I/O, so the fuzz target drives it alone.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "weft/web/websocket_protocol.hpp"

namespace weft::web::detail {

enum class Opcode : std::uint8_t { continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

/// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF), fed in
/// pieces cut anywhere, so that a text message split across frames is checked as it arrives.
class Utf8Validator {
public:
    /// False as soon as the bytes so far cannot begin valid UTF-8.
    bool feed(std::string_view bytes) noexcept;
    /// True when the bytes so far are complete UTF-8 (no sequence cut short).
    [[nodiscard]] bool complete() const noexcept { return needed_ == 0; }
    void reset() noexcept { needed_ = 0; lower_ = 0x80; upper_ = 0xBF; }

private:
    unsigned needed_ = 0;          // continuation bytes still due
    unsigned char lower_ = 0x80;   // bounds of the next continuation byte
    unsigned char upper_ = 0xBF;
};

/// True if `text` is complete, valid UTF-8 (Utf8Validator over the whole of it).
[[nodiscard]] bool valid_utf8(std::string_view text) noexcept;

/// Throws std::invalid_argument("`who`: text is not valid UTF-8 ...") unless valid_utf8(text): sending
/// invalid UTF-8 as text is a caller's error (RFC 6455 8.1: the peer fails the connection with 1007).
void require_utf8(std::string_view text, const char* who);

/// True if `code` may be sent in a close frame (RFC 6455 7.4 and IANA's registry: 1000-1003,
/// 1007-1014, 3000-4999).
[[nodiscard]] bool valid_close_code(std::uint16_t code) noexcept;

/// What a decoder hands over, one call per complete message or control frame.
class FrameHandler {
public:
    virtual ~FrameHandler() = default;
    virtual void on_message(std::string_view data, MessageType type) = 0;
    virtual void on_ping(std::string_view payload) = 0;
    virtual void on_pong(std::string_view payload) = 0;
    /// `code` is close_code::no_status when the frame had no body.
    virtual void on_close(std::uint16_t code, std::string_view reason) = 0;
};

/// Why the decoder gave up: the close code to fail the connection with, and a short reason.
struct FrameError {
    std::uint16_t code;
    std::string reason;
};

/// Turns a byte stream into messages (RFC 6455 5.2-5.6), checking everything the peer can get wrong.
///
/// Contract: feed() takes any split of the input and calls the handler for each complete message
/// (fragments joined) and control frame, in order. It stops at the first error (returned; later calls
/// return it again), after a close frame (later input is ignored), or when stop() was called from a
/// handler; pause() holds it until resume(). Memory: at most max_message bytes of message plus one frame header are held.
class FrameDecoder {
public:
    /// `expect_masked`: a server requires masked frames, a client requires unmasked ones.
    FrameDecoder(bool expect_masked, std::size_t max_message) noexcept
        : expect_masked_(expect_masked), max_message_(max_message) {}

    std::optional<FrameError> feed(std::string_view data, FrameHandler& handler);
    /// No more callbacks, from now on (the connection is closing).
    void stop() noexcept { stopped_ = true; }
    /// Holds back callbacks until resume(): input fed meanwhile is only buffered (the caller stops reading,
    /// so at most one read's worth). feed({}) after resume() delivers what waits.
    void pause() noexcept { paused_ = true; }
    void resume() noexcept { paused_ = false; }
    [[nodiscard]] bool close_received() const noexcept { return close_received_; }

private:
    std::optional<FrameError> parse_one(FrameHandler& handler, bool& progressed);
    std::optional<FrameError> fail(std::uint16_t code, std::string reason);

    bool expect_masked_;
    std::size_t max_message_;
    std::string input_;             // unparsed bytes: at most one frame
    std::size_t pos_ = 0;
    std::string message_;           // fragments of the message being assembled
    bool in_message_ = false;
    MessageType message_type_ = MessageType::text;
    Utf8Validator utf8_;
    bool stopped_ = false;
    bool paused_ = false;
    bool close_received_ = false;
    std::optional<FrameError> error_;
};

/// The header of a frame with `length` bytes of payload; masked with `mask` when given (clients).
[[nodiscard]] std::string frame_header(Opcode opcode, bool fin, std::uint64_t length,
                                       const std::array<unsigned char, 4>* mask = nullptr);
/// XORs `data` with `mask` in place, starting at byte `offset` of the payload.
void apply_mask(char* data, std::size_t size, const std::array<unsigned char, 4>& mask, std::size_t offset = 0) noexcept;
/// A whole frame (header and payload), masked when `mask` is given.
[[nodiscard]] std::string encode_frame(Opcode opcode, std::string_view payload, bool fin = true,
                                       const std::array<unsigned char, 4>* mask = nullptr);
/// The body of a close frame: the code in network order and the reason, cut to fit 125 bytes on a
/// UTF-8 boundary. Empty for close_code::no_status.
[[nodiscard]] std::string close_payload(std::uint16_t code, std::string_view reason);

}  // namespace weft::web::detail
