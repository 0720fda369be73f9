#pragma once
// WebSocketConnection: the weft Protocol that speaks WebSocket frames on a connection whose handshake is
// done, and the WebSocketTransport a user's WebSocketProtocol sends through. Private to weft::web.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "weft/delayed_call.hpp"
#include "weft/log.hpp"
#include "weft/protocol.hpp"
#include "weft/reactor_time.hpp"
#include "weft/web/websocket_protocol.hpp"
#include "websocket_frame.hpp"

namespace weft::web::detail {

/// Runs the frame codec between a Transport and a WebSocketProtocol: answers pings, runs the close
/// handshake (a server closes the TCP connection once close frames were exchanged, a client waits for the
/// server to do it), fails the connection on the decoder's errors, and cuts a peer that stops reading.
class WebSocketConnection final : public Protocol, public WebSocketTransport, private FrameHandler {
public:
    enum class Role { server, client };
    /// `cut_log` limits the warnings about cut peers, shared by the connections of a resource (a room of
    /// peers that stopped reading is cut at once); null: one per cut.
    WebSocketConnection(ReactorTime& time, std::unique_ptr<WebSocketProtocol> protocol, WebSocketOptions options,
                        Role role, std::string subprotocol, std::shared_ptr<LogRateLimiter> cut_log = nullptr);
    ~WebSocketConnection() override;

    // Protocol
    void connection_made() override;
    void data_received(std::string_view data) override;
    void connection_lost(const Reason& reason) override;

    // WebSocketTransport
    void send_text(std::string_view text) override {
        // Misuse throws whatever the state, as ping() and close() do: a send that is only ignored (after
        // close) is a race the caller cannot avoid, invalid text is a bug it can.
        detail::require_utf8(text, "WebSocketTransport::send_text");
        send_message(Opcode::text, text);
    }
    void send_binary(std::string_view data) override { send_message(Opcode::binary, data); }
    void send_shared(std::shared_ptr<const std::string> payload, MessageType type) override;
    void send_prepared(const PreparedMessage& message) override;
    void ping(std::string_view payload) override;
    void close(std::uint16_t code, std::string_view reason) override;
    void abort() override;
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override;
    [[nodiscard]] const std::string& subprotocol() const noexcept override { return subprotocol_; }
    [[nodiscard]] Address peer() const override { return transport().peer(); }
    [[nodiscard]] Address host() const override { return transport().host(); }
    [[nodiscard]] Transport& raw_transport() noexcept override { return transport(); }
    void register_producer(Producer& producer, bool streaming) override;
    void unregister_producer() override;
    // Producer: reading
    void pause_producing() override;
    void resume_producing() override;
    void stop_producing() override { abort(); }

private:
    // FrameHandler
    void on_message(std::string_view data, MessageType type) override;
    void on_ping(std::string_view payload) override;
    void on_pong(std::string_view payload) override;
    void on_close(std::uint16_t code, std::string_view reason) override;

    void decode(std::string_view data);
    void send_message(Opcode opcode, std::string_view payload);
    /// Writes one frame; false if it was not written (closing, or the peer was cut for not reading).
    bool write_frame(Opcode opcode, std::string_view payload, const std::shared_ptr<const std::string>& shared = {});
    /// May `bytes` more be queued now? False if not (closing, or the peer was cut for not reading).
    bool may_write(std::size_t bytes);
    void send_close(std::uint16_t code, std::string_view reason);
    void fail(std::uint16_t code, std::string reason);
    void start_close_timer();
    bool admit(std::size_t bytes);
    void note_written(std::size_t bytes);
    void check_over_limit();
    void cut(std::size_t queued);
    [[nodiscard]] bool open() const noexcept { return !close_sent_ && !lost_ && !cut_; }

    ReactorTime& time_;
    std::unique_ptr<WebSocketProtocol> protocol_;
    WebSocketOptions options_;
    Role role_;
    std::string subprotocol_;
    FrameDecoder decoder_;
    bool made_ = false;          // the user's connection_made ran
    bool close_sent_ = false;
    bool close_received_ = false;
    bool failed_ = false;        // we failed the connection: report our code
    bool cut_ = false;           // cut for not reading
    bool lost_ = false;
    bool decoding_ = false;      // inside decoder_.feed: a resume_producing there needs no feed of its own
    std::uint16_t code_ = close_code::abnormal;  // what connection_lost reports
    std::string reason_;
    DelayedCall close_timer_;
    bool over_limit_ = false;
    std::size_t added_since_mark_ = 0;
    DelayedCall over_limit_check_;
    std::shared_ptr<LogRateLimiter> cut_log_;
};

}  // namespace weft::web::detail
