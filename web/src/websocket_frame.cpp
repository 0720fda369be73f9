// The WebSocket frame codec (RFC 6455 section 5).

#include "websocket_frame.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace weft::web::detail {

bool Utf8Validator::feed(std::string_view bytes) noexcept {
    constexpr std::uint64_t high_bits = 0x8080808080808080ULL;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        // Most text is ASCII: between sequences, skip eight such bytes at a time.
        while (needed_ == 0 && bytes.size() - i >= 8) {
            std::uint64_t word;
            std::memcpy(&word, bytes.data() + i, sizeof word);
            if ((word & high_bits) != 0) break;
            i += 8;
        }
        if (i == bytes.size()) break;
        auto b = static_cast<unsigned char>(bytes[i]);
        if (needed_ > 0) {
            if (b < lower_ || b > upper_) return false;
            lower_ = 0x80;
            upper_ = 0xBF;
            --needed_;
            continue;
        }
        if (b < 0x80) continue;
        // The bounds of the first continuation byte rule out overlongs (E0, F0), surrogates (ED) and
        // code points above U+10FFFF (F4); C0, C1 and F5-FF never start a sequence.
        if (b >= 0xC2 && b <= 0xDF) {
            needed_ = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            needed_ = 2;
            if (b == 0xE0) lower_ = 0xA0;
            if (b == 0xED) upper_ = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            needed_ = 3;
            if (b == 0xF0) lower_ = 0x90;
            if (b == 0xF4) upper_ = 0x8F;
        } else {
            return false;
        }
    }
    return true;
}

bool valid_utf8(std::string_view text) noexcept {
    Utf8Validator v;
    return v.feed(text) && v.complete();
}

void require_utf8(std::string_view text, const char* who) {
    if (!valid_utf8(text)) {
        throw std::invalid_argument(std::string(who) +
                                    ": text is not valid UTF-8 (send bytes with MessageType::binary)");
    }
}

bool valid_close_code(std::uint16_t code) noexcept {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

std::optional<FrameError> FrameDecoder::fail(std::uint16_t code, std::string reason) {
    error_ = FrameError{code, std::move(reason)};
    input_.clear();
    pos_ = 0;
    message_.clear();
    return error_;
}

std::optional<FrameError> FrameDecoder::feed(std::string_view data, FrameHandler& handler) {
    if (error_) return error_;
    if (stopped_ || close_received_) return std::nullopt;
    input_.append(data);
    bool progressed = true;
    while (progressed && !stopped_ && !paused_ && !close_received_ && pos_ < input_.size()) {
        progressed = false;
        if (auto e = parse_one(handler, progressed)) return e;
    }
    if (pos_ >= input_.size()) {
        input_.clear();
    } else if (pos_ > 0) {
        input_.erase(0, pos_);
    }
    pos_ = 0;
    return std::nullopt;
}

std::optional<FrameError> FrameDecoder::parse_one(FrameHandler& handler, bool& progressed) {
    const std::size_t available = input_.size() - pos_;
    if (available < 2) return std::nullopt;
    const auto* p = reinterpret_cast<const unsigned char*>(input_.data() + pos_);
    const bool fin = (p[0] & 0x80) != 0;
    const unsigned rsv = p[0] & 0x70;
    const unsigned op = p[0] & 0x0F;
    const bool masked = (p[1] & 0x80) != 0;
    const unsigned len7 = p[1] & 0x7F;

    // No extension is negotiated, so a reserved bit means the peer speaks something else.
    if (rsv != 0) return fail(close_code::protocol_error, "reserved bits set");
    if (op != 0x0 && op != 0x1 && op != 0x2 && op != 0x8 && op != 0x9 && op != 0xA) {
        return fail(close_code::protocol_error, "reserved opcode");
    }
    if (masked != expect_masked_) {
        return fail(close_code::protocol_error, masked ? "masked frame from the server" : "unmasked frame from the client");
    }
    const bool control = (op & 0x8) != 0;
    if (control && !fin) return fail(close_code::protocol_error, "fragmented control frame");
    if (control && len7 > 125) return fail(close_code::protocol_error, "control frame over 125 bytes");

    const std::size_t extended = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    if (available < 2 + extended) return std::nullopt;
    std::uint64_t length = len7;
    if (extended > 0) {
        length = 0;
        for (std::size_t i = 0; i < extended; ++i) length = (length << 8) | p[2 + i];
        if (length >> 63) return fail(close_code::protocol_error, "frame length with the top bit set");
    }
    if (!control) {
        if (op == 0x0 && !in_message_) return fail(close_code::protocol_error, "continuation frame outside a message");
        if (op != 0x0 && in_message_) return fail(close_code::protocol_error, "new message inside a fragmented one");
        // Checked on the header, before the payload is buffered: memory stays bounded by the limit.
        if (length > max_message_ - message_.size()) return fail(close_code::message_too_big, "message too big");
    }
    const std::size_t header = 2 + extended + (masked ? 4 : 0);
    if (available < header || available - header < length) return std::nullopt;

    std::array<unsigned char, 4> mask{};
    if (masked) std::memcpy(mask.data(), p + 2 + extended, 4);
    char* payload_data = input_.data() + pos_ + header;
    const auto size = static_cast<std::size_t>(length);
    if (masked) apply_mask(payload_data, size, mask);
    const std::string_view payload(payload_data, size);
    pos_ += header + size;
    progressed = true;

    switch (static_cast<Opcode>(op)) {
    case Opcode::ping:
        handler.on_ping(payload);
        return std::nullopt;
    case Opcode::pong:
        handler.on_pong(payload);
        return std::nullopt;
    case Opcode::close: {
        if (payload.size() == 1) return fail(close_code::protocol_error, "close frame with a 1-byte body");
        std::uint16_t code = close_code::no_status;
        std::string_view reason;
        if (payload.size() >= 2) {
            code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                              static_cast<unsigned char>(payload[1]));
            if (!valid_close_code(code)) return fail(close_code::protocol_error, "invalid close code");
            reason = payload.substr(2);
            if (!valid_utf8(reason)) return fail(close_code::invalid_payload, "close reason is not UTF-8");
        }
        close_received_ = true;
        handler.on_close(code, reason);
        return std::nullopt;
    }
    default:
        break;
    }

    if (op != 0x0) {
        message_type_ = op == 0x1 ? MessageType::text : MessageType::binary;
        utf8_.reset();
    }
    // Text is checked frame by frame, so an invalid sequence ends the connection before the message does.
    if (message_type_ == MessageType::text && !utf8_.feed(payload)) {
        return fail(close_code::invalid_payload, "text is not UTF-8");
    }
    if (!fin) {
        in_message_ = true;
        message_.append(payload);
        return std::nullopt;
    }
    if (message_type_ == MessageType::text && !utf8_.complete()) {
        return fail(close_code::invalid_payload, "text ends inside a UTF-8 sequence");
    }
    if (!in_message_) {
        handler.on_message(payload, message_type_);  // unfragmented: straight from the input buffer
        return std::nullopt;
    }
    message_.append(payload);
    in_message_ = false;
    std::string message = std::move(message_);
    message_.clear();
    handler.on_message(message, message_type_);
    return std::nullopt;
}

std::string frame_header(Opcode opcode, bool fin, std::uint64_t length, const std::array<unsigned char, 4>* mask) {
    std::string out;
    out.reserve(14);
    out += static_cast<char>((fin ? 0x80 : 0x00) | static_cast<unsigned>(opcode));
    const char mask_bit = mask ? static_cast<char>(0x80) : 0;
    if (length < 126) {
        out += static_cast<char>(mask_bit | static_cast<char>(length));
    } else if (length <= 0xFFFF) {
        out += static_cast<char>(mask_bit | 126);
        out += static_cast<char>((length >> 8) & 0xFF);
        out += static_cast<char>(length & 0xFF);
    } else {
        out += static_cast<char>(mask_bit | 127);
        for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((length >> shift) & 0xFF);
    }
    if (mask) out.append(reinterpret_cast<const char*>(mask->data()), 4);
    return out;
}

void apply_mask(char* data, std::size_t size, const std::array<unsigned char, 4>& mask, std::size_t offset) noexcept {
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>(data[i] ^ static_cast<char>(mask[(offset + i) & 3]));
}

std::string encode_frame(Opcode opcode, std::string_view payload, bool fin, const std::array<unsigned char, 4>* mask) {
    std::string out = frame_header(opcode, fin, payload.size(), mask);
    const std::size_t at = out.size();
    out.append(payload);
    if (mask) apply_mask(out.data() + at, payload.size(), *mask);
    return out;
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
    if (code == close_code::no_status) return {};
    std::string out;
    out += static_cast<char>(code >> 8);
    out += static_cast<char>(code & 0xFF);
    if (reason.size() > 123) {
        std::size_t cut = 123;
        // Do not split a UTF-8 sequence: back up over continuation bytes.
        while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
        reason = reason.substr(0, cut);
    }
    out.append(reason);
    return out;
}

}  // namespace weft::web::detail
