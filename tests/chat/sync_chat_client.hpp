#pragma once
// A blocking chat client for tests whose server runs on other threads (a ReactorPool) or in a child
// process: the test thread writes and reads lines in sequence. Every read waits with poll() up to a
// deadline, so a line that never comes fails the test instead of hanging it; nothing sleeps.

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace chat_test {

class SyncClient {
public:
    using clock = std::chrono::steady_clock;

    /// Connects to 127.0.0.1:port and, unless told not to, reads the welcome line (read_welcome()).
    explicit SyncClient(std::uint16_t port, bool welcome = true) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) throw std::runtime_error("socket");
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) throw std::runtime_error("connect");
        if (welcome) read_welcome();
    }
    /// Reads the first line: the welcome (name gets the client's name), or a refusal.
    void read_welcome(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        const auto welcome = line(limit);
        constexpr std::string_view prefix = "Welcome to the chat server, ";
        if (welcome && welcome->starts_with(prefix)) name = welcome->substr(prefix.size());
        first_line = welcome.value_or("");
    }
    ~SyncClient() {
        if (fd_ >= 0) ::close(fd_);
    }
    SyncClient(const SyncClient&) = delete;
    SyncClient& operator=(const SyncClient&) = delete;

    /// Sends everything (blocking).
    void send(std::string_view data) const {
        while (!data.empty()) {
            const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) return;  // the server closed: what the test reads next says so
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    /// The next line ("\r\n" removed), or nullopt at EOF or once `limit` passed.
    std::optional<std::string> line(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        const auto deadline = clock::now() + limit;
        for (;;) {
            if (const auto end = buffer_.find("\r\n"); end != std::string::npos) {
                std::string out = buffer_.substr(0, end);
                buffer_.erase(0, end + 2);
                seen.push_back(out);
                return out;
            }
            if (eof) return std::nullopt;
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char chunk[65536];
            const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
            if (n <= 0) {
                eof = true;
                continue;
            }
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }
    /// Reads until a line equal to `wanted`; false at EOF or after `limit`.
    bool expect(std::string_view wanted, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        return expect_if([&](std::string_view l) { return l == wanted; }, limit);
    }
    /// Reads until a line for which `match` holds; false at EOF or after `limit`.
    bool expect_if(const std::function<bool(std::string_view)>& match,
                   std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        const auto deadline = clock::now() + limit;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
            const auto l = line(std::max(left, std::chrono::milliseconds(0)));
            if (!l) return false;
            if (match(*l)) return true;
        }
    }
    /// Reads until EOF; false if it has not come after `limit`.
    bool expect_eof(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        const auto deadline = clock::now() + limit;
        while (!eof && clock::now() < deadline) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
            line(left);
        }
        return eof;
    }
    [[nodiscard]] int fd() const noexcept { return fd_; }

    std::string name;                  // from the welcome line
    std::string first_line;            // what the server said first (the welcome, or a refusal)
    std::vector<std::string> seen;     // every line read
    bool eof = false;

private:
    int fd_ = -1;
    std::string buffer_;
};

}  // namespace chat_test
