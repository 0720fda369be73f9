// The apps over TLS (issue 12): weft-echo's `ssl:` endpoint answered through openssl s_client, and weft-chat
// serving a plain TCP client and a TLS weft-chat-client (`--connect tls:...`) in the same room.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <string>

#include "support/child_process.hpp"
#include "support/tls_certs.hpp"
#include "tls_peer_support.hpp"

#ifndef WEFT_ECHO_BINARY
#error "WEFT_ECHO_BINARY must name the weft-echo executable"
#endif
#ifndef WEFT_CHAT_BINARY
#error "WEFT_CHAT_BINARY must name the weft-chat executable"
#endif
#ifndef WEFT_CHAT_CLIENT_BINARY
#error "WEFT_CHAT_CLIENT_BINARY must name the weft-chat-client executable"
#endif

using namespace weft_test;
using namespace std::chrono_literals;

namespace {

/// `ssl:0:interface=127.0.0.1` with the test PKI's localhost certificate.
std::string ssl_endpoint() {
    const auto& c = tls_certs();
    return "ssl:0:interface=127.0.0.1:private_key=" + c.server_key + ":cert_key=" + c.server;
}

/// The port of a "listening on ssl:HOST:PORT" line, or 0.
std::uint16_t ssl_port(const std::optional<std::string>& line) {
    if (!line || !line->starts_with("listening on ssl:127.0.0.1:")) return 0;
    return static_cast<std::uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
}

/// A plain TCP chat client on a blocking socket, with bounded line reads.
class PlainClient {
public:
    explicit PlainClient(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~PlainClient() {
        if (fd_ >= 0) ::close(fd_);
    }
    PlainClient(const PlainClient&) = delete;
    PlainClient& operator=(const PlainClient&) = delete;
    [[nodiscard]] bool connected() const { return fd_ >= 0; }
    void send(const std::string& data) const {
        (void)!::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    }
    /// The next line ("\r\n" removed), or nullopt at EOF or after `limit`.
    std::optional<std::string> read_line(std::chrono::milliseconds limit = 10s) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                if (!line.empty() && line.back() == '\r') line.pop_back();
                lines_ += line + "\n";
                return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[4096];
            const ssize_t n = ::read(fd_, buf, sizeof buf);
            if (n <= 0) return std::nullopt;
            buffer_.append(buf, static_cast<std::size_t>(n));
        }
    }
    std::optional<std::string> read_until(std::string_view needle, std::chrono::milliseconds limit = 10s) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            auto line = read_line(std::max(left, 0ms));
            if (!line) return std::nullopt;
            if (line->find(needle) != std::string::npos) return line;
        }
    }
    [[nodiscard]] const std::string& lines() const { return lines_; }

private:
    int fd_ = -1;
    std::string buffer_;
    std::string lines_;
};

}  // namespace

TEST_CASE("weft-echo --listen ssl: prints listening on ssl:HOST:PORT and echoes through s_client",
          "[app][echo][tls]") {
    ChildProcess echo({WEFT_ECHO_BINARY, "--listen", ssl_endpoint(), "--log-level", "warning"});
    const auto listening = echo.read_line();
    INFO(listening.value_or("(no line)"));
    const auto port = ssl_port(listening);
    REQUIRE(port != 0);
    {
        TempDir dir;
        PeerProcess client(s_client(port, {"-quiet"}), dir);
        REQUIRE(client.write("echoed by weft-echo over tls\n"));
        const auto line = client.read_line();
        INFO(client.describe());
        CHECK(line == std::string("echoed by weft-echo over tls"));
    }
    echo.signal(SIGTERM);
    const auto status = echo.wait();
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("weft-echo --listen ssl: with a missing key file fails at start, naming the file", "[app][echo][tls]") {
    TempDir dir;
    const std::string missing = dir.file("no-such-key.pem");
    const auto r = run_command({WEFT_ECHO_BINARY, "--listen",
                                "ssl:0:interface=127.0.0.1:private_key=" + missing + ":cert_key=" + tls_certs().server},
                               dir, 10s);
    INFO(r.output);
    REQUIRE(r.status);
    CHECK(WIFEXITED(*r.status));
    CHECK(WEXITSTATUS(*r.status) != 0);
    CHECK_THAT(r.output, Catch::Contains(missing));
}

TEST_CASE("weft-chat: a plain TCP client and a TLS weft-chat-client share one room", "[app][chat][tls]") {
    ChildProcess chat({WEFT_CHAT_BINARY, "--listen", "tcp:0:interface=127.0.0.1", "--listen", ssl_endpoint(),
                       "--log-level", "warning"});
    const auto tcp_line = chat.read_line();
    const auto ssl_line = chat.read_line();
    INFO(tcp_line.value_or("(no line)") << " / " << ssl_line.value_or("(no line)"));
    REQUIRE(tcp_line);
    REQUIRE(tcp_line->starts_with("listening on 127.0.0.1:"));
    const auto tcp_port = static_cast<std::uint16_t>(std::stoi(tcp_line->substr(tcp_line->rfind(':') + 1)));
    const auto tls_port = ssl_port(ssl_line);
    REQUIRE(tls_port != 0);

    TempDir dir;
    PeerProcess tls_client({WEFT_CHAT_CLIENT_BINARY, "--connect",
                            "tls:host=127.0.0.1:port=" + std::to_string(tls_port) + ":ca=" + tls_certs().ca},
                           dir);
    const auto tls_welcome = tls_client.read_until("Welcome to the chat server, ");
    INFO(tls_client.describe());
    REQUIRE(tls_welcome);
    const std::string tls_name = tls_welcome->substr(tls_welcome->rfind(' ') + 1);

    PlainClient plain(tcp_port);
    REQUIRE(plain.connected());
    const auto plain_welcome = plain.read_until("Welcome to the chat server, ");
    INFO(plain.lines());
    REQUIRE(plain_welcome);
    const std::string plain_name = plain_welcome->substr(plain_welcome->rfind(' ') + 1);

    CHECK(tls_client.read_until("* " + plain_name + " joined"));
    plain.send("hello from plain tcp\r\n");
    CHECK(tls_client.read_until(plain_name + ": hello from plain tcp"));
    REQUIRE(tls_client.write("hello from tls\n"));
    CHECK(plain.read_until(tls_name + ": hello from tls"));

    // EOF on its stdin: the TLS client half-closes (close_notify), the server closes, the client exits 0.
    tls_client.close_stdin();
    const auto status = tls_client.wait();
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    CHECK(plain.read_until("* " + tls_name + " left"));

    chat.signal(SIGTERM);
    const auto chat_status = chat.wait();
    REQUIRE(chat_status);
    CHECK(WEXITSTATUS(*chat_status) == 0);
}

TEST_CASE("weft-chat-client --connect tls: refuses a server its CA does not vouch for", "[app][chat][tls]") {
    ChildProcess chat({WEFT_CHAT_BINARY, "--listen", ssl_endpoint(), "--log-level", "error"});
    const auto tls_port = ssl_port(chat.read_line());
    REQUIRE(tls_port != 0);
    TempDir dir;
    // No ca=: the system store, which does not hold the test CA.
    const auto r = run_command({WEFT_CHAT_CLIENT_BINARY, "--connect", "tls:127.0.0.1:" + std::to_string(tls_port)}, dir, 10s);
    INFO(r.output);
    REQUIRE(r.status);
    CHECK(WEXITSTATUS(*r.status) == 1);
    CHECK_THAT(r.output, Catch::Contains("certificate verify failed"));
    CHECK(r.output.find("Welcome") == std::string::npos);
}
