#pragma once
// systemd socket activation (sd_listen_fds(3)): which listening sockets systemd passed to this process.

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "weft/endpoint.hpp"
#include "weft/error.hpp"

namespace weft {

/// Malformed LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES, or a systemd endpoint naming a descriptor that was
/// not passed. The message names the variable and its value.
class SystemdError : public Error {
public:
    using Error::Error;
};

/// The first descriptor systemd passes (SD_LISTEN_FDS_START); the others follow without gaps.
inline constexpr int systemd_listen_fds_start = 3;
/// The most descriptors weft takes from LISTEN_FDS (the kernel's default fs.nr_open); more is an error,
/// so a bad value cannot make a list of billions.
inline constexpr int systemd_max_listen_fds = 1 << 20;

/// One passed descriptor and its FileDescriptorName= ("unknown" without LISTEN_FDNAMES, as systemd says).
struct SystemdFd {
    int fd = -1;       ///< the descriptor number (3, 4, ...); -1 in a default-constructed value
    std::string name;  ///< its FileDescriptorName=, or "unknown"
    /// The same descriptor and name.
    friend bool operator==(const SystemdFd&, const SystemdFd&) = default;
};

/// Looks up an environment variable: nullopt when it is not set.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;

/// The descriptors passed to process `pid`, as sd_listen_fds(3) finds them: none unless LISTEN_PID is set
/// and equals `pid` (they were meant for another process, e.g. our parent) and LISTEN_FDS is set; then
/// LISTEN_FDS descriptors from fd 3 on. Throws SystemdError for a LISTEN_PID or LISTEN_FDS that is not a
/// positive decimal number (or LISTEN_FDS over systemd_max_listen_fds). Reads nothing but `lookup`; it does
/// not check that the descriptors are open or set FD_CLOEXEC on them, and leaves the environment alone.
[[nodiscard]] std::vector<int> systemd_listen_fds(const EnvironmentLookup& lookup, pid_t pid);
/// The same with getenv() and getpid().
[[nodiscard]] std::vector<int> systemd_listen_fds();

/// As systemd_listen_fds, each with its name from LISTEN_FDNAMES (':'-separated; sd_listen_fds_with_names(3)):
/// a LISTEN_FDNAMES with another number of names than LISTEN_FDS is a SystemdError.
[[nodiscard]] std::vector<SystemdFd> systemd_listen_fds_with_names(const EnvironmentLookup& lookup, pid_t pid);
/// The same with getenv() and getpid().
[[nodiscard]] std::vector<SystemdFd> systemd_listen_fds_with_names();

/// The descriptor a `systemd:` endpoint means among `passed`: by name when it has one (the first of that
/// name), else by index. Throws SystemdError when there is no such descriptor, saying what was passed.
[[nodiscard]] int systemd_select(const SystemdServerEndpoint& endpoint, const std::vector<SystemdFd>& passed);

}  // namespace weft
