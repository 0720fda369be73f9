#include "weft/process_status.hpp"

#include <string.h>  // sigabbrev_np (GNU)

#include <algorithm>
#include <cctype>
#include <csignal>

namespace weft {

std::string ProcessStatus::to_string() const {
    if (signal_ == 0) return "exit code " + std::to_string(code_);
    return "killed by " + signal_name(signal_) + (core_dumped_ ? " (core dumped)" : "");
}

std::string signal_name(int signo) {
    if (const char* abbrev = ::sigabbrev_np(signo)) return std::string("SIG") + abbrev;
    if (signo >= SIGRTMIN && signo <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(signo - SIGRTMIN);
    return "signal " + std::to_string(signo);
}

std::optional<int> signal_number(std::string_view name) {
    std::string upper(name);
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    std::string_view bare = upper;
    if (bare.starts_with("SIG")) bare.remove_prefix(3);
    if (bare.empty()) return std::nullopt;
    for (int s = 1; s < NSIG; ++s) {
        const char* abbrev = ::sigabbrev_np(s);
        if (abbrev != nullptr && bare == abbrev) return s;
    }
    return std::nullopt;
}

}  // namespace weft
