#include "weft/systemd.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace weft {
namespace {

std::string shown(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < 40; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
    }
    if (s.size() > 40) out += "...";
    return out;
}

// A positive decimal number at most `max`, as systemd's parse_pid / safe_atoi take them (no sign, no
// spaces here: systemd writes these variables itself).
long long positive(const std::string& name, const std::string& value, long long max) {
    long long n = 0;
    bool ok = !value.empty() && value.size() <= 19;
    for (const char c : value) {
        if (c < '0' || c > '9') {
            ok = false;
            break;
        }
        if (n <= max) n = n * 10 + (c - '0');
    }
    if (!ok || n <= 0 || n > max) {
        throw SystemdError(name + "=\"" + shown(value) + "\" is not a number from 1 to " + std::to_string(max));
    }
    return n;
}

std::optional<std::string> from_environment(const std::string& name) {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
}

}  // namespace

std::vector<int> systemd_listen_fds(const EnvironmentLookup& lookup, pid_t pid) {
    const auto listen_pid = lookup("LISTEN_PID");
    if (!listen_pid) return {};
    // pid_t is an int on Linux.
    if (positive("LISTEN_PID", *listen_pid, 2147483647) != pid) return {};
    const auto listen_fds = lookup("LISTEN_FDS");
    if (!listen_fds) return {};
    const auto n = static_cast<int>(positive("LISTEN_FDS", *listen_fds, systemd_max_listen_fds));
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
