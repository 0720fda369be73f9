// The real binaries: weft-chat drained by SIGTERM, and weft-chat-client driven through pipes. Children
// are started with posix_spawn; their exit is awaited on a pidfd with a deadline.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "chat_test_client.hpp"
#include "weft/standard_io.hpp"

#ifndef WEFT_CHAT_BINARY
#error "WEFT_CHAT_BINARY must name the weft-chat executable"
#endif
#ifndef WEFT_CHAT_CLIENT_BINARY
#error "WEFT_CHAT_CLIENT_BINARY must name the weft-chat-client executable"
#endif

extern char** environ;

using namespace chat_test;
using weft_test::run_bounded;
using namespace std::chrono_literals;

namespace {

struct Pipe {
    int read = -1;
    int write = -1;
};

Pipe make_pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    return {fds[0], fds[1]};
}

/// A child process; killed and reaped if the test ends without waiting for it.
class Child {
public:
    /// Starts `argv` with its stdin and stdout on the given descriptors (-1: inherit).
    Child(std::vector<std::string> argv, int in_fd, int out_fd) {
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        if (in_fd >= 0) posix_spawn_file_actions_adddup2(&actions, in_fd, STDIN_FILENO);
        if (out_fd >= 0) posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
        std::vector<char*> args;
        for (auto& a : argv) args.push_back(a.data());
        args.push_back(nullptr);
        const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        REQUIRE(rc == 0);
        // glibc 2.36 declares pidfd_open without extern "C": call it directly.
        pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
        REQUIRE(pidfd_ >= 0);
    }
    ~Child() {
        if (!reaped_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        ::close(pidfd_);
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    void signal(int signo) const { REQUIRE(::kill(pid_, signo) == 0); }

    /// The exit status once the child has exited, or nullopt if it has not within `limit`.
    std::optional<int> wait(std::chrono::milliseconds limit) {
        pollfd p{pidfd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return std::nullopt;
        int status = 0;
        REQUIRE(::waitpid(pid_, &status, 0) == pid_);
        reaped_ = true;
        return status;
    }

private:
    pid_t pid_ = -1;
    int pidfd_ = -1;
    bool reaped_ = false;
};

/// Reads one line from `fd` (blocking, but bounded by `limit`), without its "\n".
std::string read_line(int fd, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::string line;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        REQUIRE(left.count() > 0);
        REQUIRE(::poll(&p, 1, static_cast<int>(left.count())) == 1);
        char c = 0;
        REQUIRE(::read(fd, &c, 1) == 1);
        if (c == '\n') return line;
        line.push_back(c);
    }
}

/// Test-side clients of a server at 127.0.0.1:port.
struct Clients {
    weft::Reactor& reactor;
    std::uint16_t port;
    std::vector<std::unique_ptr<LambdaClientFactory>> factories{};

    void connect(Record& record) {
        factories.push_back(std::make_unique<LambdaClientFactory>(
            [&record](const weft::Address&) { return std::make_unique<TestClient>(record); }));
        reactor.connect_tcp("127.0.0.1", port, *factories.back());
    }
};

/// The terminal side of weft-chat-client: what it prints, line by line.
class Screen final : public weft::protocols::LineReceiver, public weft::HalfCloseable {
public:
    std::vector<std::string> lines;
    std::function<void(Screen&, std::string_view)> on_line;
    std::function<void()> on_lost;
    std::optional<weft::Reason> lost;

    Screen() { set_delimiter("\n"); }
    void line_received(std::string_view line) override {
        lines.emplace_back(line);
        if (on_line) on_line(*this, line);
    }
    void read_connection_lost() override { transport().lose_connection(); }
    void connection_lost(const weft::Reason& reason) override {
        lost = reason;
        if (on_lost) on_lost();
    }
};

}  // namespace

TEST_CASE("weft-chat: SIGTERM tells everyone, flushes what is owed, and exits 0", "[chat][process]") {
    Pipe out = make_pipe();
    Child server({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--send-buffer-limit", "268435456",
                  "--log-level", "warning"},
                 -1, out.write);
    ::close(out.write);
    const std::string listening = read_line(out.read, 10s);
    REQUIRE(listening.starts_with("listening on 127.0.0.1:"));
    const auto port = static_cast<std::uint16_t>(std::stoi(listening.substr(listening.rfind(':') + 1)));
    REQUIRE(port != 0);

    weft::Reactor reactor;
    Clients clients{reactor, port};
    Record reader;
    Record talker;
    constexpr std::size_t lines = 80000;  // 16 MB: much of it still queued in the server at SIGTERM
    int lost = 0;
    auto on_lost = [&](Record&) {
        if (++lost == 2) reactor.stop();
    };
    reader.on_lost = talker.on_lost = on_lost;
    reader.on_welcome = [&](Record& self) {
        self.transport->pause_producing();  // the server must hold what it owes this one
        clients.connect(talker);
    };
    talker.on_welcome = [&](Record& self) {
        std::string burst;
        for (std::size_t i = 0; i < lines; ++i) burst += numbered(i, 190) + "\n";
        self.send(burst);
    };
    talker.on_line = [&](Record& self, std::string_view l) {
        if (l != self.name + ": " + numbered(lines - 1, 190)) return;
        // The server has relayed everything: now stop it, and let the reader read.
        server.signal(SIGTERM);
        reader.transport->resume_producing();
    };
    clients.connect(reader);
    REQUIRE(run_bounded(reactor, 20s));

    const auto status = server.wait(10s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    REQUIRE(reader.lost);
    CHECK(reader.lost->clean());
    CHECK(reader.count_from(talker.name) == lines);
    REQUIRE(!reader.lines.empty());
    CHECK(reader.lines.back() == "* server shutting down");
    REQUIRE(!talker.lines.empty());
    CHECK(talker.lines.back() == "* server shutting down");
    CHECK_FALSE(reader.has("* " + talker.name + " left"));  // departures at shutdown are not announced
    ::close(out.read);
}

TEST_CASE("weft-chat: SIGTERM with a client that never reads still exits 0 after --shutdown-timeout",
          "[chat][process]") {
    Pipe out = make_pipe();
    Child server({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--send-buffer-limit", "268435456",
                  "--shutdown-timeout", "0.5", "--log-level", "error"},
                 -1, out.write);
    ::close(out.write);
    const std::string listening = read_line(out.read, 10s);
    REQUIRE(listening.starts_with("listening on 127.0.0.1:"));
    const auto port = static_cast<std::uint16_t>(std::stoi(listening.substr(listening.rfind(':') + 1)));

    // A plain socket that connects and never reads. It is accepted (and joins) before the talker below.
    const int stuck = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(stuck >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(stuck, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);

    weft::Reactor reactor;
    Clients clients{reactor, port};
    Record talker;
    constexpr std::size_t lines = 40000;  // 8 MB, more than the stuck socket's buffers hold
    std::chrono::steady_clock::time_point signalled;
    talker.on_welcome = [&](Record& self) {
        std::string burst;
        for (std::size_t i = 0; i < lines; ++i) burst += numbered(i, 190) + "\n";
        self.send(burst);
    };
    talker.on_line = [&](Record& self, std::string_view l) {
        if (l != self.name + ": " + numbered(lines - 1, 190)) return;
        server.signal(SIGTERM);
        signalled = std::chrono::steady_clock::now();
    };
    talker.on_lost = [&](Record&) { reactor.stop(); };
    clients.connect(talker);
    REQUIRE(run_bounded(reactor, 20s));
    CHECK(talker.lines.back() == "* server shutting down");

    const auto status = server.wait(10s);
    const auto took = std::chrono::steady_clock::now() - signalled;
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    CHECK(took >= 400ms);  // it did wait for the stuck client's output...
    CHECK(took < 5s);      // ...but only for about --shutdown-timeout
    ::close(stuck);
    ::close(out.read);
}

TEST_CASE("weft-chat: --help lists every option, a bad option exits 2", "[chat][process]") {
    {
        Pipe out = make_pipe();
        Child help({WEFT_CHAT_BINARY, "--help"}, -1, out.write);
        ::close(out.write);
        std::string text;
        char buf[4096];
        for (ssize_t n; (n = ::read(out.read, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
        ::close(out.read);
        for (const char* option : {"--host", "--port", "--max-line", "--max-clients", "--send-buffer-limit",
                                   "--idle-timeout", "--shutdown-timeout", "--log-level"}) {
            CHECK(text.find(option) != std::string::npos);
        }
        const auto status = help.wait(10s);
        REQUIRE(status);
        CHECK(WEXITSTATUS(*status) == 0);
    }
    Child bad({WEFT_CHAT_BINARY, "--max-line", "1"}, -1, -1);
    const auto status = bad.wait(10s);
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 2);
}

TEST_CASE("weft-chat-client: typed lines reach the server, server lines are printed, EOF ends it",
          "[chat][process]") {
    ChatLoop loop;  // the server, in this process
    Clients clients{loop.reactor, loop.port->port()};
    Record peer;
    Pipe keyboard = make_pipe();
    Pipe screen = make_pipe();
    std::optional<Child> client;
    std::unique_ptr<weft::StandardIO> terminal;
    std::string client_name;
    bool screen_lost = false;
    auto maybe_stop = [&] {
        if (screen_lost && peer.has("* term left")) loop.stop();
    };

    peer.on_welcome = [&](Record&) {
        client.emplace(std::vector<std::string>{WEFT_CHAT_CLIENT_BINARY, "127.0.0.1", std::to_string(loop.port->port())},
                       keyboard.read, screen.write);
        ::close(keyboard.read);
        ::close(screen.write);
        auto s = std::make_unique<Screen>();
        s->on_line = [&](Screen& self, std::string_view line) {
            constexpr std::string_view welcome = "Welcome to the chat server, ";
            if (line.starts_with(welcome)) {
                client_name = line.substr(welcome.size());
                self.transport().write("hello from the terminal\n/nick term\n");
            }
            if (line == peer.name + ": hi term") self.transport().lose_write_connection();  // EOF on its stdin
        };
        s->on_lost = [&] {
            screen_lost = true;
            maybe_stop();
        };
        terminal = std::make_unique<weft::StandardIO>(loop.reactor, std::move(s), screen.read, keyboard.write);
    };
    peer.on_line = [&](Record& self, std::string_view line) {
        if (line == "* " + client_name + " is now known as term") self.send("hi term\n");
        maybe_stop();
    };
    clients.connect(peer);
    REQUIRE(run_bounded(loop.reactor, 20s));
    REQUIRE(client);
    const auto status = client->wait(10s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);

    CHECK(peer.has(client_name + ": hello from the terminal"));
    auto& printed = static_cast<Screen&>(terminal->protocol()).lines;
    const std::vector<std::string> expected{
        "Welcome to the chat server, " + client_name,
        client_name + ": hello from the terminal",
        "* " + client_name + " is now known as term",
        peer.name + ": hi term",
    };
    CHECK(printed == expected);
    // It closed its stdout after the server closed: our end saw EOF, a clean end.
    REQUIRE(static_cast<Screen&>(terminal->protocol()).lost);
    CHECK(static_cast<Screen&>(terminal->protocol()).lost->clean());
}

TEST_CASE("weft-chat-client: everything the server sent before closing is printed before it exits",
          "[chat][process]") {
    ChatLoop loop;
    Clients clients{loop.reactor, loop.port->port()};
    Record peer;
    Pipe keyboard = make_pipe();
    Pipe screen = make_pipe();
    std::optional<Child> client;
    std::unique_ptr<weft::StandardIO> terminal;
    std::string client_name;
    constexpr std::size_t lines = 3000;  // 300 KB: far more than the client's stdout pipe holds

    peer.on_welcome = [&](Record&) {
        client.emplace(std::vector<std::string>{WEFT_CHAT_CLIENT_BINARY, "127.0.0.1", std::to_string(loop.port->port())},
                       keyboard.read, screen.write);
        ::close(keyboard.read);
        ::close(screen.write);
        auto s = std::make_unique<Screen>();
        s->on_lost = [&] { loop.stop(); };
        terminal = std::make_unique<weft::StandardIO>(loop.reactor, std::move(s), screen.read, keyboard.write);
    };
    peer.on_line = [&](Record& self, std::string_view line) {
        if (line.starts_with("* ") && line.ends_with(" joined")) {
            client_name = line.substr(2, line.size() - 2 - 7);
            std::string burst;
            for (std::size_t i = 0; i < lines; ++i) burst += numbered(i, 100) + "\n";
            self.send(burst);
        }
        if (line == self.name + ": " + numbered(lines - 1, 100)) {
            // All of it is queued for the client too: the server closes its connection now.
            auto* chat = loop.room.find(client_name);
            REQUIRE(chat != nullptr);
            chat->transport().lose_connection();
        }
    };
    clients.connect(peer);
    REQUIRE(run_bounded(loop.reactor, 20s));
    REQUIRE(client);
    const auto status = client->wait(10s);
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 0);
    const auto& printed = static_cast<Screen&>(terminal->protocol()).lines;
    std::size_t from_peer = 0;
    for (const auto& l : printed) from_peer += l.starts_with(peer.name + ": ") ? 1 : 0;
    CHECK(from_peer == lines);
    REQUIRE(!printed.empty());
    CHECK(printed.back() == peer.name + ": " + numbered(lines - 1, 100));
}

TEST_CASE("weft-chat-client: SIGINT closes the connection and exits 0", "[chat][process]") {
    ChatLoop loop;
    Clients clients{loop.reactor, loop.port->port()};
    Record peer;
    Pipe keyboard = make_pipe();
    Pipe screen = make_pipe();
    std::optional<Child> client;
    std::unique_ptr<weft::StandardIO> terminal;
    std::string client_name;
    bool screen_lost = false;
    auto maybe_stop = [&] {
        if (screen_lost && !client_name.empty() && peer.has("* " + client_name + " left")) loop.stop();
    };
    peer.on_welcome = [&](Record&) {
        client.emplace(std::vector<std::string>{WEFT_CHAT_CLIENT_BINARY, "127.0.0.1", std::to_string(loop.port->port())},
                       keyboard.read, screen.write);
        ::close(keyboard.read);
        ::close(screen.write);
        auto s = std::make_unique<Screen>();
        s->on_line = [&](Screen&, std::string_view line) {
            if (line.starts_with("Welcome to the chat server, ")) client->signal(SIGINT);
        };
        s->on_lost = [&] {
            screen_lost = true;
            maybe_stop();
        };
        terminal = std::make_unique<weft::StandardIO>(loop.reactor, std::move(s), screen.read, keyboard.write);
    };
    peer.on_line = [&](Record&, std::string_view line) {
        if (line.starts_with("* ") && line.ends_with(" joined")) client_name = line.substr(2, line.size() - 2 - 7);
        maybe_stop();
    };
    clients.connect(peer);
    REQUIRE(run_bounded(loop.reactor, 20s));
    REQUIRE(client);
    const auto status = client->wait(10s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("weft-chat-client: cannot connect -> exit status 1", "[chat][process]") {
    // A port that was just free: bind one, note it, close it.
    std::uint16_t port = 0;
    {
        ChatLoop loop;
        port = loop.port->port();
        loop.port->stop_listening();
    }
    Pipe keyboard = make_pipe();
    Pipe screen = make_pipe();
    Child client({WEFT_CHAT_CLIENT_BINARY, "127.0.0.1", std::to_string(port)}, keyboard.read, screen.write);
    ::close(keyboard.read);
    ::close(screen.write);
    const auto status = client.wait(10s);
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 1);
    char c = 0;
    CHECK(::read(screen.read, &c, 1) == 0);  // nothing printed
    ::close(screen.read);
    ::close(keyboard.write);
}
