#include "process/child_pipe.hpp"

#include <poll.h>

#include <cerrno>

namespace weft::detail {

ChildPipe::ChildPipe(boost::asio::io_context& io, UniqueFd fd, bool parent_writes, std::string name)
    : descriptor_(io, fd.release()), parent_writes_(parent_writes), name_(std::move(name)) {}

ssize_t ChildPipe::read(char* buffer, std::size_t size) noexcept {
    if (!parent_writes_) return ::read(descriptor_.native_handle(), buffer, size);
    // The write end: POLLERR (always reported, whatever `events`) once the child's end is closed.
    pollfd p{descriptor_.native_handle(), 0, 0};
    if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)) != 0) return 0;
    errno = EAGAIN;
    return -1;
}

void ChildPipe::close(ReactorCore&, bool, bool) noexcept { close_descriptor(); }

void ChildPipe::close_descriptor() noexcept {
    boost::system::error_code ignored;
    descriptor_.close(ignored);  // deregisters from the reactor, cancelling waits
}

}  // namespace weft::detail
