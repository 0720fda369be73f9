#include "process/process_impl.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <system_error>
#include <utility>

#include <boost/asio/post.hpp>

#include "reactor_core.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"

namespace weft::detail {

namespace asio = boost::asio;

ProcessImpl::Pipe::Pipe(asio::io_context& io, int fd, bool writes) : descriptor(io, fd), parent_writes(writes) {}

ProcessImpl::ProcessImpl(Reactor& reactor, std::unique_ptr<ProcessProtocol> owned, ProcessProtocol* protocol,
                         LaunchedChild child, std::string name)
    : reactor_(reactor),
      core_(reactor.core()),
      owned_(std::move(owned)),
      protocol_(owned_ ? owned_.get() : protocol),
      name_(std::move(name)),
      pid_(child.pid) {
    reaper_ = std::make_shared<ChildReaper>(core_.io(), child.pid, std::move(child.pidfd));
    for (auto& [fd, end] : child.pipes) {
        // The launcher made the parent's end of a "to child" pipe its write end.
        const int flags = ::fcntl(end.get(), F_GETFL);
        const bool parent_writes = (flags & O_ACCMODE) == O_WRONLY;
        pipes_.emplace(fd, std::make_unique<Pipe>(core_.io(), end.release(), parent_writes));
    }
}

ProcessImpl::~ProcessImpl() = default;

// -- life cycle ---------------------------------------------------------------------------------------

void ProcessImpl::start() {
    WEFT_LOG(debug) << "[process " << pid_ << " " << name_ << "] started with " << pipes_.size() << " pipes";
    core_.add_process(shared_from_this());
    std::weak_ptr<ProcessImpl> weak = shared_from_this();
    // "before" shutdown, as StandardIO: before-triggers are always waited for (bounded by the shutdown
    // timeout).
    trigger_ = reactor_.add_async_system_event_trigger(
        TriggerPhase::before, SystemEvent::shutdown, [weak](std::function<void()> done) {
            auto self = weak.lock();
            if (!self || self->ended_) return done();
            self->shut_down(std::move(done));
        });
    asio::post(core_.io(), [self = shared_from_this()] {
        if (self->ended_ || self->protocol_ == nullptr) return;
        self->started_ = true;
        self->call_protocol("connection_made", [&] { self->protocol_->make_connection(*self); });
        self->reaper_->start([weak_self = std::weak_ptr<ProcessImpl>(self)](ProcessStatus status) {
            if (auto me = weak_self.lock()) me->exited(status);
        });
        for (auto& [fd, pipe] : self->pipes_) {
            if (!pipe->descriptor.is_open()) continue;
            if (pipe->parent_writes) {
                self->watch_reader_gone(fd);
                if (!pipe->queue.empty() || pipe->closing) self->schedule_flush(fd);
            } else {
                self->post_read(fd);
            }
        }
    });
}

void ProcessImpl::shut_down(std::function<void()> done) {
    shutdown_done_ = std::move(done);
    lose_connection();
    maybe_end();
}

void ProcessImpl::detach() noexcept {
    ended_ = true;
    for (auto& [fd, pipe] : pipes_) {
        boost::system::error_code ignored;
        pipe->descriptor.close(ignored);
        pipe->queue.clear();
    }
    producer_ = nullptr;
    protocol_ = nullptr;
    owned_.reset();
    reaper_.reset();  // closes the pidfd; the child is left running (ChildReaper)
}

// -- writing ------------------------------------------------------------------------------------------

ProcessImpl::Pipe* ProcessImpl::open_pipe(int child_fd) noexcept {
    auto it = pipes_.find(child_fd);
    if (it == pipes_.end() || !it->second->descriptor.is_open()) return nullptr;
    return it->second.get();
}

void ProcessImpl::write_sequence(std::span<const std::string_view> pieces) {
    for (auto piece : pieces) write_to(0, piece, false);
}

void ProcessImpl::write_to(int child_fd, std::string_view data, bool must_exist) {
    auto it = pipes_.find(child_fd);
    if (must_exist && (it == pipes_.end() || !it->second->parent_writes)) {
        throw StateError("write_to_child: child descriptor " + std::to_string(child_fd) +
                         " is not a pipe the parent writes");
    }
    if (ended_ || data.empty() || it == pipes_.end() || !it->second->parent_writes) return;
    Pipe& pipe = *it->second;
    if (!pipe.descriptor.is_open() || pipe.closing) return;
    pipe.queue.append(data);
    buffered_ += data.size();
    after_queued();
    if (started_) schedule_flush(child_fd);
}

void ProcessImpl::after_queued() {
    if (backpressure_reads_ && buffered_ > high_water_) backlog_paused_ = true;  // read_some() sees it
    if (producer_ != nullptr && streaming_ && !producer_paused_ && buffered_ > high_water_) {
        producer_paused_ = true;
        producer_->pause_producing();  // inside write(), as the Producer contract allows
    }
}

void ProcessImpl::schedule_flush(int child_fd) {
    Pipe* pipe = open_pipe(child_fd);
    if (pipe == nullptr || pipe->flush_pending || pipe->write_waiting) return;  // a queued wait flushes
    pipe->flush_pending = true;
    asio::post(core_.io(), [self = shared_from_this(), child_fd] {
        if (Pipe* p = self->open_pipe(child_fd)) {
            p->flush_pending = false;
            self->flush(child_fd);
        }
    });
}

void ProcessImpl::flush(int child_fd) {
    Pipe* pipe = open_pipe(child_fd);
    if (pipe == nullptr) return;
    bool blocked = false;
    while (!pipe->queue.empty()) {
        std::array<::iovec, 64> iov;  // only the first `count` are used
        const std::size_t count = pipe->queue.gather(iov);
        ssize_t n = 0;
        do {
            n = ::writev(pipe->descriptor.native_handle(), iov.data(), static_cast<int>(count));
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                blocked = true;
                break;
            }
            // EPIPE: the child closed its end (weft ignores SIGPIPE). What it did not read is dropped.
            close_pipe(child_fd, errno == EPIPE ? "the child closed it" : "write error");
            after_flush();
            return;
        }
        pipe->queue.consume(static_cast<std::size_t>(n));
        buffered_ -= static_cast<std::size_t>(n);
    }
    if (blocked) {
        wait_writable(child_fd);
    } else if (pipe->closing) {
        close_pipe(child_fd, "flushed and closed");
    }
    after_flush();
}

void ProcessImpl::after_flush() {
    if (producer_ != nullptr && streaming_ && producer_paused_ && buffered_ <= low_water_) {
        producer_paused_ = false;
        Producer* p = producer_;
        call_protocol("resume_producing", [p] { p->resume_producing(); });
    }
    if (backlog_paused_ && buffered_ <= low_water_) {
        backlog_paused_ = false;
        rearm_reading();
    }
    if (producer_ != nullptr && !streaming_ && buffered_ == 0 && open_pipe(0) != nullptr && !open_pipe(0)->closing) {
        Producer* p = producer_;
        call_protocol("resume_producing", [p] { p->resume_producing(); });  // a pull producer: more
    }
}

void ProcessImpl::wait_writable(int child_fd) {
    Pipe* pipe = open_pipe(child_fd);
    if (pipe == nullptr || pipe->write_waiting) return;
    pipe->write_waiting = true;
    pipe->descriptor.async_wait(asio::posix::descriptor_base::wait_write,
                                [self = shared_from_this(), child_fd](const boost::system::error_code& ec) {
                                    Pipe* p = self->open_pipe(child_fd);
                                    if (p == nullptr || ec == asio::error::operation_aborted) return;
                                    p->write_waiting = false;
                                    self->flush(child_fd);
                                });
}

void ProcessImpl::watch_reader_gone(int child_fd) {
    Pipe* pipe = open_pipe(child_fd);
    if (pipe == nullptr) return;
    // Look first (the descriptor has been registered edge-triggered since the constructor), then wait.
    pollfd p{pipe->descriptor.native_handle(), 0, 0};
    if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)) != 0) {
        close_pipe(child_fd, "the child closed it");
        return;
    }
    // A pipe's write end never becomes readable: epoll reports it "readable" (an error) only once the
    // child's end is closed.
    pipe->descriptor.async_wait(asio::posix::descriptor_base::wait_read,
                                [self = shared_from_this(), child_fd](const boost::system::error_code& ec) {
                                    if (ec == asio::error::operation_aborted || self->open_pipe(child_fd) == nullptr) return;
                                    self->close_pipe(child_fd, "the child closed it");
                                    self->after_flush();
                                });
}

// -- reading ------------------------------------------------------------------------------------------

void ProcessImpl::post_read(int child_fd) {
    Pipe* pipe = open_pipe(child_fd);
    if (pipe == nullptr || pipe->read_pending) return;
    pipe->read_pending = true;
    asio::post(core_.io(), [self = shared_from_this(), child_fd] {
        if (Pipe* p = self->open_pipe(child_fd)) {
            p->read_pending = false;
            self->read_some(child_fd);
        }
    });
}

void ProcessImpl::read_some(int child_fd) {
    Pipe* pipe = open_pipe(child_fd);
    if (pipe == nullptr || !reading_allowed() || pipe->read_pending) return;  // resume_producing re-arms
    char* buffer = core_.read_buffer();
    ssize_t n = 0;
    do {
        n = ::read(pipe->descriptor.native_handle(), buffer, ReactorCore::read_buffer_size);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return wait_readable(child_fd);
    if (n <= 0) return close_pipe(child_fd, n == 0 ? "end of file" : "read error");
    ++core_.stats.read_calls;
    call_protocol("child_data_received",
                  [&] { protocol_->child_data_received(child_fd, std::string_view(buffer, static_cast<std::size_t>(n))); });
    // A full buffer: more is probably waiting; read it on a later turn so that other work gets its turn.
    // A short read emptied the pipe: wait, queued before the loop polls again, so no wake-up is lost.
    if (static_cast<std::size_t>(n) == ReactorCore::read_buffer_size) {
        post_read(child_fd);
    } else {
        wait_readable(child_fd);
    }
}

void ProcessImpl::wait_readable(int child_fd) {
    Pipe* pipe = open_pipe(child_fd);
    if (pipe == nullptr || pipe->read_pending || !reading_allowed()) return;
    pipe->read_pending = true;
    pipe->descriptor.async_wait(asio::posix::descriptor_base::wait_read,
                                [self = shared_from_this(), child_fd](const boost::system::error_code& ec) {
                                    Pipe* p = self->open_pipe(child_fd);
                                    if (p == nullptr || ec == asio::error::operation_aborted) return;
                                    p->read_pending = false;
                                    self->read_some(child_fd);
                                });
}

void ProcessImpl::rearm_reading() {
    if (!reading_allowed()) return;
    for (auto& [fd, pipe] : pipes_) {
        if (!pipe->parent_writes && started_) post_read(fd);
    }
}

void ProcessImpl::resume_producing() {
    if (!std::exchange(reading_paused_, false)) return;
    rearm_reading();
}

void ProcessImpl::pause_reading_while_backed_up() {
    backpressure_reads_ = true;
    backlog_paused_ = buffered_ > high_water_;
}

// -- closing ------------------------------------------------------------------------------------------

void ProcessImpl::close_child_fd(int child_fd) {
    Pipe* pipe = open_pipe(child_fd);
    if (pipe == nullptr || pipe->closing) return;
    if (pipe->parent_writes && !pipe->queue.empty()) {
        pipe->closing = true;  // the flush closes it
        if (started_) schedule_flush(child_fd);
        return;
    }
    close_pipe(child_fd, "closed by the parent");
}

void ProcessImpl::lose_connection() {
    for (auto& [fd, pipe] : pipes_) close_child_fd(fd);
}

void ProcessImpl::close_pipe(int child_fd, const char* why) {
    Pipe* pipe = open_pipe(child_fd);
    if (pipe == nullptr) return;
    WEFT_LOG(debug) << "[process " << pid_ << " " << name_ << "] child fd " << child_fd << " closed: " << why;
    buffered_ -= pipe->queue.size();
    pipe->queue.clear();
    boost::system::error_code ignored;
    pipe->descriptor.close(ignored);  // cancels its waits: their handlers find it closed
    if (pipe->parent_writes && child_fd == 0 && producer_ != nullptr) {
        // The stdin the producer fed is gone (Twisted stops a writer's producer when it is lost).
        Producer* p = std::exchange(producer_, nullptr);
        asio::post(core_.io(), [self = shared_from_this(), p] { run_guarded("stop_producing", [p] { p->stop_producing(); }); });
    }
    asio::post(core_.io(), [self = shared_from_this(), child_fd] { self->deliver_lost(child_fd); });
}

void ProcessImpl::deliver_lost(int child_fd) {
    auto it = pipes_.find(child_fd);
    if (ended_ || it == pipes_.end() || it->second->lost_delivered) return;
    it->second->lost_delivered = true;
    call_protocol("child_connection_lost", [&] { protocol_->child_connection_lost(child_fd); });
    maybe_end();
}

void ProcessImpl::exited(ProcessStatus status) {
    if (ended_) return;
    WEFT_LOG(debug) << "[process " << pid_ << " " << name_ << "] exited: " << status.to_string();
    exited_delivered_ = true;
    call_protocol("process_exited", [&] { protocol_->process_exited(status); });
    maybe_end();
}

void ProcessImpl::maybe_end() {
    bool pipes_done = true;
    for (auto& [fd, pipe] : pipes_) pipes_done = pipes_done && pipe->lost_delivered;
    if (pipes_done) {
        if (auto done = std::exchange(shutdown_done_, nullptr)) done();
    }
    if (ended_ || !pipes_done || !exited_delivered_) return;
    ended_ = true;
    const ProcessStatus status = *reaper_->status();
    if (producer_ != nullptr) {
        Producer* p = std::exchange(producer_, nullptr);
        run_guarded("stop_producing", [p] { p->stop_producing(); });
    }
    run_guarded("process_ended", [&] { protocol_->process_ended(status); });
    pid_ = 0;
    protocol_ = nullptr;
    if (trigger_) reactor_.remove_system_event_trigger(*std::exchange(trigger_, std::nullopt));
    core_.remove_process(shared_from_this());  // may destroy the protocol (owned_) with the last reference
}

// -- signals, producers ------------------------------------------------------------------------------

void ProcessImpl::signal_process(int signo) {
    if (!reaper_ || ended_) throw ProcessExitedAlready();
    reaper_->send_signal(signo);
}

void ProcessImpl::signal_process(std::string_view name) {
    const auto signo = signal_number(name);
    if (!signo) throw Error("signal_process: unknown signal name '" + std::string(name) + "'");
    signal_process(*signo);
}

int ProcessImpl::pid() const noexcept { return reaper_ && !reaper_->status() ? pid_ : 0; }

void ProcessImpl::set_write_buffer_limits(std::size_t high, std::size_t low) {
    if (low > high) throw StateError("write buffer limits: low watermark above high watermark");
    high_water_ = high;
    low_water_ = low;
}

void ProcessImpl::register_producer(Producer& producer, bool streaming) {
    if (producer_ != nullptr) throw StateError("cannot register a producer: another one was never unregistered");
    Pipe* in = open_pipe(0);
    if (in == nullptr || !in->parent_writes || in->closing || ended_) {
        producer.stop_producing();
        return;
    }
    producer_ = &producer;
    streaming_ = streaming;
    producer_paused_ = false;
    if (!streaming && started_) schedule_flush(0);
}

void ProcessImpl::unregister_producer() {
    producer_ = nullptr;
    producer_paused_ = false;
}

template <class F>
void ProcessImpl::call_protocol(const char* what, F&& fn) {
    try {
        std::forward<F>(fn)();
    } catch (const std::exception& e) {
        WEFT_LOG(error) << "[process " << pid_ << " " << name_ << "] " << what << " threw: " << e.what() << "; closing its pipes";
        for (auto& [fd, pipe] : pipes_) close_pipe(fd, "a callback threw");
    } catch (...) {
        WEFT_LOG(error) << "[process " << pid_ << " " << name_ << "] " << what << " threw; closing its pipes";
        for (auto& [fd, pipe] : pipes_) close_pipe(fd, "a callback threw");
    }
}

}  // namespace weft::detail
