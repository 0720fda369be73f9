#pragma once
// ChildPipe: the stream core's backend over the parent's end of one pipe to a child process.

#include <cstddef>
#include <cstdint>
#include <string>

#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>

#include "process/unique_fd.hpp"
#include "weft/address.hpp"
#include "weft/transport.hpp"

namespace weft::detail {

class ReactorCore;

/// One direction of one pipe: a StreamTransport<ChildPipe> per child descriptor, so that each closes on
/// its own (Twisted's ProcessReader / ProcessWriter). A pipe the parent reads is read as any stream and
/// never written. A pipe the parent writes has no input; instead read() reports "end of file" once the
/// child's end is closed (the write end then polls as an error, which also completes a readability wait),
/// so the core ends it even while nothing is written to it: a child that exits without reading its stdin
/// still ends, as in Twisted.
class ChildPipe {
public:
    using Interface = Transport;
    using Descriptor = boost::asio::posix::basic_stream_descriptor<boost::asio::io_context::executor_type>;

    /// Takes `fd` (non-blocking, close-on-exec: the launcher made it so).
    ChildPipe(boost::asio::io_context& io, UniqueFd fd, bool parent_writes, std::string name);
    ChildPipe(ChildPipe&&) noexcept = default;
    ChildPipe& operator=(ChildPipe&&) = delete;
    ~ChildPipe() = default;

    ssize_t read(char* buffer, std::size_t size) noexcept;
    ssize_t write(const ::iovec* iov, std::size_t count) noexcept {
        return ::writev(descriptor_.native_handle(), iov, static_cast<int>(count));
    }
    template <class Handler>
    void wait_readable(Handler&& handler) {
        descriptor_.async_wait(Descriptor::wait_read, std::forward<Handler>(handler));
    }
    template <class Handler>
    void wait_writable(Handler&& handler) {
        descriptor_.async_wait(Descriptor::wait_write, std::forward<Handler>(handler));
    }
    [[nodiscard]] bool wait_after_short_read() const noexcept { return true; }
    /// The child is local: closing its stdin waits for it to read what is queued, as Twisted does (bounded
    /// only by the reactor's shutdown), rather than dropping it after the disconnect timeout.
    static constexpr bool bounded_close = false;
    /// A pipe has no half-close: the write end is closed, so the child reads EOF.
    void shutdown_write() noexcept { close_descriptor(); }
    void close(ReactorCore& core, bool reset, bool linger) noexcept;
    [[nodiscard]] Address peer() const { return {name_, 0}; }
    [[nodiscard]] Address host() const { return {name_, 0}; }
    /// "process 4711 /bin/cat fd 1 7"
    [[nodiscard]] std::string describe(std::uint64_t id) const { return name_ + " " + std::to_string(id); }

private:
    void close_descriptor() noexcept;

    Descriptor descriptor_;
    bool parent_writes_;
    std::string name_;
};

}  // namespace weft::detail
