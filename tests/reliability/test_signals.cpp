// Signals (issue 10, item 2): no signal a server commonly receives kills it abruptly. SIGHUP and SIGQUIT
// shut weft-chat down in order like SIGTERM; SIGUSR1 makes it log its statistics and go on; SIGUSR1/SIGUSR2
// leave weft-echo (the reactor's defaults) serving; a second SIGTERM during a drain means "now".
#include <catch2/catch.hpp>

#include <csignal>

#include "log_test_helpers.hpp"

using namespace reliability;
using log_test::ServerWithStderrPipe;

namespace {

#ifdef WEFT_CHAT_BINARY
/// Two weft-chat clients are welcomed; `signo` is sent; both must get "* server shutting down" and then a
/// clean EOF, and the server must exit 0.
void chat_orderly_exit_on(int signo) {
    Server chat({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"});
    REQUIRE(chat.port() != 0);
    asio::io_context io;
    Deadline deadline(io, 20s);
    struct Seen {
        bool welcomed = false;
        bool notice = false;
        std::optional<boost::system::error_code> end;
    };
    std::vector<Seen> seen(2);
    std::vector<std::shared_ptr<LineClient>> clients;
    int welcomed = 0, ended = 0;
    for (std::size_t i = 0; i < 2; ++i) {
        auto c = std::make_shared<LineClient>(io);
        c->on_line = [&, i](LineClient&, std::string_view line) {
            if (line.rfind("Welcome", 0) == 0) {
                seen[i].welcomed = true;
                if (++welcomed == 2) chat.signal(signo);
            }
            if (line == "* server shutting down") seen[i].notice = true;
        };
        c->on_close = [&, i](LineClient& self, const boost::system::error_code& ec) {
            seen[i].end = ec;
            self.close();  // our EOF too: the server's lingering close ends at once
            if (++ended == 2) io.stop();
        };
        clients.push_back(c);
        c->connect(chat.endpoint());
    }
    io.run();
    REQUIRE_FALSE(deadline.expired());
    const auto status = chat.wait(10s);
    INFO("server: " << chat.describe());
    for (const auto& s : seen) {
        CHECK(s.welcomed);
        CHECK(s.notice);
        REQUIRE(s.end);
        CHECK(*s.end == asio::error::eof);
    }
    CHECK(exited_zero(status));
}
#endif

}  // namespace

#ifdef WEFT_CHAT_BINARY
TEST_CASE("signal: weft-chat on SIGHUP shuts down in order like SIGTERM (notice, drain, exit 0)",
          "[reliability][signal][chat]") {
    chat_orderly_exit_on(SIGHUP);
}

TEST_CASE("signal: weft-chat on SIGQUIT shuts down in order like SIGTERM (notice, drain, exit 0)",
          "[reliability][signal][chat]") {
    chat_orderly_exit_on(SIGQUIT);
}

TEST_CASE("signal: weft-chat on SIGUSR1 logs its statistics line and keeps serving", "[reliability][signal][chat]") {
    ServerWithStderrPipe chat({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "info"});
    REQUIRE(chat.port() != 0);
    const tcp::endpoint endpoint{asio::ip::make_address("127.0.0.1"), chat.port()};
    asio::io_context io;
    Deadline deadline(io, 20s);
    auto first = std::make_shared<LineClient>(io);
    auto second = std::make_shared<LineClient>(io);
    std::optional<std::string> stats;
    bool second_welcomed = false, first_heard_join = false;
    first->on_line = [&](LineClient&, std::string_view line) {
        if (line.rfind("Welcome", 0) == 0) {
            // In the room: ask for the statistics. The stats line comes on the server's stderr.
            chat.child().signal(SIGUSR1);
            stats = chat.read_stderr_until("chat: running", 10s);
            second->connect(endpoint);  // and the server must still serve a newcomer
        } else if (line.ends_with(" joined")) {
            first_heard_join = true;
            if (second_welcomed) io.stop();
        }
    };
    second->on_line = [&](LineClient&, std::string_view line) {
        if (line.rfind("Welcome", 0) != 0) return;
        second_welcomed = true;
        if (first_heard_join) io.stop();
    };
    first->connect(endpoint);
    io.run();
    CHECK_FALSE(deadline.expired());
    REQUIRE(stats);
    CHECK(stats->find("chat: running, 1 online; 1 joined, 0 lines relayed") != std::string::npos);
    CHECK(second_welcomed);
    CHECK(first_heard_join);
    CHECK(chat.child().describe() == "running");
    first->close();
    second->close();
    chat.child().signal(SIGTERM);
    CHECK(exited_zero(chat.child().wait(10s)));
}
#endif

#ifdef WEFT_ECHO_BINARY
TEST_CASE("signal: weft-echo on SIGUSR1 and SIGUSR2 logs them and keeps serving (the reactor's default)",
          "[reliability][signal][echo]") {
    ServerWithStderrPipe echo({WEFT_ECHO_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "info"});
    REQUIRE(echo.port() != 0);
    REQUIRE(log_test::echo_cycle(echo.port(), 5s));  // the loop runs (its signal handling with it)
    echo.child().signal(SIGUSR1);
    CHECK(echo.read_stderr_until("received SIGUSR1; ignored", 10s));
    echo.child().signal(SIGUSR2);
    CHECK(echo.read_stderr_until("received SIGUSR2; ignored", 10s));
    CHECK(log_test::echo_cycle(echo.port(), 5s));
    CHECK(echo.child().describe() == "running");
    echo.child().signal(SIGTERM);
    CHECK(exited_zero(echo.child().wait(10s)));
}
#endif

#ifdef WEFT_CHAT_BINARY
TEST_CASE("signal: a second SIGTERM during weft-chat's drain aborts what is still flushing and exits at once",
          "[reliability][signal][shutdown][chat]") {
    // One client owed 8 MB that never reads holds the drain; --shutdown-timeout 20 would let it hold it for
    // 20 s. The second SIGTERM must end it within about a second.
    Server chat({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--send-buffer-limit", "268435456", "--flood-limit", "0",
                 "--shutdown-timeout", "20", "--log-level", "warning"});
    REQUIRE(chat.port() != 0);
    asio::io_context io;
    Deadline deadline(io, 30s);
    constexpr int lines = 40000;  // 8 MB in all
    const std::string pad(190, '.');
    auto stuck = std::make_shared<LineClient>(io, 4096);
    auto talker = std::make_shared<LineClient>(io);
    std::string talker_name;
    bool notice = false;
    steady::time_point second_sigterm_at{};
    stuck->on_line = [&](LineClient& self, std::string_view line) {
        if (line.rfind("Welcome", 0) != 0) return;
        self.pause_reading();  // from now on it reads nothing: the server must hold what it owes it
        talker->connect(chat.endpoint());
    };
    talker->on_line = [&](LineClient& self, std::string_view line) {
        if (line.rfind("Welcome", 0) == 0) {
            talker_name = self.chat_name();
            std::string all;
            for (int i = 0; i < lines; ++i) all += std::to_string(i) + pad + "\n";
            self.send(std::move(all));
        } else if (!talker_name.empty() && line == talker_name + ": " + std::to_string(lines - 1) + pad) {
            chat.signal(SIGTERM);  // everything was relayed: most of it is queued for the stuck client
        } else if (line == "* server shutting down") {
            notice = true;
            second_sigterm_at = steady::now();
            chat.signal(SIGTERM);  // the drain is under way: now means now
        }
    };
    talker->on_close = [&](LineClient&, const boost::system::error_code&) { io.stop(); };
    stuck->connect(chat.endpoint());
    io.run();
    REQUIRE_FALSE(deadline.expired());
    REQUIRE(notice);
    const auto status = chat.wait(10s);
    const double exit_seconds = seconds_since(second_sigterm_at);
    figure("second-sigterm", "client owed 8 MB that never reads, --shutdown-timeout 20: exit " +
                                 std::to_string(exit_seconds) + " s after the second SIGTERM: " + chat.describe());
    CHECK(exited_zero(status));
    CHECK(exit_seconds < 2.0);
}
#endif
