// Unit tests of the chat protocol and room on StringTransport and testing::Clock: every command, every
// error path, the limits, and the same input fed whole and in every small chunk size.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "chat_protocol.hpp"
#include "weft/testing/clock.hpp"
#include "weft/testing/string_transport.hpp"

using weft::chat::ChatFactory;
using weft::chat::ChatOptions;
using weft::chat::ChatProtocol;
using weft::testing::StringTransport;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> split_lines(const std::string& s) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at < s.size()) {
        const std::size_t end = s.find("\r\n", at);
        REQUIRE(end != std::string::npos);  // every server line ends with \r\n
        out.push_back(s.substr(at, end - at));
        at = end + 2;
    }
    return out;
}

/// One fake client: its transport and the protocol the factory built for it.
struct Client {
    std::unique_ptr<StringTransport> transport;
    std::unique_ptr<weft::Protocol> protocol;
    bool lost = false;

    ChatProtocol& chat() const { return static_cast<ChatProtocol&>(*protocol); }
    std::string name() const { return chat().name(); }
    /// Feeds `input` in chunks of `chunk` bytes (0: whole).
    void send(std::string_view input, std::size_t chunk = 0) const {
        if (chunk == 0) chunk = std::max<std::size_t>(input.size(), 1);
        for (std::size_t at = 0; at < input.size(); at += chunk) {
            const std::string piece(input.substr(at, chunk));  // dies after the call
            protocol->data_received(piece);
        }
    }
    /// The lines received since the last call.
    std::vector<std::string> take() const { return split_lines(transport->clear()); }
    /// The connection ends (as the reactor would deliver it).
    void lose(const weft::Reason& reason = weft::Reason::done()) {
        if (lost) return;
        lost = true;
        transport->set_state(weft::ConnectionState::disconnected);
        protocol->connection_lost(reason);
    }
};

struct Room {
    weft::testing::Clock clock;
    ChatFactory factory;
    std::vector<std::unique_ptr<Client>> clients;
    std::uint16_t next_port = 1001;

    explicit Room(ChatOptions options = {}) : factory(clock, options) {}
    ~Room() {
        for (auto& c : clients) c->lose();
    }

    Client& connect(const std::string& host = "10.0.0.7") {
        auto c = std::make_unique<Client>();
        const weft::Address peer{host, next_port++};
        c->transport = std::make_unique<StringTransport>(peer);
        c->protocol = factory.build_protocol(peer);
        c->protocol->set_factory(&factory);
        c->protocol->make_connection(*c->transport);
        clients.push_back(std::move(c));
        return *clients.back();
    }
    /// Connects and discards the welcome; the others' "joined" notices are discarded too.
    Client& join(const std::string& host = "10.0.0.7") {
        Client& c = connect(host);
        for (auto& other : clients) other->transport->clear();
        return c;
    }
};

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("a newcomer is welcomed by its ip:port and the others are told it joined", "[chat][unit]") {
    Room room;
    Client& a = room.connect();
    CHECK(a.take() == Lines{"Welcome to the chat server, 10.0.0.7:1001"});
    Client& b = room.connect();
    CHECK(b.take() == Lines{"Welcome to the chat server, 10.0.0.7:1002"});
    CHECK(a.take() == Lines{"* 10.0.0.7:1002 joined"});
    CHECK(room.factory.client_count() == 2);
    CHECK(a.transport->nodelay);
}

TEST_CASE("a line goes to everyone, sender included, in any chunking", "[chat][unit]") {
    for (std::size_t chunk = 0; chunk <= 9; ++chunk) {
        INFO("chunk size " << chunk);
        Room room;
        Client& a = room.join();
        Client& b = room.join();
        a.send("hello there\r\nsecond\n\n\r\n  spaced  \n", chunk);
        const Lines expected{"10.0.0.7:1001: hello there", "10.0.0.7:1001: second", "10.0.0.7:1001:   spaced  "};
        CHECK(a.take() == expected);
        CHECK(b.take() == expected);
    }
}

TEST_CASE("a partial line waits for its newline", "[chat][unit]") {
    Room room;
    Client& a = room.join();
    a.send("half a ");
    CHECK(a.transport->value().empty());
    a.send("line\n");
    CHECK(a.take() == Lines{"10.0.0.7:1001: half a line"});
}

TEST_CASE("control characters are replaced, UTF-8 is relayed", "[chat][unit]") {
    Room room;
    Client& a = room.join();
    a.send(std::string("a\0b\x1b[2Jc\td\x7f\r\r\n", 14));
    a.send("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n");
    a.send("bad \xff\xfe \xc3 end\n");
    const Lines got = a.take();
    REQUIRE(got.size() == 3);
    CHECK(got[0] == "10.0.0.7:1001: a?b?[2Jc\td??");  // the first \r is text, the second the delimiter's
    CHECK(got[1] == "10.0.0.7:1001: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    CHECK(got[2] == "10.0.0.7:1001: bad ?? ? end");
}

TEST_CASE("append_sanitized: valid UTF-8 without controls comes out", "[chat][unit]") {
    auto clean = [](std::string_view in) {
        std::string out;
        weft::chat::append_sanitized(out, in);
        return out;
    };
    CHECK(clean("plain text, tabs\tand all ~!@#") == "plain text, tabs\tand all ~!@#");
    CHECK(clean(std::string_view("\0\x01\x1f\x7f", 4)) == "????");
    CHECK(clean("\xc2\x9b" "31m") == "?31m");                     // C1 CSI as UTF-8
    CHECK(clean("\xc2\xa0nbsp") == "\xc2\xa0nbsp");               // U+00A0 is not a control
    CHECK(clean("\xc0\xaf") == "??");                             // overlong '/'
    CHECK(clean("\xe0\x80\xaf") == "???");                        // overlong, 3 bytes
    CHECK(clean("\xed\xa0\x80") == "???");                        // a surrogate
    CHECK(clean("\xf4\x90\x80\x80") == "????");                   // above U+10FFFF
    CHECK(clean("\xf0\x9f\x98") == "???");                        // truncated at the end
    CHECK(clean("\xe2\x82" "A") == "??A");                        // truncated before ASCII
    CHECK(clean("\x80\xbf") == "??");                             // lone continuations
    CHECK(clean("\xf4\x8f\xbf\xbf") == "\xf4\x8f\xbf\xbf");       // U+10FFFF
    CHECK(clean("\xef\xbf\xbd") == "\xef\xbf\xbd");               // U+FFFD
}

TEST_CASE("valid_nick", "[chat][unit]") {
    CHECK(weft::chat::valid_nick("a"));
    CHECK(weft::chat::valid_nick("Alice_the-2nd"));
    CHECK(weft::chat::valid_nick(std::string(32, 'x')));
    CHECK_FALSE(weft::chat::valid_nick(""));
    CHECK_FALSE(weft::chat::valid_nick(std::string(33, 'x')));
    CHECK_FALSE(weft::chat::valid_nick("has space"));
    CHECK_FALSE(weft::chat::valid_nick("10.0.0.7:1001"));
    CHECK_FALSE(weft::chat::valid_nick("caf\xc3\xa9"));
}

TEST_CASE("/nick renames and tells everyone, later lines use the new name", "[chat][unit]") {
    Room room;
    Client& a = room.join();
    Client& b = room.join();
    a.send("/nick  alice \n");
    CHECK(a.take() == Lines{"* 10.0.0.7:1001 is now known as alice"});
    CHECK(b.take() == Lines{"* 10.0.0.7:1001 is now known as alice"});
    CHECK(a.name() == "alice");
    CHECK(room.factory.find("alice") == &a.chat());
    CHECK(room.factory.find("10.0.0.7:1001") == nullptr);

    b.send("hi alice\n");
    a.send("hi\n");
    CHECK(a.take() == Lines{"10.0.0.7:1002: hi alice", "alice: hi"});
    b.take();

    a.send("/nick bob\n");
    b.send("/nick alice\n");  // free again
    CHECK(b.take() == Lines{"* alice is now known as bob", "* 10.0.0.7:1002 is now known as alice"});
}

TEST_CASE("/nick errors: invalid, taken, unchanged, missing, the connection stays", "[chat][unit]") {
    Room room;
    Client& a = room.join();
    Client& b = room.join();
    b.send("/nick bob\n");
    a.take();
    b.take();
    a.send("/nick\n/nick \n/nick bad name\n/nick " + std::string(33, 'x') + "\n/nick bob\n/nick a:b\n");
    const std::string invalid = "! invalid name: use 1 to 32 characters of A-Z a-z 0-9 _ -";
    CHECK(a.take() == Lines{invalid, invalid, invalid, invalid, "! name taken: bob", invalid});
    b.send("/nick bob\n");
    CHECK(b.take() == Lines{"! you are already known as bob"});
    CHECK(b.transport->value().empty());
    CHECK_FALSE(a.transport->disconnect_requested());
    CHECK_FALSE(b.transport->disconnect_requested());
    CHECK(a.name() == "10.0.0.7:1001");
}

TEST_CASE("/who answers the sender only, names sorted", "[chat][unit]") {
    Room room;
    Client& a = room.join();
    Client& b = room.join();
    Client& c = room.join();
    a.send("/nick zed\n");
    c.send("/nick amy\n");
    a.take();
    b.take();
    c.take();
    b.send("/who\n");
    CHECK(b.take() == Lines{"* online (3): 10.0.0.7:1002, amy, zed"});
    CHECK(a.transport->value().empty());
    CHECK(c.transport->value().empty());
}

TEST_CASE("/me sends an action to everyone, without one it is an error", "[chat][unit]") {
    Room room;
    Client& a = room.join();
    Client& b = room.join();
    a.send("/nick al\n/me waves \x1b hello\n/me\n/me   \n");
    const Lines rename{"* 10.0.0.7:1001 is now known as al"};
    CHECK(a.take() == Lines{rename[0], "al * waves ? hello", "! usage: /me ACTION", "! usage: /me ACTION"});
    CHECK(b.take() == Lines{rename[0], "al * waves ? hello"});
}

TEST_CASE("an unknown command is an error that keeps the connection", "[chat][unit]") {
    Room room;
    Client& a = room.join();
    a.send("/dance now\n/\n/WHO\n");
    const std::string tail = " (commands: /nick NAME, /who, /me ACTION, /quit)";
    CHECK(a.take() == Lines{"! unknown command /dance" + tail, "! unknown command /" + tail,
                            "! unknown command /WHO" + tail});
    CHECK_FALSE(a.transport->disconnect_requested());
    a.send("still here\n");
    CHECK(a.take() == Lines{"10.0.0.7:1001: still here"});
}

TEST_CASE("/quit says bye, closes after flushing, and the others see the departure", "[chat][unit]") {
    Room room;
    Client& a = room.join();
    Client& b = room.join();
    a.send("last words\n/quit\nnever relayed\n");
    CHECK(a.take() == Lines{"10.0.0.7:1001: last words", "* bye"});
    CHECK(a.transport->disconnect_requested());
    CHECK_FALSE(a.transport->aborted());
    CHECK(b.take() == Lines{"10.0.0.7:1001: last words", "* 10.0.0.7:1001 left"});
    CHECK(room.factory.client_count() == 1);
    a.lose();  // the close completes: no second notice
    CHECK(b.transport->value().empty());
}

TEST_CASE("a dropped connection is announced once", "[chat][unit]") {
    Room room;
    Client& a = room.join();
    Client& b = room.join();
    a.send("/nick al\npartial line without its newline");
    b.take();
    a.lose(weft::Reason::lost(std::make_error_code(std::errc::connection_reset)));
    CHECK(b.take() == Lines{"* al left"});
    CHECK(room.factory.client_count() == 1);
    CHECK(room.factory.find("al") == nullptr);
}

TEST_CASE("the peer's EOF: it leaves at once and the connection closes after flushing", "[chat][unit]") {
    Room room;
    Client& a = room.join();
    Client& b = room.join();
    a.send("bye all\n");
    a.chat().read_connection_lost();
    CHECK(a.take() == Lines{"10.0.0.7:1001: bye all"});
    CHECK(a.transport->disconnect_requested());
    CHECK_FALSE(a.transport->aborted());
    CHECK(b.take() == Lines{"10.0.0.7:1001: bye all", "* 10.0.0.7:1001 left"});
    a.lose();
    CHECK(b.transport->value().empty());
}

TEST_CASE("the --max-line limit counts the newline, a longer line is an error that disconnects", "[chat][unit]") {
    for (std::size_t chunk : {0, 1, 3, 7}) {
        INFO("chunk size " << chunk);
        Room room(ChatOptions{.max_line = 16});
        Client& a = room.join();
        Client& b = room.join();
        a.send(std::string(15, 'x') + "\n", chunk);              // 16 bytes: fits
        a.send(std::string(14, 'y') + "\r\n", chunk);            // 16 bytes with \r\n: fits
        CHECK(b.take() == Lines{"10.0.0.7:1001: " + std::string(15, 'x'), "10.0.0.7:1001: " + std::string(14, 'y')});
        a.take();
        a.send(std::string(16, 'z') + "\nnever relayed\n", chunk);  // 17 bytes
        CHECK(a.take() == Lines{"! line too long (max 16 bytes)"});
        CHECK(a.transport->disconnect_requested());
        CHECK(b.take() == Lines{"* 10.0.0.7:1001 left"});
        b.send("unaffected\n");
        CHECK(b.take() == Lines{"10.0.0.7:1002: unaffected"});
    }
}

TEST_CASE("an over-long line without a newline is cut as soon as it is too long", "[chat][unit]") {
    Room room(ChatOptions{.max_line = 16});
    Client& a = room.join();
    a.send(std::string(15, 'x'));
    CHECK(a.transport->value().empty());
    a.send("x");  // 16 bytes and still no newline: cannot fit
    CHECK(a.take() == Lines{"! line too long (max 16 bytes)"});
    CHECK(a.transport->disconnect_requested());
}

TEST_CASE("over --max-clients a newcomer is told the server is full and closed", "[chat][unit]") {
    Room room(ChatOptions{.max_clients = 2});
    Client& a = room.join();
    room.join();
    Client& c = room.connect();
    CHECK(c.take() == Lines{"! server full"});
    CHECK(c.transport->disconnect_requested());
    CHECK_FALSE(c.chat().in_room());
    CHECK(a.transport->value().empty());  // no "joined", and no "left" either:
    c.send("ignored\n");
    c.lose();
    CHECK(a.transport->value().empty());
    CHECK(room.factory.client_count() == 2);
    CHECK(room.factory.stats().refused_full == 1);
    Client& d = room.connect();  // a seat is free again once someone leaves
    CHECK(d.take() == Lines{"! server full"});
    a.lose();
    Client& e = room.connect();
    CHECK(e.take() == Lines{"Welcome to the chat server, 10.0.0.7:1005"});
}

TEST_CASE("a client that does not read is cut off once its queue stays over the limit after a flush",
          "[chat][unit]") {
    const std::size_t limit = 1000;
    Room room(ChatOptions{.send_buffer_limit = limit});
    Client& a = room.join();
    Client& slow = room.join();  // never clear()ed: StringTransport counts its output as unsent
    Client& c = room.join();
    const std::string line(40, 'm');  // 57 bytes once relayed
    int sent = 0;
    while (!slow.transport->aborted() && sent < 1000) {
        a.send(line + "\n");
        a.take();
        c.take();
        CHECK(slow.transport->buffered_bytes() <= limit + 57);  // over by at most what this turn queued
        room.clock.advance(0s);  // the turn ends: the check runs after the (here: fruitless) flush
        ++sent;
    }
    REQUIRE(slow.transport->aborted());
    CHECK(sent == static_cast<int>(limit / 57) + 1);
    CHECK(room.factory.stats().cut_slow == 1);
    CHECK(room.factory.stats().peak_buffered <= limit + 57);
    CHECK_FALSE(slow.chat().in_room());
    CHECK(a.take() == Lines{"* 10.0.0.7:1002 left (too slow)"});
    a.send("after\n");
    CHECK(a.take() == Lines{"10.0.0.7:1001: after"});
    CHECK(c.take() == Lines{"* 10.0.0.7:1002 left (too slow)", "10.0.0.7:1001: after"});
    slow.lose(weft::Reason::aborted());
    CHECK(a.transport->value().empty());  // its departure was told once, when it was cut
}

TEST_CASE("a burst over the limit does not cut a client that reads before the turn ends", "[chat][unit]") {
    const std::size_t limit = 1000;
    Room room(ChatOptions{.send_buffer_limit = limit});
    Client& a = room.join();
    Client& reader = room.join();
    std::string burst;
    for (int i = 0; i < 100; ++i) burst += std::string(40, 'b') + "\n";  // 5.7 KB to each, in one turn
    a.send(burst);
    CHECK(reader.transport->buffered_bytes() > limit);
    reader.take();  // its transport flushed everything: it reads promptly
    a.take();
    room.clock.advance(0s);
    CHECK_FALSE(reader.transport->aborted());
    CHECK_FALSE(a.transport->aborted());
    CHECK(room.factory.stats().cut_slow == 0);
    CHECK(room.factory.client_count() == 2);
}

TEST_CASE("a client is cut at once at the hard limit, even within one turn", "[chat][unit]") {
    const ChatOptions options{.send_buffer_limit = 1000, .flood_limit = 0};  // the sender floods
    Room room(options);
    Client& a = room.join();
    Client& slow = room.join();
    std::string burst;
    for (int i = 0; i < 40000; ++i) burst += std::string(40, 'h') + "\n";  // 2.2 MB to each, in one turn
    a.send(burst);
    CHECK(slow.transport->aborted());  // no advance(): cut inside the turn
    CHECK(slow.transport->buffered_bytes() <= options.hard_send_limit());
    CHECK(room.factory.stats().peak_buffered <= options.hard_send_limit());
    CHECK(a.transport->aborted());  // the sender does not read its own echoes either
}

TEST_CASE("the slow client's departure is told to the others, cascades settle", "[chat][unit]") {
    Room room(ChatOptions{.send_buffer_limit = 150});
    Client& a = room.join();
    Client& b = room.join();
    Client& c = room.join();
    a.send("/nick a\n");
    b.send("/nick b\n");
    c.send("/nick c\n");
    a.take();
    b.take();
    c.take();
    room.clock.advance(0s);
    c.send(std::string(80, 'c') + "\n");  // 85 bytes: b and c stay under 150
    a.take();
    room.clock.advance(0s);
    CHECK_FALSE(b.transport->aborted());
    b.send(std::string(80, 'b') + "\n");  // 170 bytes for b and c: both are over after this turn
    room.clock.advance(0s);
    CHECK(b.transport->aborted());
    CHECK(c.transport->aborted());
    room.clock.advance(ChatFactory::departure_batch_interval);  // the second departure comes in a batch
    Lines got = a.take();
    REQUIRE(got.size() == 3);
    CHECK(got[0] == "b: " + std::string(80, 'b'));
    std::sort(got.begin() + 1, got.end());
    CHECK(got[1] == "* b left (too slow)");
    CHECK(got[2] == "* c left (too slow)");
    CHECK(room.factory.client_count() == 1);
    CHECK(room.factory.stats().cut_slow == 2);
}

TEST_CASE("a client over the limit that leaves before the check is forgotten", "[chat][unit]") {
    Room room(ChatOptions{.send_buffer_limit = 100});
    Client& a = room.join();
    Client& b = room.join();
    a.send(std::string(120, 'x') + "\n");  // both over the limit, checked after the turn
    b.lose();                               // b's connection ends first
    room.clock.advance(0s);                 // must not touch b
    CHECK(a.transport->aborted());          // a never read its own echo
    CHECK(room.factory.client_count() == 0);
}

TEST_CASE("shutting down: everyone is told, and departures are no longer announced", "[chat][unit]") {
    Room room;
    Client& a = room.join();
    Client& b = room.join();
    room.factory.shutting_down();
    room.factory.shutting_down();  // idempotent
    CHECK(a.take() == Lines{"* server shutting down"});
    CHECK(b.take() == Lines{"* server shutting down"});
    a.lose();
    CHECK(b.transport->value().empty());
}

TEST_CASE("the --idle-timeout option disconnects a client that completes no line, and only that one",
          "[chat][unit]") {
    Room room(ChatOptions{.idle_timeout = 10s});
    Client& quiet = room.join();
    Client& talker = room.join();
    room.clock.advance(6s);
    talker.send("still here\n");
    quiet.take();
    talker.take();
    room.clock.advance(4s);  // quiet: 10 s of silence
    CHECK(quiet.take() == Lines{"! idle for 10 s, disconnecting"});
    CHECK(quiet.transport->disconnect_requested());
    CHECK(talker.take() == Lines{"* 10.0.0.7:1001 left (idle)"});
    CHECK_FALSE(talker.transport->disconnect_requested());
    room.clock.advance(3s);
    talker.send("\n");  // an empty line is a line: activity, though nothing is relayed
    room.clock.advance(9s);
    CHECK_FALSE(talker.transport->disconnect_requested());
    talker.send("a trickle");  // bytes without a newline are not (a slowloris stays idle)
    room.clock.advance(1s);
    CHECK(talker.transport->disconnect_requested());
    CHECK(talker.take() == Lines{"! idle for 10 s, disconnecting"});
    CHECK(room.factory.stats().cut_idle == 2);
}

TEST_CASE("without --idle-timeout and --first-line-timeout no timer is pending", "[chat][unit]") {
    Room room(ChatOptions{.idle_timeout = 0s, .first_line_timeout = 0s});
    room.join();
    CHECK(room.clock.pending_calls().empty());
}

TEST_CASE("a client destroyed with its timer pending leaves no call behind", "[chat][unit]") {
    Room room(ChatOptions{.idle_timeout = 10s});
    Client& a = room.join();
    CHECK(room.clock.pending_calls().size() == 1);
    a.lose();
    CHECK(room.clock.pending_calls().empty());
}

namespace {
/// True if `s` is well-formed UTF-8 (checked the slow, obvious way, independently of append_sanitized).
bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
        for (std::size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc >> 6) != 0x2) return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
    }
    return true;
}
}  // namespace

TEST_CASE("random bytes in random chunks: nothing breaks, everything relayed is clean UTF-8", "[chat][unit]") {
    std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
    auto next = [&] {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        return seed;
    };
    for (int round = 0; round < 50; ++round) {
        Room room(ChatOptions{.max_line = 64});
        Client& a = room.join();
        Client& b = room.join();
        std::string input;
        const std::size_t n = 200 + next() % 2000;
        for (std::size_t i = 0; i < n; ++i) {
            const auto r = next() % 100;
            // Mostly text, with newlines, slashes, controls and high bytes mixed in.
            input.push_back(r < 8 ? '\n' : r < 10 ? '/' : r < 20 ? static_cast<char>(next() % 32)
                            : r < 35 ? static_cast<char>(0x80 + next() % 128) : static_cast<char>(' ' + next() % 95));
        }
        for (std::size_t at = 0; at < input.size();) {
            const std::size_t chunk = 1 + next() % 40;
            a.send(std::string_view(input).substr(at, chunk));
            at += chunk;
        }
        for (const auto& line : split_lines(b.transport->value())) {
            INFO("round " << round << ": " << line);
            CHECK(valid_utf8(line));
            CHECK(std::none_of(line.begin(), line.end(), [](char ch) {
                const auto c = static_cast<unsigned char>(ch);
                return (c < 0x20 && c != '\t') || c == 0x7f;
            }));
            bool c1 = false;  // no C1 control (U+0080..U+009F, 0xC2 0x80..0x9F) either
            for (std::size_t i = 0; i + 1 < line.size(); ++i) {
                c1 = c1 || (line[i] == '\xc2' && static_cast<unsigned char>(line[i + 1]) <= 0x9f);
            }
            CHECK_FALSE(c1);
        }
        CHECK(room.factory.client_count() >= 1);
    }
}

// ---------------------------------------------------------------------------------------- abuse limits

namespace {
using weft::testing::StringTransport;
bool reading_paused(const Client& c) {
    return c.transport->producer_state() == StringTransport::ProducerState::paused;
}
/// Line k of numbered_lines(): "Lk" padded with dots to `size` - 1 bytes.
std::string numbered_text(int k, std::size_t size = 4) {
    std::string line = "L" + std::to_string(k);
    line.resize(std::max(line.size(), size - 1), '.');
    return line;
}
/// `n` numbered lines from k = 0, each `size` bytes with its "\n".
std::string numbered_lines(int n, std::size_t size = 4) {
    std::string out;
    for (int k = 0; k < n; ++k) out += numbered_text(k, size) + "\n";
    return out;
}
std::size_t count_prefix(const Lines& lines, std::string_view prefix) {
    return static_cast<std::size_t>(
        std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return l.starts_with(prefix); }));
}
}  // namespace

TEST_CASE("the input budget (--flood-limit): over its budget a client's lines are taken at the budgeted rate, in order, none lost",
          "[chat][unit][flood]") {
    Room room(ChatOptions{.flood_limit = 10});  // 10 lines/s, 50 saved up
    Client& flooder = room.join();
    Client& other = room.join();
    flooder.send(numbered_lines(80));
    Lines seen = other.take();
    CHECK(seen.size() == 51);  // the 50 saved up, and the one that put it in debt
    CHECK(reading_paused(flooder));
    CHECK(room.factory.stats().flood_paused == 1);
    // Then one line per 100 ms: its transport's reading is paused in between.
    for (int step = 1; step <= 29; ++step) {
        room.clock.advance(100ms);
        const Lines more = other.take();
        CHECK(more.size() == 1);
        seen.insert(seen.end(), more.begin(), more.end());
        CHECK(reading_paused(flooder));
    }
    REQUIRE(seen.size() == 80);
    for (int k = 0; k < 80; ++k) CHECK(seen[static_cast<std::size_t>(k)] == flooder.name() + ": " + numbered_text(k));
    room.clock.advance(1s);
    CHECK_FALSE(reading_paused(flooder));  // paid off: reading again
    CHECK_FALSE(flooder.transport->disconnect_requested());
}

TEST_CASE("the input budget (--flood-limit): bytes count as well as lines", "[chat][unit][flood]") {
    Room room(ChatOptions{.flood_limit = 10});  // 10 KiB/s, 50 KiB saved up
    Client& flooder = room.join();
    Client& other = room.join();
    flooder.send(numbered_lines(40, 2001));  // 26 lines of 2001 bytes take 52,026 of the 51,200
    CHECK(other.take().size() == 26);
    CHECK(reading_paused(flooder));
    room.clock.advance(300ms);  // 826 bytes of debt paid (81 ms), then 2001 more each ~195 ms
    CHECK(other.take().size() == 2);
}

TEST_CASE("the input budget (--flood-limit): commands count against the same budget", "[chat][unit][flood]") {
    Room room(ChatOptions{.flood_limit = 10});
    Client& a = room.join();
    std::string whos;
    for (int k = 0; k < 60; ++k) whos += "/who\n";
    a.send(whos);
    CHECK(count_prefix(a.take(), "* online (1)") == 51);
    CHECK(reading_paused(a));
}

TEST_CASE("the input budget (--flood-limit): an EOF waits behind the lines still held back", "[chat][unit][flood]") {
    Room room(ChatOptions{.flood_limit = 10});
    Client& flooder = room.join();
    Client& other = room.join();
    flooder.send(numbered_lines(60));
    flooder.chat().read_connection_lost();  // the peer half-closed after its 60 lines
    CHECK_FALSE(flooder.transport->disconnect_requested());
    for (int step = 0; step < 20; ++step) room.clock.advance(100ms);
    const Lines seen = other.take();
    REQUIRE(seen.size() == 61);
    CHECK(seen[59] == flooder.name() + ": L59");
    CHECK(seen[60] == "* " + flooder.name() + " left");
    CHECK(flooder.transport->disconnect_requested());
}

TEST_CASE("the input budget (--flood-limit): a backlog that keeps growing while paused is cut with a reason", "[chat][unit][flood]") {
    Room room(ChatOptions{.flood_limit = 10});
    Client& flooder = room.join();
    Client& other = room.join();
    flooder.send(numbered_lines(60));
    REQUIRE(reading_paused(flooder));
    flooder.take();
    // A transport that ignored the pause would keep handing input over.
    const std::string more = numbered_lines(1000, 100);  // 100 KB
    for (int k = 0; k < 3 && !flooder.transport->disconnect_requested(); ++k) flooder.send(more);
    CHECK(flooder.transport->disconnect_requested());
    CHECK(flooder.take().back().starts_with("! flooding: more than 262144 bytes of input waiting"));
    CHECK(other.take().back() == "* " + flooder.name() + " left (flooding)");
    CHECK(room.factory.stats().cut_flood == 1);
}

TEST_CASE("the input budget: --flood-limit 0 turns it off", "[chat][unit][flood]") {
    Room room(ChatOptions{.flood_limit = 0});
    Client& flooder = room.join();
    Client& other = room.join();
    flooder.send(numbered_lines(5000));
    CHECK(other.take().size() == 5000);
    CHECK_FALSE(reading_paused(flooder));
    CHECK(room.clock.pending_calls().size() == 2);  // the two idle timers, no flood timer
}

TEST_CASE("/who in a big room lists a bounded number of names and counts the rest", "[chat][unit][flood]") {
    Room room(ChatOptions{.max_per_address = 0});
    for (int k = 0; k < 2000; ++k) room.connect();
    Client& asker = room.join();
    asker.send("/who\n");
    const Lines got = asker.take();
    REQUIRE(got.size() == 1);
    CHECK(got[0].starts_with("* online (2001): 10.0.0.7:1001, 10.0.0.7:1002, "));
    CHECK(got[0].ends_with(", and 1901 more"));
    CHECK(got[0].size() < 2000);  // was 34 KB
}

TEST_CASE("the per-address limit (--max-per-address): the next connection from a full address is refused, others are not",
          "[chat][unit]") {
    Room room(ChatOptions{.max_per_address = 2});
    Client& a = room.join("10.0.0.7");
    room.join("10.0.0.7");
    Client& third = room.connect("10.0.0.7");
    CHECK(third.take() == Lines{"! too many connections from your address (max 2)"});
    CHECK(third.transport->disconnect_requested());
    CHECK_FALSE(third.chat().in_room());
    Client& elsewhere = room.connect("10.0.0.8");
    CHECK(elsewhere.chat().in_room());
    CHECK(room.factory.stats().refused_address == 1);
    a.lose();  // a place is free again
    Client& fourth = room.connect("10.0.0.7");
    CHECK(fourth.chat().in_room());
}

TEST_CASE("the first-line deadline (--first-line-timeout): a client that never completes a line is disconnected, one that talked stays",
          "[chat][unit]") {
    Room room(ChatOptions{.idle_timeout = 0s, .first_line_timeout = 30s});
    Client& silent = room.join();
    Client& talker = room.join();
    room.clock.advance(10s);
    talker.send("hello\n");
    silent.send("no newline");  // a trickle is not a line
    silent.take();
    talker.take();
    room.clock.advance(20s);
    CHECK(silent.take() == Lines{"! no line within 30 s of connecting, disconnecting"});
    CHECK(silent.transport->disconnect_requested());
    CHECK(talker.take() == Lines{"* " + silent.name() + " left (idle)"});
    room.clock.advance(1h);
    CHECK_FALSE(talker.transport->disconnect_requested());
    CHECK(room.clock.pending_calls().empty());
}

TEST_CASE("the defaults: idle timeout of an hour, first line within a minute, 100 per address, 10 lines/s",
          "[chat][unit]") {
    const ChatOptions d;
    CHECK(d.idle_timeout == std::chrono::hours(1));
    CHECK(d.first_line_timeout == std::chrono::seconds(60));
    CHECK(d.max_per_address == 100);
    CHECK(d.flood_limit == 10);
    Room room;
    Client& silent = room.join();
    room.clock.advance(59s);
    CHECK_FALSE(silent.transport->disconnect_requested());
    room.clock.advance(1s);
    CHECK(silent.transport->disconnect_requested());
}

// ------------------------------------------------------------------------------------------- spoofing

TEST_CASE("spoofing: no user's line can look like a server notice", "[chat][unit][spoof]") {
    Room room;
    Client& mallory = room.join();
    Client& victim = room.join();
    mallory.send("/nick server\n/nick SERVER\n/nick Admin\n/nick root\n");
    CHECK(mallory.take() == Lines{"! reserved name: server", "! reserved name: SERVER", "! reserved name: Admin",
                                  "! reserved name: root"});
    mallory.send("/nick srv\n");
    mallory.send("/me shutting down\n/me is now known as bob\n/me left (too slow)\n* server shutting down\n");
    const Lines seen = victim.take();
    REQUIRE(seen.size() == 5);
    CHECK(seen[0] == "* " + std::string("10.0.0.7:1001") + " is now known as srv");
    CHECK(seen[1] == "srv * shutting down");
    CHECK(seen[2] == "srv * is now known as bob");
    CHECK(seen[3] == "srv * left (too slow)");
    CHECK(seen[4] == "srv: * server shutting down");
    for (std::size_t k = 1; k < seen.size(); ++k) CHECK_FALSE(seen[k].starts_with("* "));
}

TEST_CASE("spoofing: nicks are unique in any case, and only the holder may change its case", "[chat][unit][spoof]") {
    Room room;
    Client& a = room.join();
    Client& b = room.join();
    a.send("/nick Bob\n");
    a.take();
    b.take();
    b.send("/nick bob\n/nick BOB\n");
    CHECK(b.take() == Lines{"! name taken: bob", "! name taken: BOB"});
    CHECK(room.factory.find("bOb") == &a.chat());
    a.send("/nick bob\n");  // its own name in another case
    CHECK(b.take() == Lines{"* Bob is now known as bob"});
    CHECK(a.name() == "bob");
}

TEST_CASE("spoofing: bidi controls and other non-ASCII never get into a nick", "[chat][unit][spoof]") {
    for (const char* control : {"\xe2\x80\xaa", "\xe2\x80\xab", "\xe2\x80\xac", "\xe2\x80\xad", "\xe2\x80\xae",
                                "\xe2\x81\xa6", "\xe2\x81\xa7", "\xe2\x81\xa8", "\xe2\x81\xa9"}) {
        const std::string name = std::string("al") + control + "ice";
        CHECK_FALSE(weft::chat::valid_nick(name));
        Room room;
        Client& a = room.join();
        a.send("/nick " + name + "\n");
        CHECK(a.take() == Lines{"! invalid name: use 1 to 32 characters of A-Z a-z 0-9 _ -"});
    }
    CHECK(weft::chat::reserved_nick("Server"));
    CHECK_FALSE(weft::chat::reserved_nick("servers"));
    CHECK(weft::chat::fold_nick("BoB_-9") == "bob_-9");
}

// ----------------------------------------------------------------------------------------- departures

TEST_CASE("departures in a burst are batched: the first at once, the rest together, in order with other lines",
          "[chat][unit][departures]") {
    Room room;
    Client& stay = room.join();
    std::vector<Client*> leaving;
    for (int k = 0; k < 5; ++k) leaving.push_back(&room.join());
    stay.take();
    for (Client* c : leaving) c->lose();
    CHECK(stay.take() == Lines{"* 10.0.0.7:1002 left"});  // a lone departure is not delayed
    room.clock.advance(50ms);
    CHECK(stay.transport->value().empty());               // the others wait for the batch...
    stay.send("hello\n");                                 // ...unless a line must follow them
    CHECK(stay.take() == Lines{"* 10.0.0.7:1003 left", "* 10.0.0.7:1004 left", "* 10.0.0.7:1005 left",
                               "* 10.0.0.7:1006 left", "10.0.0.7:1001: hello"});
    CHECK(room.factory.stats().departure_flushes == 2);
    room.clock.advance(1s);
    Client& late = room.join();
    late.lose();  // after a quiet spell: at once again
    CHECK(stay.take() == Lines{"* " + std::string("10.0.0.7:1007") + " left"});
}

TEST_CASE("a mass departure costs each member a bounded batch: 100 names, then a count", "[chat][unit][departures]") {
    Room room(ChatOptions{.max_per_address = 0});
    Client& stay = room.join();
    std::vector<Client*> leaving;
    for (int k = 0; k < 3000; ++k) leaving.push_back(&room.connect());
    stay.take();
    for (Client* c : leaving) c->lose();
    room.clock.advance(ChatFactory::departure_batch_interval);
    const Lines got = stay.take();
    REQUIRE(got.size() == 1 + 100 + 1);
    CHECK(got[0] == "* 10.0.0.7:1002 left");
    CHECK(got[100] == "* 10.0.0.7:1102 left");
    CHECK(got[101] == "* 2899 others left");
    CHECK(room.factory.stats().departure_flushes == 2);
    CHECK(room.factory.client_count() == 1);
}
