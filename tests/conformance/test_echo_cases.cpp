// The conformance cases a `cat` at the far end can show (kinds.hpp: CONFORMANCE_ECHO_KINDS): bytes come
// back in order, 16 MiB go through and back intact to a reader slower than the writer, and closing our
// write side brings the peer's EOF back after the last echoed byte. The near end is driven through Near,
// so the same cases run on a connection (with a weft echo as the peer) and on a child's stdin/stdout.
#include <catch2/catch.hpp>

#include <chrono>
#include <type_traits>

#include "conformance.hpp"
#include "kinds.hpp"

using namespace conformance;
using namespace std::chrono_literals;
using weft_test::run_bounded;

namespace {

constexpr std::size_t MiB = 1024 * 1024;

void after_turns(weft::Reactor& reactor, int turns, std::function<void()> fn) {
    if (turns <= 0) return fn();
    reactor.call_soon([&reactor, turns, fn = std::move(fn)]() mutable { after_turns(reactor, turns - 1, std::move(fn)); });
}

/// Message `i` of the order case: sizes from 1 byte to 200 KiB, each with its own content.
std::string message(std::size_t i) {
    static constexpr std::size_t sizes[] = {1, 7, 100, 511, 512, 513, 4096, 65536, 70000, 200 * 1024};
    return std::to_string(i) + ":" + pattern(sizes[i % std::size(sizes)], i) + "\n";
}

/// Sends message `i` through write, write_sequence (split, with an empty piece) or write_shared in turn.
void send(Near& near, std::size_t i) {
    const std::string m = message(i);
    switch (i % 3) {
        case 0: near.write(m); break;
        case 1: {
            const std::string_view v(m);
            const std::string_view parts[] = {v.substr(0, 1), {}, v.substr(1, v.size() / 2), v.substr(1 + v.size() / 2)};
            near.write_sequence(parts);
            break;
        }
        default: near.write_shared(std::make_shared<const std::string>(m)); break;
    }
}

}  // namespace

TEMPLATE_TEST_CASE("conformance: many writes of mixed sizes come back in order", "[conformance][echo]",
                   CONFORMANCE_ECHO_KINDS) {
    TestType kind;
    Side near;
    constexpr std::size_t count = 300;
    std::string expected;
    for (std::size_t i = 0; i < count; ++i) expected += message(i);
    std::size_t next = 0;
    // A third goes out from connection_made, a third from inside data_received (the echo of earlier
    // writes still arriving), the rest from a later turn: every write path, interleaved.
    near.on_made = [&](Side& s) {
        for (; next < count / 3; ++next) send(s.n(), next);
    };
    near.on_data = [&](Side& s, std::string_view) {
        if (next >= 2 * count / 3) return;
        for (; next < 2 * count / 3; ++next) send(s.n(), next);
        kind.reactor.call_soon([&] {
            for (; next < count; ++next) send(near.n(), next);
            near.n().close_write();
        });
    };
    near.on_lost = [&](Side&, const weft::Reason&) { kind.reactor.stop(); };
    kind.open_echo(near);
    REQUIRE(run_bounded(kind.reactor, 30s));
    CHECK(next == count);
    CHECK(near.received.size() == expected.size());
    CHECK((near.received == expected));  // parenthesised: Catch would print megabytes
    check_lost_once(near);
    REQUIRE(near.lost);
    CHECK(near.lost->clean());
}

TEMPLATE_TEST_CASE("conformance: 16 MiB go through and back intact to a reader slower than the writer",
                   "[conformance][echo]", CONFORMANCE_ECHO_KINDS) {
    TestType kind;
    Side near;
    const std::string data = pattern(16 * MiB, 9);
    near.keep = false;
    near.on_made = [&](Side& s) {
        for (std::size_t at = 0; at < data.size(); at += 256 * 1024) s.n().write(std::string_view(data).substr(at, 256 * 1024));
        s.n().close_write();
    };
    // Each MiB received, stop reading for a few turns: the echo backs up behind us.
    near.on_data = [&](Side& s, std::string_view got) {
        if (s.sum.count / MiB == (s.sum.count - got.size()) / MiB) return;
        s.n().pause_reading();
        after_turns(kind.reactor, 5, [&near] {
            if (near.near) near.n().resume_reading();
        });
    };
    near.on_lost = [&](Side&, const weft::Reason&) { kind.reactor.stop(); };
    kind.open_echo(near);
    REQUIRE(run_bounded(kind.reactor, 30s));
    CHECK(near.sum == checksum_of(data));
    check_lost_once(near);
    REQUIRE(near.lost);
    CHECK(near.lost->clean());
}

TEMPLATE_TEST_CASE("conformance: closing our write side brings the peer's EOF back after the last byte",
                   "[conformance][echo]", CONFORMANCE_ECHO_KINDS) {
    TestType kind;
    Side near;
    const std::string data = pattern(256 * 1024, 11);
    std::size_t received_at_write_lost = 0;
    near.on_made = [&](Side& s) {
        s.n().write(data);
        s.n().close_write();
        s.n().write("ignored: the write side is closing");
    };
    near.on_write_lost = [&](Side& s) { received_at_write_lost = s.received.size(); };
    near.on_lost = [&](Side&, const weft::Reason&) { kind.reactor.stop(); };
    kind.open_echo(near);
    REQUIRE(run_bounded(kind.reactor, 10s));
    CHECK(near.write_lost == 1);
    // Reading went on after our half-close. A child's stdin close is heard in in_connection_lost, which (as
    // every connection_lost) comes on a later turn: cat may have echoed the last bytes by then.
    if constexpr (!std::is_same_v<TestType, conformance::ChildKind>) CHECK(received_at_write_lost < data.size());
    CHECK((near.received == data));
    check_lost_once(near);
    REQUIRE(near.lost);
    CHECK(near.lost->clean());
}
