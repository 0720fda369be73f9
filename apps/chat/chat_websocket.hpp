#pragma once
// A browser in the chat room: a WebSocket connection (the page's /ws) carrying the chat's own lines, one text
// message per line each way, so that the room treats it as any other client. docs/chat.md, "The chat room
// on the web".

#include <memory>
#include <optional>
#include <string>

#include "chat_protocol.hpp"
#include "weft/transport.hpp"
#include "weft/web/websocket_protocol.hpp"

namespace weft::chat {

/// The room's latest line to everyone as a WebSocket message, prepared once for all the browsers in the room:
/// ChatFactory::broadcast hands every member the same shared "...\r\n" buffer in turn, so one frame serves
/// them all, as the one buffer serves the TCP clients. Shared by a room's WebSocket connections.
class BroadcastFrames {
public:
    /// The message for `line` if it holds exactly one "\r\n"-ended line (prepared on the first call for
    /// this buffer), else null.
    [[nodiscard]] const web::PreparedMessage* message_for(const std::shared_ptr<const std::string>& line);

private:
    std::shared_ptr<const std::string> line_;  // held, so that its address names it while it is cached
    std::optional<web::PreparedMessage> message_;
};

/// The chat's view of a WebSocket connection: a Transport whose writes are chat lines ("...\r\n"), each
/// sent as one text message without its "\r\n", whose flow control and closing are the WebSocket's.
///
/// Contract: buffered_bytes() is the WebSocket connection's, so the room's slow-client rule cuts a browser
/// that stops reading exactly as it cuts a TCP client; pause_producing() holds back the browser's
/// messages (the room's input budget); lose_connection() closes with 1000 after what is queued,
/// abort_connection() drops the connection. Valid while the WebSocket connection is.
class WebSocketLineTransport final : public Transport {
public:
    WebSocketLineTransport(web::WebSocketTransport& socket, BroadcastFrames& frames)
        : socket_(socket), raw_(socket.raw_transport()), frames_(frames) {}

    void write(std::string_view data) override;
    void write_sequence(std::span<const std::string_view> pieces) override;
    void write_shared(std::shared_ptr<const std::string> data) override;
    void lose_connection() override;
    void abort_connection() override;
    void lose_write_connection() override;
    [[nodiscard]] Address peer() const override;
    [[nodiscard]] Address host() const override;
    [[nodiscard]] std::uint64_t id() const noexcept override;
    /// Disconnecting once the room or the WebSocket began to close (a close frame either way, a failed
    /// connection), disconnected once it ended.
    [[nodiscard]] ConnectionState state() const noexcept override;
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override;
    void set_write_buffer_limits(std::size_t high, std::size_t low) override;
    void register_producer(Producer& producer, bool streaming) override;
    void unregister_producer() override;
    void pause_reading_while_backed_up() override;
    void pause_producing() override;
    void resume_producing() override;
    void stop_producing() override;

    /// The WebSocket connection ended.
    void lost() noexcept { state_ = ConnectionState::disconnected; }
    /// The WebSocket is being closed by someone other than the room (a refused message).
    void closing() noexcept {
        if (state_ == ConnectionState::connected) state_ = ConnectionState::disconnecting;
    }

private:
    void refuse_line(const std::exception& e);

    web::WebSocketTransport& socket_;
    // The connection underneath, whose buffered_bytes() the WebSocket's is: asked for every line to
    // everyone (ChatFactory::deliver), directly rather than through the WebSocket connection.
    Transport& raw_;
    BroadcastFrames& frames_;
    std::string partial_;  // a line written in pieces, until its "\r\n"
    ConnectionState state_ = ConnectionState::connected;
};

/// One browser: the room's protocol for it (what ChatFactory::build_protocol gives any client) over a
/// WebSocketLineTransport. A text message is one line of input; a binary message closes with 1003.
class ChatWebSocket final : public web::WebSocketProtocol {
public:
    /// `frames`: the room's, shared by its WebSocket connections.
    ChatWebSocket(ChatFactory& room, const Address& peer, std::shared_ptr<BroadcastFrames> frames);
    ~ChatWebSocket() override;

    void connection_made() override;
    void message_received(std::string_view data, web::MessageType type) override;
    void connection_lost(std::uint16_t code, std::string_view reason) override;

private:
    std::unique_ptr<Protocol> chat_;
    std::shared_ptr<BroadcastFrames> frames_;
    std::unique_ptr<WebSocketLineTransport> lines_;
    std::string input_;
};

}  // namespace weft::chat
