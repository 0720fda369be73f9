#pragma once
// ChildProcess: runs one of our binaries for an end-to-end test, with every wait bounded.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace weft_test {

/// A child process with its stdout on a pipe. The destructor kills and reaps it if it is still running.
class ChildProcess {
public:
    explicit ChildProcess(std::vector<std::string> argv) {
        int out[2];
        if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        pid_ = fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            dup2(out[1], STDOUT_FILENO);
            std::vector<char*> args;
            for (auto& a : argv) args.push_back(a.data());
            args.push_back(nullptr);
            execv(args[0], args.data());
            _exit(127);
        }
        close(out[1]);
        out_ = out[0];
    }
    ~ChildProcess() {
        if (pid_ > 0 && !status_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0) close(out_);
    }
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    /// The next line of the child's stdout, or nullopt if none came within `limit`.
    std::optional<std::string> read_line(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
                std::string line = buffered_.substr(0, nl);
                buffered_.erase(0, nl + 1);
                return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{out_, POLLIN, 0};
            if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[4096];
            const ssize_t n = read(out_, buf, sizeof buf);
            if (n <= 0) return std::nullopt;
            buffered_.append(buf, static_cast<std::size_t>(n));
        }
    }

    /// The port from a "listening on HOST:PORT" line, or 0.
    std::uint16_t read_listening_port() {
        auto line = read_line();
        if (!line || line->rfind("listening on ", 0) != 0) return 0;
        return static_cast<std::uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
    }

    void signal(int signo) const { kill(pid_, signo); }

    /// The exit status (as from waitpid) once the child ended, or nullopt if it did not within `limit`.
    std::optional<int> wait(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!status_) {
            int st = 0;
            const pid_t r = waitpid(pid_, &st, WNOHANG);
            if (r == pid_) {
                status_ = st;
                break;
            }
            if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            // Nothing to wake us on a child's exit without a signal handler; poll the pipe briefly instead.
            pollfd p{out_, POLLIN, 0};
            poll(&p, 1, 10);
            if (p.revents & POLLIN) {
                char buf[4096];
                if (const ssize_t n = read(out_, buf, sizeof buf); n > 0) buffered_.append(buf, static_cast<std::size_t>(n));
            }
        }
        return status_;
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    std::string buffered_;
    std::optional<int> status_;
};

}  // namespace weft_test
