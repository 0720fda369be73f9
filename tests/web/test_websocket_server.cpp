// The WebSocket server side beyond the frames: the opening handshake (RFC 6455 4.2) through the HTTP
// channel, the close handshake started by the server, its timeout, and the cut of a peer that stops
// reading.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/log_capture.hpp"
#include "websocket_frame.hpp"  // web/src: the UTF-8 validator
#include "websocket_support.hpp"

using namespace web_test;
using weft::web::MessageType;
using weft::web::PreparedMessage;
using weft::web::Request;
using weft::web::WebSocketOptions;
using weft::web::WebSocketProtocol;
using weft::web::WebSocketResource;
using Frames = std::vector<ServerFrame>;

namespace {
std::string answer(WebServer& server, std::string request) {
    return without_date(server.exchange({std::move(request)}, [](const std::string& b) {
                                  return b.find("\r\n\r\n") != std::string::npos && split_responses(b).size() >= 1;
                              }).bytes);
}
std::string status_of(const std::string& bytes) { return bytes.substr(0, bytes.find("\r\n")); }
/// The answer of a fresh echo server (a reactor runs one exchange).
std::string answer(std::string request, WebSocketOptions options = {}) {
    WsServer server(std::move(options));
    return answer(server, std::move(request));
}
}  // namespace

TEST_CASE("websocket handshake: 101 with RFC 6455's example accept key", "[web][websocket]") {
    WsServer server;
    auto seen = server.exchange({handshake()}, [](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; });
    CHECK(without_date(seen.bytes) ==
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nServer: weft\r\n\r\n");
}

TEST_CASE("websocket handshake: bad upgrades get 400, another version 426, other methods 405", "[web][websocket]") {
    auto h = [](std::string_view upgrade, std::string_view connection, std::string_view key, std::string_view version) {
        return "GET /ws HTTP/1.1\r\nHost: x\r\n" + std::string(upgrade) + std::string(connection) + std::string(key) +
               std::string(version) + "\r\n";
    };
    const std::string up = "Upgrade: websocket\r\n", conn = "Connection: keep-alive, Upgrade\r\n",
                      key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", v13 = "Sec-WebSocket-Version: 13\r\n";
    CHECK(status_of(answer(h(up, conn, key, v13))) == "HTTP/1.1 101 Switching Protocols");  // tokens in a list
    CHECK(status_of(answer(h("", conn, key, v13))) == "HTTP/1.1 400 Bad Request");
    CHECK(status_of(answer(h("Upgrade: h2c\r\n", conn, key, v13))) == "HTTP/1.1 400 Bad Request");
    CHECK(status_of(answer(h(up, "", key, v13))) == "HTTP/1.1 400 Bad Request");
    CHECK(status_of(answer(h(up, conn, "", v13))) == "HTTP/1.1 400 Bad Request");
    CHECK(status_of(answer(h(up, conn, "Sec-WebSocket-Key: c2hvcnQ=\r\n", v13))) == "HTTP/1.1 400 Bad Request");
    CHECK(status_of(answer(h(up, conn, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=x\r\n", v13))) == "HTTP/1.1 400 Bad Request");
    auto v8 = answer(h(up, conn, key, "Sec-WebSocket-Version: 8\r\n"));
    CHECK(status_of(v8) == "HTTP/1.1 426 Upgrade Required");
    CHECK(v8.find("\r\nSec-WebSocket-Version: 13\r\n") != std::string::npos);
    CHECK(status_of(answer(h(up, conn, key, ""))) == "HTTP/1.1 426 Upgrade Required");
    auto post = answer("POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    CHECK(status_of(post) == "HTTP/1.1 405 Method Not Allowed");
    CHECK(post.find("\r\nAllow: GET\r\n") != std::string::npos);
    CHECK(status_of(answer("GET /ws HTTP/1.0\r\n" + up + "Connection: Upgrade\r\n" + key + v13 + "\r\n")) ==
          "HTTP/1.1 400 Bad Request");
}

TEST_CASE("websocket handshake: a refused upgrade leaves the connection to HTTP", "[web][websocket]") {
    WsServer server;
    server.root->put_child("hello", text("hi"));
    // An upgrade to a plain resource, then a refused one, then a normal request, pipelined: all answered.
    auto seen = server.exchange_n({handshake("/hello") + handshake("/nowhere") + "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"}, 3);
    auto responses = split_responses(seen.bytes);
    REQUIRE(responses.size() == 3);
    CHECK(responses[0].status_line == "HTTP/1.1 200 OK");
    CHECK(responses[1].status_line == "HTTP/1.1 404 Not Found");
    CHECK(responses[2].body == "hi");
}

TEST_CASE("websocket handshake: frames in the same write as the upgrade reach the protocol", "[web][websocket]") {
    WsServer server;
    auto seen = parse_server(server.exchange({handshake() + ws_text("early") + ws_close(1000)}));
    CHECK(seen.status_line == "HTTP/1.1 101 Switching Protocols");
    CHECK(seen.frames == Frames{sf(1, "early"), sclose(1000)});
}

TEST_CASE("websocket prepared message: the frame encoded once is sent as it is, to each send", "[web][websocket]") {
    const PreparedMessage text("héllo", MessageType::text);
    CHECK(text.payload() == "héllo");
    CHECK(*text.frame() == std::string("\x81\x06h\xc3\xa9llo"));
    const std::string big(300, 'b');  // a 16-bit length
    CHECK(*PreparedMessage(big, MessageType::binary).frame() == std::string("\x82\x7e\x01\x2c") + big);

    WsServer server;
    const std::string long_text(2000, 'l');  // shared with the transport rather than copied
    auto seen = parse_server(server.exchange({handshake() + ws_text("twice hi") + ws_binary("twice \x01\x02") +
                                              ws_text("twice " + long_text) + ws_close(1000)}));
    CHECK(seen.frames == Frames{sf(1, "hi"), sf(1, "hi"), sf(2, "\x01\x02"), sf(2, "\x01\x02"), sf(1, long_text),
                                sf(1, long_text), sclose(1000)});
    CHECK_FALSE(seen.malformed);
}

namespace {
// Invalid UTF-8 of each kind (RFC 3629): a lone continuation byte, an overlong "/", a surrogate (U+D800),
// a sequence cut short at the end, and a code point above U+10FFFF.
const std::vector<std::string> not_utf8 = {"a\x80z", "\xc0\xaf", "\xed\xa0\x80", "caf\xc3", "\xf4\x90\x80\x80"};
// Two-, three- and four-byte sequences, at the edges of what is allowed.
const std::string multi_byte = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xed\x9f\xbf \xef\xbf\xbd \xf4\x8f\xbf\xbf";
}  // namespace

TEST_CASE("websocket UTF-8 validator: a bad sequence is found at every offset, whole or fed in two pieces",
          "[web][websocket]") {
    // The validator skips ASCII eight bytes at a time: put each sequence at every offset of an ASCII run
    // longer than two words, so that it falls before, across and after a word boundary.
    auto check_all = [](const std::string& sequence, bool valid) {
        for (std::size_t before = 0; before <= 17; ++before) {
            const std::string text = std::string(before, 'a') + sequence + std::string(17 - before, 'z');
            INFO("offset " << before);
            CHECK(weft::web::detail::valid_utf8(text) == valid);
            for (std::size_t split = 0; split <= text.size(); ++split) {
                weft::web::detail::Utf8Validator v;
                const bool ok = v.feed(std::string_view(text).substr(0, split)) &&
                                v.feed(std::string_view(text).substr(split)) && v.complete();
                CHECK(ok == valid);
            }
        }
    };
    for (const auto& bad : not_utf8) {
        INFO(bad);
        check_all(bad, false);
    }
    check_all(multi_byte, true);
    check_all("\x7f", true);
    check_all("\x80", false);
}

TEST_CASE("websocket prepared message: text that is not UTF-8 is refused, bytes are not checked", "[web][websocket]") {
    for (const auto& bad : not_utf8) {
        INFO(bad);
        CHECK_THROWS_AS(PreparedMessage(bad, MessageType::text), std::invalid_argument);
        CHECK_THROWS_WITH(PreparedMessage(bad, MessageType::text),
                          Catch::Matchers::StartsWith("PreparedMessage: text is not valid UTF-8"));
        CHECK(PreparedMessage(bad, MessageType::binary).payload() == bad);
    }
    CHECK(PreparedMessage(multi_byte, MessageType::text).payload() == multi_byte);
    CHECK(PreparedMessage("", MessageType::text).payload().empty());
}

TEST_CASE("websocket send_text: text that is not UTF-8 throws std::invalid_argument and sends nothing",
          "[web][websocket]") {
    // Each binary message it gets is sent back as text (send_text, then send_shared) and as bytes.
    struct TextSender : WebSocketProtocol {
        std::vector<std::string>& refused;
        explicit TextSender(std::vector<std::string>& r) : refused(r) {}
        void message_received(std::string_view data, MessageType) override {
            try {
                transport().send_text(data);
            } catch (const std::invalid_argument& e) {
                refused.emplace_back(e.what());
            }
            try {
                transport().send_shared(std::make_shared<const std::string>(data), MessageType::text);
            } catch (const std::invalid_argument& e) {
                refused.emplace_back(e.what());
            }
            transport().send_binary(data);
        }
    };
    std::vector<std::string> refused;
    WebServer server;
    server.root->put_child("ws", std::make_shared<WebSocketResource>(
                                     server.reactor, [&refused](Request&) { return std::make_unique<TextSender>(refused); }));
    server.start();
    std::string input = handshake();
    Frames expected;
    for (const auto& bad : not_utf8) {
        input += ws_binary(bad);
        expected.push_back(sf(2, bad));  // the bytes only: no text frame
    }
    input += ws_binary(multi_byte) + ws_close(1000);
    expected.insert(expected.end(), {sf(1, multi_byte), sf(1, multi_byte), sf(2, multi_byte), sclose(1000)});
    auto seen = parse_server(server.exchange({input}));
    CHECK(seen.frames == expected);
    CHECK_FALSE(seen.malformed);
    REQUIRE(refused.size() == 2 * not_utf8.size());
    for (std::size_t i = 0; i < refused.size(); i += 2) {
        CHECK(refused[i].starts_with("WebSocketTransport::send_text: text is not valid UTF-8"));
        CHECK(refused[i + 1].starts_with("WebSocketTransport::send_shared: text is not valid UTF-8"));
    }
}

TEST_CASE("websocket close: a reason that is not UTF-8 throws std::invalid_argument and closes nothing; a long "
          "one is cut at 123 bytes on a character boundary", "[web][websocket]") {
    // 121 ASCII bytes, then a euro sign (3 bytes) straddling the cut at 123: it is left out, not split.
    static const std::string long_reason = std::string(121, 'r') + "\xe2\x82\xac" + "tail";
    struct Closer : WebSocketProtocol {
        std::vector<std::string>& refused;
        explicit Closer(std::vector<std::string>& r) : refused(r) {}
        void message_received(std::string_view data, MessageType) override {
            if (data == "bye") return transport().close(4001, long_reason);
            try {
                transport().close(4000, data);
            } catch (const std::invalid_argument& e) {
                refused.emplace_back(e.what());
            }
            transport().send_binary(data);  // still open
        }
    };
    std::vector<std::string> refused;
    WebServer server;
    server.root->put_child("ws", std::make_shared<WebSocketResource>(
                                     server.reactor, [&refused](Request&) { return std::make_unique<Closer>(refused); }));
    server.start();
    std::string input = handshake();
    Frames expected;
    for (const auto& bad : not_utf8) {
        input += ws_binary(bad);
        expected.push_back(sf(2, bad));
    }
    input += ws_binary("bye") + ws_close(4001);
    expected.push_back(sclose(4001, std::string(121, 'r')));
    auto seen = parse_server(server.exchange({input}));
    CHECK(seen.frames == expected);
    CHECK_FALSE(seen.malformed);
    REQUIRE(refused.size() == not_utf8.size());
    for (const auto& what : refused) CHECK(what.starts_with("WebSocketTransport::close: text is not valid UTF-8"));
}

TEST_CASE("websocket handshake: the factory sees the request and may refuse with 403", "[web][websocket]") {
    auto try_nick = [](std::string nick, std::string& seen_query) {
        WebServer server;
        WsEvents events;
        server.root->put_child("ws", std::make_shared<WebSocketResource>(server.reactor, [&](Request& r) -> std::unique_ptr<WebSocketProtocol> {
            seen_query = std::string(r.query_param("nick").value_or(""));
            if (seen_query == "mallory") return nullptr;
            return std::make_unique<WsEcho>(events);
        }));
        server.start();
        return status_of(answer(server, handshake("/ws?nick=" + nick)));
    };
    std::string seen_query;
    CHECK(try_nick("mallory", seen_query) == "HTTP/1.1 403 Forbidden");
    CHECK(seen_query == "mallory");
    CHECK(try_nick("alice", seen_query) == "HTTP/1.1 101 Switching Protocols");
    CHECK(seen_query == "alice");
}

TEST_CASE("websocket handshake: the first supported subprotocol the client offers is chosen", "[web][websocket]") {
    WebSocketOptions options;
    options.subprotocols = {"chat.v2", "chat.v1"};
    auto both = answer(handshake("/ws", "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n"), options);
    CHECK(both.find("\r\nSec-WebSocket-Protocol: chat.v2\r\n") != std::string::npos);
    auto two_headers = answer(handshake("/ws", "Sec-WebSocket-Protocol: x\r\nSec-WebSocket-Protocol: chat.v1\r\n"), options);
    CHECK(two_headers.find("\r\nSec-WebSocket-Protocol: chat.v1\r\n") != std::string::npos);
    auto none = answer(handshake("/ws", "Sec-WebSocket-Protocol: CHAT.V1\r\n"), options);
    CHECK(status_of(none) == "HTTP/1.1 101 Switching Protocols");
    CHECK(none.find("Sec-WebSocket-Protocol") == std::string::npos);
}

TEST_CASE("websocket close: the server closes, waits for the client's close, then drops TCP", "[web][websocket]") {
    WsServer server;
    // The echo closes with 1000 "bye" on "close"; the client answers the close frame when it sees it.
    auto raw = server.exchange({handshake(), ws_text("close")}, {}, [](weft::Transport& t, const std::string& b) {
        if (b.find(std::string("\x88\x05\x03\xe8" "bye", 7)) != std::string::npos && !t.disconnecting()) {
            t.write(ws_close(1000));
        }
    });
    auto seen = parse_server(raw);
    CHECK(seen.frames == Frames{sclose(1000, "bye")});
    CHECK(seen.closed_by_server);
    // RFC 6455 7.1.5: the close code is the one of the first close frame *received*: the client's.
    CHECK(server.events.lost_code == 1000);
    CHECK(server.events.lost_reason.empty());
}

TEST_CASE("websocket close: a peer that never answers the close is dropped after close_timeout", "[web][websocket]") {
    WebSocketOptions options;
    options.close_timeout = std::chrono::milliseconds(100);
    WsServer server(options);
    auto seen = ws_exchange(server, {ws_text("close")});
    CHECK(seen.in_time);
    CHECK(seen.frames == Frames{sclose(1000, "bye")});
    CHECK(seen.closed_by_server);
    CHECK(server.events.lost_code == weft::web::close_code::abnormal);
}

TEST_CASE("websocket close: a TCP connection lost without a close frame is 1006", "[web][websocket]") {
    WsServer server;
    server.events.on_lost = [&] { server.reactor.stop(); };
    weft_test::LambdaClientFactory client([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_made = [](weft_test::Recorder& r) { r.transport().write(handshake() + ws_text("hi")); };
        p->on_data = [](weft_test::Recorder& r, std::string_view) {
            if (r.received.find("hi") != std::string::npos) r.transport().lose_connection();
        };
        return p;
    });
    server.reactor.connect_tcp("127.0.0.1", server.port->port(), client);
    REQUIRE(weft_test::run_bounded(server.reactor, std::chrono::seconds(10)));
    CHECK(server.events.messages == std::vector<std::string>{"hi"});
    CHECK(server.events.lost_code == weft::web::close_code::abnormal);
}

namespace {
/// Sends 64 KiB messages, one per loop turn, until its connection is lost.
struct Flooder : WebSocketProtocol {
    Flooder(weft::Reactor& r, WsEvents& e) : reactor(r), events(e) {}
    void connection_made() override { next(); }
    void next() {
        if (lost) return;
        transport().send_binary(std::string(64 * 1024, 'f'));
        ++sent;
        peak = std::max(peak, transport().buffered_bytes());
        call = reactor.call_later(std::chrono::milliseconds(0), [this] { next(); });
    }
    void connection_lost(std::uint16_t code, std::string_view reason) override {
        lost = true;
        if (call.active()) call.cancel();
        events.messages.push_back(std::to_string(peak));
        events.lost_code = code;
        events.lost_reason = std::string(reason);
        if (events.on_lost) {
            events.on_lost();
        } else {
            reactor.stop();
        }
    }
    weft::Reactor& reactor;
    WsEvents& events;
    weft::DelayedCall call;
    bool lost = false;
    int sent = 0;
    std::size_t peak = 0;  // the most bytes queued
};
}  // namespace

TEST_CASE("websocket backpressure: a client that stops reading is cut, as the chat cuts slow clients", "[web][websocket]") {
    WebServer server;
    WsEvents events;
    WebSocketOptions options;
    options.send_buffer_limit = 256 * 1024;
    Flooder* flooder = nullptr;
    server.root->put_child("ws", std::make_shared<WebSocketResource>(server.reactor, [&](Request&) {
        auto p = std::make_unique<Flooder>(server.reactor, events);
        flooder = p.get();
        return p;
    }, options));
    server.start();
    weft_test::LambdaClientFactory client([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_made = [](weft_test::Recorder& r) { r.transport().write(handshake()); };
        p->on_data = [](weft_test::Recorder& r, std::string_view) { r.transport().pause_producing(); };  // never reads again
        return p;
    });
    server.reactor.connect_tcp("127.0.0.1", server.port->port(), client);
    REQUIRE(weft_test::run_bounded(server.reactor, std::chrono::seconds(20)));
    CHECK(events.lost_code == weft::web::close_code::abnormal);
    CHECK(events.lost_reason.starts_with("peer too slow"));
    // Memory stayed bounded: never more queued than the hard limit (the limit plus 1 MiB).
    REQUIRE(events.messages.size() == 1);
    CHECK(std::stoul(events.messages[0]) <= 256 * 1024 + 1024 * 1024);
    (void)flooder;
}

TEST_CASE("websocket handshake: a protocol whose connection_made throws loses its connection", "[web][websocket]") {
    struct Throws : WebSocketProtocol {
        void connection_made() override { throw std::runtime_error("cannot start"); }
    };
    WebServer server;
    server.root->put_child("ws", std::make_shared<WebSocketResource>(server.reactor, [](Request&) { return std::make_unique<Throws>(); }));
    server.start();
    auto seen = server.exchange({handshake()});
    CHECK(seen.in_time);
    CHECK(seen.closed_by_server);  // aborted: the 101 itself may be dropped with the connection
}

TEST_CASE("websocket backpressure: cutting many slow peers logs one warning a second", "[web][websocket]") {
    weft_test::LogCapture log;
    WebServer server;
    WsEvents events;
    WebSocketOptions options;
    options.send_buffer_limit = 64 * 1024;
    constexpr int peers = 4;
    int lost = 0;
    events.on_lost = [&] {
        if (++lost == peers) server.reactor.stop();
    };
    server.root->put_child("ws", std::make_shared<WebSocketResource>(server.reactor, [&](Request&) {
        return std::make_unique<Flooder>(server.reactor, events);
    }, options));
    server.start();
    weft_test::LambdaClientFactory client([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_made = [](weft_test::Recorder& r) { r.transport().write(handshake()); };
        p->on_data = [](weft_test::Recorder& r, std::string_view) { r.transport().pause_producing(); };
        return p;
    });
    for (int i = 0; i < peers; ++i) server.reactor.connect_tcp("127.0.0.1", server.port->port(), client);
    const auto start = std::chrono::steady_clock::now();
    REQUIRE(weft_test::run_bounded(server.reactor, std::chrono::seconds(20)));
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start).count();
    int warnings = 0;
    for (const auto& m : log.messages()) warnings += m.find("is too slow") != std::string::npos;
    CHECK(warnings >= 1);
    CHECK(warnings <= 1 + seconds);
}
