#pragma once
// Every weft program ignores SIGPIPE for the process, as nginx, HAProxy and Python do: a write to a pipe or
// socket whose reader has gone (a log shipper that restarted, `2>&1 | head`, a stdio peer) then fails with
// EPIPE, which the writer handles, instead of killing the process before it can tell its clients anything.
// Sockets never needed it (weft sends with MSG_NOSIGNAL); stderr and standard_io's pipes do.

#include <csignal>

namespace weft::detail {

/// Sets SIGPIPE to SIG_IGN once per process (a program that installed its own handler keeps it).
inline void ignore_sigpipe_once() noexcept {
    static const bool done = [] {
        struct sigaction old {};
        if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) std::signal(SIGPIPE, SIG_IGN);
        return true;
    }();
    (void)done;
}

}  // namespace weft::detail
