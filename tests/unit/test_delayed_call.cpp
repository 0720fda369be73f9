// DelayedCall and testing::Clock: Twisted's IDelayedCall / task.Clock semantics.
#include <catch2/catch.hpp>

#include <vector>

#include "weft/error.hpp"
#include "weft/testing/clock.hpp"

using namespace std::chrono_literals;
using weft::testing::Clock;

TEST_CASE("Clock starts at zero and advances only when told", "[clock]") {
    Clock clock;
    CHECK(clock.seconds() == 0.0);
    clock.advance(1500ms);
    CHECK(clock.seconds() == Approx(1.5));
    clock.advance(0.5s);
    CHECK(clock.seconds() == Approx(2.0));
}

TEST_CASE("call_later runs at its time, not before, and never inside call_later", "[clock]") {
    Clock clock;
    int ran = 0;
    auto call = clock.call_later(0s, [&] { ++ran; });
    CHECK(ran == 0);
    CHECK(call.active());
    clock.advance(0s);
    CHECK(ran == 1);
    CHECK_FALSE(call.active());
    CHECK(call.called());

    auto later = clock.call_later(2s, [&] { ++ran; });
    clock.advance(1999ms);
    CHECK(ran == 1);
    clock.advance(1ms);
    CHECK(ran == 2);
}

TEST_CASE("calls due together run in time order, then scheduling order", "[clock]") {
    Clock clock;
    std::vector<int> order;
    clock.call_later(3s, [&] { order.push_back(3); });
    clock.call_later(1s, [&] { order.push_back(1); });
    clock.call_later(1s, [&] { order.push_back(11); });
    clock.call_later(2s, [&] { order.push_back(2); });
    clock.advance(10s);
    CHECK(order == std::vector<int>{1, 11, 2, 3});
}

TEST_CASE("each call sees now() equal to its own time during advance", "[clock]") {
    Clock clock;
    std::vector<double> seen;
    clock.call_later(1s, [&] { seen.push_back(clock.seconds()); });
    clock.call_later(3s, [&] { seen.push_back(clock.seconds()); });
    clock.advance(5s);
    CHECK(seen == std::vector<double>{1.0, 3.0});
    CHECK(clock.seconds() == 5.0);
}

TEST_CASE("a call scheduled by a call runs in the same advance when it falls due", "[clock]") {
    Clock clock;
    std::vector<int> order;
    clock.call_later(1s, [&] {
        order.push_back(1);
        clock.call_later(1s, [&] { order.push_back(2); });
        clock.call_later(10s, [&] { order.push_back(3); });
    });
    clock.advance(5s);
    CHECK(order == std::vector<int>{1, 2});
    CHECK(clock.pending_calls().size() == 1);
}

TEST_CASE("cancel stops the call; cancelling again or after it ran is an error", "[clock]") {
    Clock clock;
    int ran = 0;
    auto call = clock.call_later(1s, [&] { ++ran; });
    call.cancel();
    CHECK(call.cancelled());
    CHECK_FALSE(call.active());
    CHECK_THROWS_AS(call.cancel(), weft::AlreadyCancelled);
    CHECK_THROWS_AS(call.reset(1s), weft::AlreadyCancelled);
    CHECK_THROWS_AS(call.delay(1s), weft::AlreadyCancelled);
    clock.advance(2s);
    CHECK(ran == 0);

    auto done = clock.call_later(1s, [&] { ++ran; });
    clock.advance(1s);
    CHECK(ran == 1);
    CHECK_THROWS_AS(done.cancel(), weft::AlreadyCalled);
    CHECK_THROWS_AS(done.reset(1s), weft::AlreadyCalled);
    CHECK_THROWS_AS(done.delay(1s), weft::AlreadyCalled);

    weft::DelayedCall empty;
    CHECK_FALSE(empty.active());
    CHECK_THROWS_AS(empty.cancel(), weft::AlreadyCancelled);
}

TEST_CASE("reset moves the call relative to now, sooner or later", "[clock]") {
    Clock clock;
    int ran = 0;
    auto call = clock.call_later(5s, [&] { ++ran; });
    clock.advance(4s);
    call.reset(5s);  // now due at 9s
    CHECK(call.time() == weft::TimePoint(9s));
    clock.advance(4s);
    CHECK(ran == 0);
    clock.advance(1s);
    CHECK(ran == 1);

    auto soon = clock.call_later(100s, [&] { ++ran; });
    soon.reset(1s);
    clock.advance(1s);
    CHECK(ran == 2);
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("delay postpones the call by the extra amount", "[clock]") {
    Clock clock;
    int ran = 0;
    auto call = clock.call_later(2s, [&] { ++ran; });
    call.delay(3s);
    CHECK(call.time() == weft::TimePoint(5s));
    clock.advance(4s);
    CHECK(ran == 0);
    clock.advance(1s);
    CHECK(ran == 1);
}

TEST_CASE("resetting a timeout on every event keeps one pending call", "[clock]") {
    Clock clock;
    int fired = 0;
    auto call = clock.call_later(10s, [&] { ++fired; });
    for (int i = 0; i < 100000; ++i) call.reset(10s);
    CHECK(clock.pending_calls().size() == 1);
    clock.advance(9s);
    CHECK(fired == 0);
    clock.advance(1s);
    CHECK(fired == 1);
}

TEST_CASE("pending_calls lists live calls earliest first", "[clock]") {
    Clock clock;
    auto a = clock.call_later(3s, [] {});
    auto b = clock.call_later(1s, [] {});
    auto c = clock.call_later(2s, [] {});
    c.cancel();
    auto pending = clock.pending_calls();
    REQUIRE(pending.size() == 2);
    CHECK(pending[0] == b);
    CHECK(pending[1] == a);
}

TEST_CASE("an exception from a delayed call is contained", "[clock]") {
    Clock clock;
    int after = 0;
    clock.call_later(1s, [] { throw std::runtime_error("boom"); });
    clock.call_later(2s, [&] { ++after; });
    CHECK_NOTHROW(clock.advance(3s));
    CHECK(after == 1);
}

TEST_CASE("a handle outliving its clock is inactive and harmless", "[clock]") {
    weft::DelayedCall call;
    {
        Clock clock;
        call = clock.call_later(1s, [] {});
        CHECK(call.active());
    }
    CHECK_FALSE(call.active());
    CHECK_THROWS_AS(call.reset(1s), weft::AlreadyCancelled);
}
