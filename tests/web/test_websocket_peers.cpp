// Debian's python3-websockets (/usr/bin/python3) as a real peer: as a client of weft's WebSocketResource, and
// as a server weft's connect_websocket talks to.
#include <catch2/catch.hpp>

#include <algorithm>

#include "websocket_support.hpp"
#include "weft/process_protocol.hpp"
#include "weft/web/websocket_client.hpp"

#ifndef WEFT_WEBSOCKET_PEER
#error "WEFT_WEBSOCKET_PEER must name tests/web/websocket_peer.py"
#endif

using namespace web_test;
using weft::web::MessageType;

namespace {
struct Collect : weft::ProcessProtocol {
    std::string out;
    std::optional<weft::ProcessStatus> status;
    std::function<void(Collect&)> on_out;
    std::function<void()> on_end;
    void out_received(std::string_view data) override {
        out.append(data);
        if (on_out) on_out(*this);
    }
    void process_ended(const weft::ProcessStatus& s) override {
        status = s;
        if (on_end) on_end();
    }
};
}  // namespace

TEST_CASE("websocket peers: python3-websockets as a client of the weft server", "[web][websocket][peers]") {
    weft::web::WebSocketOptions options;
    options.subprotocols = {"weft.test"};
    WsServer server(options);
    Collect client;
    client.on_end = [&] { server.reactor.stop(); };
    server.reactor.spawn_process(client, "/usr/bin/python3",
                                 {"/usr/bin/python3", WEFT_WEBSOCKET_PEER, "client", std::to_string(server.port->port())});
    REQUIRE(weft_test::run_bounded(server.reactor, std::chrono::seconds(30)));
    REQUIRE(client.status);
    CHECK(client.status->exit_code() == 0);
    CHECK(client.out ==
          "subprotocol weft.test\n"
          "text hello\n"
          "binary 0001ff\n"
          "fragmented frag1-frag2-\xc2\xb5\xc3\x9f\n"
          "big True\n"
          "pong ok\n"
          "closed 4001 \n"  // the echoed close carries the code only
          "server closed 1000 bye\n");
}

namespace {
/// Sends a text and a binary message, then asks the server to close.
struct Talker : weft::web::WebSocketProtocol {
    std::vector<std::string>& log;
    std::function<void()> on_lost;
    Talker(std::vector<std::string>& l, std::function<void()> lost) : log(l), on_lost(std::move(lost)) {}
    void connection_made() override {
        log.push_back("made " + transport().subprotocol());
        transport().send_text("hello from weft");
        transport().send_binary(std::string("\x00\xfe", 2));
        transport().send_text(std::string(200000, 'w'));
        transport().ping("ping!");
    }
    void message_received(std::string_view data, MessageType type) override {
        log.push_back((type == MessageType::text ? "text " : "binary ") +
                      (data.size() > 100 ? std::to_string(data.size()) + " bytes" : std::string(data)));
        if (data.size() > 100) transport().send_text("close-me");
    }
    void pong_received(std::string_view payload) override { log.push_back("pong " + std::string(payload)); }
    void connection_lost(std::uint16_t code, std::string_view reason) override {
        log.push_back("lost " + std::to_string(code) + " " + std::string(reason));
        if (on_lost) on_lost();
    }
};
}  // namespace

TEST_CASE("websocket peers: weft's client talks to a python3-websockets server", "[web][websocket][peers]") {
    weft::Reactor reactor;
    std::vector<std::string> log;
    bool connected = false;
    std::string error;
    Collect server;
    std::function<void()> maybe_stop_ref = [&] { if (server.on_end) server.on_end(); };
    server.on_out = [&](Collect& c) {
        auto at = c.out.find("port ");
        auto eol = c.out.find('\n');
        if (at != 0 || eol == std::string::npos || connected || !error.empty()) return;
        weft::web::WebSocketOptions options;
        options.subprotocols = {"weft.test"};
        connect_websocket(reactor, "ws://127.0.0.1:" + c.out.substr(5, eol - 5) + "/echo", std::make_unique<Talker>(log, maybe_stop_ref), options)
            .add_callbacks([&] { connected = true; }, [&](const weft::Failure& f) { error = f.what(); });
    };
    auto lost = [&] { return !log.empty() && log.back().starts_with("lost"); };
    auto maybe_stop = [&] {
        if (server.status && (lost() || !error.empty())) reactor.stop();
    };
    server.on_end = maybe_stop;
    reactor.spawn_process(server, "/usr/bin/python3", {"/usr/bin/python3", WEFT_WEBSOCKET_PEER, "server"});
    REQUIRE(weft_test::run_bounded(reactor, std::chrono::seconds(30)));
    CHECK(error.empty());
    CHECK(connected);
    REQUIRE(server.status);
    CHECK(server.status->exit_code() == 0);
    // The pong may come before the echoes: websockets answers pings as they arrive.
    auto pong = std::find(log.begin(), log.end(), "pong ping!");
    CHECK(pong != log.end());
    if (pong != log.end()) log.erase(pong);
    CHECK(log == std::vector<std::string>{"made weft.test", "text hello from weft", std::string("binary \x00\xfe", 9),
                                          "text 200000 bytes", "lost 4000 server says bye"});
    INFO(server.out);
    CHECK(server.out.ends_with("server saw close 4000 \n"));  // weft echoed the code, without a reason
}
