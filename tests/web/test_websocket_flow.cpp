// Flow control of WebSocket connections: a registered producer is paused and resumed around the
// transport's watermarks, and pause_producing() holds back messages already read.
#include <catch2/catch.hpp>

#include "websocket_support.hpp"
#include "weft/web/websocket_client.hpp"

using namespace web_test;
using weft::web::MessageType;
using weft::web::Request;
using weft::web::WebSocketProtocol;
using weft::web::WebSocketResource;

namespace {
struct StreamStats {
    int sent = 0;
    int pauses = 0;
    std::size_t peak = 0;  // the most bytes queued after a send
};

/// Sends `total` 64 KiB messages as a streaming producer: as many as it may until paused.
struct Streamer : WebSocketProtocol, weft::Producer {
    explicit Streamer(StreamStats& s) : stats(s) {}
    StreamStats& stats;
    int total = 100;
    int sent = 0;
    bool paused = false;
    void connection_made() override {
        transport().raw_transport().set_write_buffer_limits(64 * 1024, 16 * 1024);
        transport().register_producer(*this, true);
        resume_producing();
    }
    void pause_producing() override {
        paused = true;
        ++stats.pauses;
    }
    void resume_producing() override {
        paused = false;
        while (!paused && sent < total) {
            transport().send_binary(std::string(64 * 1024, static_cast<char>('a' + sent % 26)));
            ++sent;
            stats.sent = sent;
            stats.peak = std::max(stats.peak, transport().buffered_bytes());
        }
        if (sent == total && !paused) {
            transport().unregister_producer();
            transport().close(1000, "all sent");
            sent = total + 1;
        }
    }
    void stop_producing() override {}
};

struct Counter : WebSocketProtocol {
    int messages = 0;
    std::size_t bytes = 0;
    std::optional<std::uint16_t> code;
    std::function<void()> on_lost;
    void message_received(std::string_view data, MessageType) override {
        ++messages;
        bytes += data.size();
    }
    void connection_lost(std::uint16_t c, std::string_view) override {
        code = c;
        on_lost();
    }
};
}  // namespace

TEST_CASE("websocket flow: a registered producer is paused above the high watermark and resumed", "[web][websocket]") {
    WebServer server;
    StreamStats stats;
    server.root->put_child("ws", std::make_shared<WebSocketResource>(server.reactor, [&](Request&) {
        return std::make_unique<Streamer>(stats);
    }));
    server.start();
    auto counter = std::make_unique<Counter>();
    Counter& c = *counter;
    int messages = 0;
    std::optional<std::uint16_t> code;
    c.on_lost = [&] {
        messages = c.messages;
        code = c.code;
        server.reactor.stop();
    };
    weft::web::connect_websocket(server.reactor, "ws://127.0.0.1:" + std::to_string(server.port->port()) + "/ws",
                                 std::move(counter));
    REQUIRE(weft_test::run_bounded(server.reactor, std::chrono::seconds(20)));
    CHECK(messages == 100);
    CHECK(code == 1000);
    CHECK(stats.sent == 100);
    CHECK(stats.pauses > 0);
    // Paused as soon as a send passed the high watermark: never more than it plus one message queued.
    CHECK(stats.peak <= 64 * 1024 + 64 * 1024 + 14);
}

namespace {
/// Pauses reading on the first message and resumes a loop turn later, recording what came while paused.
struct Pauser : WebSocketProtocol {
    weft::Reactor& reactor;
    std::vector<std::string>& log;
    bool paused = false;
    weft::DelayedCall later;
    Pauser(weft::Reactor& r, std::vector<std::string>& l) : reactor(r), log(l) {}
    ~Pauser() override {
        if (later.active()) later.cancel();
    }
    void message_received(std::string_view data, MessageType) override {
        log.push_back((paused ? "while paused " : "") + std::string(data));
        if (data == "1") {
            paused = true;
            transport().pause_producing();
            later = reactor.call_later(std::chrono::milliseconds(20), [this] {
                log.push_back("resume");
                paused = false;
                transport().resume_producing();
            });
        }
    }
};
}  // namespace

TEST_CASE("websocket flow: pause_producing holds back messages already read until resume_producing", "[web][websocket]") {
    WebServer server;
    std::vector<std::string> log;
    server.root->put_child("ws", std::make_shared<WebSocketResource>(server.reactor, [&](Request&) {
        return std::make_unique<Pauser>(server.reactor, log);
    }));
    server.start();
    // All three messages and the close in one write: they are read together.
    auto seen = parse_server(server.exchange({handshake() + ws_text("1") + ws_text("2") + ws_text("3") + ws_close(1000)}));
    CHECK(seen.frames == std::vector<ServerFrame>{sclose(1000)});
    CHECK(log == std::vector<std::string>{"1", "resume", "2", "3"});
}
