#include "process/child_reaper.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <boost/asio/post.hpp>

#include "weft/error.hpp"
#include "weft/log.hpp"

namespace weft::detail {

ChildReaper::ChildReaper(boost::asio::io_context& io, pid_t pid, UniqueFd pidfd)
    : pid_(pid), pidfd_(io, pidfd.release()) {}

ChildReaper::~ChildReaper() {
    if (!status_) WEFT_LOG(debug) << "child " << pid_ << " left running: its reaper was destroyed";
}

void ChildReaper::start(std::function<void(ProcessStatus)> on_exit) {
    on_exit_ = std::move(on_exit);
    // Look first, then wait, in one handler: the pidfd is registered edge-triggered since construction,
    // and an exit the loop saw while no wait was queued would not be reported to a later wait.
    boost::asio::post(pidfd_.get_executor(), [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->readable();
    });
}

void ChildReaper::wait() {
    pidfd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [weak = weak_from_this()](const boost::system::error_code& ec) {
                          if (ec) return;  // cancelled: the reaper is going away
                          if (auto self = weak.lock()) self->readable();
                      });
}

void ChildReaper::readable() {
    siginfo_t info{};
    if (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.native_handle()), &info, WEXITED | WNOHANG) != 0) {
        if (errno == EINTR) return wait();
        // ECHILD: someone else reaped it (a waitpid(-1) elsewhere in the program). Its status is gone.
        WEFT_LOG(error) << "child " << pid_ << ": waitid failed: " << std::generic_category().message(errno)
                        << "; reporting it as killed by SIGKILL";
        status_ = ProcessStatus::killed(SIGKILL);
    } else if (info.si_pid == 0) {
        return wait();  // not exited after all
    } else if (info.si_code == CLD_EXITED) {
        status_ = ProcessStatus::exited(info.si_status);
    } else {
        status_ = ProcessStatus::killed(info.si_status, info.si_code == CLD_DUMPED);
    }
    WEFT_LOG(debug) << "child " << pid_ << " reaped: " << status_->to_string();
    if (auto fn = std::move(on_exit_)) fn(*status_);
}

void ChildReaper::send_signal(int signo) {
    if (status_) throw ProcessExitedAlready();
    if (::syscall(SYS_pidfd_send_signal, pidfd_.native_handle(), signo, nullptr, 0) == 0) return;
    if (errno == ESRCH) throw ProcessExitedAlready();
    throw std::system_error(errno, std::generic_category(), "signal " + std::to_string(signo) + " to child " + std::to_string(pid_));
}

}  // namespace weft::detail
