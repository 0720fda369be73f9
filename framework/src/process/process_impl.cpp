#include "process/process_impl.hpp"

#include <fcntl.h>

#include <system_error>
#include <utility>

#include <boost/asio/post.hpp>

#include "reactor_core.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"

namespace weft::detail {

namespace {

/// The Protocol of one pipe's stream: hands what happens on it to the process.
class PipeProtocol final : public Protocol {
public:
    PipeProtocol(std::shared_ptr<ProcessImpl> process, int child_fd) : process_(std::move(process)), child_fd_(child_fd) {}
    void data_received(std::string_view data) override { process_->pipe_data(child_fd_, data); }
    void connection_lost(const Reason&) override { process_->pipe_lost(child_fd_); }

private:
    std::shared_ptr<ProcessImpl> process_;
    int child_fd_;
};

}  // namespace

ProcessImpl::ProcessImpl(Reactor& reactor, std::unique_ptr<ProcessProtocol> owned, ProcessProtocol* protocol,
                         LaunchedChild child, std::string name)
    : core_(reactor.core()),
      owned_(std::move(owned)),
      protocol_(owned_ ? owned_.get() : protocol),
      child_(std::move(child)),
      name_("process " + std::to_string(child_.pid) + " " + name),
      pid_(child_.pid) {
    reaper_ = std::make_shared<ChildReaper>(core_.io(), child_.pid, std::move(child_.pidfd));
}

ProcessImpl::~ProcessImpl() = default;

// -- life cycle ---------------------------------------------------------------------------------------

void ProcessImpl::start() {
    auto self = shared_from_this();
    core_.add_process(self);
    WEFT_LOG(debug) << "[" << name_ << "] started with " << child_.pipes.size() << " pipes";
    // Posted before the streams start: their first reads are posted too, so connection_made comes first.
    boost::asio::post(core_.io(), [self] {
        if (self->ended_) return;
        self->call_protocol("connection_made", [&] { self->protocol_->make_connection(*self); });
        self->reaper_->start([weak = std::weak_ptr<ProcessImpl>(self)](ProcessStatus status) {
            if (auto me = weak.lock()) me->exited(status);
        });
    });
    for (auto& [fd, end] : child_.pipes) {
        // The launcher gave the parent the write end of a pipe to the child.
        const bool parent_writes = (::fcntl(end.get(), F_GETFL) & O_ACCMODE) == O_WRONLY;
        auto stream = std::make_shared<PipeTransport>(
            core_, ChildPipe(core_.io(), std::move(end), parent_writes, name_ + " fd " + std::to_string(fd)),
            std::make_unique<PipeProtocol>(self, fd));
        pipes_[fd] = Pipe{stream, parent_writes, false};
        // Not read_now: the first read is posted, behind connection_made. A pipe the parent writes is
        // "read" too: that first look, then a readability wait, notices the child closing its end.
        stream->start(nullptr, false);
    }
    child_.pipes.clear();
}

void ProcessImpl::detach() noexcept {
    ended_ = true;
    for (auto& [fd, pipe] : pipes_) pipe.stream->detach();  // closes it; its PipeProtocol lets go of us
    protocol_ = nullptr;
    owned_.reset();
    reaper_.reset();  // closes the pidfd; the child is left running (ChildReaper)
}

// -- the pipes ----------------------------------------------------------------------------------------

ProcessImpl::PipeTransport* ProcessImpl::writer(int child_fd) const noexcept {
    auto it = pipes_.find(child_fd);
    return it != pipes_.end() && it->second.parent_writes ? it->second.stream.get() : nullptr;
}

void ProcessImpl::write(std::string_view data) {
    if (auto* w = writer(0)) w->write(data);
}

void ProcessImpl::write_sequence(std::span<const std::string_view> pieces) {
    if (auto* w = writer(0)) w->write_sequence(pieces);
}

void ProcessImpl::write_to_child(int child_fd, std::string_view data) {
    auto* w = writer(child_fd);
    if (w == nullptr) {
        throw StateError("write_to_child: child descriptor " + std::to_string(child_fd) +
                         " is not a pipe the parent writes");
    }
    w->write(data);
}

void ProcessImpl::close_child_fd(int child_fd) {
    // A pipe the parent writes is flushed first (bounded by the reactor's disconnect timeout).
    if (auto it = pipes_.find(child_fd); it != pipes_.end()) it->second.stream->lose_connection();
}

void ProcessImpl::lose_connection() {
    for (auto& [fd, pipe] : pipes_) pipe.stream->lose_connection();
}

void ProcessImpl::abort_pipes() noexcept {
    for (auto& [fd, pipe] : pipes_) pipe.stream->abort_connection();
}

void ProcessImpl::pipe_data(int child_fd, std::string_view data) {
    if (ended_) return;
    call_protocol("child_data_received", [&] { protocol_->child_data_received(child_fd, data); });
}

void ProcessImpl::pipe_lost(int child_fd) {
    auto it = pipes_.find(child_fd);
    if (ended_ || it == pipes_.end() || it->second.lost) return;
    it->second.lost = true;
    call_protocol("child_connection_lost", [&] { protocol_->child_connection_lost(child_fd); });
    maybe_end();
}

void ProcessImpl::exited(ProcessStatus status) {
    if (ended_) return;
    WEFT_LOG(debug) << "[" << name_ << "] exited: " << status.to_string();
    exited_delivered_ = true;
    call_protocol("process_exited", [&] { protocol_->process_exited(status); });
    maybe_end();
}

void ProcessImpl::maybe_end() {
    if (ended_ || !exited_delivered_) return;
    for (const auto& [fd, pipe] : pipes_) {
        if (!pipe.lost) return;
    }
    ended_ = true;
    auto self = shared_from_this();  // the registry may hold the last reference
    const ProcessStatus status = *reaper_->status();
    run_guarded("process_ended", [&] { protocol_->process_ended(status); });
    protocol_ = nullptr;
    owned_.reset();  // an owned protocol ends here, even while the caller still holds the transport
    core_.remove_process(self);
}

template <class F>
void ProcessImpl::call_protocol(const char* what, F&& fn) {
    try {
        std::forward<F>(fn)();
        return;
    } catch (const std::exception& e) {
        if (core_.callback_error_log.allow(core_.now())) {
            WEFT_LOG(error) << "[" << name_ << "] " << what << " threw: " << e.what() << "; closing its pipes"
                            << LogRateLimiter::note(core_.callback_error_log);
        }
    } catch (...) {
        if (core_.callback_error_log.allow(core_.now())) {
            WEFT_LOG(error) << "[" << name_ << "] " << what << " threw a non-std exception; closing its pipes"
                            << LogRateLimiter::note(core_.callback_error_log);
        }
    }
    abort_pipes();
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

std::optional<ProcessStatus> ProcessImpl::status() const noexcept {
    return reaper_ ? reaper_->status() : std::nullopt;
}

std::size_t ProcessImpl::buffered_bytes() const noexcept {
    std::size_t total = 0;
    for (const auto& [fd, pipe] : pipes_) total += pipe.stream->buffered_bytes();
    return total;
}

void ProcessImpl::set_write_buffer_limits(std::size_t high, std::size_t low) {
    if (low > high) throw StateError("write buffer limits: low watermark above high watermark");
    for (auto& [fd, pipe] : pipes_) {
        if (pipe.parent_writes) pipe.stream->set_write_buffer_limits(high, low);
    }
}

void ProcessImpl::register_producer(Producer& producer, bool streaming) {
    auto* in = writer(0);
    if (in == nullptr) {
        producer.stop_producing();  // no stdin to feed, as on a closed transport
        return;
    }
    in->register_producer(producer, streaming);
}

void ProcessImpl::unregister_producer() {
    if (auto* in = writer(0)) in->unregister_producer();
}

void ProcessImpl::pause_producing() {
    for (auto& [fd, pipe] : pipes_) {
        if (!pipe.parent_writes) pipe.stream->pause_producing();
    }
}

void ProcessImpl::resume_producing() {
    for (auto& [fd, pipe] : pipes_) {
        if (!pipe.parent_writes) pipe.stream->resume_producing();
    }
}

}  // namespace weft::detail
