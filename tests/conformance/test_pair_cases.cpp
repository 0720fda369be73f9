// The conformance cases that need a weft transport at both ends (kinds.hpp: CONFORMANCE_PAIR_KINDS): the
// far end must be able to throw, pause, half-close and report its own connection_lost. A kind whose far
// end is not a weft transport (a child running `cat`) runs only the echo cases (test_echo_cases.cpp);
// the cases here are not instantiated for it rather than skipped.
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>

#include "conformance.hpp"
#include "kinds.hpp"

using namespace conformance;
using namespace std::chrono_literals;
using weft::Reason;
using weft_test::run_bounded;

namespace {

constexpr std::size_t MiB = 1024 * 1024;

/// Runs `fn` after `turns` loop turns.
void after_turns(weft::Reactor& reactor, int turns, std::function<void()> fn) {
    if (turns <= 0) return fn();
    reactor.call_soon([&reactor, turns, fn = std::move(fn)]() mutable { after_turns(reactor, turns - 1, std::move(fn)); });
}

/// Writes `total` bytes of pattern(seed) as pieces of every size and through every write call.
void write_mixed(weft::Transport& t, std::size_t total, std::size_t seed) {
    const std::string data = pattern(total, seed);
    std::size_t at = 0;
    for (std::size_t i = 0; at < total; ++i) {
        const std::size_t size = std::min(total - at, std::size_t{1} << (i % 21));  // 1 B .. 1 MiB
        const std::string_view piece(data.data() + at, size);
        switch (i % 3) {
            case 0: t.write(piece); break;
            case 1: {
                const std::string_view parts[] = {piece.substr(0, size / 2), {}, piece.substr(size / 2)};
                t.write_sequence(parts);
                break;
            }
            default: t.write_shared(std::make_shared<const std::string>(piece)); break;
        }
        at += size;
    }
}

}  // namespace

TEMPLATE_TEST_CASE("conformance: 16 MiB both ways arrive intact at readers slower than the writers", "[conformance]",
                   CONFORMANCE_PAIR_KINDS) {
    TestType kind;
    static constexpr std::size_t total = 16 * MiB;
    Side a, b;
    StopAfter stop{kind.reactor, 2};
    for (auto [side, seed] : {std::pair{&a, std::size_t{1}}, std::pair{&b, std::size_t{2}}}) {
        side->keep = false;
        side->on_made = [seed = seed](Side& s) {
            write_mixed(s.t(), total, seed);
            s.t().lose_write_connection();  // both halves shut, both EOFs read: the connection is done
        };
        // Each MiB received, stop reading for a few turns: the writer gets ahead and must wait.
        side->on_data = [&kind](Side& s, std::string_view data) {
            if (s.sum.count / MiB == (s.sum.count - data.size()) / MiB) return;
            s.t().pause_producing();
            after_turns(kind.reactor, 5, [&s] {
                if (s.transport != nullptr) s.t().resume_producing();
            });
        };
        side->on_lost = [&](Side&, const Reason&) { stop(); };
    }
    kind.open(a, b);
    REQUIRE(run_bounded(kind.reactor, 30s));
    CHECK(a.sum == checksum_of(pattern(total, 2)));
    CHECK(b.sum == checksum_of(pattern(total, 1)));
    for (Side* s : {&a, &b}) {
        check_lost_once(*s);
        REQUIRE(s->lost);
        CHECK(s->lost->clean());
        CHECK(s->write_lost == 1);
    }
}

namespace {

/// `closer` shuts its write side after a question; `other` answers after the EOF.
void half_close(StopAfter& stop, Side& closer, Side& other) {
    closer.on_made = [](Side& s) {
        s.t().write("question");
        s.t().lose_write_connection();
        s.t().write("ignored: the write side is closing");
    };
    other.on_read_lost = [](Side& s) {
        CHECK(s.t().state() == weft::ConnectionState::read_half_closed);
        CHECK(s.received == "question");
        s.t().write("answer after your EOF");  // still writable
        s.t().lose_connection();
    };
    closer.on_lost = other.on_lost = [&](Side&, const Reason&) { stop(); };
}

}  // namespace

TEMPLATE_TEST_CASE("conformance: half-close both ways: the peer reads EOF and may still write back", "[conformance]",
                   CONFORMANCE_PAIR_KINDS) {
    TestType kind;
    Side a, b;
    Side* closer = nullptr;
    Side* other = nullptr;
    SECTION("a shuts its write side") {
        closer = &a;
        other = &b;
    }
    SECTION("b shuts its write side") {
        closer = &b;
        other = &a;
    }
    StopAfter stop{kind.reactor, 2};
    half_close(stop, *closer, *other);
    kind.open(a, b);
    REQUIRE(run_bounded(kind.reactor, 10s));
    CHECK(other->read_lost == 1);
    CHECK(other->received == "question");
    CHECK(closer->received == "answer after your EOF");
    CHECK(closer->write_lost == 1);
    CHECK(closer->read_lost == 0);  // our write side was shut: the peer's EOF completes the close
    for (Side* s : {&a, &b}) {
        check_lost_once(*s);
        REQUIRE(s->lost);
        CHECK(s->lost->clean());
    }
}

TEMPLATE_TEST_CASE("conformance: a peer that is not half-closeable is lost at EOF after flushing", "[conformance]",
                   CONFORMANCE_PAIR_KINDS) {
    TestType kind;
    Side a, b;
    StopAfter stop{kind.reactor, 2};
    const std::string big = pattern(4 * MiB);
    a.on_made = [](Side& s) {
        s.t().write("question");
        s.t().lose_write_connection();
    };
    b.on_data = [&](Side& s, std::string_view) {
        if (s.received == "question") s.t().write(big);  // pending when the EOF comes: flushed first
    };
    a.keep = true;
    a.on_lost = b.on_lost = [&](Side&, const Reason&) { stop(); };
    kind.template open<HalfPeer, PlainPeer>(a, b);
    REQUIRE(run_bounded(kind.reactor, 10s));
    CHECK((a.received == big));  // parenthesised: Catch would print megabytes
    for (Side* s : {&a, &b}) {
        check_lost_once(*s);
        REQUIRE(s->lost);
        CHECK(s->lost->clean());
    }
}

TEMPLATE_TEST_CASE("conformance: lose_connection flushes pending output, abort_connection drops it", "[conformance]",
                   CONFORMANCE_PAIR_KINDS) {
    TestType kind;
    Side a, b;
    StopAfter stop{kind.reactor, 2};
    const std::string big = pattern(4 * MiB);
    bool abort = false;
    SECTION("lose_connection") { abort = false; }
    SECTION("abort_connection") { abort = true; }
    a.on_made = [&](Side& s) {
        s.t().write(big);
        if (abort) {
            s.t().abort_connection();
        } else {
            s.t().lose_connection();
        }
    };
    a.on_lost = b.on_lost = [&](Side&, const Reason&) { stop(); };
    kind.template open<PlainPeer, PlainPeer>(a, b);
    REQUIRE(run_bounded(kind.reactor, 10s));
    check_lost_once(a);
    check_lost_once(b);
    REQUIRE(a.lost);
    REQUIRE(b.lost);
    if (abort) {
        CHECK(a.lost->kind() == Reason::Kind::aborted);
        CHECK(b.received.size() < big.size());
        if (TestType::abort_is_error_at_peer) CHECK_FALSE(b.lost->clean());
    } else {
        CHECK(a.lost->kind() == Reason::Kind::done);
        CHECK((b.received == big));
        CHECK(b.lost->clean());
    }
}

TEMPLATE_TEST_CASE("conformance: connection_lost comes once, never inside a call into the transport", "[conformance]",
                   CONFORMANCE_PAIR_KINDS) {
    TestType kind;
    Side a, b;
    StopAfter stop{kind.reactor, 2};
    a.on_made = [](Side& s) { s.t().write("ping"); };
    std::function<void(weft::Transport&)> end;
    std::string pong_arrives = "pong";  // lose_connection flushes the reply; an abort drops it
    SECTION("lose_connection in data_received") {
        end = [](weft::Transport& t) { t.lose_connection(); };
    }
    SECTION("abort_connection in data_received") {
        end = [](weft::Transport& t) { t.abort_connection(); };
        pong_arrives = "";
    }
    SECTION("every ending call, twice, in data_received") {
        pong_arrives = "";
        end = [](weft::Transport& t) {
            t.lose_write_connection();
            t.lose_connection();
            t.abort_connection();
            t.lose_connection();
            t.abort_connection();
            t.stop_producing();
        };
    }
    b.on_data = [&](Side& s, std::string_view) {
        s.in_call = true;
        s.t().write("pong");
        end(s.t());
        s.t().write("ignored");
        CHECK(s.lost_count == 0);
        s.in_call = false;
    };
    // a ends its side inside data_received too, when the pong arrives (not in the abort section).
    a.on_data = [](Side& s, std::string_view) {
        s.in_call = true;
        s.t().lose_connection();
        s.in_call = false;
    };
    a.on_lost = b.on_lost = [&](Side&, const Reason&) { stop(); };
    kind.template open<PlainPeer, PlainPeer>(a, b);
    REQUIRE(run_bounded(kind.reactor, 10s));
    check_lost_once(a);
    check_lost_once(b);
    CHECK(b.received == "ping");
    CHECK(a.received == pong_arrives);
}

TEMPLATE_TEST_CASE("conformance: writes after lose_connection are ignored", "[conformance]", CONFORMANCE_PAIR_KINDS) {
    TestType kind;
    Side a, b;
    StopAfter stop{kind.reactor, 2};
    a.on_made = [](Side& s) {
        s.t().write("kept");
        s.t().lose_connection();
        s.t().write("dropped");
        const std::string_view parts[] = {"dropped", "too"};
        s.t().write_sequence(parts);
        s.t().write_shared(std::make_shared<const std::string>(pattern(4096)));
        s.t().lose_write_connection();
        CHECK(s.t().buffered_bytes() == 4);
    };
    a.on_lost = b.on_lost = [&](Side&, const Reason&) { stop(); };
    kind.template open<PlainPeer, PlainPeer>(a, b);
    REQUIRE(run_bounded(kind.reactor, 10s));
    CHECK(b.received == "kept");
    check_lost_once(a);
    REQUIRE(a.lost);
    CHECK(a.lost->clean());
}

namespace {

/// A streaming producer that writes `chunk`s while it is not paused, and checks the watermarks it is
/// paused and resumed at.
struct PushProducer : weft::Producer {
    weft::Transport* t = nullptr;
    std::size_t total = 0, chunk = 0, high = 0, low = 0;
    std::size_t sent = 0, max_buffered = 0;
    std::size_t seed = 3;
    bool paused = false;
    int pauses = 0, resumes = 0, stops = 0;
    std::string data;

    void pause_producing() override {
        CHECK(t->buffered_bytes() > high);
        paused = true;
        ++pauses;
    }
    void resume_producing() override {
        CHECK(t->buffered_bytes() <= low);
        ++resumes;
        paused = false;
        produce();
    }
    void stop_producing() override { ++stops; }
    void produce() {
        while (!paused && sent < total) {
            const std::size_t n = std::min(chunk, total - sent);
            t->write(std::string_view(data).substr(sent, n));
            sent += n;
            max_buffered = std::max(max_buffered, t->buffered_bytes());
        }
        if (sent == total && t != nullptr) {
            t->unregister_producer();
            t->lose_connection();
            t = nullptr;
        }
    }
};

}  // namespace

TEMPLATE_TEST_CASE("conformance: a streaming producer pauses above the high watermark, resumes at the low one",
                   "[conformance]", CONFORMANCE_PAIR_KINDS) {
    TestType kind;
    Side a, b;
    StopAfter stop{kind.reactor, 2};
    PushProducer producer;
    producer.total = 16 * MiB;  // more than any kernel buffers between the ends
    producer.chunk = 16 * 1024;
    producer.high = 100 * 1024;
    producer.low = 10 * 1024;
    producer.data = pattern(producer.total, producer.seed);
    bool paused_while_peer_idle = false;
    b.keep = false;
    b.on_made = [](Side& s) { s.t().pause_producing(); };  // b reads nothing until the producer is stuck
    a.on_made = [&](Side& s) {
        s.t().set_write_buffer_limits(producer.high, producer.low);
        producer.t = &s.t();
        s.t().register_producer(producer, true);
        producer.produce();
    };
    on_both_made(a, b, [&] {
        when_stalled(kind.reactor, [&] { return producer.sent + producer.pauses + producer.resumes; }, [&] {
            paused_while_peer_idle = producer.paused && producer.sent < producer.total;
            b.t().resume_producing();
        });
    });
    a.on_lost = b.on_lost = [&](Side&, const Reason&) { stop(); };
    kind.template open<PlainPeer, PlainPeer>(a, b);
    REQUIRE(run_bounded(kind.reactor, 30s));
    CHECK(paused_while_peer_idle);
    CHECK(producer.pauses >= 1);
    CHECK(producer.resumes >= 1);
    CHECK(producer.max_buffered <= producer.high + producer.chunk);
    CHECK(b.sum == checksum_of(producer.data));
    check_lost_once(a);
    REQUIRE(a.lost);
    CHECK(a.lost->clean());
}

namespace {

/// A pull producer: one piece each time it is asked, and it is asked only when the buffer is empty.
struct PullProducer : weft::Producer {
    weft::Transport* t = nullptr;
    std::string data;
    std::size_t piece = 0;
    std::size_t sent = 0;
    int asked = 0, stops = 0;
    bool asked_with_output_queued = false;

    void resume_producing() override {
        ++asked;
        if (t->buffered_bytes() != 0) asked_with_output_queued = true;
        const std::size_t n = std::min(piece, data.size() - sent);
        t->write(std::string_view(data).substr(sent, n));
        sent += n;
        if (sent == data.size()) {
            t->unregister_producer();
            t->lose_connection();
        }
    }
    void stop_producing() override { ++stops; }
};

}  // namespace

TEMPLATE_TEST_CASE("conformance: a pull producer is asked for more each time the buffer drains", "[conformance]",
                   CONFORMANCE_PAIR_KINDS) {
    TestType kind;
    Side a, b;
    StopAfter stop{kind.reactor, 2};
    PullProducer producer;
    producer.data = pattern(20 * 300 * 1024, 4);
    producer.piece = 300 * 1024;  // more than a pipe holds: each piece takes several writes
    b.keep = false;
    a.on_made = [&](Side& s) {
        producer.t = &s.t();
        s.t().register_producer(producer, false);
        CHECK(producer.asked == 0);  // asked on a later turn, not inside register_producer
    };
    a.on_lost = b.on_lost = [&](Side&, const Reason&) { stop(); };
    kind.template open<PlainPeer, PlainPeer>(a, b);
    REQUIRE(run_bounded(kind.reactor, 30s));
    CHECK(producer.asked == 20);
    CHECK_FALSE(producer.asked_with_output_queued);
    CHECK(producer.stops == 0);  // unregistered before the close
    CHECK(b.sum == checksum_of(producer.data));
    check_lost_once(a);
}

TEMPLATE_TEST_CASE("conformance: pause_reading_while_backed_up bounds an echo whose peer does not read",
                   "[conformance]", CONFORMANCE_PAIR_KINDS) {
    TestType kind;
    Side a, b;
    StopAfter stop{kind.reactor, 2};
    const std::size_t total = 16 * MiB;
    const std::size_t high = 64 * 1024;
    std::size_t b_max_buffered = 0;
    std::size_t b_read_when_stalled = 0;
    make_echo(b, high, high / 4);
    b.on_data = [&](Side& s, std::string_view data) {
        s.t().write(data);
        b_max_buffered = std::max(b_max_buffered, s.t().buffered_bytes());
    };
    a.keep = false;
    a.on_made = [&](Side& s) {
        s.t().pause_producing();  // a does not read its echo ...
        write_mixed(s.t(), total, 5);
        s.t().lose_write_connection();
    };
    on_both_made(a, b, [&] {
        when_stalled(kind.reactor, [&] { return a.sum.count + b.sum.count + a.t().buffered_bytes(); }, [&] {
            b_read_when_stalled = b.sum.count;
            a.t().resume_producing();  // ... until everything is stuck
        });
    });
    a.on_lost = b.on_lost = [&](Side&, const Reason&) { stop(); };
    kind.open(a, b);
    REQUIRE(run_bounded(kind.reactor, 30s));
    CHECK(b_read_when_stalled < total);          // b stopped reading ...
    CHECK(b_max_buffered <= high + 64 * 1024);   // ... with at most one read past the high watermark queued
    CHECK(a.sum == checksum_of(pattern(total, 5)));
    check_lost_once(a);
    check_lost_once(b);
    REQUIRE(a.lost);
    CHECK(a.lost->clean());
}

TEMPLATE_TEST_CASE("conformance: the disconnect timeout aborts a lose_connection that cannot flush", "[conformance]",
                   CONFORMANCE_SOCKET_KINDS) {
    TestType kind;
    kind.reactor.set_disconnect_timeout(200ms);
    Side a, b;
    weft::TimePoint lose_called{};
    weft::Duration took{};
    b.keep = false;
    b.on_made = [](Side& s) { s.t().pause_producing(); };  // never reads
    a.on_made = [&](Side& s) {
        s.t().write(pattern(16 * MiB));  // more than the kernel holds between the ends
        // Read before the call that arms the timer: read after it, a preemption in between (a loaded
        // machine) made the measured wait look shorter than the timeout.
        lose_called = kind.reactor.now();
        s.t().lose_connection();
    };
    a.on_lost = [&](Side&, const Reason&) {
        took = kind.reactor.now() - lose_called;
        kind.reactor.stop();  // b is lost by the shutdown
    };
    kind.template open<PlainPeer, PlainPeer>(a, b);
    REQUIRE(run_bounded(kind.reactor, 10s));
    check_lost_once(a);
    check_lost_once(b);
    REQUIRE(a.lost);
    CHECK(a.lost->kind() == Reason::Kind::error);
    CHECK(a.lost->message() == "timed out flushing output");
    CHECK(took >= 200ms);
    CHECK(took < 5s);
}

TEMPLATE_TEST_CASE("conformance: a throwing data_received aborts only its own connection", "[conformance]",
                   CONFORMANCE_PAIR_KINDS) {
    TestType kind;
    Side a1, b1, a2, b2;
    StopAfter stop{kind.reactor, 4};
    a1.on_made = [](Side& s) { s.t().write("trigger"); };
    b1.on_data = [](Side&, std::string_view) { throw std::runtime_error("boom"); };
    // Once the first pair is gone, the second still works: an echo round trip, then a clean close.
    make_echo(b2);
    bool pinged = false;
    auto ping = [&] {
        if (b1.lost && a2.transport != nullptr && !std::exchange(pinged, true)) a2.t().write("still here");
    };
    b1.on_lost = [&](Side&, const Reason&) {
        ping();
        stop();
    };
    a2.on_made = [&](Side&) { ping(); };
    a2.on_data = [](Side& s, std::string_view) {
        if (s.received == "still here") s.t().lose_connection();
    };
    a1.on_lost = a2.on_lost = b2.on_lost = [&](Side&, const Reason&) { stop(); };
    kind.template open<PlainPeer, PlainPeer>(a1, b1);
    kind.template open<PlainPeer, HalfPeer>(a2, b2);
    REQUIRE(run_bounded(kind.reactor, 10s));
    REQUIRE(b1.lost);
    CHECK(b1.lost->kind() == Reason::Kind::error);
    CHECK(b1.lost->message().find("boom") != std::string::npos);
    if (TestType::abort_is_error_at_peer) {
        REQUIRE(a1.lost);
        CHECK_FALSE(a1.lost->clean());
    }
    CHECK(a2.received == "still here");
    for (Side* s : {&a1, &b1, &a2, &b2}) check_lost_once(*s);
    REQUIRE(a2.lost);
    CHECK(a2.lost->clean());
}

TEMPLATE_TEST_CASE("conformance: pause_producing stops data_received until resume_producing", "[conformance]",
                   CONFORMANCE_PAIR_KINDS) {
    TestType kind;
    Side a, b;
    StopAfter stop{kind.reactor, 2};
    std::string seen_while_paused = "unset";
    b.on_made = [](Side& s) { s.t().pause_producing(); };
    a.on_made = [](Side& s) { s.t().write("hello"); };
    on_both_made(a, b, [&] {
        when_stalled(kind.reactor, [&] { return a.t().buffered_bytes(); }, [&] {
            CHECK(a.t().buffered_bytes() == 0);  // "hello" was handed to the kernel long ago
            seen_while_paused = b.received;
            b.t().resume_producing();
        });
    });
    int rounds = 0;
    b.on_data = [&](Side& s, std::string_view) {
        if (s.received == "hello" && rounds++ == 0) {
            // Paused inside data_received, with more coming: nothing until resumed.
            s.t().pause_producing();
            a.t().write(" world");
            when_stalled(kind.reactor, [&] { return a.t().buffered_bytes(); }, [&] {
                CHECK(b.received == "hello");
                b.t().resume_producing();
                b.t().resume_producing();  // a second resume arms nothing more
            });
        } else if (s.received == "hello world") {
            s.t().lose_connection();
        }
    };
    a.on_lost = b.on_lost = [&](Side&, const Reason&) { stop(); };
    kind.template open<PlainPeer, PlainPeer>(a, b);
    REQUIRE(run_bounded(kind.reactor, 10s));
    CHECK(seen_while_paused.empty());
    CHECK(b.received == "hello world");
    check_lost_once(a);
    check_lost_once(b);
}

TEMPLATE_TEST_CASE("conformance: reactor stop() loses every live transport before run() returns", "[conformance]",
                   CONFORMANCE_PAIR_KINDS) {
    TestType kind;
    Side a1, b1, a2, b2;
    int made = 0;
    for (Side* s : {&a1, &b1, &a2, &b2}) {
        s->on_made = [&](Side& self) {
            // Output pending at the stop, less than a pipe holds: shutdown stops every reader, so more
            // would wait for the shutdown timeout.
            self.t().write(pattern(16 * 1024));
            if (++made == 4) kind.reactor.call_when_running([&] { kind.reactor.stop(); });
        };
    }
    kind.template open<PlainPeer, PlainPeer>(a1, b1);
    kind.template open<HalfPeer, HalfPeer>(a2, b2);
    REQUIRE(run_bounded(kind.reactor, 15s));
    for (Side* s : {&a1, &b1, &a2, &b2}) {
        CHECK(s->made == 1);
        check_lost_once(*s);
        REQUIRE(s->lost);
        CHECK(s->lost->clean());  // lost in order, not aborted when the shutdown timeout ran out
    }
    CHECK(kind.reactor.connection_count() == 0);
}
