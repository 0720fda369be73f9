#include "chat_websocket.hpp"

#include <stdexcept>
#include <utility>

#include "weft/log.hpp"

namespace weft::chat {

void WebSocketLineTransport::write(std::string_view data) {
    if (state_ != ConnectionState::connected) return;
    // The room writes whole lines, one or many per call; a line cut across calls waits for its end.
    try {
        while (!data.empty()) {
            const auto end = data.find("\r\n");
            if (end == std::string_view::npos) {
                partial_.append(data);
                return;
            }
            if (partial_.empty()) {
                socket_.send_text(data.substr(0, end));
            } else {
                partial_.append(data.substr(0, end));
                socket_.send_text(partial_);
                partial_.clear();
            }
            data.remove_prefix(end + 2);
        }
    } catch (const std::invalid_argument& e) {
        refuse_line(e);
    }
}

// The room sanitises every line it writes, so a line that is not UTF-8 is a bug of ours; it must cost
// this browser its connection, not unwind the room's broadcast to everyone else (or the sender's read).
void WebSocketLineTransport::refuse_line(const std::exception& e) {
    WEFT_LOG(error) << "chat: a line for " << socket_.peer().to_string() << " could not be sent as text ("
                    << e.what() << "); dropping that connection";
    partial_.clear();
    abort_connection();
}

void WebSocketLineTransport::write_sequence(std::span<const std::string_view> pieces) {
    for (const auto piece : pieces) write(piece);
}

const web::PreparedMessage* BroadcastFrames::message_for(const std::shared_ptr<const std::string>& line) {
    if (line != line_) {
        line_ = line;
        message_.reset();
        const auto end = line->find("\r\n");
        if (end != std::string::npos && end + 2 == line->size()) {
            try {
                message_.emplace(std::string_view(*line).substr(0, end), web::MessageType::text);
            } catch (const std::invalid_argument&) {
                // Not UTF-8 (see refuse_line): each connection's write() refuses it on its own.
            }
        }
    }
    return message_ ? &*message_ : nullptr;
}

// A broadcast's shared buffer: one line to everyone, framed once for the whole room (BroadcastFrames).
// Anything else (several lines, a line's end after a partial write) is cut into messages here.
void WebSocketLineTransport::write_shared(std::shared_ptr<const std::string> data) {
    if (!data || state_ != ConnectionState::connected) return;
    if (partial_.empty()) {
        if (const auto* message = frames_.message_for(data)) return socket_.send_prepared(*message);
    }
    write(*data);
}

void WebSocketLineTransport::lose_connection() {
    if (state_ != ConnectionState::connected) return;
    state_ = ConnectionState::disconnecting;
    socket_.close(web::close_code::normal);
}

void WebSocketLineTransport::abort_connection() {
    if (state_ == ConnectionState::disconnected) return;
    state_ = ConnectionState::disconnecting;
    socket_.abort();
}

// A WebSocket has no half-close: the room only uses it to end a conversation.
void WebSocketLineTransport::lose_write_connection() { lose_connection(); }

ConnectionState WebSocketLineTransport::state() const noexcept {
    if (state_ != ConnectionState::connected) return state_;
    // The WebSocket layer closes the connection underneath when a close frame came or it failed the
    // connection: the room must stop handing it lines then (LineReceiver checks disconnecting()).
    switch (socket_.raw_transport().state()) {
        case ConnectionState::connecting:
        case ConnectionState::connected: return ConnectionState::connected;
        case ConnectionState::disconnected: return ConnectionState::disconnected;
        default: return ConnectionState::disconnecting;
    }
}

Address WebSocketLineTransport::peer() const { return socket_.peer(); }
Address WebSocketLineTransport::host() const { return socket_.host(); }
std::uint64_t WebSocketLineTransport::id() const noexcept { return socket_.raw_transport().id(); }
std::size_t WebSocketLineTransport::buffered_bytes() const noexcept { return raw_.buffered_bytes(); }

void WebSocketLineTransport::set_write_buffer_limits(std::size_t high, std::size_t low) {
    socket_.raw_transport().set_write_buffer_limits(high, low);
}
void WebSocketLineTransport::register_producer(Producer& producer, bool streaming) {
    socket_.register_producer(producer, streaming);
}
void WebSocketLineTransport::unregister_producer() { socket_.unregister_producer(); }
void WebSocketLineTransport::pause_reading_while_backed_up() { socket_.raw_transport().pause_reading_while_backed_up(); }
void WebSocketLineTransport::pause_producing() { socket_.pause_producing(); }
void WebSocketLineTransport::resume_producing() { socket_.resume_producing(); }
void WebSocketLineTransport::stop_producing() { abort_connection(); }

ChatWebSocket::ChatWebSocket(ChatFactory& room, const Address& peer, std::shared_ptr<BroadcastFrames> frames)
    : chat_(room.build_protocol(peer)), frames_(std::move(frames)) {}

ChatWebSocket::~ChatWebSocket() = default;

void ChatWebSocket::connection_made() {
    lines_ = std::make_unique<WebSocketLineTransport>(transport(), *frames_);
    chat_->make_connection(*lines_);
}

void ChatWebSocket::message_received(std::string_view data, web::MessageType type) {
    if (!lines_ || lines_->state() != ConnectionState::connected) return;
    if (type != web::MessageType::text) {
        lines_->closing();
        transport().close(web::close_code::unsupported_data, "chat lines are text");
        return;
    }
    // One message is one line (a newline inside it makes several, as it would from nc).
    input_.assign(data);
    input_.push_back('\n');
    chat_->data_received(input_);
}

void ChatWebSocket::connection_lost(std::uint16_t code, std::string_view reason) {
    if (!lines_) return;
    lines_->lost();
    const bool clean = code == web::close_code::normal || code == web::close_code::going_away ||
                       code == web::close_code::no_status;
    chat_->connection_lost(clean ? Reason::done()
                                 : Reason::error("WebSocket closed with " + std::to_string(code) +
                                                 (reason.empty() ? "" : ": " + std::string(reason))));
}

}  // namespace weft::chat
