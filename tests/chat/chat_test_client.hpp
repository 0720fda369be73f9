#pragma once
// Test-side chat clients: a line client that records what it sees, and a reactor with a chat room on
// 127.0.0.1:0 to connect them to. Shared by the loopback and the process tests.

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat_protocol.hpp"
#include "support/loop.hpp"
#include "weft/protocols/basic.hpp"

namespace chat_test {

using weft::chat::ChatOptions;
using weft_test::LambdaClientFactory;

/// What one test client saw; it outlives the connection, which owns the protocol.
struct Record {
    std::vector<std::string> lines;
    std::size_t messages = 0;  // lines that are not notices, errors or the welcome
    std::string name;  // from the welcome line
    std::optional<weft::Reason> lost;
    weft::Transport* transport = nullptr;  // while connected
    std::function<void(Record&)> on_made;
    std::function<void(Record&)> on_welcome;
    std::function<void(Record&, std::string_view)> on_line;
    std::function<void(Record&)> on_lost;

    void send(std::string_view data) const { transport->write(data); }
    [[nodiscard]] bool has(std::string_view line) const {
        return std::find(lines.begin(), lines.end(), line) != lines.end();
    }
    [[nodiscard]] std::size_t count_from(std::string_view sender) const {
        const std::string prefix = std::string(sender) + ": ";
        return static_cast<std::size_t>(
            std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.starts_with(prefix); }));
    }
};

/// A line client on the test side: server lines end with "\r\n". Half-closeable, so a test can shut its
/// write side and still read; when the server closes, it closes too.
class TestClient final : public weft::protocols::LineReceiver, public weft::HalfCloseable {
public:
    explicit TestClient(Record& record) : record_(record) {
        set_delimiter("\r\n");
        set_max_length(1 << 24);
    }
    void connection_made() override {
        record_.transport = &transport();
        if (record_.on_made) record_.on_made(record_);
    }
    void line_received(std::string_view line) override {
        record_.lines.emplace_back(line);
        if (!line.starts_with("* ") && !line.starts_with("! ") && !line.starts_with("Welcome")) ++record_.messages;
        constexpr std::string_view welcome = "Welcome to the chat server, ";
        if (line.starts_with(welcome)) {
            record_.name = line.substr(welcome.size());
            if (record_.on_welcome) record_.on_welcome(record_);
        }
        if (record_.on_line) record_.on_line(record_, line);
    }
    void read_connection_lost() override { transport().lose_connection(); }
    void connection_lost(const weft::Reason& reason) override {
        record_.transport = nullptr;
        record_.lost = reason;
        if (record_.on_lost) record_.on_lost(record_);
    }

private:
    Record& record_;
};

/// A reactor, a chat room listening on 127.0.0.1:0, and clients connecting to it.
struct ChatLoop {
    weft::Reactor reactor;
    weft::chat::ChatFactory room;
    std::shared_ptr<weft::ListeningPort> port;
    std::vector<std::unique_ptr<LambdaClientFactory>> factories;

    explicit ChatLoop(ChatOptions options = {}) : room(reactor, options) {
        port = reactor.listen_tcp(0, room, {.interface = "127.0.0.1"});
    }
    void connect(Record& record) {
        factories.push_back(std::make_unique<LambdaClientFactory>(
            [&record](const weft::Address&) { return std::make_unique<TestClient>(record); }));
        reactor.connect_tcp("127.0.0.1", port->port(), *factories.back());
    }
    /// Stops the reactor, noting how many were in the room (shutting down empties it).
    void stop() {
        if (stopping) return;
        stopping = true;
        clients_at_stop = room.client_count();
        reactor.stop();
    }
    bool stopping = false;
    std::size_t clients_at_stop = 0;
};

inline std::string numbered(std::size_t i, std::size_t width) {
    std::string s = std::to_string(i) + " ";
    s.resize(std::max(width, s.size()), 'x');
    return s;
}


}  // namespace chat_test
