#pragma once
// systemd's notify protocol (sd_notify(3)): a Type=notify service tells systemd it is ready, what it is
// doing, that it is stopping, and that it is alive (the watchdog). No libsystemd: one datagram per message
// to the socket NOTIFY_SOCKET names.

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "weft/reactor_time.hpp"
#include "weft/systemd.hpp"
#include "weft/time.hpp"

namespace weft {

class LoopingCall;

/// Sends `state` ("READY=1", "STATUS=...", newline-separated assignments) to the socket NOTIFY_SOCKET
/// names (an absolute path, or "@name" in the abstract namespace), as sd_notify(3) does. Never blocks: a
/// full socket or an unreachable one drops the message. Returns true when it was sent; false when
/// NOTIFY_SOCKET is not set (not run by systemd) or the send failed (logged at warning level, with the
/// reason). A NOTIFY_SOCKET that is neither an absolute path nor "@name", or too long, is a SystemdError.
bool systemd_notify(std::string_view state, const EnvironmentLookup& lookup);
/// The same with getenv().
bool systemd_notify(std::string_view state);

/// How often systemd wants WATCHDOG=1, as sd_watchdog_enabled(3) finds it: WATCHDOG_USEC, when
/// WATCHDOG_PID is unset or equals `pid`; nullopt when the unit has no WatchdogSec=. A malformed value is a
/// SystemdError naming it.
[[nodiscard]] std::optional<Duration> systemd_watchdog_interval(const EnvironmentLookup& lookup, pid_t pid);

/// A service's side of the notify protocol (systemd.service(5), Type=notify). ready() sends READY=1 (and a
/// STATUS= line when given) and, if the unit has WatchdogSec=, starts sending WATCHDOG=1 every half of it on
/// `time`'s loop, so a loop that hangs stops the pings and systemd restarts the service; stopping() sends
/// STOPPING=1 and stops the pings. Each message is sent at most once per state (ready() twice sends once).
/// Contract: without NOTIFY_SOCKET every call does nothing (enabled() is false), so a program calls these
/// unconditionally. Lives on the loop's thread; destroying it stops the pings.
class SystemdNotifier {
public:
    /// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID through `lookup` now (for the process `pid`).
    /// Throws SystemdError for a malformed WATCHDOG_USEC or WATCHDOG_PID.
    SystemdNotifier(ReactorTime& time, EnvironmentLookup lookup, pid_t pid);
    /// The same with getenv() and getpid().
    explicit SystemdNotifier(ReactorTime& time);
    ~SystemdNotifier();
    SystemdNotifier(const SystemdNotifier&) = delete;
    SystemdNotifier& operator=(const SystemdNotifier&) = delete;

    /// READY=1 (with STATUS=`status` when not empty), then the watchdog pings if the unit asks for them.
    void ready(std::string_view status = {});
    /// STATUS=`status`: free text systemctl status shows.
    void status(std::string_view status);
    /// STOPPING=1; the watchdog pings stop.
    void stopping();

    /// True when NOTIFY_SOCKET is set: messages go somewhere.
    [[nodiscard]] bool enabled() const noexcept { return enabled_; }
    /// The interval of the WATCHDOG=1 pings once ready (half of WATCHDOG_USEC); nullopt without a watchdog.
    [[nodiscard]] std::optional<Duration> watchdog_interval() const noexcept { return ping_interval_; }
    /// WATCHDOG=1 messages sent so far.
    [[nodiscard]] std::size_t watchdog_pings() const noexcept { return pings_; }

private:
    void send(std::string_view state);

    ReactorTime& time_;
    EnvironmentLookup lookup_;
    bool enabled_ = false;
    bool ready_ = false;
    bool stopping_ = false;
    std::optional<Duration> ping_interval_;
    std::size_t pings_ = 0;
    std::unique_ptr<LoopingCall> watchdog_;
};

}  // namespace weft
