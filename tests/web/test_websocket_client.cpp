// connect_websocket: against weft's own server, and against raw servers that send exact bytes (to see the
// client's masking and its checks of the server's answer).
#include <catch2/catch.hpp>

#include "websocket_handshake.hpp"  // web/src: the accept key for the raw servers
#include "websocket_support.hpp"
#include "weft/web/websocket_client.hpp"

using namespace web_test;
using weft::web::MessageType;

namespace {
/// Records everything; sends `first` on connection_made.
struct ClientLog : weft::web::WebSocketProtocol {
    std::vector<std::string>& log;
    std::vector<std::string> first;
    std::function<void(ClientLog&, std::string_view)> on_message;
    std::function<void()> on_lost;
    explicit ClientLog(std::vector<std::string>& l, std::vector<std::string> f = {}) : log(l), first(std::move(f)) {}
    void connection_made() override {
        log.push_back("made");
        for (auto& m : first) transport().send_text(m);
    }
    void message_received(std::string_view data, MessageType type) override {
        log.push_back((type == MessageType::text ? "text " : "binary ") + std::string(data));
        if (on_message) on_message(*this, data);
    }
    void connection_lost(std::uint16_t code, std::string_view reason) override {
        log.push_back("lost " + std::to_string(code) + " " + std::string(reason));
        if (on_lost) on_lost();
    }
};

/// A raw server: answers the handshake with `answer(key)` and records what the client sends after it.
struct RawServer {
    explicit RawServer(weft::Reactor& r) : reactor(r) {}
    weft::Reactor& reactor;
    std::string after_handshake;
    std::function<std::string(const std::string& key)> answer;
    std::function<void(weft::Transport&, const std::string& after)> on_frames;
    weft_test::LambdaFactory factory{[this](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_data = [this](weft_test::Recorder& r, std::string_view) {
            auto end = r.received.find("\r\n\r\n");
            if (end == std::string::npos) return;
            if (after_handshake.empty() && r.received.size() == end + 4) {
                auto k = r.received.find("Sec-WebSocket-Key: ");
                r.transport().write(answer(r.received.substr(k + 19, 24)));
            }
            after_handshake = r.received.substr(end + 4);
            if (on_frames) on_frames(r.transport(), after_handshake);
        };
        return p;
    }};
    std::shared_ptr<weft::ListeningPort> port = reactor.listen_tcp(0, factory, {"127.0.0.1"});
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(port->port()) + "/chat"; }
};

std::string good_answer(const std::string& key) {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
           weft::web::detail::websocket_accept(key) + "\r\n\r\n";
}
}  // namespace

TEST_CASE("websocket client: round trip with weft's server, close started by the client", "[web][websocket]") {
    WsServer server;
    std::vector<std::string> log;
    auto protocol = std::make_unique<ClientLog>(log, std::vector<std::string>{"one", "two"});
    protocol->on_message = [](ClientLog& p, std::string_view data) {
        if (data == "two") p.transport().close(4000, "enough");
    };
    protocol->on_lost = [&] { server.reactor.stop(); };
    bool fired = false;
    weft::web::connect_websocket(server.reactor, "ws://127.0.0.1:" + std::to_string(server.port->port()) + "/ws",
                                 std::move(protocol))
        .add_callback([&] { fired = true; });
    REQUIRE(weft_test::run_bounded(server.reactor, std::chrono::seconds(10)));
    CHECK(fired);
    CHECK(log == std::vector<std::string>{"made", "text one", "text two", "lost 4000 "});
    CHECK(server.events.messages == std::vector<std::string>{"one", "two"});
    CHECK(server.events.lost_code == 4000);
    CHECK(server.events.lost_reason == "enough");
}

TEST_CASE("websocket client: a prepared message goes out masked, as any client frame", "[web][websocket]") {
    WsServer server;
    std::vector<std::string> log;
    auto protocol = std::make_unique<ClientLog>(log, std::vector<std::string>{"one"});
    protocol->on_message = [](ClientLog& p, std::string_view data) {
        if (data == "one") p.transport().send_prepared(weft::web::PreparedMessage("two", weft::web::MessageType::text));
        if (data == "two") p.transport().close(4000, "enough");
    };
    protocol->on_lost = [&] { server.reactor.stop(); };
    weft::web::connect_websocket(server.reactor, "ws://127.0.0.1:" + std::to_string(server.port->port()) + "/ws",
                                 std::move(protocol));
    REQUIRE(weft_test::run_bounded(server.reactor, std::chrono::seconds(10)));
    CHECK(log == std::vector<std::string>{"made", "text one", "text two", "lost 4000 "});
    CHECK(server.events.messages == std::vector<std::string>{"one", "two"});  // an unmasked frame would be 1002
}

TEST_CASE("websocket client: frames are masked, each with a new key; a masked server frame is 1002", "[web][websocket]") {
    weft::Reactor reactor;
    RawServer raw(reactor);
    raw.answer = good_answer;
    std::vector<std::string> log;
    auto protocol = std::make_unique<ClientLog>(log, std::vector<std::string>{"same", "same"});
    protocol->on_lost = [&] { reactor.stop(); };
    raw.on_frames = [](weft::Transport& t, const std::string& after) {
        if (after.size() == 2 * (2 + 4 + 4)) t.write(std::string("\x81\x82\x01\x02\x03\x04xy", 8));  // masked: not allowed
    };
    weft::web::connect_websocket(reactor, raw.url(), std::move(protocol));
    REQUIRE(weft_test::run_bounded(reactor, std::chrono::seconds(10)));
    const std::string& a = raw.after_handshake;
    REQUIRE(a.size() >= 20);
    CHECK(a.substr(0, 2) == "\x81\x84");  // FIN + text, mask bit + 4
    CHECK(a.substr(10, 2) == "\x81\x84");
    CHECK(a.substr(2, 4) != a.substr(12, 4));  // fresh keys
    std::string first = a.substr(6, 4);
    for (int i = 0; i < 4; ++i) first[i] = static_cast<char>(first[i] ^ a[2 + i]);
    CHECK(first == "same");
    CHECK(log.back() == "lost 1002 masked frame from the server");
    // The client's close frame followed, masked, with 1002.
    REQUIRE(a.size() >= 20 + 6 + 2);
    CHECK(static_cast<unsigned char>(a[20]) == 0x88);
}

TEST_CASE("websocket client: a wrong accept key, a non-101 answer and a refused connection fail the Deferred", "[web][websocket]") {
    auto attempt = [](std::function<std::string(const std::string&)> answer) {
        weft::Reactor reactor;
        RawServer raw(reactor);
        raw.answer = std::move(answer);
        std::vector<std::string> log;
        std::string error;
        int status = -1;
        weft::web::connect_websocket(reactor, raw.url(), std::make_unique<ClientLog>(log))
            .add_errback([&](const weft::Failure& f) {
                error = f.what();
                try {
                    f.rethrow();
                } catch (const weft::web::WebSocketHandshakeError& e) {
                    status = e.status();
                } catch (...) {
                }
                reactor.stop();
            });
        CHECK(weft_test::run_bounded(reactor, std::chrono::seconds(10)));
        CHECK(log.empty());  // the protocol never saw a thing
        return std::pair{error, status};
    };
    auto wrong = attempt([](const std::string&) {
        return std::string("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    });
    CHECK(wrong.first == "WebSocket handshake failed: wrong Sec-WebSocket-Accept");
    auto not_found = attempt([](const std::string&) { return std::string("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"); });
    CHECK(not_found.first == "WebSocket handshake failed: status 404");
    CHECK(not_found.second == 404);
    auto no_upgrade = attempt([](const std::string& key) {
        return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
               weft::web::detail::websocket_accept(key) + "\r\n\r\n";
    });
    CHECK(no_upgrade.first == "WebSocket handshake failed: no Upgrade: websocket");
    auto subprotocol = attempt([](const std::string& key) {
        return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: x\r\n"
               "Sec-WebSocket-Accept: " + weft::web::detail::websocket_accept(key) + "\r\n\r\n";
    });
    CHECK(subprotocol.first == "WebSocket handshake failed: subprotocol x was not offered");

    weft::Reactor reactor;
    std::string error;
    // The factory must outlive the port: stop_listening() calls its stop_factory().
    auto unused = weft::Factory::for_protocol<weft::Protocol>();
    auto port = reactor.listen_tcp(0, *unused, {"127.0.0.1"});
    const auto free_port = port->port();
    port->stop_listening();
    std::vector<std::string> log;
    weft::web::connect_websocket(reactor, "ws://127.0.0.1:" + std::to_string(free_port) + "/", std::make_unique<ClientLog>(log))
        .add_errback([&](const weft::Failure& f) {
            error = f.what();
            reactor.stop();
        });
    CHECK(weft_test::run_bounded(reactor, std::chrono::seconds(10)));
    CHECK(error.starts_with("cannot connect to"));
    CHECK_THROWS_AS(weft::web::connect_websocket(reactor, "http://x/", std::make_unique<ClientLog>(log)), std::invalid_argument);
}

TEST_CASE("websocket client: a server that never answers fails after handshake_timeout", "[web][websocket]") {
    weft::Reactor reactor;
    RawServer raw(reactor);
    raw.answer = [](const std::string&) { return std::string(); };
    std::vector<std::string> log;
    weft::web::WebSocketOptions options;
    options.handshake_timeout = std::chrono::milliseconds(100);
    std::string error;
    weft::web::connect_websocket(reactor, raw.url(), std::make_unique<ClientLog>(log), options)
        .add_errback([&](const weft::Failure& f) {
            error = f.what();
            reactor.stop();
        });
    CHECK(weft_test::run_bounded(reactor, std::chrono::seconds(10)));
    CHECK(error == "WebSocket handshake failed: no answer in time");
}
