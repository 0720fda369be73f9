#pragma once
// TlsLayer: TLS over any transport, through OpenSSL memory BIOs (Twisted: TLSMemoryBIOProtocol). To the
// transport below it is the protocol (it receives ciphertext); to the user's protocol above it is the
// transport (it takes plaintext).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "stream/live_transport.hpp"
#include "weft/delayed_call.hpp"
#include "weft/protocol.hpp"
#include "weft/tls_context.hpp"
#include "weft/tls_transport.hpp"

struct ssl_st;

namespace weft::detail {

class ReactorCore;

/// How a TLS layer begins.
struct TlsStart {
    /// A client's server name: sent as SNI and verified against the certificate (a name or an address).
    /// "" takes the context's server_name, then the peer's address.
    std::string server_name;
    /// start_tls on a live connection: the protocol is connected already (no connection_made again).
    bool on_live_connection = false;
    /// The peer's first TLS bytes, read before the switch (start_tls's already_received).
    std::string already_received;
};

/// Wraps `inner` (the user's protocol) in TLS with `context`; the result is the protocol to give the
/// transport below.
std::unique_ptr<Protocol> wrap_in_tls(ReactorCore& core, std::unique_ptr<Protocol> inner,
                                      std::shared_ptr<TlsContext> context, TlsStart start);

/// Contract, on top of Transport's:
/// - Writes are held as plaintext and encrypted once per turn (when the callback that wrote returns, or
///   by the reactor's end-of-turn flush), so a turn's writes leave in as few TLS records as their size
///   allows (16 KiB of plaintext each), not a record per write. Over 64 KiB held are encrypted at once,
///   so that the transport below sees them and pauses a streaming producer within write().
/// - Writes before the handshake completes wait for it; lose_connection() and lose_write_connection()
///   wait for it too (bounded by the handshake timeout), then send close_notify.
/// - The peer's close_notify is its half-close: a HalfCloseable protocol hears read_connection_lost, any
///   other is closed cleanly. A peer that closes without close_notify ends the connection with an error
///   reason (a truncation attack looks the same).
/// - A handshake or record failure sends OpenSSL's alert and closes; connection_lost's Reason carries
///   OpenSSL's message. A handshake not done within the context's handshake timeout aborts.
class TlsLayer final : public Protocol, public HalfCloseable, public Transport, public TlsTransport {
public:
    using CallLater = std::function<DelayedCall(Duration, std::function<void()>)>;

    TlsLayer(ReactorCore& core, std::unique_ptr<Protocol> inner, std::shared_ptr<TlsContext> context, TlsStart start);
    ~TlsLayer() override;
    TlsLayer(const TlsLayer&) = delete;
    TlsLayer& operator=(const TlsLayer&) = delete;

    /// The handshake timeout's clock (tests give a fake one); default the reactor's.
    void set_call_later(CallLater call_later) { call_later_ = std::move(call_later); }
    [[nodiscard]] Protocol& inner() noexcept { return *inner_; }

    // Protocol (called by the transport below)
    void connection_made() override;
    void data_received(std::string_view data) override;
    void connection_lost(const Reason& reason) override;
    void read_connection_lost() override;
    void write_connection_lost() override;

    // Transport (called by the user's protocol)
    void write(std::string_view data) override;
    void write_sequence(std::span<const std::string_view> pieces) override;
    void write_shared(std::shared_ptr<const std::string> data) override;
    void lose_connection() override;
    void abort_connection() override;
    void lose_write_connection() override;
    [[nodiscard]] Address peer() const override;
    [[nodiscard]] Address host() const override;
    [[nodiscard]] std::uint64_t id() const noexcept override;
    [[nodiscard]] ConnectionState state() const noexcept override;
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override;
    void set_write_buffer_limits(std::size_t high, std::size_t low) override;
    [[nodiscard]] TcpTransport* as_tcp() noexcept override;
    [[nodiscard]] UnixTransport* as_unix() noexcept override;
    [[nodiscard]] TlsTransport* as_tls() noexcept override { return this; }
    void start_tls(std::shared_ptr<TlsContext> context, std::string_view already_received) override;
    void register_producer(Producer& producer, bool streaming) override;
    void unregister_producer() override;
    void pause_reading_while_backed_up() override;
    void pause_producing() override;
    void resume_producing() override;
    void stop_producing() override;

    // TlsTransport
    [[nodiscard]] bool handshake_done() const noexcept override { return handshake_done_; }
    [[nodiscard]] std::string protocol_version() const override;
    [[nodiscard]] std::string cipher() const override;
    [[nodiscard]] std::string negotiated_protocol() const override;
    [[nodiscard]] std::string server_name() const override;
    [[nodiscard]] bool session_reused() const noexcept override;
    [[nodiscard]] std::string peer_certificate_subject() const override;

private:
    /// Forwards the transport's producer calls to the producer the user's protocol registered with us.
    struct Membrane final : Producer {
        explicit Membrane(TlsLayer& owner) : layer(owner) {}
        void pause_producing() override;
        void resume_producing() override;
        void stop_producing() override;
        TlsLayer& layer;
    };
    /// Our place in the reactor's end-of-turn flush batch (the writes of a timer or of another
    /// connection's callback are encrypted there, together).
    struct Flusher final : LiveTransport {
        void shutdown(bool) override {}
        void run_scheduled_flush() override;
        TlsLayer* layer = nullptr;
    };
    /// Counts calls into the user's protocol: writes made inside one are encrypted when it returns.
    struct InnerCall {
        explicit InnerCall(TlsLayer& owner) : layer(owner) { ++layer.inner_depth_; }
        ~InnerCall() { --layer.inner_depth_; }
        InnerCall(const InnerCall&) = delete;
        InnerCall& operator=(const InnerCall&) = delete;
        TlsLayer& layer;
    };

    [[nodiscard]] std::string describe() const;
    [[nodiscard]] bool writing_allowed() const noexcept;
    [[nodiscard]] bool below_is_open() const noexcept;
    void feed(std::string_view ciphertext);
    /// Runs the handshake on; true once it is done.
    bool advance_handshake();
    void on_handshake_done();
    void read_plaintext();
    void on_close_notify();
    /// Encrypts what is held, sends close_notify when a close waits for it, and hands the ciphertext to the
    /// transport below: the end of every entry point.
    void progress();
    void encrypt_held();
    void send_output();
    void schedule_flush();
    void after_write();
    /// Resumes the producer that held plaintext paused, once it is down to the low watermark.
    void release_held_pause();
    void fail(std::string message);
    void start_handshake_timer();

    ReactorCore& core_;
    std::unique_ptr<Protocol> inner_;
    std::shared_ptr<TlsContext> context_;
    TlsStart start_;
    HalfCloseable* inner_half_ = nullptr;
    TlsHandshakeListener* inner_listener_ = nullptr;
    ssl_st* ssl_ = nullptr;
    std::string session_key_;  // client: the session cache's key (SSL app data points here)
    CallLater call_later_;
    DelayedCall handshake_timer_;
    std::shared_ptr<Flusher> flusher_;
    Membrane membrane_{*this};
    Producer* producer_ = nullptr;
    bool streaming_ = false;
    bool below_paused_ = false;  // the transport below paused us (its output is backed up)
    bool held_paused_ = false;   // we paused the producer: too much plaintext held (before the handshake)
    std::size_t high_water_ = 64 * 1024;  // the transport's defaults, as set_write_buffer_limits passes on
    std::size_t low_water_ = 16 * 1024;

    std::string held_;  // plaintext written and not yet encrypted
    std::optional<Reason> reason_;  // what connection_lost tells the user's protocol, when not the transport's
    int inner_depth_ = 0;
    bool handshake_done_ = false;
    bool flush_scheduled_ = false;
    bool lose_requested_ = false;
    bool write_shutdown_requested_ = false;
    bool close_notify_sent_ = false;
    bool close_notify_received_ = false;
    bool below_closed_ = false;       // we asked the transport below to lose the connection
    bool below_write_shut_ = false;   // ... or to shut its write side
    bool failed_ = false;
    bool lost_ = false;
};

}  // namespace weft::detail
