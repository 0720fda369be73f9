#pragma once
// ProcessStatus: how a child process ended (Twisted: ProcessDone / ProcessTerminated).

#include <optional>
#include <string>
#include <string_view>

namespace weft {

/// How a child process ended: it exited with a code, or a signal killed it (and maybe dumped core).
/// `done()` is Twisted's ProcessDone (exit code 0); anything else is ProcessTerminated.
class ProcessStatus {
public:
    /// The process called exit(code) (code 0..255).
    static ProcessStatus exited(int code) noexcept { return ProcessStatus(code, 0, false); }
    /// Signal `signo` killed the process.
    static ProcessStatus killed(int signo, bool core_dumped = false) noexcept {
        return ProcessStatus(0, signo, core_dumped);
    }

    /// Exited with code 0 (Twisted: ProcessDone).
    [[nodiscard]] bool done() const noexcept { return signal_ == 0 && code_ == 0; }
    /// The exit code, or nullopt if a signal killed it (Twisted: ProcessTerminated.exitCode).
    [[nodiscard]] std::optional<int> exit_code() const noexcept {
        return signal_ == 0 ? std::optional<int>(code_) : std::nullopt;
    }
    /// The signal that killed it, or nullopt if it exited (Twisted: ProcessTerminated.signal).
    [[nodiscard]] std::optional<int> signal() const noexcept {
        return signal_ != 0 ? std::optional<int>(signal_) : std::nullopt;
    }
    /// True when a signal killed it and the kernel reported a core dump; false for an exit.
    [[nodiscard]] bool core_dumped() const noexcept { return core_dumped_; }

    /// "exit code 3", "killed by SIGKILL", "killed by SIGSEGV (core dumped)".
    [[nodiscard]] std::string to_string() const;

    /// The same exit code, or the same signal and core dump flag.
    friend bool operator==(const ProcessStatus&, const ProcessStatus&) = default;

private:
    ProcessStatus(int code, int signo, bool core) noexcept : code_(code), signal_(signo), core_dumped_(core) {}
    int code_;
    int signal_;
    bool core_dumped_;
};

/// "SIGTERM" for 15, "SIGRTMIN+2" or "signal 40" where the system has no abbreviation.
[[nodiscard]] std::string signal_name(int signo);
/// The number of a signal named "TERM", "SIGTERM" or "term" (Twisted's signalProcess takes "KILL",
/// "TERM", "INT"), or nullopt for a name the system does not know.
[[nodiscard]] std::optional<int> signal_number(std::string_view name);

}  // namespace weft
