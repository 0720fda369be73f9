// libFuzzer target: the chat server's line handling (weft_chat_lib's ChatProtocol and ChatFactory) with
// several clients on StringTransports. See docs/fuzzing.md for the input format and invariants.
//
// Header: flags bits 0-1 are the clients connected at the start (1-4), bit 2 turns on a 10 s idle
// timeout; limit is ChatOptions::max_line (255: the default 4096, else at least 2); seed and chunk_max
// chunk each client's sends in room A. The stream is records separated by 0x1f: an op byte, a client
// byte ('0'..: index modulo the clients so far), then the payload:
//   s  send the payload (any unknown op byte also sends, the record's first two bytes included)
//   r  the client reads: its transport's output is cleared
//   c  a new client connects        e  the client sends EOF (read_connection_lost)
//   l  the connection is lost       z  every closing connection is lost, as the reactor would do
//   t  advance the clock by <payload as a number> seconds
// Two rooms run the same ops; room A splits each send into chunks, room B delivers it whole. After
// every op both rooms must agree on everything the clients received.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "chat_protocol.hpp"
#include "fuzz_common.hpp"
#include "weft/testing/clock.hpp"
#include "weft/testing/string_transport.hpp"

namespace {

using weft::chat::ChatFactory;
using weft::chat::ChatOptions;
using weft::chat::ChatProtocol;
using weft::testing::StringTransport;

constexpr char separator = '\x1f';
constexpr std::size_t most_clients = 8;

// A well-formed UTF-8 sequence at s[0] (Unicode Table 3-7), or 0: written here from the standard, not
// shared with the server, so that the check is independent of the code it checks.
std::size_t utf8_length(std::string_view s) {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = b(0);
    std::size_t n = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c == 0xe0) { n = 3; lo = 0xa0; }
    else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) n = 3;
    else if (c == 0xed) { n = 3; hi = 0x9f; }
    else if (c == 0xf0) { n = 4; lo = 0x90; }
    else if (c >= 0xf1 && c <= 0xf3) n = 4;
    else if (c == 0xf4) { n = 4; hi = 0x8f; }
    else return 0;
    if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
    for (std::size_t i = 2; i < n; ++i) {
        if (b(i) < 0x80 || b(i) > 0xbf) return 0;
    }
    return n;
}

/// Server output is lines ending "\r\n", each valid UTF-8 without control characters (TAB allowed) and
/// without C1 controls: what a peer sends must never reach another terminal as escape sequences.
void check_output(std::string_view out) {
    while (!out.empty()) {
        const std::size_t end = out.find("\r\n");
        WEFT_FUZZ_CHECK(end != std::string_view::npos, "server output does not end with \\r\\n: " + weft::fuzz::escape(out));
        std::string_view line = out.substr(0, end);
        const std::string whole(line);
        while (!line.empty()) {
            const auto c = static_cast<unsigned char>(line[0]);
            if (c < 0x80) {
                WEFT_FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f), "control character in server output: " + weft::fuzz::escape(whole));
                line.remove_prefix(1);
                continue;
            }
            const std::size_t n = utf8_length(line);
            WEFT_FUZZ_CHECK(n != 0, "invalid UTF-8 in server output: " + weft::fuzz::escape(whole));
            WEFT_FUZZ_CHECK(!(n == 2 && c == 0xc2 && static_cast<unsigned char>(line[1]) <= 0x9f),
                            "C1 control in server output: " + weft::fuzz::escape(whole));
            line.remove_prefix(n);
        }
        out.remove_prefix(end + 2);
    }
}

/// A line starting "* " is a server notice, and must be one of the notices the server sends: a user's
/// text never follows "* " (a /me action is "NAME * ACTION", a line "NAME: TEXT"), so nobody can forge
/// "* server shutting down" or "* bob left (too slow)".
void check_notices(std::string_view out) {
    static constexpr std::string_view fixed[] = {"* bye", "* server shutting down"};
    static constexpr std::string_view after_name[] = {"joined", "left", "left (idle)", "left (too slow)",
                                                      "left (flooding)", "others left"};
    while (!out.empty()) {
        const std::size_t end = out.find("\r\n");
        if (end == std::string_view::npos) return;  // check_output reports it
        const std::string_view line = out.substr(0, end);
        out.remove_prefix(end + 2);
        if (!line.starts_with("* ")) continue;
        if (std::find(std::begin(fixed), std::end(fixed), line) != std::end(fixed)) continue;
        if (line.starts_with("* online (")) continue;
        const std::string_view rest = line.substr(2);
        const std::size_t space = rest.find(' ');
        WEFT_FUZZ_CHECK(space != std::string_view::npos && space != 0, "malformed notice: " + weft::fuzz::escape(line));
        const std::string_view tail = rest.substr(space + 1);
        bool ok = std::find(std::begin(after_name), std::end(after_name), tail) != std::end(after_name);
        if (tail.starts_with("is now known as ")) {
            ok = weft::chat::valid_nick(tail.substr(16)) && !weft::chat::reserved_nick(tail.substr(16));
        }
        WEFT_FUZZ_CHECK(ok, "a line passes for a server notice: " + weft::fuzz::escape(line));
    }
}

struct Client {
    std::unique_ptr<StringTransport> transport;
    std::unique_ptr<weft::Protocol> protocol;
    std::size_t checked = 0;  // output already checked by check_output
    bool eof = false;
    bool lost = false;

    ChatProtocol& chat() const { return static_cast<ChatProtocol&>(*protocol); }
    void lose() {
        if (lost) return;
        lost = true;
        transport->set_state(weft::ConnectionState::disconnected);
        protocol->connection_lost(weft::Reason::done());
    }
};

struct Room {
    weft::testing::Clock clock;
    ChatFactory factory;
    std::vector<std::unique_ptr<Client>> clients;
    std::uint16_t next_port = 1001;

    explicit Room(ChatOptions options) : factory(clock, options) {}
    ~Room() {
        for (auto& c : clients) c->lose();
    }

    void connect() {
        auto c = std::make_unique<Client>();
        const weft::Address peer{"10.0.0.7", next_port++};
        c->transport = std::make_unique<StringTransport>(peer);
        c->protocol = factory.build_protocol(peer);
        c->protocol->set_factory(&factory);
        c->protocol->make_connection(*c->transport);
        clients.push_back(std::move(c));
    }

    /// The end of a loop turn: the reactor flushes (here: nothing is sent, the peer reads only on 'r')
    /// and runs what was posted, such as the room's over-limit check.
    void end_turn() { clock.advance(weft::Duration::zero()); }

    /// Room invariants, after every op and the end of its turn (no broadcast is running then).
    void check() {
        std::size_t in_room = 0;
        std::set<std::string> names;
        for (auto& c : clients) {
            const std::string& out = c->transport->value();
            check_output(std::string_view(out).substr(c->checked));
            check_notices(std::string_view(out).substr(c->checked));
            c->checked = out.size();
            // Within a turn a client may hold up to the hard limit; once the turn has flushed, no client
            // in the room holds more than send_buffer_limit (the others were cut off).
            WEFT_FUZZ_CHECK(c->transport->buffered_bytes() <= factory.options().hard_send_limit(),
                            "a client holds more unsent output than hard_send_limit()");
            if (c->lost) continue;
            const ChatProtocol& p = c->chat();
            if (!p.in_room()) continue;
            ++in_room;
            WEFT_FUZZ_CHECK(c->transport->buffered_bytes() <= factory.options().send_buffer_limit,
                            "a client still in the room holds more than send_buffer_limit after the turn: " +
                                std::to_string(c->transport->buffered_bytes()));
            WEFT_FUZZ_CHECK(!c->transport->disconnecting(), "a closing client is still in the room: " + p.name());
            // Unique in any case: "Bob" and "bob" are one name.
            WEFT_FUZZ_CHECK(names.insert(weft::chat::fold_nick(p.name())).second, "two clients share the name " + p.name());
            WEFT_FUZZ_CHECK(factory.find(p.name()) == &p, "find() does not return the client called " + p.name());
        }
        WEFT_FUZZ_CHECK(factory.client_count() == in_room, "client_count() is not the number of clients in the room");
        WEFT_FUZZ_CHECK(factory.stats().peak_buffered <= factory.options().hard_send_limit(),
                        "peak_buffered above hard_send_limit()");
    }

    /// Everything a client can observe, to compare room A with room B.
    std::string observable() const {
        std::string s;
        for (const auto& c : clients) {
            s += c->transport->value();
            s += '|';
            s += static_cast<char>('0' + static_cast<int>(c->transport->state()));
            s += c->transport->aborted() ? 'A' : '-';
            if (!c->lost) s += c->chat().in_room() ? c->chat().name() : std::string("(out)");
            s += '\n';
        }
        const auto& st = factory.stats();
        for (auto n : {st.joined, st.refused_full, st.cut_slow, st.cut_idle, st.lines_relayed, st.cut_flood,
                       st.flood_paused, st.departure_flushes}) {
            s += std::to_string(n) + ",";
        }
        return s;
    }
};

/// Sends `data` from client `c`; `chunker` null means whole.
void send(Room& room, Client& c, std::string_view data, weft::fuzz::Chunker* chunker) {
    const bool closing = c.transport->disconnecting();
    const auto relayed = room.factory.stats().lines_relayed;
    std::vector<std::size_t> sizes;
    for (const auto& other : room.clients) sizes.push_back(other->transport->value().size());
    std::size_t at = 0;
    do {
        const std::size_t n = chunker ? std::min(chunker->size(), data.size() - at) : data.size();
        weft::fuzz::deliver_copy(*c.protocol, data.substr(at, n));
        at += n;
    } while (at < data.size());
    if (closing) {
        // Nothing is delivered after lose_connection: a closing client's input reaches nobody.
        WEFT_FUZZ_CHECK(room.factory.stats().lines_relayed == relayed, "a closing client's line was relayed");
        for (std::size_t i = 0; i < room.clients.size(); ++i) {
            WEFT_FUZZ_CHECK(room.clients[i]->transport->value().size() == sizes[i],
                            "a closing client's input produced output");
        }
    }
}

void apply(Room& room, char op, std::size_t who, std::string_view payload, std::string_view record,
           weft::fuzz::Chunker* chunker) {
    if (op == 'c') {
        if (room.clients.size() < most_clients) room.connect();
        return;
    }
    if (op == 'z') {
        for (auto& c : room.clients) {
            if (c->transport->disconnecting()) c->lose();
        }
        return;
    }
    if (op == 't') {
        room.clock.advance(std::chrono::seconds(weft::fuzz::leading_number(payload)));
        return;
    }
    if (room.clients.empty()) return;
    Client& c = *room.clients[who % room.clients.size()];
    if (c.lost) return;
    switch (op) {
        case 'r': c.transport->clear(); c.checked = 0; break;
        case 'e':
            if (!c.eof) {
                c.eof = true;
                c.chat().read_connection_lost();
            }
            break;
        case 'l': c.lose(); break;
        case 's':
            if (!c.eof) send(room, c, payload, chunker);
            break;
        default:
            if (!c.eof) send(room, c, record, chunker);
            break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = weft::fuzz::Input::parse(data, size);
    ChatOptions options;
    if (in.limit != 255) options.max_line = std::max<std::size_t>(in.limit, 2);
    // Small enough that a client that does not read ('r') is cut off after a few lines. (The hard limit,
    // send_buffer_limit + 1 MiB within one turn, is out of reach of inputs of a few KB.)
    options.send_buffer_limit = 256 + std::size_t{in.seed} * 8;
    options.max_clients = 3;
    // The idle timeout is on only with flag 4; the first-line deadline (60 s), the input budget (10 lines
    // a second, 50 saved up: 't' ops pay it back) and the per-address limit keep their defaults.
    options.idle_timeout = (in.flags & 4) != 0 ? weft::Duration(std::chrono::seconds(10)) : weft::Duration::zero();

    Room a(options);
    Room b(options);
    weft::fuzz::Chunker chunker(in.seed, in.chunk_max);
    for (int i = 0; i <= (in.flags & 3); ++i) {
        a.connect();
        b.connect();
    }
    a.end_turn();
    b.end_turn();
    a.check();
    b.check();

    std::string_view rest = in.stream;
    while (!rest.empty()) {
        const std::size_t end = rest.find(separator);
        const std::string_view record = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        const char op = record.empty() ? 's' : record[0];
        // '0' is the first client, whatever the byte: (byte - '0') mod 256.
        const std::size_t who = record.size() > 1 ? (static_cast<unsigned char>(record[1]) + 256u - '0') % 256u : 0;
        const std::string_view payload = record.size() > 2 ? record.substr(2) : std::string_view{};
        // One op is one loop turn: room A's chunks of a send arrive within the same turn.
        apply(a, op, who, payload, record, &chunker);
        apply(b, op, who, payload, record, nullptr);
        a.end_turn();
        b.end_turn();
        a.check();
        b.check();
        WEFT_FUZZ_CHECK(a.observable() == b.observable(),
                        "chunked and whole sends differ: " + weft::fuzz::escape(a.observable(), 400) + " vs " +
                            weft::fuzz::escape(b.observable(), 400));
    }
    return 0;
}
