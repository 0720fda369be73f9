// LoopingCall and defer_later on the fake Clock: the applicable cases of Twisted's twisted/test/test_task.py
// (LoopTests, ReactorLoopTests, DeferLaterTests), each named after its original.
#include <catch2/catch.hpp>

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "weft/deferred.hpp"
#include "weft/looping_call.hpp"
#include "weft/testing/clock.hpp"

using namespace std::chrono_literals;
using weft::Deferred;
using weft::Duration;
using weft::Failure;
using weft::LoopingCall;
using weft::testing::Clock;

namespace {

struct TestException : std::runtime_error {
    TestException() : std::runtime_error("test exception") {}
};

/// Twisted's Clock.pump: advance by each amount in turn.
template <class C>
void pump(C& clock, std::initializer_list<Duration> steps) {
    for (auto s : steps) clock.advance(s);
}

/// A ReactorTime with Twisted's task.Clock semantics, for the tests of late calls: advance() moves time
/// to its end first, so every call it runs sees the final time, as a call run late by a busy reactor
/// would. (weft::testing::Clock runs each call at its own time, so nothing is ever late there.)
class TwistedClock final : public weft::ReactorTime {
public:
    [[nodiscard]] double seconds() const override { return std::chrono::duration<double>(now_.time_since_epoch()).count(); }
    [[nodiscard]] weft::TimePoint now() const override { return now_; }
    using weft::ReactorTime::call_later;
    weft::DelayedCall call_later(Duration delay, std::function<void()> fn) override {
        // Due at now_ + delay of this clock, which is ahead of the inner one during an advance.
        return inner_.call_later(delay + (now_ - inner_.now()), std::move(fn));
    }
    [[nodiscard]] std::vector<weft::DelayedCall> pending_calls() const override { return inner_.pending_calls(); }
    void advance(Duration amount) {
        now_ += amount;
        if (now_ > inner_.now()) inner_.advance(now_ - inner_.now());
    }

private:
    Clock inner_;
    weft::TimePoint now_{};
};

/// What a Deferred<void> came to: "pending", "ok" or the failure's what(). Ends the chain.
struct Outcome {
    std::string state = "pending";
    std::optional<Failure> failure;
};
std::shared_ptr<Outcome> watch(Deferred<void> d) {
    auto o = std::make_shared<Outcome>();
    d.add_callbacks([o] { o->state = "ok"; },
                    [o](Failure f) {
                        o->state = f.what();
                        o->failure = f;
                    });
    return o;
}

}  // namespace

TEST_CASE("testBasicFunction: called at once, then every interval; stop fires the Deferred and leaves no call",
          "[looping_call]") {
    Clock clock;
    int calls = 0;
    LoopingCall lc(clock, [&] { ++calls; });
    auto result = watch(lc.start(100ms));
    CHECK(calls == 1);
    CHECK(lc.running());
    pump(clock, {50ms, 100ms, 100ms});  // t = 0.05, 0.15, 0.25: due at 0.1 and 0.2
    CHECK(calls == 3);
    CHECK(result->state == "pending");
    lc.stop();
    CHECK_FALSE(lc.running());
    CHECK(result->state == "ok");
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("testDelayedStart: with now=false the first call is one interval after start", "[looping_call]") {
    Clock clock;
    int calls = 0;
    LoopingCall lc(clock, [&] { ++calls; });
    auto result = watch(lc.start(100ms, false));
    CHECK(calls == 0);
    pump(clock, {50ms, 100ms, 100ms});
    CHECK(calls == 2);
    lc.stop();
    CHECK(result->state == "ok");
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("testBadDelay: a negative interval is refused", "[looping_call]") {
    Clock clock;
    LoopingCall lc(clock, [] {});
    CHECK_THROWS_AS(lc.start(-1s), std::invalid_argument);
    CHECK_FALSE(lc.running());
}

TEST_CASE("testStopAtOnce / testStoppingBeforeDelayedStart: stop() before the first call prevents it", "[looping_call]") {
    for (Duration delay : {Duration::zero(), Duration(10s)}) {
        Clock clock;
        int calls = 0;
        LoopingCall lc(clock, [&] { ++calls; });
        lc.start(delay, false);
        lc.stop();
        clock.advance(20s);
        CHECK(calls == 0);
        CHECK(clock.pending_calls().empty());
    }
}

TEST_CASE("start twice, or stop/reset when not running, is a StateError", "[looping_call]") {
    Clock clock;
    LoopingCall lc(clock, [] {});
    CHECK_THROWS_AS(lc.stop(), weft::StateError);
    CHECK_THROWS_AS(lc.reset(), weft::StateError);
    lc.start(1s);
    CHECK_THROWS_AS(lc.start(1s), weft::StateError);
    lc.stop();
}

TEST_CASE("test_reset: reset() restarts the grid from now", "[looping_call]") {
    Clock clock;
    int calls = 0;
    LoopingCall lc(clock, [&] { ++calls; });
    lc.start(2s, false);
    clock.advance(1s);
    lc.reset();
    clock.advance(1s);
    CHECK(calls == 0);
    clock.advance(1s);
    CHECK(calls == 1);
    lc.stop();
}

TEST_CASE("test_callbackTimeSkips: a call that overruns skips the grid points it overran", "[looping_call]") {
    TwistedClock clock;
    std::vector<double> times;
    Duration call_duration = 2s;
    LoopingCall lc(clock, [&] {
        times.push_back(clock.seconds());
        clock.advance(call_duration);
    });
    lc.start(500ms);
    CHECK(times == std::vector<double>{0});
    CHECK(clock.seconds() == 2.0);
    clock.advance(0s);  // 2.0 is now, not the future: skipped
    CHECK(times == std::vector<double>{0});
    call_duration = 1s;
    clock.advance(500ms);
    CHECK(times == std::vector<double>{0, 2.5});
    CHECK(clock.seconds() == 3.5);
    clock.advance(0s);
    CHECK(times == std::vector<double>{0, 2.5});
    call_duration = 0s;
    clock.advance(500ms);
    CHECK(times == std::vector<double>{0, 2.5, 4});
    CHECK(clock.seconds() == 4.0);
    lc.stop();
}

TEST_CASE("with weft's Clock, where no call is late, a long advance runs every grid point with a count of 1",
          "[looping_call]") {
    Clock clock;
    std::vector<std::int64_t> counts;
    auto lc = LoopingCall::with_count(clock, [&](std::int64_t n) { counts.push_back(n); });
    lc.start(500ms);
    clock.advance(2s);
    CHECK(counts == std::vector<std::int64_t>(5, 1));
    lc.stop();
}

TEST_CASE("test_reactorTimeSkips: after a long gap the next call is the next grid point in the future",
          "[looping_call]") {
    TwistedClock clock;
    std::vector<double> times;
    LoopingCall lc(clock, [&] { times.push_back(clock.seconds()); });
    lc.start(500ms);
    CHECK(times == std::vector<double>{0});
    clock.advance(2s);
    CHECK(times == std::vector<double>{0, 2});
    clock.advance(1s);
    CHECK(times == std::vector<double>{0, 2, 3});
    clock.advance(0s);
    CHECK(times == std::vector<double>{0, 2, 3});
    lc.stop();
}

TEST_CASE("test_reactorTimeCountSkips: with_count gives the intervals covered, missed ones included", "[looping_call]") {
    TwistedClock clock;
    std::vector<std::pair<std::int64_t, std::int64_t>> calls;  // (ms, count)
    auto lc = LoopingCall::with_count(clock, [&](std::int64_t n) {
        calls.emplace_back(std::chrono::duration_cast<std::chrono::milliseconds>(clock.now().time_since_epoch()).count(), n);
    });
    lc.start(500ms);
    using V = std::vector<std::pair<std::int64_t, std::int64_t>>;
    CHECK(calls == V{{0, 1}});
    clock.advance(510ms);
    CHECK(calls == V{{0, 1}, {510, 1}});
    clock.advance(1510ms);
    CHECK(calls == V{{0, 1}, {510, 1}, {2020, 3}});
    clock.advance(0s);
    CHECK(calls.size() == 3);
    lc.stop();
}

TEST_CASE("test_countLengthyIntervalCounts: only grid points passed are counted", "[looping_call]") {
    TwistedClock clock;
    std::vector<std::int64_t> counts;
    auto lc = LoopingCall::with_count(clock, [&](std::int64_t n) { counts.push_back(n); });
    lc.start(500ms);
    clock.advance(510ms);   // 0.51
    clock.advance(875ms);   // 1.385: one grid point (1.0) since 0.51
    clock.advance(125ms);   // 1.51: 1.5
    CHECK(counts == std::vector<std::int64_t>{1, 1, 1, 1});
    lc.stop();
}

TEST_CASE("test_withCountFloatingPointBoundary: counts add up to the intervals elapsed, never 0", "[looping_call]") {
    Clock clock;
    std::vector<std::int64_t> counts;
    auto lc = LoopingCall::with_count(clock, [&](std::int64_t n) { counts.push_back(n); });
    const Duration interval = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(1.0 / 10));
    lc.start(interval, false);
    for (int i = 0; i < 10; ++i) clock.advance(interval);
    std::int64_t sum = 0;
    for (auto c : counts) sum += c;
    CHECK(sum == 10);
    CHECK(std::find(counts.begin(), counts.end(), 0) == counts.end());
    lc.stop();
}

TEST_CASE("test_withCountIntervalZero: an interval of 0 calls with a count of 1 each time", "[looping_call]") {
    Clock clock;
    std::vector<std::int64_t> counts;
    LoopingCall* self = nullptr;
    auto lc = LoopingCall::with_count(clock, [&](std::int64_t n) {
        counts.push_back(n);
        if (counts.size() > 4) self->stop();
    });
    self = &lc;
    auto result = watch(lc.start(0s, false));
    clock.advance(0s);  // as with Twisted's Clock, calls due now made by calls run in the same advance
    CHECK(counts == std::vector<std::int64_t>(5, 1));
    CHECK(result->state == "ok");
}

TEST_CASE("test_withCountIntervalZeroDelay: an interval-0 loop waits for its Deferred, then counts 1 again",
          "[looping_call]") {
    Clock clock;
    Deferred<void> wait;
    std::vector<std::int64_t> counts;
    LoopingCall* self = nullptr;
    auto lc = LoopingCall::with_count(clock, [&](std::int64_t n) -> Deferred<void> {
        counts.push_back(n);
        if (counts.size() == 2) return wait;
        if (counts.size() > 4) self->stop();
        return weft::succeed();
    });
    self = &lc;
    auto result = watch(lc.start(0s, false));
    pump(clock, {0s, 0s});
    CHECK(counts == std::vector<std::int64_t>(2, 1));
    pump(clock, {1s, 1s});
    CHECK(counts.size() == 2);  // blocked on the Deferred
    wait.callback();
    pump(clock, {0s, 0s, 0s});
    CHECK(counts == std::vector<std::int64_t>(5, 1));
    CHECK(result->state == "ok");
}

TEST_CASE("testFailure: what the function throws fails the Deferred and stops the loop", "[looping_call]") {
    Clock clock;
    LoopingCall lc(clock, [] { throw TestException(); });
    auto result = watch(lc.start(100ms));
    CHECK(result->failure.has_value());
    CHECK(result->failure->check<TestException>());
    CHECK_FALSE(lc.running());
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("testFailAndStop: stop() then a throw inside the function: the Deferred fails with what it threw",
          "[looping_call]") {
    // As Twisted: stop() inside the call does not fire the Deferred; the call's end does, here a failure.
    Clock clock;
    LoopingCall* self = nullptr;
    LoopingCall lc(clock, [&] {
        self->stop();
        throw TestException();
    });
    self = &lc;
    auto result = watch(lc.start(100ms, false));
    clock.advance(100ms);
    REQUIRE(result->failure.has_value());
    CHECK(result->failure->check<TestException>());
    CHECK_FALSE(lc.running());
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("stop() while the function's Deferred is pending fires start()'s Deferred once that call is over",
          "[looping_call]") {
    Clock clock;
    Deferred<void> pending;
    LoopingCall lc(clock, [&] { return pending; });
    auto result = watch(lc.start(1s));
    lc.stop();
    CHECK(result->state == "pending");  // the call is not over
    pending.callback();
    CHECK(result->state == "ok");
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("stop and start again while the old call's Deferred is pending: the old call's end is ignored",
          "[looping_call]") {
    // The old run's call finishing must not schedule a second timer beside the new run's (which would
    // then call twice per interval, and outlive the LoopingCall).
    Clock clock;
    int calls = 0;
    std::vector<Deferred<void>> pending;
    LoopingCall lc(clock, [&] {
        ++calls;
        pending.emplace_back();
        if (calls > 1) pending.back().callback();  // only the first call stays pending
        return pending.back();
    });
    auto first = watch(lc.start(1s));
    lc.stop();
    auto second = watch(lc.start(1s, false));
    CHECK(first->state == "ok");  // the new start ends the old run
    pending[0].callback();        // the old call ends: nothing may be scheduled for it
    CHECK(clock.pending_calls().size() == 1);
    clock.advance(3s);
    CHECK(calls == 1 + 3);
    lc.stop();
    CHECK(second->state == "ok");
}

TEST_CASE("a LoopingCall destroyed while its function's Deferred is pending: that Deferred firing later is harmless",
          "[looping_call]") {
    Clock clock;
    Deferred<void> pending;
    {
        LoopingCall lc(clock, [&] { return pending; });
        lc.start(1s);
    }
    pending.callback();  // reaches no destroyed LoopingCall (ASan would say)
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("testEveryIteration: an interval of 0 runs once per turn until stopped", "[looping_call]") {
    Clock clock;
    int ran = 0;
    LoopingCall* self = nullptr;
    LoopingCall lc(clock, [&] {
        if (++ran > 5) self->stop();
    });
    self = &lc;
    auto result = watch(lc.start(0s));
    for (int i = 0; i < 10 && result->state == "pending"; ++i) clock.advance(0s);
    CHECK(ran == 6);
    CHECK(result->state == "ok");
}

TEST_CASE("testStopAtOnceLater: stop() from another timer prevents the pending call", "[looping_call]") {
    Clock clock;
    int calls = 0;
    LoopingCall lc(clock, [&] { ++calls; });
    lc.start(1s, false);
    clock.call_later(0s, [&] { lc.stop(); });
    clock.advance(5s);
    CHECK(calls == 0);
}

TEST_CASE("testWaitDeferred: the next call waits for the function's Deferred", "[looping_call]") {
    Clock clock;
    int calls = 0;
    LoopingCall* self = nullptr;
    LoopingCall lc(clock, [&] {
        ++calls;
        Deferred<void> d;
        d.add_callback([&] { self->stop(); });
        clock.call_later(1s, [d]() mutable { d.callback(); });
        return d;
    });
    self = &lc;
    lc.start(200ms);
    pump(clock, {200ms, 800ms});
    CHECK(calls == 1);
    CHECK_FALSE(lc.running());
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("testFailurePropagation: the failure of the function's Deferred fails the loop", "[looping_call]") {
    Clock clock;
    LoopingCall lc(clock, [&] {
        Deferred<void> d;
        clock.call_later(300ms, [d]() mutable { d.errback(Failure(TestException())); });
        return d;
    });
    auto result = watch(lc.start(1s));
    pump(clock, {300ms});
    REQUIRE(result->failure.has_value());
    CHECK(result->failure->check<TestException>());
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("test_deferredWithCount: calls missed while the function's Deferred was pending are counted", "[looping_call]") {
    Clock clock;
    Deferred<void> d;
    std::vector<std::int64_t> counts;
    auto lc = LoopingCall::with_count(clock, [&](std::int64_t n) -> Deferred<void> {
        counts.push_back(n);
        return counts.size() == 1 ? d : weft::succeed();
    });
    lc.start(200ms, false);
    CHECK(counts.empty());
    pump(clock, {200ms, 400ms});
    CHECK(counts.size() == 1);
    d.callback();
    pump(clock, {200ms});
    CHECK(counts == std::vector<std::int64_t>{1, 3});
    lc.stop();
}

TEST_CASE("destroying a running LoopingCall cancels its pending call", "[looping_call]") {
    Clock clock;
    int calls = 0;
    {
        LoopingCall lc(clock, [&] { ++calls; });
        lc.start(1s);
    }
    CHECK(clock.pending_calls().empty());
    clock.advance(5s);
    CHECK(calls == 1);
}

// ---- defer_later ----------------------------------------------------------------------------------------------

TEST_CASE("DeferLaterTests.test_callback: fires after the delay with the function's result", "[defer_later]") {
    Clock clock;
    std::vector<std::string> results;
    auto d = weft::defer_later(clock, 3s, [&] {
        results.push_back("called");
        return std::string("flag");
    });
    std::string value;
    d.add_callback([&](std::string v) { value = v; });
    clock.advance(2s);
    CHECK(results.empty());
    clock.advance(1s);
    CHECK(results == std::vector<std::string>{"called"});
    CHECK(value == "flag");
}

TEST_CASE("DeferLaterTests.test_errback: what the function throws is the failure", "[defer_later]") {
    Clock clock;
    auto d = weft::defer_later(clock, 1s, []() -> int { throw TestException(); });
    bool failed = false;
    d.add_errback([&](Failure f) {
        failed = f.check<TestException>();
        return 0;
    });
    clock.advance(1s);
    CHECK(failed);
}

TEST_CASE("DeferLaterTests.test_cancel: cancelling cancels the delayed call; the function never runs", "[defer_later]") {
    Clock clock;
    bool called = false;
    auto d = weft::defer_later(clock, 1s, [&] { called = true; });
    d.cancel();
    auto result = watch(d);
    CHECK(result->failure.has_value());
    CHECK(result->failure->check<weft::CancelledError>());
    CHECK(clock.pending_calls().empty());
    clock.advance(2s);
    CHECK_FALSE(called);
}

TEST_CASE("DeferLaterTests.test_noCallback: a Deferred<void> that fires after the delay", "[defer_later]") {
    Clock clock;
    auto d = weft::defer_later(clock, 2s, [] {});
    auto result = watch(d);
    CHECK(result->state == "pending");
    clock.advance(2s);
    CHECK(result->state == "ok");
}

TEST_CASE("defer_later: a function returning a Deferred is chained", "[defer_later]") {
    Clock clock;
    Deferred<int> inner;
    auto d = weft::defer_later(clock, 1s, [&] { return inner; });
    int got = 0;
    d.add_callback([&](int v) { got = v; });
    clock.advance(1s);
    CHECK(got == 0);
    inner.callback(8);
    CHECK(got == 8);
}
