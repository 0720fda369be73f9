#pragma once
// PipeStream: the stream core's backend over two descriptors, one read and one written (stdin/stdout,
// a pair of pipes, a terminal, regular files).

#include <cstddef>
#include <cstdint>
#include <string>

#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>

#include "weft/address.hpp"
#include "weft/transport.hpp"

namespace weft::detail {

class ReactorCore;

/// Owns both descriptors: they are made non-blocking while in use and their file status flags restored
/// when they are closed. Descriptors 0-2 are not left free but pointed at /dev/null, so a later socket can
/// never become "stdout". Unlike a socket, a pipe's lose_connection has no disconnect timeout (see
/// bounded_close). On a terminal, input and output are one open file sharing its flags: closing
/// the output leaves them as they are (non-blocking) until the input closes too. A regular file (or
/// /dev/null) is never waited on: epoll refuses it, and its reads and writes never block.
class PipeStream {
public:
    using Interface = Transport;
    using Descriptor = boost::asio::posix::basic_stream_descriptor<boost::asio::io_context::executor_type>;

    /// Takes ownership of both; throws weft::Error for a descriptor that is not open.
    PipeStream(boost::asio::io_context& io, int in_fd, int out_fd, std::string name);
    PipeStream(PipeStream&&) noexcept = default;
    PipeStream& operator=(PipeStream&&) = delete;
    ~PipeStream();

    ssize_t read(char* buffer, std::size_t size) noexcept { return ::read(in_.native_handle(), buffer, size); }
    ssize_t write(const ::iovec* iov, std::size_t count) noexcept {
        return ::writev(out_.native_handle(), iov, static_cast<int>(count));
    }
    template <class Handler>
    void wait_readable(Handler&& handler) {
        in_.async_wait(Descriptor::wait_read, std::forward<Handler>(handler));
    }
    template <class Handler>
    void wait_writable(Handler&& handler) {
        out_.async_wait(Descriptor::wait_write, std::forward<Handler>(handler));
    }
    /// A short read from a pipe means it is empty; from a terminal it is one line of several that may be
    /// waiting (canonical mode), and the edge-triggered wait would not fire for the rest.
    [[nodiscard]] bool wait_after_short_read() const noexcept { return in_pollable_ && !in_tty_; }
    /// The reader of our output is local (a pager, the next program of a pipeline): lose_connection waits
    /// for it as long as it takes, as Twisted does; the reactor's shutdown timeout still bounds it.
    static constexpr bool bounded_close = false;
    /// Closes the output, so its reader sees EOF.
    void shutdown_write() noexcept;
    /// Closes both (there is no reset or lingering close on a pipe).
    void close(ReactorCore& core, bool reset, bool linger) noexcept;
    [[nodiscard]] Address peer() const { return {name_, 0}; }
    [[nodiscard]] Address host() const { return {name_, 0}; }
    [[nodiscard]] std::string describe(std::uint64_t id) const { return name_ + " " + std::to_string(id); }

private:
    void close_input() noexcept;

    Descriptor in_;
    Descriptor out_;
    int in_flags_ = 0;
    int out_flags_ = 0;
    bool in_pollable_ = true;
    bool in_tty_ = false;
    std::string name_;
};

}  // namespace weft::detail
