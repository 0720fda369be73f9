#pragma once
// ChildReaper: learns that one child exited, and how, through its pidfd: no SIGCHLD handler, no thread,
// no waitpid(-1) that could steal another component's children.

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "process/unique_fd.hpp"
#include "weft/process_status.hpp"

namespace weft::detail {

/// Owns a child's pidfd on an io_context. Once the pidfd is readable (the child has exited),
/// waitid(P_PIDFD, WEXITED | WNOHANG) reaps it and `on_exit` gets its status, on a loop turn of the
/// io_context. Signals go through pidfd_send_signal, so a recycled pid is never hit.
///
/// Destroying the reaper closes the pidfd and cancels the wait; the child is neither killed nor reaped
/// (Twisted leaves its children too): it runs on, and once it exits it stays a zombie until this process
/// ends. Create it with std::make_shared (handlers hold a weak reference); destroy it before its
/// io_context.
class ChildReaper : public std::enable_shared_from_this<ChildReaper> {
public:
    ChildReaper(boost::asio::io_context& io, pid_t pid, UniqueFd pidfd);
    ~ChildReaper();
    ChildReaper(const ChildReaper&) = delete;
    ChildReaper& operator=(const ChildReaper&) = delete;

    /// Starts waiting; `on_exit` runs once, on a later turn, when the child has been reaped. Call once.
    void start(std::function<void(ProcessStatus)> on_exit);

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    /// The status once the child has been reaped.
    [[nodiscard]] const std::optional<ProcessStatus>& status() const noexcept { return status_; }

    /// Sends `signo` to the child (0 only checks that it can be signalled). Throws ProcessExitedAlready
    /// once it has been reaped (or the kernel says it is gone), std::system_error for other failures
    /// (EINVAL: no such signal; EPERM).
    void send_signal(int signo);

private:
    void wait();
    void readable();

    pid_t pid_;
    boost::asio::posix::stream_descriptor pidfd_;
    std::function<void(ProcessStatus)> on_exit_;
    std::optional<ProcessStatus> status_;
};

}  // namespace weft::detail
