// weft-chat under systemd (issue 16), with the test playing systemd's part: socket activation (a listening
// socket passed as fd 3 with LISTEN_FDS/LISTEN_PID, the `systemd:` endpoint) and the notify protocol
// (READY=1 with STATUS=, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 at SIGTERM) read from the
// NOTIFY_SOCKET datagram socket, as packaging/systemd/weft-chat.{socket,service} run it.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/child_process.hpp"

#ifndef WEFT_CHAT_BINARY
#error "WEFT_CHAT_BINARY must name the weft-chat executable"
#endif
#ifndef WEFT_CHAT_SERVICE_UNIT
#error "WEFT_CHAT_SERVICE_UNIT must name the configured weft-chat.service"
#endif

using weft_test::ChildProcess;
using namespace std::chrono_literals;

namespace {

/// A descriptor closed with the object.
struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

/// What systemd makes for a .socket unit: a listening TCP socket on 127.0.0.1, port picked by the system.
std::uint16_t listen_loopback(int fd) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    return ntohs(addr.sin_port);
}

/// The next datagram on `fd` within `limit`, or nullopt.
std::optional<std::string> next_datagram(int fd, std::chrono::milliseconds limit) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return std::nullopt;
    char buffer[4096];
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
}

/// The first line the server sends a new client on 127.0.0.1:port (bounded).
std::string welcome_line(std::uint16_t port) {
    const Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    REQUIRE(::connect(client.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    std::string got;
    while (got.find('\n') == std::string::npos) {
        pollfd p{client.fd, POLLIN, 0};
        if (::poll(&p, 1, 10000) <= 0) break;
        char buffer[512];
        const auto n = ::read(client.fd, buffer, sizeof buffer);
        if (n <= 0) break;
        got.append(buffer, static_cast<std::size_t>(n));
    }
    return got.substr(0, got.find('\n'));
}

/// The value of the first `key=` line of a unit file ("" if none).
std::string unit_value(const std::string& path, const std::string& key) {
    std::ifstream in(path);
    REQUIRE(in);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
    }
    return "";
}

/// The unit's ExecStart= as an argv (the units use no quoting), the binary replaced by the one under test.
std::vector<std::string> exec_start_argv() {
    std::istringstream words(unit_value(WEFT_CHAT_SERVICE_UNIT, "ExecStart"));
    std::vector<std::string> argv;
    for (std::string w; words >> w;) argv.push_back(w);
    REQUIRE(!argv.empty());
    CHECK(argv[0].ends_with("/weft-chat"));
    argv[0] = WEFT_CHAT_BINARY;
    return argv;
}

}  // namespace

TEST_CASE("the weft-chat units: Type=notify with a watchdog, activated by a socket named as ExecStart says",
          "[chat][systemd]") {
    CHECK(unit_value(WEFT_CHAT_SERVICE_UNIT, "Type") == "notify");
    CHECK(!unit_value(WEFT_CHAT_SERVICE_UNIT, "WatchdogSec").empty());
    CHECK(unit_value(WEFT_CHAT_SERVICE_UNIT, "DynamicUser") == "yes");
    const std::string name = unit_value(WEFT_CHAT_SOCKET_UNIT, "FileDescriptorName");
    CHECK(name == "chat");
    CHECK(unit_value(WEFT_CHAT_SERVICE_UNIT, "ExecStart").ends_with("--listen systemd:domain=INET:name=" + name));
}

TEST_CASE("weft-chat under systemd: socket activation, READY=1, watchdog pings, STOPPING=1 on SIGTERM",
          "[chat][process][systemd]") {
    const Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const std::uint16_t port = listen_loopback(listener.fd);

    char dir[] = "/tmp/weft-systemd-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string notify_path = std::string(dir) + "/notify";
    const Fd notify(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, notify_path.c_str(), notify_path.size() + 1);
    REQUIRE(::bind(notify.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

    weft_test::ChildOptions options;
    options.systemd_listen_fd = listener.fd;
    // As systemd runs the service unit: its ExecStart=, the socket passed with the socket unit's name, and a
    // watchdog (here every 0.1 s, so the test is quick).
    options.env = {"NOTIFY_SOCKET=" + notify_path, "WATCHDOG_USEC=200000",
                   "LISTEN_FDNAMES=" + unit_value(WEFT_CHAT_SOCKET_UNIT, "FileDescriptorName")};
    ChildProcess server(exec_start_argv(), options);
    const std::string listening = server.read_line(10s).value_or("");
    CHECK(listening == "listening on 127.0.0.1:" + std::to_string(port));

    const auto ready = next_datagram(notify.fd, 10s);
    REQUIRE(ready);
    CHECK(*ready == "READY=1\nSTATUS=listening on 127.0.0.1:" + std::to_string(port));
    // The passed socket is the one served.
    CHECK(welcome_line(port).starts_with("Welcome to the chat server, 127.0.0.1:"));
    // The watchdog: at least three pings (each within 10 s; they come every 0.1 s).
    for (int i = 0; i < 3; ++i) CHECK(next_datagram(notify.fd, 10s) == std::optional<std::string>("WATCHDOG=1"));

    server.signal(SIGTERM);
    std::optional<std::string> message;
    do {
        message = next_datagram(notify.fd, 10s);
    } while (message == std::optional<std::string>("WATCHDOG=1"));
    CHECK(message == std::optional<std::string>("STOPPING=1"));
    const auto status = server.wait(20s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("weft-chat without NOTIFY_SOCKET sends nothing and a malformed WATCHDOG_USEC is an error",
          "[chat][process][systemd]") {
    weft_test::ChildOptions options;
    options.env = {"NOTIFY_SOCKET=/nonexistent-weft/notify", "WATCHDOG_USEC=soon"};
    ChildProcess server({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"}, options);
    CHECK_FALSE(server.read_line(10s).has_value());  // it stops before it listens
    const auto status = server.wait(20s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 1);  // "weft-chat: WATCHDOG_USEC="soon" is not a number ..." on stderr
}
