// cooperate / coiterate: the applicable cases of Twisted's twisted/test/test_cooperator.py (CooperatorTests,
// RunStateTests), named after their originals, on the fake Clock; and one on a real Reactor, where a
// loopback connection is served while a CPU-bound job runs.
#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "weft/reactor_time.hpp"

#include "support/loop.hpp"
#include "weft/cooperator.hpp"
#include "weft/testing/clock.hpp"

using namespace weft_test;
using weft::CooperateOptions;
using weft::Failure;
using weft::testing::Clock;

namespace {

struct TestError : std::runtime_error {
    TestError() : std::runtime_error("test error") {}
};

/// A job of `n` steps that records each step's number.
std::function<bool()> counting(std::vector<int>& out, int n) {
    return [&out, n, i = 0]() mutable {
        out.push_back(i++);
        return i < n;
    };
}

/// One slice's worth of time on the Clock.
void tick(Clock& clock) { clock.advance(weft::next_slice_delay); }

}  // namespace

/// A ReactorTime over a Clock whose now() the test moves on its own, as steps that take time would
/// (advancing the Clock itself from inside a call it runs would also run the calls due meanwhile).
struct SteppingTime final : weft::ReactorTime {
    Clock& clock;
    weft::Duration spent{};
    explicit SteppingTime(Clock& c) : clock(c) {}
    double seconds() const override { return std::chrono::duration<double>(now().time_since_epoch()).count(); }
    weft::TimePoint now() const override { return clock.now() + spent; }
    using ReactorTime::call_later;
    weft::DelayedCall call_later(weft::Duration delay, std::function<void()> fn) override {
        return clock.call_later(delay, std::move(fn));
    }
    std::vector<weft::DelayedCall> pending_calls() const override { return clock.pending_calls(); }
};

TEST_CASE("cooperator: a job runs on later turns in slices bounded by time (testResourceExhaustion)", "[cooperator]") {
    Clock clock;
    SteppingTime time(clock);
    int steps = 0;
    // Each step takes 3 ms: a 10 ms slice runs 4 of them (0, 3, 6, 9 -> 12 ms).
    auto task = weft::cooperate(time, [&] {
        ++steps;
        time.spent += std::chrono::milliseconds(3);
        return steps < 10;
    });
    CHECK(steps == 0);  // never inside cooperate()
    tick(clock);
    CHECK(steps == 4);
    tick(clock);
    CHECK(steps == 8);
    bool done = false;
    task.when_done().add_callback([&] { done = true; });
    tick(clock);
    CHECK(steps == 10);
    CHECK(done);
    CHECK(task.done());
}

TEST_CASE("cooperator: max_steps ends a slice on a clock that does not move", "[cooperator]") {
    Clock clock;
    std::vector<int> seen;
    auto task = weft::cooperate(clock, counting(seen, 5), CooperateOptions{std::chrono::milliseconds(10), 2});
    tick(clock);
    CHECK(seen.size() == 2);
    tick(clock);
    CHECK(seen.size() == 4);
    tick(clock);
    CHECK(seen.size() == 5);
    CHECK(task.done());
}

TEST_CASE("cooperator: other calls due run between slices (testCooperation)", "[cooperator]") {
    Clock clock;
    std::vector<std::string> log;
    CooperateOptions one{std::chrono::milliseconds(10), 1};
    int a = 0, b = 0;
    auto ta = weft::cooperate(clock, [&] { log.push_back("a" + std::to_string(a)); return ++a < 3; }, one);
    auto tb = weft::cooperate(clock, [&] { log.push_back("b" + std::to_string(b)); return ++b < 3; }, one);
    for (int i = 0; i < 3; ++i) tick(clock);
    CHECK(log == std::vector<std::string>{"a0", "b0", "a1", "b1", "a2", "b2"});
}

TEST_CASE("cooperator: coiterate fires when done (testCallbackReCoiterate)", "[cooperator]") {
    Clock clock;
    std::vector<int> seen;
    bool done = false;
    weft::coiterate(clock, counting(seen, 3), {weft::Duration::zero(), 1}).add_callback([&] { done = true; });
    for (int i = 0; i < 3; ++i) tick(clock);
    CHECK(done);
    CHECK(seen == std::vector<int>{0, 1, 2});
}

TEST_CASE("cooperator: an exception fails the job and leaves no call scheduled (testUnexpectedError, "
          "test_whenDoneError, test_removingLastTaskStopsScheduledCall)", "[cooperator]") {
    Clock clock;
    int steps = 0;
    std::optional<Failure> failure;
    weft::coiterate(clock, [&]() -> bool {
        if (++steps == 2) throw TestError();
        return true;
    }).add_errback([&](Failure f) { failure = f; });
    tick(clock);
    REQUIRE(failure);
    CHECK(failure->check<TestError>());
    CHECK(steps == 2);
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("cooperator: stop ends the job; when_done fails with TaskStopped; an ended job refuses stop/pause/resume "
          "(testStopRunning, test_whenDoneStop, test_stopStops, test_stopExhausted)",
          "[cooperator]") {
    Clock clock;
    std::vector<int> seen;
    auto task = weft::cooperate(clock, counting(seen, 100), {std::chrono::milliseconds(10), 1});
    std::optional<Failure> failure;
    task.when_done().add_errback([&](Failure f) { failure = f; });
    tick(clock);
    task.stop();
    REQUIRE(failure);
    CHECK(failure->check<weft::TaskStopped>());
    tick(clock);
    CHECK(seen.size() == 1);
    CHECK(clock.pending_calls().empty());
    CHECK_THROWS_AS(task.stop(), weft::TaskDone);
    CHECK_THROWS_AS(task.pause(), weft::TaskDone);
    CHECK_THROWS_AS(task.resume(), weft::TaskDone);
}

TEST_CASE("cooperator: stop from inside a step (test_stopCooperatorReentrancy)", "[cooperator]") {
    Clock clock;
    int steps = 0;
    weft::CooperativeTask* self = nullptr;
    auto task = weft::cooperate(clock, [&] {
        if (++steps == 2) self->stop();
        return true;
    });
    self = &task;
    std::optional<Failure> failure;
    task.when_done().add_errback([&](Failure f) { failure = f; });
    tick(clock);
    CHECK(steps == 2);
    REQUIRE(failure);
    CHECK(failure->check<weft::TaskStopped>());
}

TEST_CASE("cooperator: pause holds the job, resume goes on, counted (test_pauseResume, test_pauseTwice, "
          "test_resumeNotPaused)",
          "[cooperator]") {
    Clock clock;
    std::vector<int> seen;
    auto task = weft::cooperate(clock, counting(seen, 5), {std::chrono::milliseconds(10), 1});
    tick(clock);
    CHECK(seen.size() == 1);
    task.pause();
    task.pause();
    CHECK(task.paused());
    tick(clock);
    CHECK(seen.size() == 1);
    task.resume();
    tick(clock);
    CHECK(seen.size() == 1);  // still paused once
    task.resume();
    CHECK(seen.size() == 1);  // never inside resume()
    tick(clock);
    CHECK(seen.size() == 2);
    CHECK_THROWS_AS(task.resume(), weft::StateError);
}

TEST_CASE("cooperator: pause then stop then resume (test_pauseStopResume)", "[cooperator]") {
    Clock clock;
    std::vector<int> seen;
    auto task = weft::cooperate(clock, counting(seen, 5));
    task.pause();
    task.stop();
    CHECK_THROWS_AS(task.resume(), weft::TaskDone);
    tick(clock);
    CHECK(seen.empty());
}

TEST_CASE("cooperator: each when_done gives its own Deferred, also after the end (test_whenDone, "
          "test_whenDoneAlreadyDone)", "[cooperator]") {
    Clock clock;
    std::vector<int> seen;
    auto task = weft::cooperate(clock, counting(seen, 1));
    int fired = 0;
    task.when_done().add_callback([&] { ++fired; });
    task.when_done().add_callback([&] { ++fired; });
    tick(clock);
    CHECK(fired == 2);
    task.when_done().add_callback([&] { ++fired; });
    CHECK(fired == 3);
}

TEST_CASE("cooperator: cancelling coiterate's Deferred stops the job (test_stopDeferred)", "[cooperator]") {
    Clock clock;
    std::vector<int> seen;
    auto d = weft::coiterate(clock, counting(seen, 100), {std::chrono::milliseconds(10), 1});
    std::optional<Failure> failure;
    d.add_errback([&](Failure f) { failure = f; });
    tick(clock);
    d.cancel();
    REQUIRE(failure);
    CHECK(failure->check<weft::TaskStopped>());
    tick(clock);
    CHECK(seen.size() == 1);
}

TEST_CASE("cooperator: a dropped handle does not stop the job", "[cooperator]") {
    Clock clock;
    std::vector<int> seen;
    weft::cooperate(clock, counting(seen, 3), {std::chrono::milliseconds(10), 1});
    for (int i = 0; i < 5; ++i) tick(clock);
    CHECK(seen.size() == 3);
}

TEST_CASE("cooperator: on a reactor, a loopback connection is served between the slices of a CPU-bound job",
          "[cooperator][reactor]") {
    weft::Reactor reactor;
    LambdaFactory server([](const weft::Address&) { return std::make_unique<Echo>(); });
    auto port = reactor.listen_tcp(0, server, {.interface = "127.0.0.1"});
    // Each step spins 1 ms of CPU (no sleep); the job never ends on its own.
    auto spin = [] {
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1);
        while (std::chrono::steady_clock::now() < until) {
        }
        return true;
    };
    auto task = weft::cooperate(reactor, spin, {std::chrono::milliseconds(5)});
    std::size_t steps_at_echo = 0;
    int round_trips = 0;
    LambdaClientFactory client([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [](Recorder& r) { r.transport().write("x"); };
        p->on_data = [&](Recorder& r, std::string_view) {
            // Ten round trips while the job runs: each is served between two slices.
            if (++round_trips < 10) return r.transport().write("x");
            steps_at_echo = task.steps();
            task.stop();
            reactor.stop();
        };
        return p;
    });
    auto connector = reactor.connect_tcp("127.0.0.1", port->address().port, client);
    REQUIRE(run_bounded(reactor, std::chrono::seconds(20)));
    CHECK(round_trips == 10);
    CHECK(steps_at_echo > 0);
    CHECK(task.done());
}
