// WebSocket frames over loopback, exact bytes, after the Autobahn testsuite's case groups: 1 framing,
// 2 ping/pong, 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close handling, 9 limits. Each
// TEST_CASE names the Autobahn cases it covers. The server is an echo protocol; frames from the client are
// masked with a fixed key, the server's come back unmasked.
#include <catch2/catch.hpp>

#include "websocket_support.hpp"

using namespace web_test;
using Frames = std::vector<ServerFrame>;

namespace {
/// Runs `frames` against a fresh echo server and checks the server's frames and that it closed the TCP
/// connection.
WsSeen run(std::vector<std::string> frames, weft::web::WebSocketOptions options = {}) {
    WsServer server(std::move(options));
    auto seen = ws_exchange(server, std::move(frames));
    CHECK(seen.in_time);
    CHECK(seen.status_line == "HTTP/1.1 101 Switching Protocols");
    CHECK_FALSE(seen.malformed);
    CHECK(seen.closed_by_server);
    return seen;
}
}  // namespace

TEST_CASE("websocket 1.1.1-1.1.7, 1.2.1-1.2.7: text and binary echoed at every length encoding", "[web][websocket]") {
    for (std::size_t n : {0, 125, 126, 127, 128, 65535, 65536}) {
        INFO("length " << n);
        std::string payload(n, '*');
        auto seen = run({ws_text(payload), ws_binary(payload), ws_close(1000)});
        CHECK(seen.frames == Frames{sf(1, payload), sf(2, payload), sclose(1000)});
    }
    // The exact header bytes of each encoding: 7 bits, 16 bits, 64 bits.
    WsServer server;
    auto raw = server.exchange({handshake(), ws_binary("abc"), ws_binary(std::string(126, 'x')), ws_binary(std::string(65536, 'y')), ws_close(1000)});
    auto body = raw.bytes.substr(raw.bytes.find("\r\n\r\n") + 4);
    CHECK(body.substr(0, 5) == std::string("\x82\x03" "abc", 5));
    CHECK(body.substr(5, 4) == std::string("\x82\x7e\x00\x7e", 4));
    CHECK(body.substr(5 + 4 + 126, 10) == std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

TEST_CASE("websocket 1.1.8, 1.2.8: a 64 KiB message arriving in 997-byte chunks", "[web][websocket]") {
    std::string payload(65535, 'z');
    std::string wire = ws_text(payload);
    std::vector<std::string> pieces;
    for (std::size_t i = 0; i < wire.size(); i += 997) pieces.push_back(wire.substr(i, 997));
    pieces.push_back(ws_close(1000));
    auto seen = run(pieces);
    CHECK(seen.frames == Frames{sf(1, payload), sclose(1000)});
}

TEST_CASE("websocket 2.1-2.4, 2.6, 2.10: pings are answered with their payload", "[web][websocket]") {
    std::string binary_payload("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8);
    std::string p125(125, 'p');
    std::string chunked = ws_ping(p125);
    std::vector<std::string> pieces{ws_ping(), ws_ping("Hello, world!"), ws_ping(binary_payload)};
    for (char c : chunked) pieces.emplace_back(1, c);  // 2.6: one byte per write
    for (int i = 0; i < 10; ++i) pieces.push_back(ws_ping("payload-" + std::to_string(i)));
    pieces.push_back(ws_close(1000));
    auto seen = run(pieces);
    Frames expected{sf(10, ""), sf(10, "Hello, world!"), sf(10, binary_payload), sf(10, p125)};
    for (int i = 0; i < 10; ++i) expected.push_back(sf(10, "payload-" + std::to_string(i)));
    expected.push_back(sclose(1000));
    CHECK(seen.frames == expected);
}

TEST_CASE("websocket 2.5: a ping over 125 bytes fails the connection with 1002", "[web][websocket]") {
    auto seen = run({ws_ping(std::string(126, 'p'))});
    REQUIRE(seen.frames.size() == 1);
    CHECK(seen.frames[0].payload.substr(0, 2) == close_body(1002));
}

TEST_CASE("websocket 2.7-2.9: unsolicited pongs are ignored", "[web][websocket]") {
    auto seen = run({ws_pong(), ws_pong("unsolicited pong payload"), ws_ping("ping payload"), ws_close(1000)});
    CHECK(seen.frames == Frames{sf(10, "ping payload"), sclose(1000)});
}

TEST_CASE("websocket 3.1-3.7: a reserved bit fails the connection with 1002, after what came before", "[web][websocket]") {
    auto code_of = [](const WsSeen& s) { return s.frames.empty() ? std::string() : s.frames.back().payload.substr(0, 2); };
    auto s31 = run({frame(b0(1, true, 1), "Hello")});
    CHECK(s31.frames.size() == 1);
    CHECK(code_of(s31) == close_body(1002));
    auto s32 = run({ws_text("Hello"), frame(b0(1, true, 2), "Hello"), ws_ping("Hello")});
    REQUIRE(s32.frames.size() == 2);
    CHECK(s32.frames[0] == sf(1, "Hello"));
    CHECK(code_of(s32) == close_body(1002));
    auto s33 = run({ws_text("Hello") + frame(b0(1, true, 3), "Hello") + ws_ping("Hello")});  // 3.3: in one write
    REQUIRE(s33.frames.size() == 2);
    CHECK(code_of(s33) == close_body(1002));
    for (auto [first, name] : {std::pair{b0(2, true, 5), "3.5 binary"}, {b0(9, true, 6), "3.6 ping"}, {b0(8, true, 7), "3.7 close"}}) {
        INFO(name);
        auto s = run({frame(first, first == b0(8, true, 7) ? close_body(1000) : std::string("\x00\xff", 2))});
        REQUIRE(s.frames.size() == 1);
        CHECK(code_of(s) == close_body(1002));
    }
}

TEST_CASE("websocket 4.1.1-4.2.5: reserved opcodes fail the connection with 1002", "[web][websocket]") {
    for (std::uint8_t op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
        INFO("opcode " << int(op));
        auto s = run({ws_text("Hello"), frame(b0(op), "reserved opcode payload"), ws_ping("Hello")});
        REQUIRE(s.frames.size() == 2);
        CHECK(s.frames[0] == sf(1, "Hello"));
        CHECK(s.frames[1].payload.substr(0, 2) == close_body(1002));
    }
}

TEST_CASE("websocket 5.1, 5.2: fragmented control frames fail with 1002", "[web][websocket]") {
    for (std::uint8_t op : {9, 10}) {
        auto s = run({frame(b0(op, false), "fragment1"), frame(b0(0, true), "fragment2")});
        REQUIRE(s.frames.size() == 1);
        CHECK(s.frames[0].payload.substr(0, 2) == close_body(1002));
    }
}

TEST_CASE("websocket 5.3-5.8, 5.19, 5.20: fragments joined, control frames between them", "[web][websocket]") {
    // 5.3/5.4: two fragments; 5.6: a ping between them; 5.7/5.8 the same in one write; 5.19/5.20: five
    // fragments with pings, one per write.
    auto s1 = run({ws_text("fragment1", false), ws_cont("fragment2"), ws_close(1000)});
    CHECK(s1.frames == Frames{sf(1, "fragment1fragment2"), sclose(1000)});
    auto s2 = run({ws_text("fragment1", false) + ws_ping("pongme!") + ws_cont("fragment2"), ws_close(1000)});
    CHECK(s2.frames == Frames{sf(10, "pongme!"), sf(1, "fragment1fragment2"), sclose(1000)});
    auto s3 = run({ws_text("fragment1", false), ws_cont("fragment2", false), ws_ping("pongme 1!"), ws_cont("fragment3", false),
                   ws_ping("pongme 2!"), ws_cont("fragment4", false), ws_cont("fragment5"), ws_close(1000)});
    CHECK(s3.frames == Frames{sf(10, "pongme 1!"), sf(10, "pongme 2!"),
                              sf(1, "fragment1fragment2fragment3fragment4fragment5"), sclose(1000)});
    auto s4 = run({ws_binary(std::string("\x00\x01", 2), false), ws_cont(std::string("\x02\x03", 2)), ws_close(1000)});
    CHECK(s4.frames == Frames{sf(2, std::string("\x00\x01\x02\x03", 4)), sclose(1000)});
}

TEST_CASE("websocket 5.9-5.18: continuation frames out of place fail with 1002", "[web][websocket]") {
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
        {"5.9 continuation first, fin", {ws_cont("non-continuation payload"), ws_text("Hello, world!")}},
        {"5.10 the same, one write", {ws_cont("non-continuation payload") + ws_text("Hello, world!")}},
        {"5.12 continuation first, not fin", {ws_cont("non-continuation payload", false), ws_text("Hello, world!")}},
        {"5.15 new text frame inside a message", {ws_text("fragment1", false), ws_cont("fragment2"), ws_cont("fragment3", false), ws_text("fragment4")}},
        {"5.18 text start twice", {ws_text("fragment1", false), ws_text("fragment2")}},
    };
    for (const auto& [name, frames] : cases) {
        INFO(name);
        auto s = run(frames);
        REQUIRE_FALSE(s.frames.empty());
        CHECK(s.frames.back().payload.substr(0, 2) == close_body(1002));
        if (name.starts_with("5.15")) CHECK(s.frames.front() == sf(1, "fragment1fragment2"));
    }
}

TEST_CASE("websocket 6.1.1-6.1.3, 6.2.1-6.2.4: valid UTF-8, also split at every byte across fragments", "[web][websocket]") {
    const std::string hello = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!";
    const std::string kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    const std::string astral = "\xf0\x9d\x84\x9e\xf4\x8f\xbf\xbf";  // U+1D11E, U+10FFFF
    auto s0 = run({ws_text("", false), ws_cont("", false), ws_cont(""), ws_close(1000)});
    CHECK(s0.frames == Frames{sf(1, ""), sclose(1000)});
    for (const std::string& t : {hello, kosme, astral}) {
        std::vector<std::string> pieces{ws_text(t)};
        for (std::size_t i = 0; i < t.size(); ++i) pieces.push_back(i == 0 ? ws_text(t.substr(0, 1), false) : ws_cont(t.substr(i, 1), i + 1 == t.size()));
        pieces.push_back(ws_close(1000));
        auto s = run(pieces);
        CHECK(s.frames == Frames{sf(1, t), sf(1, t), sclose(1000)});
    }
}

TEST_CASE("websocket 6.3.1, 6.3.2, 6.8, 6.9-6.21: invalid UTF-8 fails with 1007, also split across fragments", "[web][websocket]") {
    const std::vector<std::pair<std::string, std::string>> invalid{
        {"6.3.1 kosme-edited", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"},
        {"6.6.x cut short at the end", "\xce\xba\xe1\xbd"},
        {"6.8.1 five-byte sequence", "\xf8\x88\x80\x80\x80"},
        {"6.10.3 above U+10FFFF", "\xf4\x90\x80\x80"},
        {"6.12.x lone continuation", "\x80"},
        {"6.14.x lone start followed by space", "\xc0 "},
        {"6.17.x overlong slash", "\xc0\xaf"},
        {"6.18.x overlong three bytes", "\xe0\x80\xaf"},
        {"6.19.x surrogate", "\xed\xa0\x80"},
        {"6.20.x paired surrogates", "\xed\xa0\x80\xed\xb0\x80"},
        {"invalid byte", "\xff"},
    };
    for (const auto& [name, bytes] : invalid) {
        INFO(name);
        auto whole = run({ws_text(bytes), ws_text("never echoed")});
        REQUIRE(whole.frames.size() == 1);
        CHECK(whole.frames[0].payload.substr(0, 2) == close_body(1007));
        // 6.3.2: the same bytes one per fragment.
        std::vector<std::string> pieces;
        for (std::size_t i = 0; i < bytes.size(); ++i) pieces.push_back(i == 0 ? ws_text(bytes.substr(0, 1), false) : ws_cont(bytes.substr(i, 1), i + 1 == bytes.size()));
        if (bytes.size() == 1) pieces = {ws_text(bytes)};
        auto split = run(pieces);
        REQUIRE(split.frames.size() == 1);
        CHECK(split.frames[0].payload.substr(0, 2) == close_body(1007));
    }
}

TEST_CASE("websocket 6.4.1-6.4.4: invalid UTF-8 fails fast, before the message ends", "[web][websocket]") {
    // Only the first fragment is sent, never the last: the server must fail the connection on it.
    auto s = run({ws_text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", false), ws_cont("\xf4\x90\x80\x80", false)});
    REQUIRE(s.frames.size() == 1);
    CHECK(s.frames[0].payload.substr(0, 2) == close_body(1007));
    // An overlong split across two fragments: E0 alone is fine, E0 80 is not.
    auto split = run({ws_text("\xe0", false), ws_cont("\x80\xaf", false)});
    REQUIRE(split.frames.size() == 1);
    CHECK(split.frames[0].payload.substr(0, 2) == close_body(1007));
}

TEST_CASE("websocket 7.1.1-7.1.6: the close handshake; nothing answered after the peer's close", "[web][websocket]") {
    WsServer server;
    auto s = ws_exchange(server, {ws_text("Hello World!"), ws_close(1000) + ws_close(1000) + ws_ping("after close") + ws_text("after close")});
    CHECK(s.frames == Frames{sf(1, "Hello World!"), sclose(1000)});
    CHECK(s.closed_by_server);
    CHECK(server.events.lost_code == 1000);
    CHECK(server.events.messages == std::vector<std::string>{"Hello World!"});
    // 7.1.5: a fragmented message cut by a close is not delivered.
    WsServer server2;
    auto s2 = ws_exchange(server2, {ws_text("fragment1", false), ws_close(1000), ws_cont("fragment2")});
    CHECK(s2.frames == Frames{sclose(1000)});
    CHECK(server2.events.messages.empty());
}

TEST_CASE("websocket 7.3.1-7.3.6: close bodies", "[web][websocket]") {
    auto empty = run({frame(b0(8), "")});  // 7.3.1: no code: echoed without one
    CHECK(empty.frames == Frames{sf(8, "")});
    auto one = run({frame(b0(8), "a")});  // 7.3.2
    REQUIRE(one.frames.size() == 1);
    CHECK(one.frames[0].payload.substr(0, 2) == close_body(1002));
    CHECK(run({ws_close(1000, "Hello World!")}).frames == Frames{sclose(1000)});  // 7.3.3/7.3.4: the code echoed
    CHECK(run({ws_close(1000, std::string(123, '*'))}).frames == Frames{sclose(1000)});  // 7.3.5
    auto big = run({frame(b0(8), close_body(1000, std::string(124, '*')))});  // 7.3.6: 126-byte control frame
    REQUIRE(big.frames.size() == 1);
    CHECK(big.frames[0].payload.substr(0, 2) == close_body(1002));
}

TEST_CASE("websocket 7.5.1: a close reason that is not UTF-8 fails with 1007", "[web][websocket]") {
    auto s = run({ws_close(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")});
    REQUIRE(s.frames.size() == 1);
    CHECK(s.frames[0].payload.substr(0, 2) == close_body(1007));
}

TEST_CASE("websocket 7.7.1-7.7.13, 7.9.1-7.9.9: valid close codes echoed, invalid ones fail with 1002", "[web][websocket]") {
    for (std::uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}) {
        INFO("code " << code);
        WsServer server;
        auto s = ws_exchange(server, {ws_close(code)});
        CHECK(s.frames == Frames{sclose(code)});
        CHECK(server.events.lost_code == code);
    }
    for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
        INFO("code " << code);
        auto s = run({ws_close(code)});
        REQUIRE(s.frames.size() == 1);
        CHECK(s.frames[0].payload.substr(0, 2) == close_body(1002));
    }
}

TEST_CASE("websocket 9.1.1-9.2.6: big messages up to the limit, 1009 beyond it", "[web][websocket]") {
    weft::web::WebSocketOptions options;
    options.max_message_size = 4 * 1024 * 1024;
    options.send_buffer_limit = 8 * 1024 * 1024;  // the echo sends them back whole
    for (std::size_t n : {64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024}) {
        INFO("size " << n);
        std::string payload(n, 'B');
        auto s = run({ws_text(payload), ws_close(1000)}, options);
        CHECK(s.frames == Frames{sf(1, payload), sclose(1000)});
    }
    // 9.4.x: a big binary message in 64 KiB fragments.
    std::vector<std::string> pieces;
    std::string whole;
    for (int i = 0; i < 16; ++i) {
        std::string part(64 * 1024, static_cast<char>('a' + i));
        whole += part;
        pieces.push_back(i == 0 ? ws_binary(part, false) : ws_cont(part, i == 15));
    }
    pieces.push_back(ws_close(1000));
    CHECK(run(pieces, options).frames == Frames{sf(2, whole), sclose(1000)});
    // One byte over the limit: refused on the frame header, before the payload is read.
    options.max_message_size = 1024;
    std::string over = ws_text(std::string(1025, 'x'));
    auto s = run({over.substr(0, 4)}, options);
    REQUIRE(s.frames.size() == 1);
    CHECK(s.frames[0].payload.substr(0, 2) == close_body(1009));
    // Over the limit in fragments that are each under it.
    auto f = run({ws_text(std::string(600, 'x'), false), ws_cont(std::string(600, 'x'))}, options);
    REQUIRE(f.frames.size() == 1);
    CHECK(f.frames[0].payload.substr(0, 2) == close_body(1009));
    CHECK(run({ws_text(std::string(1024, 'x')), ws_close(1000)}, options).frames == Frames{sf(1, std::string(1024, 'x')), sclose(1000)});
}

TEST_CASE("websocket: unmasked client frames fail with 1002", "[web][websocket]") {
    auto s = run({frame(b0(1), "Hello", false)});
    REQUIRE(s.frames.size() == 1);
    CHECK(s.frames[0].payload.substr(0, 2) == close_body(1002));
}
