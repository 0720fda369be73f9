#include "weft/systemd_notifier.hpp"

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "systemd_environment.hpp"
#include "weft/log.hpp"
#include "weft/looping_call.hpp"

namespace weft {
using detail::from_environment;

namespace {

/// A closed-on-exit descriptor.
struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

bool systemd_notify(std::string_view state, const EnvironmentLookup& lookup) {
    const auto path = lookup("NOTIFY_SOCKET");
    if (!path || path->empty()) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if ((*path)[0] != '/' && (*path)[0] != '@') {
        throw SystemdError("NOTIFY_SOCKET=\"" + detail::shown(*path) + "\" is neither an absolute path nor @name");
    }
    if (path->size() >= sizeof(addr.sun_path)) {
        throw SystemdError("NOTIFY_SOCKET is " + std::to_string(path->size()) + " bytes, over the " +
                           std::to_string(sizeof(addr.sun_path) - 1) + " a UNIX socket address holds");
    }
    std::memcpy(addr.sun_path, path->data(), path->size());
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // the abstract namespace
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path->size() +
                                               ((*path)[0] == '@' ? 0 : 1));
    const Fd sock{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (sock.fd < 0) {
        WEFT_LOG(warning) << "systemd notify: cannot make a socket: " << std::strerror(errno);
        return false;
    }
    // Non-blocking: systemd's queue full (EAGAIN) loses this message rather than stalling the loop.
    if (::sendto(sock.fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr),
                 length) < 0) {
        WEFT_LOG(warning) << "systemd notify: cannot send \"" << state.substr(0, 40) << "\" to " << *path << ": "
                          << std::strerror(errno);
        return false;
    }
    return true;
}

bool systemd_notify(std::string_view state) { return systemd_notify(state, from_environment); }

std::optional<Duration> systemd_watchdog_interval(const EnvironmentLookup& lookup, pid_t pid) {
    const auto usec = lookup("WATCHDOG_USEC");
    if (!usec) return std::nullopt;
    // As sd_watchdog_enabled: the watchdog is meant for another process when WATCHDOG_PID names one.
    if (const auto watchdog_pid = lookup("WATCHDOG_PID")) {
        if (detail::systemd_positive("WATCHDOG_PID", *watchdog_pid, 2147483647) != pid) return std::nullopt;
    }
    // Up to a year: a larger value is a mistake, and a Duration of it cannot overflow.
    const long long us = detail::systemd_positive("WATCHDOG_USEC", *usec, 365LL * 24 * 3600 * 1'000'000);
    return std::chrono::duration_cast<Duration>(std::chrono::microseconds(us));
}

SystemdNotifier::SystemdNotifier(ReactorTime& time, EnvironmentLookup lookup, pid_t pid)
    : time_(time), lookup_(std::move(lookup)) {
    const auto path = lookup_("NOTIFY_SOCKET");
    enabled_ = path && !path->empty();
    if (enabled_) {
        if (const auto interval = systemd_watchdog_interval(lookup_, pid)) ping_interval_ = *interval / 2;
    }
}

SystemdNotifier::SystemdNotifier(ReactorTime& time) : SystemdNotifier(time, from_environment, ::getpid()) {}

SystemdNotifier::~SystemdNotifier() = default;

void SystemdNotifier::send(std::string_view state) {
    try {
        systemd_notify(state, lookup_);
    } catch (const SystemdError& e) {
        // A bad NOTIFY_SOCKET must not take the service down: systemd will time it out and say so.
        WEFT_LOG(warning) << "systemd notify: " << e.what();
    }
}

void SystemdNotifier::ready(std::string_view status) {
    if (!enabled_ || ready_ || stopping_) return;
    ready_ = true;
    std::string message = "READY=1";
    if (!status.empty()) message.append("\nSTATUS=").append(status);
    send(message);
    if (ping_interval_) {
        watchdog_ = std::make_unique<LoopingCall>(time_, [this] {
            ++pings_;
            send("WATCHDOG=1");
        });
        watchdog_->start(*ping_interval_, true);
    }
}

void SystemdNotifier::status(std::string_view status) {
    if (!enabled_) return;
    send(std::string("STATUS=").append(status));
}

void SystemdNotifier::stopping() {
    if (!enabled_ || stopping_) return;
    stopping_ = true;
    if (watchdog_ && watchdog_->running()) watchdog_->stop();
    send("STOPPING=1");
}

}  // namespace weft
