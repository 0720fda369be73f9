// The real binaries: weft-chat drained by SIGTERM, and weft-chat-client driven through pipes. Children
// are weft_test::ChildProcess (tests/support/child_process.hpp): every wait has a deadline.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "chat_test_client.hpp"
#include "support/child_process.hpp"
#include "support/pipe.hpp"
#include "weft/standard_io.hpp"

#ifndef WEFT_CHAT_BINARY
#error "WEFT_CHAT_BINARY must name the weft-chat executable"
#endif
#ifndef WEFT_CHAT_CLIENT_BINARY
#error "WEFT_CHAT_CLIENT_BINARY must name the weft-chat-client executable"
#endif

using namespace chat_test;
using weft_test::ChildProcess;
using weft_test::make_pipe;
using weft_test::Pipe;
using weft_test::run_bounded;
using namespace std::chrono_literals;

namespace {

/// The child's stdin and stdout on the given pipe ends.
weft_test::ChildOptions on_fds(int in_fd, int out_fd) {
    weft_test::ChildOptions options;
    options.stdin_fd = in_fd;
    options.stdout_fd = out_fd;
    return options;
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
    // --flood-limit 0: the talker's 80,000 lines at once are the point, not a flood to slow down.
    ChildProcess server({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--send-buffer-limit", "268435456",
                         "--flood-limit", "0", "--log-level", "warning"});
    const std::string listening = server.read_line(10s).value_or("");
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
}

TEST_CASE("weft-chat: SIGTERM with a client that never reads still exits 0 after --shutdown-timeout",
          "[chat][process]") {
    ChildProcess server({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--send-buffer-limit", "268435456",
                         "--shutdown-timeout", "0.5", "--flood-limit", "0", "--log-level", "error"});
    const std::string listening = server.read_line(10s).value_or("");
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
}

TEST_CASE("weft-chat: --help lists every option, a bad option exits 2", "[chat][process]") {
    {
        ChildProcess help({WEFT_CHAT_BINARY, "--help"});
        std::string text;
        while (auto line = help.read_line(10s)) text += *line + "\n";  // to the end of its output
        for (const char* option : {"--host", "--port", "--max-line", "--max-clients", "--max-per-address",
                                   "--send-buffer-limit", "--flood-limit", "--idle-timeout", "--first-line-timeout",
                                   "--shutdown-timeout", "--threads", "--log-level"}) {
            CHECK(text.find(option) != std::string::npos);
        }
        const auto status = help.wait(10s);
        REQUIRE(status);
        CHECK(WEXITSTATUS(*status) == 0);
    }
    ChildProcess bad({WEFT_CHAT_BINARY, "--max-line", "1"});
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
    std::optional<ChildProcess> client;
    std::unique_ptr<weft::StandardIO> terminal;
    std::string client_name;
    bool screen_lost = false;
    auto maybe_stop = [&] {
        if (screen_lost && peer.has("* term left")) loop.stop();
    };

    peer.on_welcome = [&](Record&) {
        client.emplace(std::vector<std::string>{WEFT_CHAT_CLIENT_BINARY, "127.0.0.1", std::to_string(loop.port->port())},
                       on_fds(keyboard.read, screen.write));
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
    ChatLoop loop(ChatOptions{.flood_limit = 0});  // the peer's 3,000-line burst is the point
    Clients clients{loop.reactor, loop.port->port()};
    Record peer;
    Pipe keyboard = make_pipe();
    Pipe screen = make_pipe();
    std::optional<ChildProcess> client;
    std::unique_ptr<weft::StandardIO> terminal;
    std::string client_name;
    constexpr std::size_t lines = 3000;  // 300 KB: far more than the client's stdout pipe holds

    peer.on_welcome = [&](Record&) {
        client.emplace(std::vector<std::string>{WEFT_CHAT_CLIENT_BINARY, "127.0.0.1", std::to_string(loop.port->port())},
                       on_fds(keyboard.read, screen.write));
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
    std::optional<ChildProcess> client;
    std::unique_ptr<weft::StandardIO> terminal;
    std::string client_name;
    bool screen_lost = false;
    auto maybe_stop = [&] {
        if (screen_lost && !client_name.empty() && peer.has("* " + client_name + " left")) loop.stop();
    };
    peer.on_welcome = [&](Record&) {
        client.emplace(std::vector<std::string>{WEFT_CHAT_CLIENT_BINARY, "127.0.0.1", std::to_string(loop.port->port())},
                       on_fds(keyboard.read, screen.write));
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
    ChildProcess client({WEFT_CHAT_CLIENT_BINARY, "127.0.0.1", std::to_string(port)}, on_fds(keyboard.read, screen.write));
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

TEST_CASE("weft-chat --listen: one room over a TCP and a UNIX endpoint; weft-chat-client --connect unix:",
          "[chat][process][endpoint]") {
    char dir_template[] = "/tmp/weft-chat-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    const std::string dir = dir_template;
    const std::string path = dir + "/chat.sock";
    ChildProcess server({WEFT_CHAT_BINARY, "--listen", "tcp:0:interface=127.0.0.1", "--listen", "unix:" + path,
                         "--log-level", "warning"});
    const std::string tcp_line = server.read_line(10s).value_or("");
    REQUIRE(tcp_line.starts_with("listening on 127.0.0.1:"));
    CHECK(server.read_line(10s) == "listening on unix:" + path);
    const auto port = static_cast<std::uint16_t>(std::stoi(tcp_line.substr(tcp_line.rfind(':') + 1)));

    // A TCP client and weft-chat-client over the UNIX socket, in one room.
    weft::Reactor reactor;
    Clients clients{reactor, port};
    Record tcp_client;
    auto keyboard = make_pipe();
    auto screen = make_pipe();
    ChildProcess client({WEFT_CHAT_CLIENT_BINARY, "--connect", "unix:" + path}, on_fds(keyboard.read, screen.write));
    ::close(keyboard.read);
    ::close(screen.write);
    auto terminal = std::make_unique<Screen>();
    Screen& shown = *terminal;
    weft::StandardIO io(reactor, std::move(terminal), screen.read, keyboard.write);
    bool sent = false;
    shown.on_line = [&](Screen& s, std::string_view line) {
        if (line.starts_with("Welcome to the chat server, ") && !sent) {
            sent = true;
            clients.connect(tcp_client);  // joins after the UNIX client: its line must reach it
        }
        if (line == tcp_client.name + ": over tcp") s.transport().lose_write_connection();  // EOF: the client quits
    };
    tcp_client.on_welcome = [](Record& self) { self.send("over tcp\n"); };
    shown.on_lost = [&] { reactor.stop(); };
    REQUIRE(run_bounded(reactor, 20s));
    CHECK(std::find(shown.lines.begin(), shown.lines.end(), tcp_client.name + ": over tcp") != shown.lines.end());
    const auto client_status = client.wait(10s);
    REQUIRE(client_status);
    CHECK(WEXITSTATUS(*client_status) == 0);
    server.signal(SIGTERM);
    const auto status = server.wait(10s);
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 0);
    CHECK(::access(path.c_str(), F_OK) != 0);
    ::rmdir(dir.c_str());
}
