// A WebSocket connection after its handshake: frames in, messages out, the close handshake and the
// send-buffer bound.

#include "websocket_connection.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <openssl/rand.h>

#include "weft/log.hpp"

namespace weft::web::detail {

WebSocketConnection::WebSocketConnection(ReactorTime& time, std::unique_ptr<WebSocketProtocol> protocol,
                                         WebSocketOptions options, Role role, std::string subprotocol,
                                         std::shared_ptr<LogRateLimiter> cut_log)
    : time_(time),
      protocol_(std::move(protocol)),
      options_(std::move(options)),
      role_(role),
      subprotocol_(std::move(subprotocol)),
      decoder_(role == Role::server, options_.max_message_size),
      cut_log_(std::move(cut_log)) {}

WebSocketConnection::~WebSocketConnection() {
    if (close_timer_.active()) close_timer_.cancel();
    if (over_limit_check_.active()) over_limit_check_.cancel();
}

void WebSocketConnection::connection_made() {
    made_ = true;
    protocol_->make_connection(*this);
}

void WebSocketConnection::data_received(std::string_view data) { decode(data); }

void WebSocketConnection::decode(std::string_view data) {
    if (lost_ || cut_) return;
    decoding_ = true;
    auto error = decoder_.feed(data, *this);
    decoding_ = false;
    if (error) fail(error->code, std::move(error->reason));
}

void WebSocketConnection::connection_lost(const Reason&) {
    lost_ = true;
    decoder_.stop();
    if (close_timer_.active()) close_timer_.cancel();
    if (over_limit_check_.active()) over_limit_check_.cancel();
    if (made_) protocol_->connection_lost(code_, reason_);
}

void WebSocketConnection::on_message(std::string_view data, MessageType type) {
    // After our close frame the peer may still send what it had queued; nobody is listening any more.
    if (close_sent_ || cut_) return;
    protocol_->message_received(data, type);
}

void WebSocketConnection::on_ping(std::string_view payload) {
    if (open()) write_frame(Opcode::pong, payload);
}

void WebSocketConnection::on_pong(std::string_view payload) {
    if (open()) protocol_->pong_received(payload);
}

void WebSocketConnection::on_close(std::uint16_t code, std::string_view reason) {
    close_received_ = true;
    if (!failed_) {
        code_ = code;
        reason_ = std::string(reason);
    }
    // Echo the code (RFC 6455 5.5.1) unless we started the handshake; then the server closes the TCP
    // connection, and a client waits for it to (7.1.1), for at most close_timeout.
    if (!close_sent_) send_close(code, {});
    if (role_ == Role::server) transport().lose_connection();
}

void WebSocketConnection::send_message(Opcode opcode, std::string_view payload) { write_frame(opcode, payload); }

void WebSocketConnection::send_shared(std::shared_ptr<const std::string> payload, MessageType type) {
    if (!payload) throw std::invalid_argument("WebSocketTransport::send_shared: no payload");
    if (type == MessageType::text) detail::require_utf8(*payload, "WebSocketTransport::send_shared");
    write_frame(type == MessageType::text ? Opcode::text : Opcode::binary, *payload, payload);
}

void WebSocketConnection::ping(std::string_view payload) {
    if (payload.size() > 125) throw std::invalid_argument("WebSocketTransport::ping: payload over 125 bytes");
    if (open()) write_frame(Opcode::ping, payload);
}

void WebSocketConnection::close(std::uint16_t code, std::string_view reason) {
    if (!valid_close_code(code)) throw std::invalid_argument("WebSocketTransport::close: invalid close code " + std::to_string(code));
    // RFC 6455 5.5.1: the reason is UTF-8; a peer fails the connection (1007) on any other.
    detail::require_utf8(reason, "WebSocketTransport::close");
    if (!open()) return;
    code_ = code;
    reason_ = std::string(reason);
    send_close(code, reason);
}

void WebSocketConnection::abort() {
    if (lost_) return;
    if (!close_received_ && !failed_) {
        code_ = close_code::abnormal;
        reason_ = "aborted";
    }
    transport().abort_connection();
}

std::size_t WebSocketConnection::buffered_bytes() const noexcept { return transport().buffered_bytes(); }

void WebSocketConnection::register_producer(Producer& producer, bool streaming) {
    transport().register_producer(producer, streaming);
}
void WebSocketConnection::unregister_producer() { transport().unregister_producer(); }
// A pause holds back the messages of the current read too, not only the next reads.
void WebSocketConnection::pause_producing() {
    decoder_.pause();
    transport().pause_producing();
}
void WebSocketConnection::resume_producing() {
    decoder_.resume();
    transport().resume_producing();
    if (!decoding_) decode({});
}

// A broadcast's frame, encoded once: queued as it is, where write_frame would build a header and gather the
// payload. A short frame is copied into the transport's queue, as write_shared would copy it anyway (its
// own queue entry would cost more than its bytes), but without the two atomic reference-count updates of
// handing over a shared_ptr.
void WebSocketConnection::send_prepared(const PreparedMessage& message) {
    if (role_ == Role::client) {
        return send_message(message.type() == MessageType::text ? Opcode::text : Opcode::binary, message.payload());
    }
    constexpr std::size_t share_from = 512;
    const auto& frame = message.frame();
    if (!may_write(frame->size())) return;
    if (frame->size() < share_from) {
        transport().write(*frame);
    } else {
        transport().write_shared(frame);
    }
    note_written(frame->size());
}

bool WebSocketConnection::may_write(std::size_t bytes) {
    if (lost_ || cut_ || close_sent_ || transport().disconnecting()) return false;
    return admit(bytes);
}

bool WebSocketConnection::write_frame(Opcode opcode, std::string_view payload,
                                      const std::shared_ptr<const std::string>& shared) {
    std::size_t size = payload.size() + 14;
    if (!may_write(size)) return false;
    if (role_ == Role::client) {
        // RFC 6455 5.3: a fresh unpredictable key per frame, so that a script cannot choose the bytes on
        // the wire (cache poisoning of intermediaries).
        std::array<unsigned char, 4> mask{};
        if (RAND_bytes(mask.data(), static_cast<int>(mask.size())) != 1) {
            throw std::runtime_error("WebSocket: no random bytes for a frame mask (RAND_bytes failed)");
        }
        transport().write(encode_frame(opcode, payload, true, &mask));
    } else {
        std::string header = frame_header(opcode, true, payload.size());
        if (shared) {
            transport().write(header);
            transport().write_shared(shared);
        } else {
            std::string_view pieces[] = {header, payload};
            transport().write_sequence(pieces);
        }
    }
    note_written(size);
    return true;
}

void WebSocketConnection::send_close(std::uint16_t code, std::string_view reason) {
    write_frame(Opcode::close, close_payload(code, reason));
    close_sent_ = true;
    start_close_timer();
}

void WebSocketConnection::fail(std::uint16_t code, std::string reason) {
    // RFC 6455 7.1.7: send a close frame with the code when possible, then close the TCP connection.
    if (failed_ || lost_) return;
    failed_ = true;
    decoder_.stop();
    code_ = code;
    reason_ = std::move(reason);
    if (!close_sent_) send_close(code, reason_);
    transport().lose_connection();
}

void WebSocketConnection::start_close_timer() {
    if (close_timer_.active() || lost_) return;
    // Also bounds the flush of a lose_connection to a peer that stopped reading.
    close_timer_ = time_.call_later(options_.close_timeout, [this] {
        if (lost_) return;
        if (!close_received_ && !failed_) {
            code_ = close_code::abnormal;
            reason_ = "no close frame from the peer in time";
        }
        transport().abort_connection();
    });
}

// The send bound, as weft-chat's: a burst within one turn may go up to the hard limit; what is still over
// send_buffer_limit once the turn's output had its chance to leave means the peer is not reading.
bool WebSocketConnection::admit(std::size_t bytes) {
    const std::size_t limit = options_.send_buffer_limit;
    const std::size_t hard = limit + std::max<std::size_t>(limit, 1024 * 1024);
    const std::size_t queued = transport().buffered_bytes();
    if (queued + bytes > hard) {
        cut(queued + bytes);
        return false;
    }
    return true;
}

void WebSocketConnection::note_written(std::size_t bytes) {
    if (over_limit_) {
        added_since_mark_ += bytes;
        return;
    }
    if (transport().buffered_bytes() > options_.send_buffer_limit) {
        over_limit_ = true;
        added_since_mark_ = 0;
        // Runs after the transport's flush, which this turn's write posted first.
        over_limit_check_ = time_.call_later(Duration::zero(), [this] { check_over_limit(); });
    }
}

void WebSocketConnection::check_over_limit() {
    if (lost_ || cut_) return;
    const std::size_t queued = transport().buffered_bytes();
    const std::size_t old_unsent = queued > added_since_mark_ ? queued - added_since_mark_ : 0;
    if (old_unsent > options_.send_buffer_limit) {
        cut(queued);
    } else if (queued > options_.send_buffer_limit) {
        added_since_mark_ = 0;  // it drained, but newer bursts keep it over: judge again after them
        over_limit_check_ = time_.call_later(Duration::zero(), [this] { check_over_limit(); });
    } else {
        over_limit_ = false;
    }
}

void WebSocketConnection::cut(std::size_t queued) {
    if (cut_) return;
    if (!cut_log_ || cut_log_->allow(time_.now())) {
        WEFT_LOG(warning) << "websocket: " << transport().peer().to_string() << " is too slow (" << queued
                          << " bytes unsent); disconnecting"
                          << (cut_log_ ? LogRateLimiter::note(*cut_log_) : LogRateLimiter::Note{0});
    }
    cut_ = true;
    decoder_.stop();
    code_ = close_code::abnormal;
    reason_ = "peer too slow: " + std::to_string(queued) + " bytes unsent";
    transport().abort_connection();
}

}  // namespace weft::web::detail
