// weft-chat --threads 2, the binary: one room over two reactors (SO_REUSEPORT, so the kernel picks each
// client's reactor, so the test adds clients until both reactors have one; test_chat_pool.cpp pins them
// with an acceptor), SIGUSR1's statistics summed over the
// reactors, SIGTERM telling every client. The names contain "thread": tests/run-all runs them under TSan.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "sync_chat_client.hpp"

using chat_test::SyncClient;
using weft_test::ChildProcess;
using namespace std::chrono_literals;

namespace {

/// Reads the child's output (stdout and stderr) until a line containing `text`: that line, or none at its end.
std::optional<std::string> line_with(ChildProcess& child, const std::string& text) {
    while (auto line = child.read_line(10s)) {
        if (line->find(text) != std::string::npos) return line;
    }
    return std::nullopt;
}

bool read_until(ChildProcess& child, const std::string& text) { return line_with(child, text).has_value(); }

}  // namespace

TEST_CASE("weft-chat --threads 2: one room, SIGUSR1 sums the reactors, SIGTERM tells everyone", "[chat][process]") {
    ChildProcess server({"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", WEFT_CHAT_BINARY, "--threads", "2", "--host",
                         "127.0.0.1", "--port", "0", "--flood-limit", "0", "--log-level", "info"});
    std::string listening;
    while (auto line = server.read_line(10s)) {
        if (line->starts_with("listening on 127.0.0.1:")) {
            listening = *line;
            break;
        }
    }
    REQUIRE_FALSE(listening.empty());
    const auto port = static_cast<std::uint16_t>(std::stoi(listening.substr(listening.rfind(':') + 1)));

    // The kernel picks each client's reactor (SO_REUSEPORT): clients join until both reactors have one, so
    // that lines do cross reactors. A reactor logs its own count ("joined (K online)"): a client that finds
    // fewer than all before it there is on the other reactor. All on one reactor: 1 in 2^(count-1).
    std::vector<std::unique_ptr<SyncClient>> clients;
    bool both_reactors = false;
    while (clients.size() < 4 || (!both_reactors && clients.size() < 24)) {
        auto client = std::make_unique<SyncClient>(port);
        REQUIRE_FALSE(client->name.empty());
        for (auto& earlier : clients) REQUIRE(earlier->expect("* " + client->name + " joined"));
        std::optional<std::string> joined;
        while ((joined = server.read_line(10s)) && joined->find(client->name + " joined (") == std::string::npos) {
        }
        REQUIRE(joined);
        const std::size_t here = std::stoul(joined->substr(joined->rfind('(') + 1));
        if (here <= clients.size()) both_reactors = true;
        clients.push_back(std::move(client));
    }
    REQUIRE(both_reactors);
    const std::string online = std::to_string(clients.size());
    const std::string old_name = clients[0]->name;
    clients[0]->send("/nick alice\n");
    for (auto& c : clients) REQUIRE(c->expect("* " + old_name + " is now known as alice"));
    clients[3]->send("/nick Alice\nhi\n");
    REQUIRE(clients[3]->expect("! name taken: Alice"));
    for (auto& c : clients) REQUIRE(c->expect(clients[3]->name + ": hi"));

    server.signal(SIGUSR1);
    const auto stats = line_with(server, "chat: running, " + online + " online; " + online + " joined, 1 lines relayed");
    REQUIRE(stats);
    // The pool's own counters end the line: no reactor lagged, but lines crossed, so bytes were in flight.
    CHECK(stats->find(", 0 forward holds, ") != std::string::npos);
    const auto peak = stats->rfind(" bytes peak in flight");
    REQUIRE(peak != std::string::npos);
    const auto peak_start = stats->rfind(' ', peak - 1) + 1;
    CHECK(std::stoull(stats->substr(peak_start, peak - peak_start)) > 0);

    server.signal(SIGTERM);
    for (auto& c : clients) {
        REQUIRE(c->expect("* server shutting down"));
        CHECK(c->expect_eof());
    }
    CHECK(read_until(server, "chat: stopped; " + online + " joined, 1 lines relayed"));
    const auto status = server.wait(10s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
}
