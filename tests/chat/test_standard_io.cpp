// Tests of weft::StandardIO on pipes (pipe2 + the descriptor constructor) instead of the real terminal.
// Most tests put two StandardIOs on one reactor, talking to each other through two pipes: the one under
// test and a "terminal" on the other ends.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <pty.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "support/loop.hpp"
#include "support/pipe.hpp"
#include "weft/standard_io.hpp"

using weft_test::Recorder;
using weft_test::make_pipe;
using weft_test::Pipe;
using weft_test::run_bounded;
using namespace std::chrono_literals;

namespace {

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 13) % 26);
    return s;
}

struct HalfRecorder : Recorder, weft::HalfCloseable {
    int read_lost = 0;
    int write_lost = 0;
    std::function<void(HalfRecorder&)> on_read_lost;
    void read_connection_lost() override {
        ++read_lost;
        if (on_read_lost) on_read_lost(*this);
    }
    void write_connection_lost() override { ++write_lost; }
};

struct EchoRecorder : Recorder {
    EchoRecorder() {
        on_data = [](Recorder& self, std::string_view data) { self.transport().write(data); };
    }
};

/// The StandardIO under test reads `to_io` and writes `from_io`; the other ends are the test's.
struct Wiring {
    Pipe to_io = make_pipe();
    Pipe from_io = make_pipe();
};

template <class P>
P& protocol_of(weft::StandardIO& io) {
    return static_cast<P&>(io.protocol());
}

}  // namespace

TEST_CASE("StandardIO: input reaches data_received, writes reach the output", "[stdio]") {
    weft::Reactor reactor;
    Wiring w;
    weft::StandardIO io(reactor, std::make_unique<EchoRecorder>(), w.to_io.read, w.from_io.write);
    auto terminal_protocol = std::make_unique<Recorder>();
    terminal_protocol->on_made = [](Recorder& self) { self.transport().write("hello, stdio\n"); };
    terminal_protocol->on_data = [](Recorder& self, std::string_view) {
        if (self.received == "hello, stdio\n") self.transport().lose_write_connection();  // our EOF
    };
    int lost = 0;
    auto stop_when_both = [&](Recorder&, const weft::Reason&) {
        if (++lost == 2) reactor.stop();
    };
    protocol_of<Recorder>(io).on_lost = stop_when_both;
    terminal_protocol->on_lost = stop_when_both;
    weft::StandardIO terminal(reactor, std::move(terminal_protocol), w.from_io.read, w.to_io.write);
    CHECK(protocol_of<Recorder>(io).made);  // connection_made runs in the constructor
    REQUIRE(run_bounded(reactor, 10s));

    auto& echo = protocol_of<EchoRecorder>(io);
    CHECK(echo.received == "hello, stdio\n");
    // Not half-closeable: EOF on its input lost the connection, cleanly, after the echo was flushed.
    REQUIRE(echo.lost);
    CHECK(echo.lost->clean());
    CHECK(io.lost());
    CHECK(io.state() == weft::ConnectionState::disconnected);
    auto& t = protocol_of<Recorder>(terminal);
    CHECK(t.received == "hello, stdio\n");
    REQUIRE(t.lost);
    CHECK(t.lost->clean());
}

TEST_CASE("StandardIO: a half-closeable protocol gets read_connection_lost and may still write", "[stdio]") {
    weft::Reactor reactor;
    Wiring w;
    auto p = std::make_unique<HalfRecorder>();
    p->on_read_lost = [](HalfRecorder& self) {
        CHECK(self.transport().state() == weft::ConnectionState::read_half_closed);
        self.transport().write("you said: " + self.received);
        self.transport().lose_connection();
    };
    int lost = 0;
    auto stop_when_both = [&](Recorder&, const weft::Reason&) {
        if (++lost == 2) reactor.stop();
    };
    p->on_lost = stop_when_both;
    weft::StandardIO io(reactor, std::move(p), w.to_io.read, w.from_io.write);
    auto t = std::make_unique<Recorder>();
    t->on_made = [](Recorder& self) {
        self.transport().write("abc");
        self.transport().lose_write_connection();
    };
    t->on_lost = stop_when_both;
    weft::StandardIO terminal(reactor, std::move(t), w.from_io.read, w.to_io.write);
    REQUIRE(run_bounded(reactor, 10s));
    CHECK(protocol_of<HalfRecorder>(io).read_lost == 1);
    CHECK(protocol_of<Recorder>(terminal).received == "you said: abc");
    REQUIRE(protocol_of<HalfRecorder>(io).lost);
    CHECK(protocol_of<HalfRecorder>(io).lost->clean());
}

TEST_CASE("StandardIO: lose_connection flushes output far larger than the pipe first", "[stdio]") {
    weft::Reactor reactor;
    Wiring w;
    const std::string big = pattern(4 << 20);
    auto p = std::make_unique<Recorder>();
    p->on_made = [&](Recorder& self) {
        self.transport().write(big);
        CHECK(self.transport().buffered_bytes() == big.size());
        self.transport().lose_connection();
        self.transport().write("ignored after lose_connection");
    };
    int lost = 0;
    auto stop_when_both = [&](Recorder&, const weft::Reason&) {
        if (++lost == 2) reactor.stop();
    };
    p->on_lost = stop_when_both;
    weft::StandardIO io(reactor, std::move(p), w.to_io.read, w.from_io.write);
    auto t = std::make_unique<Recorder>();
    t->on_lost = stop_when_both;
    weft::StandardIO terminal(reactor, std::move(t), w.from_io.read, w.to_io.write);
    REQUIRE(run_bounded(reactor, 10s));
    CHECK(protocol_of<Recorder>(terminal).received.size() == big.size());
    CHECK(protocol_of<Recorder>(terminal).received == big);
    REQUIRE(protocol_of<Recorder>(io).lost);
    CHECK(protocol_of<Recorder>(io).lost->clean());
}

TEST_CASE("StandardIO: lose_write_connection closes the output and reading goes on", "[stdio]") {
    weft::Reactor reactor;
    Wiring w;
    auto p = std::make_unique<HalfRecorder>();
    p->on_made = [](Recorder& self) {
        self.transport().write("banner");
        self.transport().lose_write_connection();
        self.transport().write("ignored: the output is closing");
    };
    p->on_read_lost = [](HalfRecorder& self) { self.transport().lose_connection(); };
    p->on_lost = [&](Recorder&, const weft::Reason&) { reactor.stop(); };
    weft::StandardIO io(reactor, std::move(p), w.to_io.read, w.from_io.write);
    auto t = std::make_unique<HalfRecorder>();
    t->on_read_lost = [](HalfRecorder& self) {  // the output's EOF reached us: answer, then close
        CHECK(self.received == "banner");
        self.transport().write("reply after your EOF");
        self.transport().lose_connection();
    };
    weft::StandardIO terminal(reactor, std::move(t), w.from_io.read, w.to_io.write);
    REQUIRE(run_bounded(reactor, 10s));
    auto& under_test = protocol_of<HalfRecorder>(io);
    CHECK(under_test.write_lost == 1);
    CHECK(under_test.received == "reply after your EOF");
    REQUIRE(under_test.lost);
    CHECK(under_test.lost->clean());
}

TEST_CASE("StandardIO: writing to an output nobody reads loses the connection (EPIPE)", "[stdio]") {
    std::signal(SIGPIPE, SIG_IGN);  // as weft-chat-client does
    weft::Reactor reactor;
    Wiring w;
    ::close(w.from_io.read);  // nobody will ever read
    auto p = std::make_unique<Recorder>();
    p->on_made = [](Recorder& self) { self.transport().write("into the void"); };
    p->on_lost = [&](Recorder&, const weft::Reason&) { reactor.stop(); };
    weft::StandardIO io(reactor, std::move(p), w.to_io.read, w.from_io.write);
    REQUIRE(run_bounded(reactor, 10s));
    REQUIRE(protocol_of<Recorder>(io).lost);
    CHECK_FALSE(protocol_of<Recorder>(io).lost->clean());
    CHECK(protocol_of<Recorder>(io).lost->code() == std::errc::broken_pipe);
    ::close(w.to_io.write);
}

TEST_CASE("StandardIO: pause_producing stops delivery until resume_producing", "[stdio]") {
    weft::Reactor reactor;
    Wiring w;
    weft::StandardIO io(reactor, std::make_unique<Recorder>(), w.to_io.read, w.from_io.write);
    io.pause_producing();
    REQUIRE(::write(w.to_io.write, "queued", 6) == 6);
    // Many loop turns go by with the input readable: nothing may be delivered while paused.
    int turns = 0;
    std::function<void()> spin = [&] {
        if (++turns < 50) return reactor.call_soon(spin);
        CHECK(protocol_of<Recorder>(io).received.empty());
        protocol_of<Recorder>(io).on_data = [&](Recorder& self, std::string_view) {
            if (self.received == "queued") reactor.stop();
        };
        io.resume_producing();
    };
    reactor.call_soon(spin);
    REQUIRE(run_bounded(reactor, 10s));
    CHECK(protocol_of<Recorder>(io).received == "queued");
    ::close(w.to_io.write);
    ::close(w.from_io.read);
}

TEST_CASE("StandardIO: a regular file works as input", "[stdio]") {
    weft::Reactor reactor;
    char path[] = "/tmp/weft-stdio-XXXXXX";
    const int file = ::mkstemp(path);
    REQUIRE(file >= 0);
    ::unlink(path);
    const std::string content = pattern(300 * 1024);
    REQUIRE(::write(file, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
    REQUIRE(::lseek(file, 0, SEEK_SET) == 0);
    Pipe out = make_pipe();
    auto p = std::make_unique<Recorder>();
    p->on_lost = [&](Recorder&, const weft::Reason&) { reactor.stop(); };
    weft::StandardIO io(reactor, std::move(p), file, out.write);
    REQUIRE(run_bounded(reactor, 10s));
    CHECK(protocol_of<Recorder>(io).received == content);  // read to EOF, then lost (not half-closeable)
    REQUIRE(protocol_of<Recorder>(io).lost);
    CHECK(protocol_of<Recorder>(io).lost->clean());
    ::close(out.read);
}

TEST_CASE("StandardIO: reactor shutdown flushes and loses it, descriptor flags are restored", "[stdio]") {
    weft::Reactor reactor;
    Wiring w;
    // Keep a second descriptor on the output pipe's open file: its flags are the ones StandardIO changes.
    const int witness = ::dup(w.from_io.write);
    REQUIRE(witness >= 0);
    REQUIRE((::fcntl(witness, F_GETFL) & O_NONBLOCK) == 0);
    auto p = std::make_unique<Recorder>();
    p->on_made = [&](Recorder& self) { self.transport().write("flushed at shutdown"); };
    weft::StandardIO io(reactor, std::move(p), w.to_io.read, w.from_io.write);
    CHECK((::fcntl(witness, F_GETFL) & O_NONBLOCK) != 0);  // non-blocking while in use
    reactor.call_soon([&] { reactor.stop(); });
    REQUIRE(run_bounded(reactor, 10s));
    REQUIRE(protocol_of<Recorder>(io).lost);
    CHECK(protocol_of<Recorder>(io).lost->clean());
    CHECK((::fcntl(witness, F_GETFL) & O_NONBLOCK) == 0);  // restored before closing
    ::close(witness);  // now the pipe's last writer is gone
    std::string got(64, '\0');
    const ssize_t n = ::read(w.from_io.read, got.data(), got.size());
    REQUIRE(n >= 0);
    got.resize(static_cast<std::size_t>(n));
    CHECK(got == "flushed at shutdown");
    ::close(w.from_io.read);
    ::close(w.to_io.write);
}

TEST_CASE("StandardIO: abort_connection drops the output, destroying it early is safe", "[stdio]") {
    weft::Reactor reactor;
    Wiring w;
    auto p = std::make_unique<Recorder>();
    p->on_made = [](Recorder& self) {
        self.transport().write("dropped");
        self.transport().abort_connection();
    };
    p->on_lost = [&](Recorder&, const weft::Reason&) { reactor.stop(); };
    weft::StandardIO io(reactor, std::move(p), w.to_io.read, w.from_io.write);
    Pipe a = make_pipe();
    Pipe b = make_pipe();
    auto early = std::make_unique<weft::StandardIO>(reactor, std::make_unique<Recorder>(), a.read, b.write);
    early.reset();  // handlers still queued for it must find nothing to do
    ::close(a.write);
    ::close(b.read);
    REQUIRE(run_bounded(reactor, 10s));
    REQUIRE(protocol_of<Recorder>(io).lost);
    CHECK(protocol_of<Recorder>(io).lost->kind() == weft::Reason::Kind::aborted);
    char c = 0;
    CHECK(::read(w.from_io.read, &c, 1) == 0);  // EOF: nothing was written
    ::close(w.from_io.read);
    ::close(w.to_io.write);
}

TEST_CASE("StandardIO: input and output on one open file (a terminal) get their flags back", "[stdio]") {
    // On a terminal, stdin and stdout are dups of one open file: they share O_NONBLOCK.
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    const int in_fd = pair[0];
    const int out_fd = ::dup(pair[0]);
    const int witness = ::dup(pair[0]);
    REQUIRE((::fcntl(witness, F_GETFL) & O_NONBLOCK) == 0);
    weft::Reactor reactor;
    auto p = std::make_unique<Recorder>();
    p->on_data = [](Recorder& self, std::string_view) {
        if (self.received == "ping\n") {
            self.transport().write("pong\n");
            self.transport().lose_connection();
        }
    };
    p->on_lost = [&](Recorder&, const weft::Reason&) { reactor.stop(); };
    weft::StandardIO io(reactor, std::move(p), in_fd, out_fd);
    CHECK((::fcntl(witness, F_GETFL) & O_NONBLOCK) != 0);
    REQUIRE(::write(pair[1], "ping\n", 5) == 5);
    REQUIRE(run_bounded(reactor, 10s));
    CHECK((::fcntl(witness, F_GETFL) & O_NONBLOCK) == 0);  // blocking again, as the shell expects
    char buf[16] = {};
    CHECK(::read(pair[1], buf, sizeof buf) == 5);
    CHECK(std::string(buf, 5) == "pong\n");
    ::close(witness);
    ::close(pair[1]);
}

TEST_CASE("StandardIO: closing the output of a terminal leaves its input non-blocking", "[stdio]") {
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
    // Should a read block after all, it gives up after a second instead of hanging the test.
    const timeval one_second{1, 0};
    REQUIRE(::setsockopt(pair[0], SOL_SOCKET, SO_RCVTIMEO, &one_second, sizeof one_second) == 0);
    const int witness = ::dup(pair[0]);
    weft::Reactor reactor;
    auto p = std::make_unique<HalfRecorder>();
    p->on_made = [](Recorder& self) {
        self.transport().write("banner");
        self.transport().lose_write_connection();
    };
    p->on_data = [](Recorder& self, std::string_view) {
        if (self.received == "more") self.transport().lose_connection();
    };
    p->on_lost = [&](Recorder&, const weft::Reason&) { reactor.stop(); };
    weft::StandardIO io(reactor, std::move(p), pair[0], ::dup(pair[0]));
    bool checked = false;
    std::function<void()> after_write_closed = [&] {
        if (protocol_of<HalfRecorder>(io).write_lost == 0) return reactor.call_soon(after_write_closed);
        checked = true;
        CHECK((::fcntl(witness, F_GETFL) & O_NONBLOCK) != 0);  // still in use for reading
        REQUIRE(::write(pair[1], "more", 4) == 4);
    };
    reactor.call_soon(after_write_closed);
    REQUIRE(run_bounded(reactor, 10s));
    CHECK(checked);
    CHECK(protocol_of<HalfRecorder>(io).received == "more");
    CHECK((::fcntl(witness, F_GETFL) & O_NONBLOCK) == 0);
    ::close(witness);
    ::close(pair[1]);
}

TEST_CASE("StandardIO on a terminal: several lines typed at once all arrive (a short read is not 'empty')", "[stdio][tty]") {
    int master = -1, slave = -1;
    REQUIRE(::openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
    Wiring w;  // only the output pipe is used
    weft::Reactor reactor;
    auto protocol = std::make_unique<Recorder>();
    protocol->on_data = [&](Recorder& self, std::string_view) {
        if (self.received == "a\nb\nc\n") reactor.stop();
    };
    weft::StandardIO io(reactor, std::move(protocol), slave, w.from_io.write);
    // Canonical mode: each read() of the terminal returns one line; all three are waiting before the
    // first read, so no new readiness edge comes for the second and third.
    REQUIRE(::write(master, "a\nb\nc\n", 6) == 6);
    REQUIRE(run_bounded(reactor, 5s));
    CHECK(protocol_of<Recorder>(io).received == "a\nb\nc\n");
    ::close(master);
    ::close(w.to_io.read);
    ::close(w.to_io.write);
    ::close(w.from_io.read);
}

TEST_CASE("StandardIO: lose_connection waits for a slow reader of its output past the disconnect timeout",
          "[stdio][close]") {
    Wiring w;
    weft::Reactor reactor;
    reactor.set_disconnect_timeout(50ms);
    const std::string big = pattern(1 << 20);  // far more than the pipe holds
    auto writer = std::make_unique<Recorder>();
    writer->on_made = [&](Recorder& self) {
        self.transport().write(big);
        self.transport().lose_connection();
    };
    weft::StandardIO io(reactor, std::move(writer), w.to_io.read, w.from_io.write);
    // The reader (a pager nobody scrolls) starts only after the disconnect timeout would have fired.
    std::unique_ptr<weft::StandardIO> reader;
    auto start_reading = reactor.call_later(300ms, [&] {
        auto r = std::make_unique<Recorder>();
        r->on_lost = [&](Recorder&, const weft::Reason&) { reactor.stop(); };
        reader = std::make_unique<weft::StandardIO>(reactor, std::move(r), w.from_io.read, w.to_io.write);
    });
    REQUIRE(run_bounded(reactor, 10s));
    REQUIRE(reader);
    CHECK(protocol_of<Recorder>(*reader).received.size() == big.size());
    CHECK(protocol_of<Recorder>(*reader).received == big);
    REQUIRE(protocol_of<Recorder>(io).lost);
    CHECK(protocol_of<Recorder>(io).lost->clean());
}
