#pragma once
// ChildProcess: runs one of our binaries for an end-to-end test, with every wait bounded. The one place
// the tests start processes: the app tests, the chat process tests and the fault and load tests.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace weft_test {

/// How the child is set up before exec.
struct ChildOptions {
    int stdin_fd = -1;   ///< becomes the child's stdin; -1: inherit ours
    int stdout_fd = -1;  ///< becomes the child's stdout; -1: a pipe that read_line() reads
    int stderr_fd = -1;  ///< becomes the child's stderr; -1: inherit ours
    std::optional<rlim_t> nofile;  ///< RLIMIT_NOFILE (soft and hard) for the child
    std::vector<std::string> env{};  ///< "NAME=value" added to (or replacing in) the inherited environment
    /// Plays systemd's socket activation: this descriptor becomes the child's fd 3, with LISTEN_FDS=1 and
    /// LISTEN_PID set to the child's own pid (known only after fork, so written there).
    int systemd_listen_fd = -1;
};

/// A child process. It gets only stdin, stdout and stderr (a descriptor inherited from ctest or a shell
/// would count in its /proc figures and could sit above a lowered limit), and dies with the test process.
/// The destructor kills and reaps it if it is still running.
class ChildProcess {
public:
    explicit ChildProcess(std::vector<std::string> argv, ChildOptions options = {}) {
        int out[2] = {-1, -1};
        if (options.stdout_fd < 0 && pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        const int child_stdout = options.stdout_fd >= 0 ? options.stdout_fd : out[1];
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        // The child's environment, made before fork (after it only async-signal-safe calls are allowed).
        std::vector<std::string> env_strings;
        for (char** e = environ; *e != nullptr; ++e) {
            const std::string entry(*e);
            const std::string name = entry.substr(0, entry.find('=') + 1);
            bool replaced = false;
            for (const auto& add : options.env) replaced = replaced || add.rfind(name, 0) == 0;
            if (options.systemd_listen_fd >= 0 && (name == "LISTEN_PID=" || name == "LISTEN_FDS=")) replaced = true;
            if (!replaced) env_strings.push_back(entry);
        }
        for (const auto& add : options.env) env_strings.push_back(add);
        std::size_t listen_pid_index = 0;
        if (options.systemd_listen_fd >= 0) {
            env_strings.emplace_back("LISTEN_FDS=1");
            listen_pid_index = env_strings.size();
            env_strings.emplace_back("LISTEN_PID=" + std::string(20, '\0'));
        }
        std::vector<char*> envp;
        for (auto& e : env_strings) envp.push_back(e.data());
        envp.push_back(nullptr);
        char* listen_pid_digits = options.systemd_listen_fd >= 0 ? envp[listen_pid_index] + 11 : nullptr;
        pid_ = fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {  // only async-signal-safe calls from here to exec
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            // The child starts with every signal at its default action and none blocked, whatever the test
            // process (weft ignores SIGPIPE there) or its runner (nohup, a background job) set: an ignored
            // signal stays ignored across exec and would hide what the child does itself.
            for (int s = 1; s < NSIG; ++s) {
                if (s != SIGKILL && s != SIGSTOP) ::signal(s, SIG_DFL);
            }
            sigset_t none;
            sigemptyset(&none);
            sigprocmask(SIG_SETMASK, &none, nullptr);
            if (options.stdin_fd >= 0) dup2(options.stdin_fd, STDIN_FILENO);
            dup2(child_stdout, STDOUT_FILENO);
            if (options.stderr_fd >= 0) dup2(options.stderr_fd, STDERR_FILENO);
            if (options.systemd_listen_fd >= 0) {
                if (options.systemd_listen_fd == 3) {
                    fcntl(3, F_SETFD, 0);
                } else {
                    dup2(options.systemd_listen_fd, 3);
                }
                // getpid() in decimal, by hand: snprintf is not async-signal-safe.
                char digits[20];
                int n = 0;
                for (pid_t p = getpid(); p > 0; p /= 10) digits[n++] = static_cast<char>('0' + p % 10);
                for (int i = 0; i < n; ++i) listen_pid_digits[i] = digits[n - 1 - i];
                listen_pid_digits[n] = '\0';
                close_range(4, ~0U, 0);
            } else {
                close_range(3, ~0U, 0);
            }
            if (options.nofile) {
                const rlimit l{*options.nofile, *options.nofile};
                setrlimit(RLIMIT_NOFILE, &l);
            }
            execve(args[0], args.data(), envp.data());
            _exit(127);
        }
        if (out[1] >= 0) close(out[1]);
        out_ = out[0];
        // glibc 2.36 declares pidfd_open without extern "C": call it directly.
        pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
        if (pidfd_ < 0) throw std::runtime_error("pidfd_open failed");
    }
    ~ChildProcess() {
        if (!status_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0) close(out_);
        close(pidfd_);
    }
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    void signal(int signo) const { kill(pid_, signo); }

    /// The next line of the child's stdout (without "\n"), or nullopt if none came within `limit`.
    std::optional<std::string> read_line(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
                std::string line = buffered_.substr(0, nl);
                buffered_.erase(0, nl + 1);
                return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (out_ < 0 || left.count() <= 0) return std::nullopt;
            pollfd p{out_, POLLIN, 0};
            if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            if (!read_some()) return std::nullopt;
        }
    }

    /// The port from a "listening on HOST:PORT" line, or 0.
    std::uint16_t read_listening_port() {
        auto line = read_line();
        if (!line || line->rfind("listening on ", 0) != 0) return 0;
        return static_cast<std::uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
    }

    /// The exit status (as from waitpid) once the child ended, or nullopt if it did not within `limit`.
    /// Its stdout is drained meanwhile, so a child blocked writing to a full pipe can still exit.
    std::optional<int> wait(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (alive()) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p[2] = {{pidfd_, POLLIN, 0}, {out_, POLLIN, 0}};  // a negative fd is ignored by poll
            if (poll(p, 2, static_cast<int>(left.count())) > 0 && (p[1].revents & (POLLIN | POLLHUP)) != 0 &&
                !read_some()) {
                out_closed();
            }
        }
        return status_;
    }

    /// True while the process has not exited (it is reaped here if it has).
    bool alive() {
        if (status_) return false;
        int st = 0;
        if (waitpid(pid_, &st, WNOHANG) == pid_) status_ = st;
        return !status_;
    }
    [[nodiscard]] std::optional<int> status() const { return status_; }
    /// "running", "exited N" or "killed by signal N": for messages when something went wrong.
    std::string describe() {
        if (alive()) return "running";
        if (WIFEXITED(*status_)) return "exited " + std::to_string(WEXITSTATUS(*status_));
        if (WIFSIGNALED(*status_)) return "killed by signal " + std::to_string(WTERMSIG(*status_));
        return "status " + std::to_string(*status_);
    }

private:
    /// Appends what the pipe holds to buffered_; false at its end.
    bool read_some() {
        char buf[4096];
        const ssize_t n = read(out_, buf, sizeof buf);
        if (n <= 0) return false;
        buffered_.append(buf, static_cast<std::size_t>(n));
        return true;
    }
    void out_closed() {
        close(out_);
        out_ = -1;
    }

    pid_t pid_ = -1;
    int pidfd_ = -1;
    int out_ = -1;
    std::string buffered_;
    std::optional<int> status_;
};

}  // namespace weft_test
