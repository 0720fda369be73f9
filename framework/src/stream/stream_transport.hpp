#pragma once
// StreamTransport: the one connection state machine of every stream transport (TCP, UNIX sockets,
// stdio and a child's pipes, later TLS), generic over the backend it reads and writes through.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <sys/uio.h>

#include <boost/asio/post.hpp>

#include "reactor_core.hpp"
#include "stream/live_transport.hpp"
#include "stream/write_queue.hpp"
#include "stream/write_scratch.hpp"
#include "tls/tls_layer.hpp"
#include "weft/delayed_call.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"
#include "weft/protocol.hpp"
#include "weft/reason.hpp"

namespace weft::detail {

/// What a backend gives the core (tcp_stream.hpp, unix_stream.hpp, pipe_stream.hpp are the models). The
/// core calls these directly (no virtual call on the per-byte path); a backend is a thin wrapper of its
/// descriptors:
///   using Interface = TcpTransport;                 // the public interface the transport implements
///   ssize_t read(char* buffer, std::size_t size);   // one non-blocking read; errno as the system call's
///   ssize_t write(const ::iovec* iov, std::size_t count);  // one non-blocking gathered write
///   template <class H> void wait_readable(H&& handler);    // handler(const boost::system::error_code&)
///   template <class H> void wait_writable(H&& handler);
///   bool wait_after_short_read() const;  // false where a short read does not mean "empty" (a file, a tty)
///   static constexpr bool bounded_close = ...;  // optional, default true: lose_connection is bounded by
///                                        // the disconnect timeout (network peers); pipes wait for their
///                                        // reader as long as it takes (a pager), as in Twisted
///   void shutdown_write();               // our half-close: the peer reads EOF
///   void close(ReactorCore& core, bool reset, bool linger);  // reset: drop unsent data (TCP: RST);
///                                        // linger: read and discard until the peer's EOF (lingering close)
///   Address peer() const; Address host() const;
///   std::string describe(std::uint64_t id) const;  // "conn 7 127.0.0.1:4711": every log record's prefix
///
/// The data path, in order: the backend is readable -> read() into the reactor's shared buffer ->
/// protocol.data_received(view). What the protocol writes meanwhile goes to the reactor's write scratch
/// and leaves by one gathered write right after data_received returns. Writes made at other times (a
/// timer, another connection's broadcast) go to out_ and are flushed by one handler per turn for all
/// transports (ReactorCore::schedule_flush). What the kernel does not take waits in out_ for writability.
/// connection_lost is always posted, so it never runs inside a call the protocol made.
///
/// States (every transition logged at debug with its cause): connecting -> connected -> (read_half_closed
/// | write_half_closed) -> disconnecting -> disconnected. On a socket, disconnecting is bounded by the
/// reactor's disconnect timeout: a peer that never reads cannot keep a closing connection alive. A pipe's
/// reader is local (`weft-filter | less`): it is waited for, bounded only by the reactor's shutdown.
template <class Backend>
class StreamTransport : public Backend::Interface,
                        public LiveTransport,
                        public std::enable_shared_from_this<StreamTransport<Backend>> {
public:
    StreamTransport(ReactorCore& core, Backend backend, std::unique_ptr<Protocol> protocol)
        : core_(core),
          backend_(std::move(backend)),
          protocol_(std::move(protocol)),
          half_closeable_(dynamic_cast<HalfCloseable*>(protocol_.get())),
          id_(core.next_connection_id()) {}
    ~StreamTransport() override = default;
    StreamTransport(const StreamTransport&) = delete;
    StreamTransport& operator=(const StreamTransport&) = delete;

    /// Registers with the reactor, attaches the protocol (connection_made) and starts reading: at once if
    /// `read_now` (bytes that arrived before the descriptor was registered with epoll, which is
    /// edge-triggered, would otherwise raise no event), else on the next turn (StandardIO: its
    /// constructor runs connection_made and must not run data_received too). `observer` hears
    /// connection_lost after the protocol did.
    void start(std::shared_ptr<ConnectionObserver> observer = nullptr, bool read_now = true) {
        observer_ = std::move(observer);
        // A protocol that is itself a transport (TLS) is what the reactor's shutdown must close, so that it
        // can send what it holds and its close_notify.
        top_ = dynamic_cast<Transport*>(protocol_.get());
        if (top_ == nullptr) top_ = this;
        core_.add(this->shared_from_this());
        set_state(ConnectionState::connected, "connection made");
        call_protocol("connection_made", [this] { protocol_->make_connection(*this); });
        // Before the first read: whoever waits for the connection hears of it before any data_received.
        if (observer_ && !lost_delivered_) observer_->connection_made();
        if (read_now) {
            read_some();
        } else {
            rearm_reading();
        }
    }

    /// The protocol stays alive after connection_lost until the transport is destroyed (StandardIO, whose
    /// owner may still ask for it); by default the transport lets it go right after connection_lost.
    void keep_protocol_after_lost() noexcept { keep_protocol_ = true; }
    /// The user's protocol (inside the TLS layer once start_tls ran).
    [[nodiscard]] Protocol* protocol() const noexcept {
        if (top_ != this && top_ != nullptr) {
            if (auto* tls = dynamic_cast<TlsLayer*>(protocol_.get())) return &tls->inner();
        }
        return protocol_.get();
    }
    [[nodiscard]] bool lost() const noexcept { return lost_delivered_; }

    /// The owner goes away while the connection may still be live: release the descriptors and leave the
    /// registry without calling the protocol, which is destroyed.
    void detach() noexcept {
        if (disconnect_timer_.active()) disconnect_timer_.cancel();
        if (state_ != ConnectionState::disconnected) {
            state_ = ConnectionState::disconnected;
            out_.clear();
            buffered_ = 0;
            backend_.close(core_, false, false);
        }
        if (!std::exchange(lost_delivered_, true)) core_.remove(this->shared_from_this());
        producer_ = nullptr;
        observer_.reset();
        protocol_.reset();
    }

    /// What the user's protocol writes to: this, or the TLS layer once start_tls ran.
    [[nodiscard]] Transport& top() noexcept { return *top_; }

    Backend& backend() noexcept { return backend_; }
    const Backend& backend() const noexcept { return backend_; }

    // LiveTransport
    void shutdown(bool force) override {
        if (!force) return top_->lose_connection();
        if (state_ != ConnectionState::disconnected) {
            close(Reason::aborted("reactor shutdown timed out"), true, "shutdown");
        }
    }
    void run_scheduled_flush() override {
        flush_queued_ = false;
        flush();
    }

    // Transport
    void write(std::string_view data) override {
        assert_in_loop();
        if (data.empty() || !writing_allowed()) return;
        queue(data);
        after_write_queued();
    }

    void write_sequence(std::span<const std::string_view> pieces) override {
        assert_in_loop();
        if (!writing_allowed()) return;
        const std::size_t before = buffered_;
        for (auto piece : pieces) {
            if (!piece.empty()) queue(piece);
        }
        if (buffered_ != before) after_write_queued();  // once for the sequence, as a single write would
    }

    void write_shared(std::shared_ptr<const std::string> data) override {
        assert_in_loop();
        if (!data || data->empty() || !writing_allowed()) return;
        // A small buffer is copied like a write (into the scratch or the tail chunk): its own queue entry
        // would cost more memory than its bytes, which buffered_bytes() would not count.
        if (data->size() < WriteQueue::copy_shared_below) {
            queue(*data);
            return after_write_queued();
        }
        spill_scratch();  // the shared buffer queues behind what was written before it
        buffered_ += data->size();
        out_.append_shared(std::move(data));
        after_write_queued();
    }

    void lose_connection() override {
        assert_in_loop();
        begin_disconnecting("lose_connection");
    }

    void abort_connection() override {
        assert_in_loop();
        if (state_ == ConnectionState::disconnected) return;
        close(Reason::aborted(), true, "abort_connection");
    }

    void lose_write_connection() override {
        assert_in_loop();
        if (!writing_allowed()) return;
        write_shutdown_requested_ = true;
        schedule_flush();
    }

    [[nodiscard]] Address peer() const override { return backend_.peer(); }
    [[nodiscard]] Address host() const override { return backend_.host(); }
    [[nodiscard]] std::uint64_t id() const noexcept override { return id_; }
    [[nodiscard]] ConnectionState state() const noexcept override { return state_; }
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override { return buffered_; }

    void set_write_buffer_limits(std::size_t high, std::size_t low) override {
        if (low > high) throw StateError("write buffer limits: low watermark above high watermark");
        high_water_ = high;
        low_water_ = low;
    }

    std::optional<std::size_t> send_file(int fd, std::uint64_t offset, std::size_t count) override {
        assert_in_loop();
        if constexpr (requires(Backend& b, off_t* o) { b.send_file(fd, o, count); }) {
            // TLS on top must see every byte; output waiting (or in the write scratch) must leave first.
            if (top_ != this || !writing_allowed() || buffered_ != 0 || in_data_received_) return std::nullopt;
            return send_file_now(fd, offset, count);
        } else {
            return std::nullopt;
        }
    }

    void register_producer(Producer& producer, bool streaming) override {
        assert_in_loop();
        if (producer_ != nullptr) throw StateError("cannot register a producer: another one was never unregistered");
        if (state_ == ConnectionState::disconnected) {
            producer.stop_producing();
            return;
        }
        producer_ = &producer;
        streaming_ = streaming;
        producer_paused_ = false;
        if (!streaming) schedule_flush();  // a pull producer is asked for its first piece on the next turn
    }

    void unregister_producer() override {
        producer_ = nullptr;
        producer_paused_ = false;
    }

    void pause_producing() override { reading_paused_ = true; }

    void resume_producing() override {
        assert_in_loop();
        if (!std::exchange(reading_paused_, false)) return;  // not paused: reading is already armed
        rearm_reading();
    }

    void pause_reading_while_backed_up() override {
        backpressure_reads_ = true;
        backlog_paused_ = buffered_ > high_water_;
    }

    void stop_producing() override { lose_connection(); }

    void start_tls(std::shared_ptr<TlsContext> context, std::string_view already_received) override {
        assert_in_loop();
        if (top_ != this) throw StateError("start_tls: this connection already speaks TLS");
        if (!writing_allowed() || eof_received_) throw StateError("start_tls: the connection is closing");
        if (!context) throw StateError("start_tls: no TlsContext");
        TlsStart start;
        start.on_live_connection = true;
        start.already_received = already_received;
        // Made before the protocol moves into it, so a failure (TlsError) leaves the connection as it was.
        auto layer = std::make_unique<TlsLayer>(core_, std::move(context), std::move(start));
        // The protocol may be inside its own data_received (a STARTTLS command): it is moved, not destroyed.
        layer->wrap(std::move(protocol_));
        TlsLayer& tls = *layer;
        protocol_ = std::move(layer);
        half_closeable_ = &tls;
        top_ = &tls;
        // A producer registered before the switch goes on feeding the protocol's transport, now TLS's.
        Producer* producer = std::exchange(producer_, nullptr);
        const bool paused = producer_paused_;
        producer_paused_ = false;
        tls.make_connection(*this);  // the layer's connection_made, not the protocol's: it is connected already
        if (producer != nullptr && state_ != ConnectionState::disconnected) {
            tls.adopt_producer(*producer, streaming_, paused);
            producer_paused_ = paused;  // the producer was paused through us: resumed when we drain
        }
    }

protected:
    /// Runs a protocol callback; a throw aborts this transport only.
    template <class F>
    void call_protocol(const char* what, F&& fn) {
        try {
            std::forward<F>(fn)();
        } catch (const std::exception& e) {
            // A peer that can make its protocol throw can do it on every connection: one record per interval.
            if (core_.callback_error_log.allow(core_.now())) {
                WEFT_LOG(error) << "[" << backend_.describe(id_) << "] " << what << " threw: " << e.what()
                                << "; aborting this connection" << LogRateLimiter::note(core_.callback_error_log);
            }
            close(Reason::error(std::string(what) + " threw: " + e.what()), true, "callback threw");
        } catch (...) {
            if (core_.callback_error_log.allow(core_.now())) {
                WEFT_LOG(error) << "[" << backend_.describe(id_) << "] " << what
                                << " threw a non-std exception; aborting this connection"
                                << LogRateLimiter::note(core_.callback_error_log);
            }
            close(Reason::error(std::string(what) + " threw"), true, "callback threw");
        }
    }

private:
    static constexpr std::size_t max_flush_per_turn = 1024 * 1024;  // then yield: no connection hogs the loop

    void assert_in_loop() const noexcept { WEFT_ASSERT_IN_LOOP(core_); }

    void set_state(ConnectionState to, const char* event) {
        WEFT_LOG(debug) << "[" << backend_.describe(id_) << "] " << to_string(state_) << " -> " << to_string(to)
                        << " (" << event << ")";
        state_ = to;
    }

    [[nodiscard]] bool reading_allowed() const noexcept {
        return !reading_paused_ && !backlog_paused_ && !eof_received_ &&
               (state_ == ConnectionState::connected || state_ == ConnectionState::write_half_closed);
    }

    [[nodiscard]] bool writing_allowed() const noexcept {
        return !write_shutdown_requested_ &&
               (state_ == ConnectionState::connected || state_ == ConnectionState::read_half_closed);
    }

    // -- reading ------------------------------------------------------------------------------------

    void read_some() {
        read_pending_ = false;
        if (!reading_allowed()) return;
        char* buffer = core_.read_buffer();
        ++core_.stats.read_calls;
        ssize_t got = 0;
        do {
            got = backend_.read(buffer, ReactorCore::read_buffer_size);
        } while (got < 0 && errno == EINTR);
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return wait_readable();
            return close(Reason::lost(std::error_code(errno, std::system_category())), false, "read error");
        }
        if (got == 0) return handle_eof();
        const auto n = static_cast<std::size_t>(got);

        // What the protocol writes now is sent right after it returns, in one gathered write (see queue()).
        const std::string_view input(buffer, n);
        WriteScratch& scratch = core_.write_scratch;
        scratch.set_input(input);
        in_data_received_ = true;
        call_protocol("data_received", [&] { protocol_->data_received(input); });
        in_data_received_ = false;
        scratch.set_input({});
        if (std::exchange(flush_after_callback_, false) || !scratch.empty()) flush(scratch.pieces());
        scratch.clear();
        // Paused or closing: resume_producing() re-arms. Already re-armed (paused and resumed inside the
        // callback): one read chain per connection, never two.
        if (read_pending_ || !reading_allowed()) return;
        if (n == ReactorCore::read_buffer_size || !backend_.wait_after_short_read()) {
            // More is probably waiting; read it on a later turn so other connections get theirs first.
            read_pending_ = true;
            boost::asio::post(core_.io(), [self = this->shared_from_this()] { self->read_some(); });
            return;
        }
        // A short read emptied the descriptor. Any later byte raises a new edge, and no epoll_wait can run
        // before the wait below is queued (one thread runs the loop), so waiting now cannot miss it.
        wait_readable();
    }

    // Flattened: with several backends in one program GCC stops inlining Asio's start_op and handler
    // allocation into this wait, which every read that empties the descriptor ends with (measured: 65
    // more instructions per pingpong round trip, docs/benchmarks.md).
    [[gnu::flatten]] void wait_readable() {
        read_pending_ = true;
        backend_.wait_readable([self = this->shared_from_this()](const boost::system::error_code& ec) {
            self->read_pending_ = false;
            if (ec == boost::asio::error::operation_aborted || self->state_ == ConnectionState::disconnected) return;
            if (ec) return self->close(Reason::lost(ec), false, "wait for readability failed");
            self->read_some();
        });
    }

    void handle_eof() {
        eof_received_ = true;
        if (write_shut_) return close(Reason::done(), false, "peer EOF after our write side was shut");
        if (half_closeable_ != nullptr) {
            set_state(ConnectionState::read_half_closed, "peer EOF");
            call_protocol("read_connection_lost", [this] { half_closeable_->read_connection_lost(); });
            return;
        }
        begin_disconnecting("peer EOF");  // flush what we still owe the peer, then close
    }

    /// Arms reading again (on a later turn) if it is allowed and not armed.
    void rearm_reading() {
        if (read_pending_ || !reading_allowed()) return;
        // Posted, not called: data_received must not run inside the protocol's own resume_producing().
        read_pending_ = true;
        boost::asio::post(core_.io(), [self = this->shared_from_this()] { self->read_some(); });
    }

    // -- writing ------------------------------------------------------------------------------------

    /// Queues non-empty `data` (write scratch or out_) and counts it; after_write_queued() follows.
    [[gnu::always_inline]] void queue(std::string_view data) {
        buffered_ += data.size();
        if (in_data_received_ && out_.empty()) {
            // Nothing of ours waits for the kernel: the bytes go to the reactor's write scratch and leave
            // when data_received returns. Ordering holds because out_ stays empty while the scratch is used.
            if (core_.write_scratch.add(data)) return;
            spill_scratch();
        }
        out_.append(data);
    }

    [[gnu::always_inline]] void after_write_queued() {
        if (backpressure_reads_ && buffered_ > high_water_) backlog_paused_ = true;  // read_some() sees it
        if (producer_ != nullptr && streaming_ && !producer_paused_ && buffered_ > high_water_) {
            producer_paused_ = true;
            producer_->pause_producing();  // synchronous, as in Twisted: a producer looping on write() must see it
        }
        schedule_flush();
    }

    void schedule_flush() {
        if (in_data_received_) {
            flush_after_callback_ = true;  // read_some() flushes when the callback returns: no post needed
            return;
        }
        // While a writability wait is outstanding it will flush; otherwise one flush per turn.
        if (flush_queued_ || write_waiting_) return;
        flush_queued_ = true;
        core_.schedule_flush(this->shared_from_this());
    }

    /// Appends what this connection wrote to the write scratch onto out_ (it must wait for the kernel).
    void spill_scratch() {
        WriteScratch& scratch = core_.write_scratch;
        if (!in_data_received_ || scratch.empty()) return;
        out_.append(scratch.pieces());
        scratch.clear();
    }

    /// Sends out_ and then `tail` (this connection's pieces of the write scratch); keeps what the kernel
    /// does not take, and waits for writability or yields for the rest of the turn.
    void flush(std::span<const ::iovec> tail = {}) {
        if (state_ == ConnectionState::disconnected) return;
        const auto flushed = out_.flush(
            [this](const ::iovec* iov, std::size_t count) {
                ++core_.stats.write_calls;
                return backend_.write(iov, count);
            },
            tail, max_flush_per_turn);
        buffered_ = out_.size();  // the tail's unsent rest was copied onto out_
        if (flushed.error != 0) {
            return close(Reason::lost(std::error_code(flushed.error, std::system_category())), false, "write error");
        }
        if (producer_ != nullptr && streaming_ && producer_paused_ && buffered_ <= low_water_) {
            producer_paused_ = false;
            Producer* p = producer_;
            call_protocol("resume_producing", [p] { p->resume_producing(); });
            if (state_ == ConnectionState::disconnected) return;
        }
        if (backlog_paused_ && buffered_ <= low_water_) {
            backlog_paused_ = false;
            rearm_reading();
        }
        if (flushed.blocked) return wait_writable();
        if (buffered_ > 0) return schedule_flush();  // yielded after max_flush_per_turn
        on_drained();
    }

    std::size_t send_file_now(int fd, std::uint64_t offset, std::size_t count) {
        auto at = static_cast<off_t>(offset);
        ssize_t sent;
        ++core_.stats.write_calls;
        do {
            sent = backend_.send_file(fd, &at, count);
        } while (sent < 0 && errno == EINTR);
        if (sent < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                close(Reason::lost(std::error_code(errno, std::system_category())), false, "sendfile error");
                return 0;
            }
            sent = 0;
        }
        // Full: the writability wait flushes (nothing) and asks the pull producer for more. Else the
        // producer is asked on the next turn, as after a write.
        if (static_cast<std::size_t>(sent) < count) {
            wait_writable();
        } else {
            schedule_flush();
        }
        return static_cast<std::size_t>(sent);
    }

    void wait_writable() {
        if (write_waiting_) return;
        write_waiting_ = true;
        backend_.wait_writable([self = this->shared_from_this()](const boost::system::error_code& ec) {
            self->write_waiting_ = false;
            if (ec == boost::asio::error::operation_aborted || self->state_ == ConnectionState::disconnected) return;
            if (ec) return self->close(Reason::lost(ec), false, "wait for writability failed");
            self->flush();
        });
    }

    void on_drained() {
        if (producer_ != nullptr && !streaming_ && !this->disconnecting()) {
            Producer* p = producer_;
            call_protocol("resume_producing", [p] { p->resume_producing(); });  // a pull producer: more, please
            if (buffered_ > 0 || state_ == ConnectionState::disconnected) return;
        }
        if (state_ == ConnectionState::disconnecting) {
            return close(Reason::done(), false, eof_received_ ? "flushed after peer EOF" : "flushed");
        }
        if (write_shutdown_requested_ && !write_shut_) {
            backend_.shutdown_write();
            write_shut_ = true;
            if (eof_received_) return close(Reason::done(), false, "both halves closed");
            set_state(ConnectionState::write_half_closed, "write side shut down");
            if (half_closeable_ != nullptr) {
                call_protocol("write_connection_lost", [this] { half_closeable_->write_connection_lost(); });
            }
        }
    }

    // -- closing ------------------------------------------------------------------------------------

    static constexpr bool bounded_close() noexcept {
        if constexpr (requires { Backend::bounded_close; }) {
            return Backend::bounded_close;
        } else {
            return true;
        }
    }

    void begin_disconnecting(const char* event) {
        if (state_ == ConnectionState::disconnecting || state_ == ConnectionState::disconnected) return;
        set_state(ConnectionState::disconnecting, event);
        if constexpr (bounded_close()) {
            std::weak_ptr<StreamTransport> weak = this->shared_from_this();
            disconnect_timer_ = core_.call_later(core_.disconnect_timeout, [weak] {
                if (auto self = weak.lock()) self->close(Reason::error("timed out flushing output"), true, "disconnect timeout");
            });
        }
        schedule_flush();  // on_drained closes; posted, so nothing happens inside lose_connection()
    }

    /// Releases the descriptors (with a reset if `reset`) and posts connection_lost(reason).
    void close(Reason reason, bool reset, const char* event) {
        if (state_ == ConnectionState::disconnected) return;
        if (disconnect_timer_.active()) disconnect_timer_.cancel();
        set_state(ConnectionState::disconnected, event);
        out_.clear();
        buffered_ = 0;
        // We close first with unread input possible: let the core read and discard until the peer's EOF,
        // so that closing does not turn into a reset that destroys what we just sent.
        backend_.close(core_, reset, !reset && !eof_received_ && reason.clean());
        boost::asio::post(core_.io(), [self = this->shared_from_this(), reason = std::move(reason)] {
            self->deliver_connection_lost(reason);
        });
    }

    void deliver_connection_lost(const Reason& reason) {
        if (lost_delivered_) return;
        lost_delivered_ = true;
        auto self = this->shared_from_this();
        WEFT_LOG(debug) << "[" << backend_.describe(id_) << "] connection lost: " << reason.to_string();
        if (producer_ != nullptr) {
            Producer* p = std::exchange(producer_, nullptr);
            run_guarded("stop_producing", [p] { p->stop_producing(); });
        }
        run_guarded("connection_lost", [&] { protocol_->connection_lost(reason); });
        // The connector's factory hears what the protocol heard: TLS may have had a reason of its own.
        const Reason* told = &reason;
        if (top_ != this) {
            if (auto* tls = dynamic_cast<TlsLayer*>(protocol_.get()); tls != nullptr && tls->told_reason()) {
                told = &*tls->told_reason();
            }
        }
        if (observer_) std::exchange(observer_, nullptr)->connection_lost(*told);
        if (!keep_protocol_) protocol_.reset();  // the connection owns its protocol: it ends here
        core_.remove(self);
    }

    ReactorCore& core_;
    Backend backend_;
    std::unique_ptr<Protocol> protocol_;
    Transport* top_ = this;  // what the protocol's user sees: this, or the TLS layer on top
    HalfCloseable* half_closeable_ = nullptr;
    std::shared_ptr<ConnectionObserver> observer_;
    std::uint64_t id_;
    ConnectionState state_ = ConnectionState::connecting;

    WriteQueue out_;            // output waiting for the kernel
    std::size_t buffered_ = 0;  // out_ plus what this connection has in the write scratch
    std::size_t high_water_ = 64 * 1024;
    std::size_t low_water_ = 16 * 1024;

    Producer* producer_ = nullptr;
    bool streaming_ = false;
    bool producer_paused_ = false;

    bool reading_paused_ = false;      // pause_producing()
    bool backpressure_reads_ = false;  // pause_reading_while_backed_up()
    bool backlog_paused_ = false;      // ... and the output is above the high watermark
    bool read_pending_ = false;        // a readability wait or a posted read is outstanding
    bool flush_queued_ = false;        // queued in the reactor's flush batch for this turn
    bool in_data_received_ = false;    // writes go to the write scratch; flush when data_received returns
    bool flush_after_callback_ = false;
    bool write_waiting_ = false;       // a writability wait is outstanding
    bool eof_received_ = false;
    bool write_shutdown_requested_ = false;
    bool write_shut_ = false;
    bool lost_delivered_ = false;
    bool keep_protocol_ = false;
    DelayedCall disconnect_timer_;
};

}  // namespace weft::detail
