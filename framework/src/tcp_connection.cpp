#include "tcp_connection.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>

#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/post.hpp>

#include "reactor_core.hpp"
#include "tcp_connector.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"

namespace weft::detail {

namespace {
constexpr std::size_t max_flush_per_turn = 1024 * 1024;  // then yield, so one connection cannot hog the loop
constexpr std::size_t max_iov = 64;                     // pieces per sendmsg (Linux allows 1024; 64 is plenty)

Address to_address(const asio::ip::tcp::endpoint& ep) { return {ep.address().to_string(), ep.port()}; }
// The socket is non-blocking and registered with Asio's reactor, which tells us when to try again; the
// read and the write themselves are plain system calls (no error_code categories to compare on the hot
// path). Linux only, like the rest of weft's TCP transport.
std::error_code last_error() { return {errno, std::system_category()}; }
bool would_block_errno() { return errno == EAGAIN || errno == EWOULDBLOCK; }
}  // namespace

#define WEFT_CONN_LOG(level) WEFT_LOG(level) << "[conn " << id_ << " " << to_address(peer_).to_string() << "] "

TcpConnection::TcpConnection(ReactorCore& core, Socket socket, const asio::ip::tcp::endpoint& peer,
                             std::unique_ptr<Protocol> protocol)
    : core_(core),
      socket_(std::move(socket)),
      protocol_(std::move(protocol)),
      half_closeable_(dynamic_cast<HalfCloseable*>(protocol_.get())),
      peer_(peer),
      id_(core.next_connection_id()) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    // weft already gathers a turn's writes into one sendmsg, so Nagle's algorithm would only hold small
    // replies back waiting for an ACK. Off by default, as in Go; set_tcp_nodelay(false) turns it back on.
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

TcpConnection::~TcpConnection() = default;

void TcpConnection::set_state(ConnectionState to, const char* event) {
    WEFT_CONN_LOG(debug) << to_string(state_) << " -> " << to_string(to) << " (" << event << ")";
    state_ = to;
}

bool TcpConnection::reading_allowed() const noexcept {
    return !reading_paused_ && !backlog_paused_ && !eof_received_ &&
           (state_ == ConnectionState::connected || state_ == ConnectionState::write_half_closed);
}

bool TcpConnection::writing_allowed() const noexcept {
    return !write_shutdown_requested_ &&
           (state_ == ConnectionState::connected || state_ == ConnectionState::read_half_closed);
}

template <class F>
void TcpConnection::call_protocol(const char* what, F&& fn) {
    try {
        std::forward<F>(fn)();
    } catch (const std::exception& e) {
        // A peer that can make its protocol throw can do it on every connection: one record per interval.
        if (core_.callback_error_log.allow(core_.now())) {
            WEFT_CONN_LOG(error) << what << " threw: " << e.what() << "; aborting this connection"
                                 << LogRateLimiter::note(core_.callback_error_log);
        }
        close(Reason::error(std::string(what) + " threw: " + e.what()), true, "callback threw");
    } catch (...) {
        if (core_.callback_error_log.allow(core_.now())) {
            WEFT_CONN_LOG(error) << what << " threw a non-std exception; aborting this connection"
                                 << LogRateLimiter::note(core_.callback_error_log);
        }
        close(Reason::error(std::string(what) + " threw"), true, "callback threw");
    }
}

void TcpConnection::start(std::shared_ptr<TcpConnector> connector) {
    connector_ = std::move(connector);
    set_state(ConnectionState::connected, "connection made");
    call_protocol("connection_made", [this] { protocol_->make_connection(*this); });
    // Read at once rather than wait: bytes that arrived before the socket was registered with epoll
    // (edge-triggered) would otherwise raise no event.
    read_some();
}

// -- reading ----------------------------------------------------------------------------------------

void TcpConnection::read_some() {
    read_pending_ = false;
    if (!reading_allowed()) return;
    char* buffer = core_.read_buffer();
    ++core_.stats.read_calls;
    ssize_t got = 0;
    do {
        got = ::recv(socket_.native_handle(), buffer, ReactorCore::read_buffer_size, 0);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        if (would_block_errno()) return wait_readable();
        return close(Reason::lost(last_error()), false, "read error");
    }
    if (got == 0) return handle_eof();
    const auto n = static_cast<std::size_t>(got);

    // What the protocol writes now is sent right after it returns, in one gathered write (see write()).
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
    if (n == ReactorCore::read_buffer_size) {
        // More is probably waiting; read it on a later turn so other connections get theirs first.
        read_pending_ = true;
        asio::post(core_.io(), [self = shared_from_this()] { self->read_some(); });
        return;
    }
    // A short read emptied the socket. Any later byte raises a new edge, and no epoll_wait can run before
    // the wait below is queued (one thread runs the loop), so waiting now cannot miss it.
    wait_readable();
}

void TcpConnection::wait_readable() {
    read_pending_ = true;
    socket_.async_wait(asio::socket_base::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
        self->read_pending_ = false;
        if (ec == asio::error::operation_aborted || self->state_ == ConnectionState::disconnected) return;
        if (ec) return self->close(Reason::lost(ec), false, "wait for readability failed");
        self->read_some();
    });
}

void TcpConnection::handle_eof() {
    eof_received_ = true;
    if (write_shut_) return close(Reason::done(), false, "peer EOF after our write side was shut");
    if (half_closeable_ != nullptr) {
        set_state(ConnectionState::read_half_closed, "peer EOF");
        call_protocol("read_connection_lost", [this] { half_closeable_->read_connection_lost(); });
        return;
    }
    begin_disconnecting("peer EOF");  // flush what we still owe the peer, then close
}

void TcpConnection::pause_producing() { reading_paused_ = true; }

void TcpConnection::resume_producing() {
    if (!std::exchange(reading_paused_, false)) return;  // not paused: reading is already armed
    rearm_reading();
}

void TcpConnection::rearm_reading() {
    if (read_pending_ || !reading_allowed()) return;
    // Posted, not called: data_received must not run inside the protocol's own resume_producing().
    read_pending_ = true;
    asio::post(core_.io(), [self = shared_from_this()] { self->read_some(); });
}

void TcpConnection::pause_reading_while_backed_up() {
    backpressure_reads_ = true;
    backlog_paused_ = buffered_ > high_water_;
}

void TcpConnection::stop_producing() { lose_connection(); }

// -- writing ----------------------------------------------------------------------------------------

void TcpConnection::write(std::string_view data) {
    if (data.empty() || !writing_allowed()) return;
    queue(data);
    after_write_queued();
}

void TcpConnection::write_sequence(std::span<const std::string_view> pieces) {
    if (!writing_allowed()) return;
    const std::size_t before = buffered_;
    for (auto piece : pieces) {
        if (!piece.empty()) queue(piece);
    }
    if (buffered_ != before) after_write_queued();  // once for the sequence, as a single write would
}

void TcpConnection::queue(std::string_view data) {
    buffered_ += data.size();
    if (in_data_received_ && out_.empty()) {
        // Nothing of ours waits for the kernel: the bytes go to the reactor's write scratch and leave when
        // data_received returns. Ordering holds because out_ stays empty while the scratch is in use.
        if (core_.write_scratch.add(data)) return;
        spill_scratch();
    }
    out_.append(data);
}

void TcpConnection::write_shared(std::shared_ptr<const std::string> data) {
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

void TcpConnection::after_write_queued() {
    if (backpressure_reads_ && buffered_ > high_water_) backlog_paused_ = true;  // read_some() sees it
    if (producer_ != nullptr && streaming_ && !producer_paused_ && buffered_ > high_water_) {
        producer_paused_ = true;
        producer_->pause_producing();  // synchronous, as in Twisted: a producer looping on write() must see it
    }
    schedule_flush();
}

void TcpConnection::schedule_flush() {
    if (in_data_received_) {
        flush_after_callback_ = true;  // read_some() flushes when the callback returns: no post needed
        return;
    }
    // While a writability wait is outstanding it will flush; otherwise one flush per turn.
    if (flush_queued_ || write_waiting_) return;
    flush_queued_ = true;
    core_.schedule_flush(shared_from_this());
}

void TcpConnection::spill_scratch() {
    WriteScratch& scratch = core_.write_scratch;
    if (!in_data_received_ || scratch.empty()) return;
    out_.append(scratch.pieces());
    scratch.clear();
}

void TcpConnection::wait_writable() {
    if (write_waiting_) return;
    write_waiting_ = true;
    socket_.async_wait(asio::socket_base::wait_write, [self = shared_from_this()](const boost::system::error_code& ec) {
        self->write_waiting_ = false;
        if (ec == asio::error::operation_aborted || self->state_ == ConnectionState::disconnected) return;
        if (ec) return self->close(Reason::lost(ec), false, "wait for writability failed");
        self->flush();
    });
}

void TcpConnection::flush(std::span<const ::iovec> tail) {
    if (state_ == ConnectionState::disconnected) return;
    std::size_t sent_this_turn = 0;
    bool blocked = false;
    std::size_t tail_index = 0, tail_offset = 0;  // the tail's first unsent byte
    while (!out_.empty() || tail_index < tail.size()) {
        std::array<::iovec, max_iov> iov;  // left uninitialised: only the first `count` are used
        std::size_t count = out_.gather(iov);
        for (std::size_t i = tail_index; i < tail.size() && count < max_iov; ++i) {
            iov[count] = tail[i];
            if (i == tail_index) {
                iov[count].iov_base = static_cast<char*>(iov[count].iov_base) + tail_offset;
                iov[count].iov_len -= tail_offset;
            }
            ++count;
        }
        ::msghdr message{};
        message.msg_iov = iov.data();
        message.msg_iovlen = count;
        ++core_.stats.write_calls;
        ssize_t got = 0;
        do {
            got = ::sendmsg(socket_.native_handle(), &message, MSG_NOSIGNAL);
        } while (got < 0 && errno == EINTR);
        if (got < 0) {
            if (would_block_errno()) {
                blocked = true;
                break;
            }
            return close(Reason::lost(last_error()), false, "write error");
        }
        auto n = static_cast<std::size_t>(got);
        buffered_ -= n;
        sent_this_turn += n;
        // The queue's pieces came first; only when it was gathered whole can the tail have been sent.
        const std::size_t from_queue = std::min(n, out_.size());
        if (from_queue > 0) out_.consume(from_queue);  // a reply from data_received has no queue (0)
        n -= from_queue;
        while (n > 0 && tail_index < tail.size()) {
            const std::size_t left = tail[tail_index].iov_len - tail_offset;
            if (n < left) {
                tail_offset += n;
                break;
            }
            n -= left;
            ++tail_index;
            tail_offset = 0;
        }
        if (sent_this_turn >= max_flush_per_turn && (!out_.empty() || tail_index < tail.size())) break;
    }
    // The write scratch and the read buffer are reused by the next callback: what the kernel did not
    // take of the tail is copied now.
    if (tail_index < tail.size()) out_.append(tail, tail_index, tail_offset);
    if (producer_ != nullptr && streaming_ && producer_paused_ && buffered_ <= low_water_) {
        producer_paused_ = false;
        Producer* p = producer_;
        call_protocol("resume_producing", [p] { p->resume_producing(); });
    }
    if (backlog_paused_ && buffered_ <= low_water_) {
        backlog_paused_ = false;
        rearm_reading();
    }
    if (state_ == ConnectionState::disconnected) return;
    if (blocked) return wait_writable();
    if (buffered_ > 0) return schedule_flush();  // yielded after max_flush_per_turn
    on_drained();
}

void TcpConnection::on_drained() {
    if (producer_ != nullptr && !streaming_ && !disconnecting()) {
        Producer* p = producer_;
        call_protocol("resume_producing", [p] { p->resume_producing(); });  // a pull producer: more, please
        if (buffered_ > 0 || state_ == ConnectionState::disconnected) return;
    }
    if (state_ == ConnectionState::disconnecting) {
        return close(Reason::done(), false, eof_received_ ? "flushed after peer EOF" : "flushed");
    }
    if (write_shutdown_requested_ && !write_shut_) {
        boost::system::error_code ec;
        socket_.shutdown(asio::socket_base::shutdown_send, ec);
        write_shut_ = true;
        if (eof_received_) return close(Reason::done(), false, "both halves closed");
        set_state(ConnectionState::write_half_closed, "write side shut down");
        if (half_closeable_ != nullptr) {
            call_protocol("write_connection_lost", [this] { half_closeable_->write_connection_lost(); });
        }
    }
}

// -- closing ----------------------------------------------------------------------------------------

void TcpConnection::lose_connection() { begin_disconnecting("lose_connection"); }

void TcpConnection::begin_disconnecting(const char* event) {
    if (state_ == ConnectionState::disconnecting || state_ == ConnectionState::disconnected) return;
    set_state(ConnectionState::disconnecting, event);
    std::weak_ptr<TcpConnection> weak = shared_from_this();
    disconnect_timer_ = core_.call_later(core_.disconnect_timeout, [weak] {
        if (auto self = weak.lock()) self->close(Reason::error("timed out flushing output"), true, "disconnect timeout");
    });
    schedule_flush();  // on_drained closes; posted, so nothing happens inside lose_connection()
}

void TcpConnection::abort_connection() {
    if (state_ == ConnectionState::disconnected) return;
    close(Reason::aborted(), true, "abort_connection");
}

void TcpConnection::lose_write_connection() {
    if (!writing_allowed()) return;
    write_shutdown_requested_ = true;
    schedule_flush();
}

void TcpConnection::shutdown(bool force) {
    if (force) {
        if (state_ != ConnectionState::disconnected) close(Reason::aborted("reactor shutdown timed out"), true, "shutdown");
    } else {
        lose_connection();
    }
}

void TcpConnection::close(Reason reason, bool reset, const char* event) {
    if (state_ == ConnectionState::disconnected) return;
    if (disconnect_timer_.active()) disconnect_timer_.cancel();
    set_state(ConnectionState::disconnected, event);
    out_.clear();
    buffered_ = 0;
    boost::system::error_code ec;
    if (reset) {
        socket_.set_option(asio::socket_base::linger(true, 0), ec);  // RST, and unsent output is dropped
        socket_.close(ec);
    } else if (!eof_received_ && reason.clean()) {
        // We close first: shut our side, then let the core read and discard until the peer's EOF, so that
        // closing with unread input does not turn into a reset that destroys what we just sent.
        socket_.shutdown(asio::socket_base::shutdown_send, ec);
        core_.linger(std::move(socket_));
    } else {
        socket_.close(ec);
    }
    asio::post(core_.io(), [self = shared_from_this(), reason = std::move(reason)] { self->deliver_connection_lost(reason); });
}

void TcpConnection::deliver_connection_lost(const Reason& reason) {
    if (lost_delivered_) return;
    lost_delivered_ = true;
    auto self = shared_from_this();
    WEFT_CONN_LOG(debug) << "connection lost: " << reason.to_string();
    if (producer_ != nullptr) {
        Producer* p = std::exchange(producer_, nullptr);
        run_guarded("stop_producing", [p] { p->stop_producing(); });
    }
    run_guarded("connection_lost", [&] { protocol_->connection_lost(reason); });
    if (connector_) std::exchange(connector_, nullptr)->connection_lost(reason);
    protocol_.reset();  // the connection owns its protocol: it ends here
    core_.remove(self);
}

// -- options and producers --------------------------------------------------------------------------

Address TcpConnection::peer() const { return to_address(peer_); }

Address TcpConnection::host() const {
    boost::system::error_code ec;
    auto ep = socket_.local_endpoint(ec);
    return ec ? Address{} : to_address(ep);
}

void TcpConnection::set_write_buffer_limits(std::size_t high, std::size_t low) {
    if (low > high) throw StateError("write buffer limits: low watermark above high watermark");
    high_water_ = high;
    low_water_ = low;
}

bool TcpConnection::set_tcp_nodelay(bool enabled) {
    boost::system::error_code ec;
    socket_.set_option(asio::ip::tcp::no_delay(enabled), ec);
    return !ec;
}

bool TcpConnection::set_tcp_keepalive(bool enabled) {
    boost::system::error_code ec;
    socket_.set_option(asio::socket_base::keep_alive(enabled), ec);
    return !ec;
}

void TcpConnection::register_producer(Producer& producer, bool streaming) {
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

void TcpConnection::unregister_producer() {
    producer_ = nullptr;
    producer_paused_ = false;
}

}  // namespace weft::detail
