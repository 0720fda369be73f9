#include "weft/systemd.hpp"

#include <unistd.h>

#include <string_view>

#include "systemd_environment.hpp"

namespace weft {

using detail::from_environment;
using detail::shown;

std::vector<int> systemd_listen_fds(const EnvironmentLookup& lookup, pid_t pid) {
    const auto listen_pid = lookup("LISTEN_PID");
    if (!listen_pid) return {};
    // pid_t is an int on Linux.
    if (detail::systemd_positive("LISTEN_PID", *listen_pid, 2147483647) != pid) return {};
    const auto listen_fds = lookup("LISTEN_FDS");
    if (!listen_fds) return {};
    const auto n = static_cast<int>(detail::systemd_positive("LISTEN_FDS", *listen_fds, systemd_max_listen_fds));
    std::vector<int> fds(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) fds[static_cast<std::size_t>(i)] = systemd_listen_fds_start + i;
    return fds;
}

std::vector<int> systemd_listen_fds() { return systemd_listen_fds(from_environment, getpid()); }

std::vector<SystemdFd> systemd_listen_fds_with_names(const EnvironmentLookup& lookup, pid_t pid) {
    const std::vector<int> fds = systemd_listen_fds(lookup, pid);
    std::vector<SystemdFd> out;
    if (fds.empty()) return out;
    std::vector<std::string> names;
    if (const auto value = lookup("LISTEN_FDNAMES")) {
        // Empty names are kept (systemd does not coalesce separators), so "a::b" is three names.
        std::string_view rest = *value;
        for (;;) {
            const std::size_t colon = rest.find(':');
            names.emplace_back(rest.substr(0, colon));
            if (colon == std::string_view::npos) break;
            rest.remove_prefix(colon + 1);
            if (names.size() > fds.size()) break;
        }
        if (names.size() != fds.size()) {
            throw SystemdError("LISTEN_FDNAMES=\"" + shown(*value) + "\" does not name the " +
                               std::to_string(fds.size()) + " descriptors of LISTEN_FDS");
        }
    }
    out.reserve(fds.size());
    for (std::size_t i = 0; i < fds.size(); ++i) out.push_back({fds[i], names.empty() ? "unknown" : names[i]});
    return out;
}

std::vector<SystemdFd> systemd_listen_fds_with_names() {
    return systemd_listen_fds_with_names(from_environment, getpid());
}

int systemd_select(const SystemdServerEndpoint& endpoint, const std::vector<SystemdFd>& passed) {
    if (!endpoint.name.empty()) {
        for (const SystemdFd& fd : passed) {
            if (fd.name == endpoint.name) return fd.fd;
        }
        std::string names;
        for (const SystemdFd& fd : passed) names += (names.empty() ? "" : ", ") + fd.name;
        throw SystemdError("systemd endpoint " + to_string(ServerEndpoint(endpoint)) + ": no passed descriptor is named \"" +
                           shown(endpoint.name) + "\" (passed: " + (names.empty() ? "none" : names) + ")");
    }
    if (endpoint.index < 0 || static_cast<std::size_t>(endpoint.index) >= passed.size()) {
        throw SystemdError("systemd endpoint " + to_string(ServerEndpoint(endpoint)) + ": index " +
                           std::to_string(endpoint.index) + " but systemd passed " + std::to_string(passed.size()) +
                           " descriptor(s) (LISTEN_FDS, for this process's LISTEN_PID)");
    }
    return passed[static_cast<std::size_t>(endpoint.index)].fd;
}

}  // namespace weft
