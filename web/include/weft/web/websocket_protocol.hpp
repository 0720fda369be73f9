#pragma once
// WebSocketProtocol and WebSocketTransport: one WebSocket connection (RFC 6455) as a weft protocol
// (Twisted/Autobahn: WebSocketServerProtocol, WebSocketClientProtocol).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "weft/address.hpp"
#include "weft/producer.hpp"
#include "weft/time.hpp"
#include "weft/tls_context.hpp"
#include "weft/transport.hpp"

namespace weft::web {

/// What a message carries: UTF-8 text (validated) or bytes.
enum class MessageType { text, binary };

/// Close codes (RFC 6455 7.4.1). no_status and abnormal are never sent: connection_lost reports them for a
/// close frame without a code and for a connection that ended without a close handshake.
namespace close_code {
inline constexpr std::uint16_t normal = 1000;  ///< the purpose was fulfilled
inline constexpr std::uint16_t going_away = 1001;  ///< the endpoint is going away (a server shutting down, a page left)
inline constexpr std::uint16_t protocol_error = 1002;  ///< a protocol error (unmasked client frame, reserved bits, bad opcode ...)
inline constexpr std::uint16_t unsupported_data = 1003;  ///< a message type it cannot accept (binary where text is expected)
inline constexpr std::uint16_t no_status = 1005;  ///< reported only: the close frame carried no code
inline constexpr std::uint16_t abnormal = 1006;  ///< reported only: the connection ended without a close handshake
inline constexpr std::uint16_t invalid_payload = 1007;  ///< text that is not UTF-8
inline constexpr std::uint16_t policy_violation = 1008;  ///< a message that breaks the endpoint's policy
inline constexpr std::uint16_t message_too_big = 1009;  ///< a message over WebSocketOptions::max_message_size
inline constexpr std::uint16_t mandatory_extension = 1010;  ///< client only: an extension the server did not agree to
inline constexpr std::uint16_t internal_error = 1011;  ///< the server met an unexpected condition
}  // namespace close_code

/// Limits and timeouts of WebSocket connections (a WebSocketResource's or one client's). The defaults are
/// safe to face the Internet with.
struct WebSocketOptions {
    /// Largest message (fragments joined), in bytes: beyond it the connection is closed with 1009.
    std::size_t max_message_size = 1024 * 1024;
    /// Bytes a peer that does not read may have queued: a connection with more than this still unsent once
    /// the loop turn that queued it has flushed is cut (aborted, connection_lost with 1006), as weft-chat
    /// cuts slow clients. Within one turn up to twice this (at least this plus 1 MiB) may be queued. Keep
    /// it above the largest message you send.
    std::size_t send_buffer_limit = 1024 * 1024;
    /// After close() sent a close frame, how long to wait for the peer's before dropping the connection.
    Duration close_timeout = std::chrono::seconds(5);
    /// Client: from the TCP connection to the server's 101, the TLS handshake of wss:// included (after
    /// it the Deferred fails with WebSocketHandshakeError, or with ConnectError while the TLS handshake was
    /// not done: the TLS layer's own bound of 10 s applies to that part as well).
    Duration handshake_timeout = std::chrono::seconds(10);
    /// Subprotocols (Sec-WebSocket-Protocol). Server: those supported, in order of preference; the first
    /// of them the client offers is chosen, none if the client offers none of them. Client: those offered.
    std::vector<std::string> subprotocols;
    /// Client only, wss:// (a server's TLS is its listening endpoint's, `ssl:`): the CAs to trust (PEM);
    /// "" = the system's store. The server's certificate is always verified for the URL's host unless
    /// insecure_skip_certificate_verification (tests against throw-away certificates only).
    std::string ca_file{};
    /// Client only, wss://: accept any certificate for any name, unverified (tests only; logs a warning).
    bool insecure_skip_certificate_verification = false;
    /// Client only, wss://: a client context used instead of one built from ca_file and
    /// insecure_skip_certificate_verification. Without it each connect_websocket call builds a context,
    /// which reads the CA store (tens of milliseconds on the loop for the system's); share one among the
    /// connects made on one reactor (a TlsContext is single-threaded) so that it is read once and
    /// reconnects resume their TLS session. Also the way to present a client certificate or to check
    /// another name than the URL's host (server_name). It should offer ALPN "http/1.1" or none: the
    /// Upgrade is HTTP/1.1, and a server offered "h2" first may pick it.
    std::shared_ptr<TlsContext> tls_context{};
};

/// A message encoded once as a server's frame, to send to many connections (a broadcast; gorilla/websocket's
/// PreparedMessage): WebSocketTransport::send_prepared queues that same frame on each server connection,
/// with no encoding per connection. A client connection, which must mask every frame with a key of its
/// own, encodes the payload again. Immutable; copies share the frame. Text must be UTF-8, as for send_text:
/// it is checked once, here.
class PreparedMessage {
public:
    /// Frames `payload` as one unfragmented message of `type`. Text that is not valid UTF-8 (RFC 3629: no
    /// overlong forms, surrogates, stray continuation bytes or cut sequences) throws std::invalid_argument;
    /// binary is not checked.
    PreparedMessage(std::string_view payload, MessageType type);

    /// Text or binary.
    [[nodiscard]] MessageType type() const noexcept { return type_; }
    /// The payload, as given.
    [[nodiscard]] std::string_view payload() const noexcept { return std::string_view(*frame_).substr(header_size_); }
    /// The whole unmasked frame (header and payload), as a server sends it.
    [[nodiscard]] const std::shared_ptr<const std::string>& frame() const noexcept { return frame_; }

private:
    std::shared_ptr<const std::string> frame_;
    std::size_t header_size_;
    MessageType type_;
};

/// The protocol's handle on its WebSocket connection. Borrowed from connection_made until connection_lost.
///
/// Contract: sends never block and never call back into the protocol; after close() or once the
/// connection is closing they are ignored. Server frames go out unmasked, client frames masked with a fresh
/// random key each. As a Producer it pauses/resumes *reading* of the connection (pause_producing,
/// resume_producing; no message_received while paused, even for bytes already read); stop_producing aborts. A streaming producer registered with register_producer is
/// paused while the connection's output is above its high watermark, as on a Transport.
class WebSocketTransport : public Producer {
public:
    /// Sends one text message. `text` must be valid UTF-8 (RFC 6455 forbids anything else in a text frame;
    /// the peer would fail the connection with 1007): otherwise it throws std::invalid_argument and sends
    /// nothing, in any state. Send bytes with send_binary.
    virtual void send_text(std::string_view text) = 0;
    /// Sends one binary message.
    virtual void send_binary(std::string_view data) = 0;
    /// Sends one message whose payload is shared, not copied, on a server connection (a broadcast to many
    /// connections builds it once). A client copies it to mask it. Text is checked as by send_text (on each
    /// call: a PreparedMessage checks it once for all).
    virtual void send_shared(std::shared_ptr<const std::string> payload, MessageType type) = 0;
    /// Sends a message prepared once for many connections: a server connection queues its frame as it is.
    virtual void send_prepared(const PreparedMessage& message) = 0;
    /// Sends a ping (at most 125 bytes of payload; longer throws std::invalid_argument); the peer's pong
    /// comes to WebSocketProtocol::pong_received.
    virtual void ping(std::string_view payload = {}) = 0;
    /// Starts the close handshake: sends a close frame with `code` (close_code::normal, 3000-4999, ...) and
    /// `reason` (UTF-8, cut to 123 bytes on a character boundary), then waits for the peer's close for
    /// close_timeout. An invalid code or a reason that is not UTF-8 throws std::invalid_argument (nothing
    /// is sent). Later calls are ignored.
    virtual void close(std::uint16_t code = close_code::normal, std::string_view reason = {}) = 0;
    /// Drops the connection without a close handshake (connection_lost reports 1006).
    virtual void abort() = 0;

    /// Bytes queued and not yet accepted by the operating system.
    [[nodiscard]] virtual std::size_t buffered_bytes() const noexcept = 0;
    /// The subprotocol agreed in the handshake, or "".
    [[nodiscard]] virtual const std::string& subprotocol() const noexcept = 0;
    /// The remote address of the connection underneath.
    [[nodiscard]] virtual Address peer() const = 0;
    /// The local address of the connection underneath.
    [[nodiscard]] virtual Address host() const = 0;
    /// The connection underneath (TCP, UNIX, TLS): for its options and watermarks, not to write to.
    [[nodiscard]] virtual Transport& raw_transport() noexcept = 0;

    /// Registers a producer of messages (Twisted: registerProducer); see Transport::register_producer.
    virtual void register_producer(Producer& producer, bool streaming) = 0;
    /// Forgets the registered producer without stopping it; see Transport::unregister_producer.
    virtual void unregister_producer() = 0;

protected:
    WebSocketTransport() = default;
    /// Copyable by the implementations only, so a WebSocketTransport cannot be sliced.
    /// @{
    WebSocketTransport(const WebSocketTransport&) = default;
    WebSocketTransport& operator=(const WebSocketTransport&) = default;
    /// @}
};

/// One WebSocket connection's behaviour (Autobahn: WebSocketServerProtocol/WebSocketClientProtocol). The
/// same class serves on a WebSocketResource and connects with connect_websocket.
///
/// Contract: callbacks run on the reactor thread: connection_made once the handshake is done, then
/// message_received per complete message (fragments joined, text validated as UTF-8) and pong_received,
/// then connection_lost exactly once with the close code and reason: the peer's (close_code::no_status if
/// its close frame had none), ours when we failed the connection (1002, 1007, 1009 ...) or closed it
/// first, close_code::abnormal if it ended without a close handshake. Pings are answered by the
/// connection itself. A callback that throws aborts the connection. The connection owns the protocol.
class WebSocketProtocol {
public:
    virtual ~WebSocketProtocol() = default;
    WebSocketProtocol() = default;
    WebSocketProtocol(const WebSocketProtocol&) = delete;
    WebSocketProtocol& operator=(const WebSocketProtocol&) = delete;

    /// The handshake is done (Autobahn: onOpen); transport() is usable.
    virtual void connection_made() {}
    /// One complete message (Autobahn: onMessage). The view is valid only during the call.
    virtual void message_received(std::string_view data, MessageType type) {
        (void)data;
        (void)type;
    }
    /// The answer to ping() (Autobahn: onPong).
    virtual void pong_received(std::string_view payload) { (void)payload; }
    /// The connection is closed (Autobahn: onClose). Do not touch transport() after this.
    virtual void connection_lost(std::uint16_t code, std::string_view reason) {
        (void)code;
        (void)reason;
    }

    /// Called by the framework: attaches the transport and calls connection_made().
    void make_connection(WebSocketTransport& transport) {
        transport_ = &transport;
        connection_made();
    }
    /// The connection, from connection_made until connection_lost returns; only while has_transport().
    [[nodiscard]] WebSocketTransport& transport() const noexcept { return *transport_; }
    /// True once make_connection attached a transport.
    [[nodiscard]] bool has_transport() const noexcept { return transport_ != nullptr; }

private:
    WebSocketTransport* transport_ = nullptr;
};

}  // namespace weft::web
