#include "weft/standard_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <optional>
#include <system_error>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "reactor_core.hpp"
#include "write_queue.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"
#include "weft/reactor.hpp"

namespace weft {
namespace detail {

namespace {
bool would_block(const boost::system::error_code& ec) {
    return ec == asio::error::would_block || ec == asio::error::try_again;
}
}  // namespace

/// The state behind a StandardIO. Handlers hold it by shared_ptr, so it outlives the StandardIO when a
/// handler is still queued; once detached or disconnected, handlers find nothing to do.
///
/// The data path mirrors TcpConnection's: input becomes readable -> read() into the reactor's shared
/// buffer -> data_received; write() appends to pending_ (a WriteQueue, as TCP's) and posts one flush per
/// turn -> writev() of what is pending -> what the descriptor did not take waits for writability.
class StandardIOImpl : public std::enable_shared_from_this<StandardIOImpl> {
public:
    StandardIOImpl(Reactor& reactor, std::unique_ptr<Protocol> protocol, int in_fd, int out_fd)
        : reactor_(reactor),
          core_(reactor.core()),
          protocol_(std::move(protocol)),
          half_closeable_(dynamic_cast<HalfCloseable*>(protocol_.get())),
          in_(core_.io()),
          out_(core_.io()),
          id_(core_.next_connection_id()) {
        if (!protocol_) throw StateError("StandardIO needs a protocol");
        if (in_fd == out_fd) throw StateError("StandardIO needs two different descriptors");
        // Read both before changing either: on a terminal, stdin and stdout are one open file whose
        // flags they share, and the second read would see the first one's O_NONBLOCK.
        in_flags_ = file_flags(in_fd);
        out_flags_ = file_flags(out_fd);
        adopt(in_, in_fd);
        adopt(out_, out_fd);
    }

    void start(Transport& owner) {
        std::weak_ptr<StandardIOImpl> weak = shared_from_this();
        // "before" shutdown, not "during": before-triggers are always waited for, while the reactor ends the
        // during phase as soon as its last TCP connection is gone, which would cut our flush short.
        trigger_ = reactor_.add_async_system_event_trigger(
            TriggerPhase::before, SystemEvent::shutdown, [weak](std::function<void()> done) {
                auto self = weak.lock();
                if (!self || self->lost_delivered_) return done();
                self->shutdown_done_ = std::move(done);
                self->lose_connection();
            });
        state_ = ConnectionState::connected;
        call_protocol("connection_made", [&] { protocol_->make_connection(owner); });
        if (!reading_allowed()) return;
        read_pending_ = true;
        asio::post(core_.io(), [self = shared_from_this()] { self->read_some(); });
    }

    /// The StandardIO is going away: close without telling the protocol, which dies with it.
    void detach() noexcept {
        if (trigger_) reactor_.remove_system_event_trigger(*std::exchange(trigger_, std::nullopt));
        if (state_ != ConnectionState::disconnected) {
            state_ = ConnectionState::disconnected;
            release_descriptors();
        }
        lost_delivered_ = true;
        producer_ = nullptr;
        protocol_.reset();
    }

    Protocol& protocol() const noexcept { return *protocol_; }
    bool lost() const noexcept { return lost_delivered_; }
    std::uint64_t id() const noexcept { return id_; }
    ConnectionState state() const noexcept { return state_; }
    std::size_t buffered_bytes() const noexcept { return pending_.size(); }

    // -- reading ------------------------------------------------------------------------------------

    bool reading_allowed() const noexcept {
        return !reading_paused_ && !backlog_paused_ && !eof_received_ &&
               (state_ == ConnectionState::connected || state_ == ConnectionState::write_half_closed);
    }

    void read_some() {
        read_pending_ = false;
        if (!reading_allowed()) return;
        boost::system::error_code ec;
        char* buffer = core_.read_buffer();
        const std::size_t n = in_.read_some(asio::buffer(buffer, ReactorCore::read_buffer_size), ec);
        if (would_block(ec)) return wait_readable();
        if (ec == asio::error::eof) return handle_eof();
        if (ec) return close(Reason::lost(ec), "read error");
        call_protocol("data_received", [&] { protocol_->data_received(std::string_view(buffer, n)); });
        if (read_pending_ || !reading_allowed()) return;  // re-armed inside the callback: one chain only
        // Read again on a later turn rather than wait: a regular file never becomes "readable" for
        // epoll, and a pipe with more data pending answers at once.
        read_pending_ = true;
        asio::post(core_.io(), [self = shared_from_this()] { self->read_some(); });
    }

    void wait_readable() {
        read_pending_ = true;
        in_.async_wait(asio::posix::descriptor_base::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
            self->read_pending_ = false;
            if (ec == asio::error::operation_aborted || self->state_ == ConnectionState::disconnected) return;
            if (ec) return self->close(Reason::lost(ec), "wait for input failed");
            self->read_some();
        });
    }

    void handle_eof() {
        eof_received_ = true;
        if (write_shut_) return close(Reason::done(), "input EOF after the output was closed");
        if (half_closeable_ != nullptr) {
            state_ = ConnectionState::read_half_closed;
            call_protocol("read_connection_lost", [this] { half_closeable_->read_connection_lost(); });
            return;
        }
        begin_disconnecting();
    }

    void pause_producing() noexcept { reading_paused_ = true; }

    void resume_producing() {
        if (!std::exchange(reading_paused_, false)) return;  // not paused: reading is already armed
        rearm_reading();
    }

    void rearm_reading() {
        if (read_pending_ || !reading_allowed()) return;
        read_pending_ = true;
        asio::post(core_.io(), [self = shared_from_this()] { self->read_some(); });
    }

    void pause_reading_while_backed_up() noexcept {
        backpressure_reads_ = true;
        backlog_paused_ = buffered_bytes() > high_water_;
    }

    // -- writing ------------------------------------------------------------------------------------

    bool writing_allowed() const noexcept {
        return !write_shutdown_requested_ &&
               (state_ == ConnectionState::connected || state_ == ConnectionState::read_half_closed);
    }

    void write(std::string_view data) {
        if (data.empty() || !writing_allowed()) return;
        pending_.append(data);
        if (backpressure_reads_ && buffered_bytes() > high_water_) backlog_paused_ = true;  // read_some() sees it
        if (producer_ != nullptr && streaming_ && !producer_paused_ && buffered_bytes() > high_water_) {
            producer_paused_ = true;
            producer_->pause_producing();
        }
        schedule_flush();
    }

    void schedule_flush() {
        if (flush_pending_ || write_waiting_) return;  // an outstanding writability wait will flush
        flush_pending_ = true;
        asio::post(core_.io(), [self = shared_from_this()] {
            self->flush_pending_ = false;
            self->flush();
        });
    }

    void flush() {
        if (state_ == ConnectionState::disconnected) return;
        bool blocked = false;
        while (!pending_.empty()) {
            std::array<::iovec, 64> iov;  // only the first `count` are used
            const std::size_t count = pending_.gather(iov);
            ssize_t n = 0;
            do {
                n = ::writev(out_.native_handle(), iov.data(), static_cast<int>(count));
            } while (n < 0 && errno == EINTR);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    blocked = true;
                    break;
                }
                return close(Reason::lost(std::error_code(errno, std::system_category())), "write error");
            }
            pending_.consume(static_cast<std::size_t>(n));
        }
        if (producer_ != nullptr && streaming_ && producer_paused_ && buffered_bytes() <= low_water_) {
            producer_paused_ = false;
            Producer* p = producer_;
            call_protocol("resume_producing", [p] { p->resume_producing(); });
            if (state_ == ConnectionState::disconnected) return;
        }
        if (backlog_paused_ && buffered_bytes() <= low_water_) {
            backlog_paused_ = false;
            rearm_reading();
        }
        if (blocked) return wait_writable();
        on_drained();
    }

    void wait_writable() {
        if (write_waiting_) return;
        write_waiting_ = true;
        out_.async_wait(asio::posix::descriptor_base::wait_write, [self = shared_from_this()](const boost::system::error_code& ec) {
            self->write_waiting_ = false;
            if (ec == asio::error::operation_aborted || self->state_ == ConnectionState::disconnected) return;
            if (ec) return self->close(Reason::lost(ec), "wait for output failed");
            self->flush();
        });
    }

    void on_drained() {
        if (producer_ != nullptr && !streaming_ && state_ != ConnectionState::disconnecting) {
            Producer* p = producer_;
            call_protocol("resume_producing", [p] { p->resume_producing(); });  // a pull producer: more
            if (buffered_bytes() > 0 || state_ == ConnectionState::disconnected) return;
        }
        if (state_ == ConnectionState::disconnecting) return close(Reason::done(), "flushed");
        if (write_shutdown_requested_ && !write_shut_) {
            write_shut_ = true;
            // Input and output on one file (a terminal) share O_NONBLOCK: making the output blocking again
            // would make our reads block the loop. The input restores the flags when it closes.
            const bool shared = in_.is_open() && same_file(in_.native_handle(), out_.native_handle());
            close_descriptor(out_, shared ? std::nullopt : std::optional<int>(out_flags_));
            if (eof_received_) return close(Reason::done(), "both halves closed");
            state_ = ConnectionState::write_half_closed;
            if (half_closeable_ != nullptr) {
                call_protocol("write_connection_lost", [this] { half_closeable_->write_connection_lost(); });
            }
        }
    }

    // -- closing ------------------------------------------------------------------------------------

    void begin_disconnecting() {
        if (state_ == ConnectionState::disconnecting || state_ == ConnectionState::disconnected) return;
        state_ = ConnectionState::disconnecting;
        if (write_shut_) return close(Reason::done(), "lose_connection with the output closed");
        schedule_flush();
    }

    void lose_connection() { begin_disconnecting(); }

    void lose_write_connection() {
        if (!writing_allowed()) return;
        write_shutdown_requested_ = true;
        schedule_flush();
    }

    void abort_connection() {
        if (state_ == ConnectionState::disconnected) return;
        close(Reason::aborted(), "abort_connection");
    }

    void close(Reason reason, const char* event) {
        if (state_ == ConnectionState::disconnected) return;
        WEFT_LOG(debug) << "[stdio " << id_ << "] closed (" << event << "): " << reason.to_string();
        state_ = ConnectionState::disconnected;
        pending_.clear();
        release_descriptors();
        asio::post(core_.io(), [self = shared_from_this(), reason = std::move(reason)] {
            self->deliver_connection_lost(reason);
        });
    }

    void deliver_connection_lost(const Reason& reason) {
        if (lost_delivered_) return;
        lost_delivered_ = true;
        if (producer_ != nullptr) {
            Producer* p = std::exchange(producer_, nullptr);
            run_guarded("stop_producing", [p] { p->stop_producing(); });
        }
        run_guarded("connection_lost", [&] { protocol_->connection_lost(reason); });
        if (trigger_) reactor_.remove_system_event_trigger(*std::exchange(trigger_, std::nullopt));
        if (auto done = std::exchange(shutdown_done_, nullptr)) done();
    }

    // -- producers ----------------------------------------------------------------------------------

    void set_write_buffer_limits(std::size_t high, std::size_t low) {
        if (low > high) throw StateError("write buffer limits: low watermark above high watermark");
        high_water_ = high;
        low_water_ = low;
    }

    void register_producer(Producer& producer, bool streaming) {
        if (producer_ != nullptr) throw StateError("cannot register a producer: another one was never unregistered");
        if (state_ == ConnectionState::disconnected) {
            producer.stop_producing();
            return;
        }
        producer_ = &producer;
        streaming_ = streaming;
        producer_paused_ = false;
        if (!streaming) schedule_flush();
    }

    void unregister_producer() noexcept {
        producer_ = nullptr;
        producer_paused_ = false;
    }

private:
    /// The file status flags to restore when we are done with `fd`.
    static int file_flags(int fd) {
        const int flags = ::fcntl(fd, F_GETFL);
        if (flags < 0) {
            throw Error("StandardIO: bad descriptor " + std::to_string(fd) + ": " +
                        std::error_code(errno, std::generic_category()).message());
        }
        return flags;
    }

    /// Takes `fd` into `d`, non-blocking.
    static void adopt(asio::posix::stream_descriptor& d, int fd) {
        d.assign(fd);
        boost::system::error_code ec;
        d.non_blocking(true, ec);
    }

    static bool same_file(int a, int b) noexcept {
        struct stat sa {};
        struct stat sb {};
        return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    }

    /// Restores the descriptor's flags (if given) and closes it; 0-2 are pointed at /dev/null instead of
    /// being freed.
    static void close_descriptor(asio::posix::stream_descriptor& d, std::optional<int> flags) noexcept {
        if (!d.is_open()) return;
        const int fd = d.release();  // deregisters from the reactor, cancelling waits
        if (flags) ::fcntl(fd, F_SETFL, *flags);
        if (fd <= 2) {
            const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
            if (null_fd >= 0) {
                ::dup2(null_fd, fd);
                ::close(null_fd);
                return;
            }
        }
        ::close(fd);
    }

    void release_descriptors() noexcept {
        close_descriptor(in_, in_flags_);
        close_descriptor(out_, out_flags_);
    }

    template <class F>
    void call_protocol(const char* what, F&& fn) {
        try {
            std::forward<F>(fn)();
        } catch (const std::exception& e) {
            WEFT_LOG(error) << "[stdio " << id_ << "] " << what << " threw: " << e.what() << "; aborting";
            close(Reason::error(std::string(what) + " threw: " + e.what()), "callback threw");
        } catch (...) {
            WEFT_LOG(error) << "[stdio " << id_ << "] " << what << " threw; aborting";
            close(Reason::error(std::string(what) + " threw"), "callback threw");
        }
    }

    Reactor& reactor_;
    ReactorCore& core_;
    std::unique_ptr<Protocol> protocol_;
    HalfCloseable* half_closeable_;
    asio::posix::stream_descriptor in_;
    asio::posix::stream_descriptor out_;
    int in_flags_ = 0;
    int out_flags_ = 0;
    std::uint64_t id_;
    ConnectionState state_ = ConnectionState::connecting;
    std::optional<Reactor::TriggerId> trigger_;
    std::function<void()> shutdown_done_;

    WriteQueue pending_;  // output not yet written
    std::size_t high_water_ = 64 * 1024;
    std::size_t low_water_ = 16 * 1024;
    Producer* producer_ = nullptr;
    bool streaming_ = false;
    bool producer_paused_ = false;

    bool reading_paused_ = false;     // pause_producing()
    bool backpressure_reads_ = false;  // pause_reading_while_backed_up()
    bool backlog_paused_ = false;     // ... and the output is above the high watermark
    bool read_pending_ = false;
    bool flush_pending_ = false;
    bool write_waiting_ = false;
    bool eof_received_ = false;
    bool write_shutdown_requested_ = false;
    bool write_shut_ = false;
    bool lost_delivered_ = false;
};

}  // namespace detail

// -- StandardIO: the public face --------------------------------------------------------------------

StandardIO::StandardIO(Reactor& reactor, std::unique_ptr<Protocol> protocol)
    : StandardIO(reactor, std::move(protocol), STDIN_FILENO, STDOUT_FILENO) {}

StandardIO::StandardIO(Reactor& reactor, std::unique_ptr<Protocol> protocol, int in_fd, int out_fd)
    : impl_(std::make_shared<detail::StandardIOImpl>(reactor, std::move(protocol), in_fd, out_fd)) {
    impl_->start(*this);
}

StandardIO::~StandardIO() { impl_->detach(); }

Protocol& StandardIO::protocol() const noexcept { return impl_->protocol(); }
bool StandardIO::lost() const noexcept { return impl_->lost(); }

void StandardIO::write(std::string_view data) { impl_->write(data); }
void StandardIO::write_sequence(std::span<const std::string_view> pieces) {
    for (auto piece : pieces) impl_->write(piece);
}
void StandardIO::write_shared(std::shared_ptr<const std::string> data) {
    if (data) impl_->write(*data);
}
void StandardIO::lose_connection() { impl_->lose_connection(); }
void StandardIO::abort_connection() { impl_->abort_connection(); }
void StandardIO::lose_write_connection() { impl_->lose_write_connection(); }
Address StandardIO::peer() const { return {"stdio", 0}; }
Address StandardIO::host() const { return {"stdio", 0}; }
std::uint64_t StandardIO::id() const noexcept { return impl_->id(); }
ConnectionState StandardIO::state() const noexcept { return impl_->state(); }
std::size_t StandardIO::buffered_bytes() const noexcept { return impl_->buffered_bytes(); }
void StandardIO::set_write_buffer_limits(std::size_t high, std::size_t low) { impl_->set_write_buffer_limits(high, low); }
void StandardIO::register_producer(Producer& producer, bool streaming) { impl_->register_producer(producer, streaming); }
void StandardIO::unregister_producer() { impl_->unregister_producer(); }
void StandardIO::pause_producing() { impl_->pause_producing(); }
void StandardIO::resume_producing() { impl_->resume_producing(); }
void StandardIO::pause_reading_while_backed_up() { impl_->pause_reading_while_backed_up(); }
void StandardIO::stop_producing() { impl_->lose_connection(); }

}  // namespace weft
