#include "unix/unix_port.hpp"

#include <fcntl.h>
#include <sys/un.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>

#include "reactor_core.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"

namespace weft::detail {

namespace {

std::error_code os_error(int err) { return {err, std::system_category()}; }

/// The pid a lock file holds (its text), or 0.
pid_t read_pid(int fd) {
    char text[32] = {};
    const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    pid_t pid = 0;
    if (n > 0) std::from_chars(text, text + n, pid);
    return pid;
}

/// The whole-file OFD lock of `type` (F_WRLCK, F_RDLCK, F_UNLCK) for fcntl.
struct flock whole_file(short type) {
    struct flock l {};
    l.l_type = type;
    l.l_whence = SEEK_SET;
    return l;
}

/// Takes `lock_file` exclusively (an open-file-description lock: released by the kernel when its holder
/// dies however it dies, so a crash leaves no stale lock; and a client's check_pid can test it with
/// F_OFD_GETLK without taking it) and writes our pid into it. Throws BindError naming the live holder.
int take_lock(const std::string& lock_file, const std::string& where) {
    // A holder that stops unlinks the file while holding it: our open may have found that inode, whose
    // lock means nothing any more. Then the path names another file (or none): try again.
    for (int attempt = 0; attempt < 8; ++attempt) {
        // O_NOFOLLOW, and only our own regular file: a planted symlink must not make us truncate its target.
        const int fd = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) throw BindError(where + " (lock file " + lock_file + ")", os_error(errno));
        struct stat held {};
        if (::fstat(fd, &held) != 0 || !S_ISREG(held.st_mode) || held.st_uid != ::geteuid()) {
            ::close(fd);
            throw BindError(where + " (lock file " + lock_file + " is not a regular file of ours)", os_error(EPERM));
        }
        struct flock lock = whole_file(F_WRLCK);
        if (::fcntl(fd, F_OFD_SETLK, &lock) != 0) {
            const int err = errno;
            const pid_t holder = read_pid(fd);
            ::close(fd);
            if (err == EAGAIN || err == EACCES) {
                throw BindError(where + " (served by live process " + std::to_string(holder) + ", which holds " +
                                    lock_file + ")",
                                os_error(EADDRINUSE));
            }
            throw BindError(where + " (lock file " + lock_file + ")", os_error(err));
        }
        struct stat named {};
        if (::stat(lock_file.c_str(), &named) == 0 && held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
            const std::string pid = std::to_string(::getpid()) + "\n";
            if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
                WEFT_LOG(warning) << "could not write our pid into " << lock_file;
            }
            return fd;
        }
        ::close(fd);
    }
    throw BindError(where + " (lock file " + lock_file + " keeps changing)", os_error(EAGAIN));
}

/// With the lock held, a socket file left at `path` belongs to a process that is gone, unless a server that
/// takes no lock listens there: a connection attempt tells (refused: nobody listens). Only then is it
/// removed; anything that is not a socket never is.
void remove_stale_socket(const std::string& path, const std::string& where) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return;
    if (!S_ISSOCK(st.st_mode)) throw BindError(where + " (the path exists and is not a socket)", os_error(EEXIST));
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe >= 0) {
        ::sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::memcpy(sa.sun_path, path.data(), path.size());
        const int rc = ::connect(probe, reinterpret_cast<const ::sockaddr*>(&sa), sizeof sa);
        const int err = errno;
        ::close(probe);
        if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
            throw BindError(where + " (a server that holds no lock is listening there)", os_error(EADDRINUSE));
        }
    }
    WEFT_LOG(info) << "removing the stale socket file " << path << " (its server is gone)";
    ::unlink(path.c_str());
}

}  // namespace

UnixPortKind::UnixPortKind(UnixPortKind&& other) noexcept
    : socket_file(std::exchange(other.socket_file, {})),
      lock_file(std::exchange(other.lock_file, {})),
      lock_fd(std::exchange(other.lock_fd, -1)) {}

UnixPortKind::~UnixPortKind() {
    if (lock_fd >= 0) {
        ::unlink(lock_file.c_str());  // ours while we hold it (a listen that failed after taking it)
        ::close(lock_fd);
    }
}

std::optional<Address> UnixPortKind::peer_of(Socket& socket) {
    boost::system::error_code ec;
    const auto ep = socket.remote_endpoint(ec);
    if (ec) return std::nullopt;
    return unix_address(ep);
}

void UnixPortKind::start_connection(ReactorCore& core, Socket&& socket, const Address& peer,
                                    std::unique_ptr<Protocol> protocol) {
    std::make_shared<UnixConnection>(core, std::move(socket), peer, std::move(protocol))->start();
}

void UnixPortKind::stopped() noexcept {
    if (!socket_file.empty()) ::unlink(std::exchange(socket_file, {}).c_str());
    if (lock_fd >= 0) {
        ::unlink(lock_file.c_str());  // while still holding it: see take_lock
        ::close(std::exchange(lock_fd, -1));
    }
}

std::shared_ptr<UnixPort> listen_unix(ReactorCore& core, const std::string& path, Factory& factory,
                                      const UnixListenOptions& options) {
    std::string where = Address::unix_socket(path).to_string();
    for (std::size_t at = where.find('\0'); at != std::string::npos; at = where.find('\0', at)) where.replace(at, 1, "\\0");
    if (const std::string why = unix_path_error(path); !why.empty()) {
        throw BindError(where + " (" + why + ")", os_error(EINVAL));
    }
    if (options.mode > 07777) throw BindError(where + " (mode above 07777)", os_error(EINVAL));
    const bool abstract = path.front() == '@';
    UnixPortKind kind;
    if (!abstract && options.lock) {
        kind.lock_file = path + ".lock";
        kind.lock_fd = take_lock(kind.lock_file, where);
        remove_stale_socket(path, where);  // on failure, ~UnixPortKind lets the lock go
    }
    auto p = std::make_shared<UnixPort>(core, factory, std::move(kind));
    p->use_tls(options.tls);
    auto& acceptor = p->acceptor();
    boost::system::error_code ec;
    acceptor.open(boost::asio::local::stream_protocol(), ec);
    if (!ec) acceptor.bind(unix_endpoint(path), ec);
    if (!ec && !abstract) {
        p->kind().socket_file = path;  // ours now: removed when the port stops
        // Before listen(): until then nobody can connect, so no one slips in under the default mode.
        if (::chmod(path.c_str(), static_cast<mode_t>(options.mode)) != 0) ec.assign(errno, boost::system::system_category());
    }
    if (!ec) acceptor.listen(options.backlog, ec);
    if (ec) {
        boost::system::error_code ignored;
        acceptor.close(ignored);
        p->kind().stopped();
        throw BindError(where, ec);
    }
    p->start(Address::unix_socket(path));
    return p;
}

std::shared_ptr<UnixPort> adopt_unix_port(ReactorCore& core, int fd, Factory& factory) {
    const std::string what = "inherited descriptor " + std::to_string(fd);
    check_listening_socket(fd, AF_UNIX, what);
    auto p = std::make_shared<UnixPort>(core, factory, UnixPortKind{});
    boost::system::error_code ec;
    p->acceptor().assign(boost::asio::local::stream_protocol(), fd, ec);
    if (ec) throw BindError(what, ec);
    const auto ep = p->acceptor().local_endpoint(ec);
    p->start(ec ? Address::unix_socket("") : unix_address(ep));
    return p;
}

std::optional<pid_t> unix_lock_holder(const std::string& path) {
    const std::string lock_file = path + ".lock";
    const int fd = ::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    // F_OFD_GETLK only asks: a server taking its lock at this moment is not disturbed by the question.
    struct flock probe = whole_file(F_RDLCK);
    std::optional<pid_t> holder;
    if (::fcntl(fd, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK) holder = read_pid(fd);
    ::close(fd);
    return holder;
}

}  // namespace weft::detail
