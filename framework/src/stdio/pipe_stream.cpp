#include "stdio/pipe_stream.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <optional>
#include <system_error>

#include "weft/error.hpp"

namespace weft::detail {

namespace {

/// The file status flags to restore when we are done with `fd`.
int file_flags(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) {
        throw Error("bad descriptor " + std::to_string(fd) + ": " + std::error_code(errno, std::generic_category()).message());
    }
    return flags;
}

/// epoll takes pipes, sockets and terminals, not regular files, directories or /dev/null.
bool pollable(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return true;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) return false;
    if (S_ISCHR(st.st_mode)) {
        struct stat null_st {};
        if (::stat("/dev/null", &null_st) == 0 && null_st.st_rdev == st.st_rdev) return false;
    }
    return true;
}

bool same_file(int a, int b) noexcept {
    struct stat sa {};
    struct stat sb {};
    return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/// Restores the descriptor's flags (if given) and closes it; 0-2 are pointed at /dev/null instead.
void close_descriptor(PipeStream::Descriptor& d, std::optional<int> flags) noexcept {
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

}  // namespace

PipeStream::PipeStream(boost::asio::io_context& io, int in_fd, int out_fd, std::string name)
    : in_(io), out_(io), name_(std::move(name)) {
    // Read both before changing either: on a terminal, stdin and stdout are one open file whose flags
    // they share, and the second read would see the first one's O_NONBLOCK.
    in_flags_ = file_flags(in_fd);
    out_flags_ = file_flags(out_fd);
    in_pollable_ = pollable(in_fd);
    in_tty_ = ::isatty(in_fd) == 1;
    in_.assign(in_fd);
    out_.assign(out_fd);
    boost::system::error_code ec;
    in_.non_blocking(true, ec);
    out_.non_blocking(true, ec);
}

PipeStream::~PipeStream() {
    close_descriptor(in_, in_flags_);
    close_descriptor(out_, out_flags_);
}

void PipeStream::shutdown_write() noexcept {
    // Input and output on one file (a terminal) share O_NONBLOCK: making the output blocking again would
    // make our reads block the loop. The input restores the flags when it closes.
    const bool shared = in_.is_open() && out_.is_open() && same_file(in_.native_handle(), out_.native_handle());
    close_descriptor(out_, shared ? std::nullopt : std::optional<int>(out_flags_));
}

void PipeStream::close(ReactorCore&, bool, bool) noexcept {
    close_descriptor(in_, in_flags_);
    close_descriptor(out_, out_flags_);
}

}  // namespace weft::detail
