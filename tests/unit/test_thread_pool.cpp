// ThreadPool, defer_to_thread, blocking_call_from_thread and the reactor's pool: the applicable cases of
// Twisted's twisted/test/test_threadpool.py and test_threads.py, named after their originals. Every case
// name says "thread" so that tests/run-all runs them under TSan.
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/loop.hpp"
#include "weft/deferred.hpp"
#include "weft/thread_pool.hpp"

using namespace weft_test;
using weft::Deferred;
using weft::Failure;
using weft::ThreadPool;
using weft::ThreadPoolOptions;

namespace {

/// Jobs block on it until the test opens it; it counts the jobs that arrived. Every wait is bounded.
struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool open_ = false;
    int arrived = 0;

    void open() {
        std::lock_guard l(m);
        open_ = true;
        cv.notify_all();
    }
    /// A job: says it arrived, then waits for open().
    void pass() {
        std::unique_lock l(m);
        ++arrived;
        cv.notify_all();
        cv.wait_for(l, std::chrono::seconds(20), [&] { return open_; });
    }
    bool wait_arrived(int n) {
        std::unique_lock l(m);
        return cv.wait_for(l, std::chrono::seconds(20), [&] { return arrived >= n; });
    }
};

/// Polls `pred` (a state another thread reaches on its own, such as an idle thread exiting) for at most 20 s.
template <class P>
bool eventually(P pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

struct TestError : std::runtime_error {
    TestError() : std::runtime_error("test error") {}
};

}  // namespace

TEST_CASE("thread pool: defer_to_thread fires on the reactor thread with the value (test_deferredResult)", "[thread]") {
    weft::Reactor reactor;
    std::thread::id loop_thread, job_thread, callback_thread;
    int result = 0;
    reactor.call_when_running([&] {
        loop_thread = std::this_thread::get_id();
        weft::defer_to_thread(reactor, [&] {
            job_thread = std::this_thread::get_id();
            return 6 * 7;
        }).add_callback([&](int v) {
            callback_thread = std::this_thread::get_id();
            result = v;
            reactor.stop();
        });
    });
    REQUIRE(run_bounded(reactor));
    CHECK(result == 42);
    CHECK(job_thread != loop_thread);
    CHECK(callback_thread == loop_thread);
}

TEST_CASE("thread pool: defer_to_thread's exception arrives as a Failure (test_deferredFailure)", "[thread]") {
    weft::Reactor reactor;
    std::optional<Failure> failure;
    bool void_done = false;
    reactor.call_when_running([&] {
        weft::defer_to_thread(reactor, []() -> int { throw TestError(); }).add_errback([&](Failure f) {
            failure = f;
            return 0;
        });
        weft::defer_to_thread(reactor, [] {}).add_callback([&] {
            void_done = true;
            reactor.stop();
        });
    });
    REQUIRE(run_bounded(reactor));
    REQUIRE(failure);
    CHECK(failure->check<TestError>());
    CHECK(void_done);
}

TEST_CASE("thread pool: many defer_to_thread calls all deliver, in any order (test_callMultiple)", "[thread]") {
    weft::Reactor reactor;
    reactor.set_thread_pool_size(0, 4);
    std::vector<int> results;
    reactor.call_when_running([&] {
        std::vector<Deferred<int>> ds;
        for (int i = 0; i < 200; ++i) ds.push_back(weft::defer_to_thread(reactor, [i] { return i; }));
        weft::gather(ds).add_callback([&](std::vector<int> v) {
            results = std::move(v);
            reactor.stop();
        });
    });
    REQUIRE(run_bounded(reactor));
    REQUIRE(results.size() == 200);
    for (int i = 0; i < 200; ++i) CHECK(results[i] == i);
    CHECK(reactor.thread_pool().threads() <= 4);
}

TEST_CASE("thread pool: call_in_thread never runs more than max_threads jobs at once (test_tooMuchWorkBeforeStarting)",
          "[thread]") {
    weft::Reactor reactor;
    ThreadPool pool(reactor, ThreadPoolOptions{0, 2, 100, std::chrono::seconds(60)});
    Gate gate;
    std::atomic<int> running{0}, most{0}, done{0};
    for (int i = 0; i < 6; ++i) {
        pool.call_in_thread([&] {
            const int now = ++running;
            int seen = most.load();
            while (now > seen && !most.compare_exchange_weak(seen, now)) {
            }
            gate.pass();
            --running;
            ++done;
        });
    }
    REQUIRE(gate.wait_arrived(2));
    CHECK(pool.threads() == 2);
    CHECK(pool.queued() == 4);
    gate.open();
    REQUIRE(eventually([&] { return done.load() == 6; }));
    CHECK(most.load() == 2);
    CHECK(pool.threads() == 2);
}

TEST_CASE("thread pool: a job that throws is logged and the thread goes on (test_callInThreadException)", "[thread]") {
    weft::Reactor reactor;
    ThreadPool pool(reactor, ThreadPoolOptions{0, 1, 10, std::chrono::seconds(60)});
    std::atomic<bool> second{false};
    pool.call_in_thread([] { throw TestError(); });
    pool.call_in_thread([&] { second = true; });
    REQUIRE(eventually([&] { return second.load(); }));
    CHECK(pool.threads() == 1);
}

TEST_CASE("thread pool: a full queue refuses the job: call_in_thread throws, defer_to_thread fails", "[thread]") {
    weft::Reactor reactor;
    ThreadPool pool(reactor, ThreadPoolOptions{0, 1, 2, std::chrono::seconds(60)});
    Gate gate;
    pool.call_in_thread([&] { gate.pass(); });
    REQUIRE(gate.wait_arrived(1));  // running: the queue is empty again
    pool.call_in_thread([] {});
    pool.call_in_thread([] {});
    CHECK_THROWS_AS(pool.call_in_thread([] {}), weft::ThreadPoolFull);
    std::optional<Failure> failure;
    pool.defer_to_thread([] { return 1; }).add_errback([&](Failure f) {
        failure = f;
        return 0;
    });
    REQUIRE(failure);  // at once: nothing was queued
    CHECK(failure->check<weft::ThreadPoolFull>());
    CHECK(pool.queued() == 2);
    gate.open();
}

TEST_CASE("thread pool: cancelling a defer_to_thread whose job has not started removes the job", "[thread]") {
    weft::Reactor reactor;
    ThreadPool pool(reactor, ThreadPoolOptions{0, 1, 10, std::chrono::seconds(60)});
    Gate gate;
    std::atomic<bool> ran{false};
    pool.call_in_thread([&] { gate.pass(); });
    REQUIRE(gate.wait_arrived(1));
    auto d = pool.defer_to_thread([&] {
        ran = true;
        return 1;
    });
    CHECK(pool.queued() == 1);
    std::optional<Failure> failure;
    d.add_errback([&](Failure f) {
        failure = f;
        return 0;
    });
    d.cancel();
    REQUIRE(failure);
    CHECK(failure->check<weft::CancelledError>());
    CHECK(pool.queued() == 0);
    std::atomic<bool> after{false};
    pool.call_in_thread([&] { after = true; });
    gate.open();
    REQUIRE(eventually([&] { return after.load(); }));
    CHECK_FALSE(ran.load());
}

TEST_CASE("thread pool: a defer_to_thread cancelled while it runs drops the late result", "[thread]") {
    weft::Reactor reactor;
    Gate gate;
    std::optional<Failure> failure;
    int callbacks = 0;
    reactor.call_when_running([&] {
        auto d = weft::defer_to_thread(reactor, [&] {
            gate.pass();
            return 1;
        });
        d.add_callbacks(
            [&](int) {
                ++callbacks;
                return 0;
            },
            [&](Failure f) {
                failure = f;
                ++callbacks;
                return 0;
            });
        reactor.call_in_thread([&, d]() mutable {
            gate.wait_arrived(1);
            weft::blocking_call_from_thread(reactor, [&] { d.cancel(); });  // on the loop, while the job runs
            gate.open();
            // The job posts its result before it stops counting as working: a stop posted after comes after.
            eventually([&] { return reactor.thread_pool().working() == 1; });
            reactor.call_from_thread([&] { reactor.stop(); });
        });
    });
    REQUIRE(run_bounded(reactor));
    REQUIRE(failure);
    CHECK(failure->check<weft::CancelledError>());
    CHECK(callbacks == 1);
}

TEST_CASE("thread pool: an idle thread beyond min_threads exits after idle_timeout; min_threads stay", "[thread]") {
    weft::Reactor reactor;
    ThreadPool pool(reactor, ThreadPoolOptions{1, 3, 10, std::chrono::milliseconds(20)});
    CHECK(pool.threads() == 1);  // min_threads start at once (Twisted: ThreadPool.start)
    Gate gate;
    for (int i = 0; i < 3; ++i) pool.call_in_thread([&] { gate.pass(); });
    REQUIRE(gate.wait_arrived(3));
    CHECK(pool.threads() == 3);
    gate.open();
    REQUIRE(eventually([&] { return pool.threads() == 1; }));
    // It grows again on demand.
    std::atomic<int> done{0};
    for (int i = 0; i < 2; ++i) pool.call_in_thread([&] { ++done; });
    REQUIRE(eventually([&] { return done.load() == 2; }));
}

TEST_CASE("thread pool: set_size changes the bounds, waiting jobs get the new threads (test_existingWork)", "[thread]") {
    weft::Reactor reactor;
    ThreadPool pool(reactor, ThreadPoolOptions{0, 1, 10, std::chrono::seconds(60)});
    Gate gate;
    for (int i = 0; i < 3; ++i) pool.call_in_thread([&] { gate.pass(); });
    REQUIRE(gate.wait_arrived(1));
    CHECK(pool.threads() == 1);
    pool.set_size(0, 3);  // the waiting jobs get threads now
    REQUIRE(gate.wait_arrived(3));
    CHECK(pool.threads() == 3);
    CHECK_THROWS_AS(pool.set_size(2, 1), std::invalid_argument);
    CHECK_THROWS_AS(pool.set_size(0, 0), std::invalid_argument);
    gate.open();
}

TEST_CASE("thread pool: the reactor's pool is made on first use with the administrator's sizes (test_suggestThreadPoolSize)", "[thread]") {
    weft::Reactor reactor;
    reactor.set_thread_pool_options(ThreadPoolOptions{1, 2, 5, std::chrono::seconds(1)});
    auto& pool = reactor.thread_pool();
    CHECK(&pool == &reactor.thread_pool());
    CHECK(pool.options().max_queue == 5);
    CHECK(pool.threads() == 1);
    reactor.set_thread_pool_size(0, 4);
    CHECK(pool.options().max_threads == 4);
    CHECK_THROWS_AS(reactor.set_thread_pool_size(3, 2), std::invalid_argument);
    CHECK_THROWS_AS(reactor.set_thread_pool_options(ThreadPoolOptions{0, 1, 0, std::chrono::seconds(1)}),
                    std::invalid_argument);
    CHECK_THROWS_AS(ThreadPool(reactor, ThreadPoolOptions{0, 1, 0, std::chrono::seconds(1)}), std::invalid_argument);
}

TEST_CASE("thread: blocking_call_from_thread returns the loop's value, waits for a Deferred, rethrows a failure "
          "(test_blockingCallFromThread, test_asyncBlockingCallFromThread, test_asyncErrorBlockingCallFromThread)",
          "[thread]") {
    weft::Reactor reactor;
    int plain = 0;
    std::string later;
    std::string error;
    bool on_loop = false;
    reactor.call_when_running([&] {
        const auto loop = std::this_thread::get_id();
        reactor.call_in_thread([&, loop] {
            plain = weft::blocking_call_from_thread(reactor, [&] {
                on_loop = std::this_thread::get_id() == loop;
                return 7;
            });
            later = weft::blocking_call_from_thread(reactor, [&] {
                return weft::defer_later(reactor, std::chrono::milliseconds(1), [] { return std::string("later"); });
            });
            try {
                weft::blocking_call_from_thread(reactor, [&] { return weft::fail<int>(Failure(TestError())); });
            } catch (const TestError& e) {
                error = e.what();
            }
            weft::blocking_call_from_thread(reactor, [&] { reactor.stop(); });
        });
    });
    REQUIRE(run_bounded(reactor));
    CHECK(plain == 7);
    CHECK(on_loop);
    CHECK(later == "later");
    CHECK(error == "test error");
}

TEST_CASE("thread: blocking_call_from_thread on the reactor thread is an error, not a deadlock", "[thread]") {
    weft::Reactor reactor;
    bool refused = false;
    reactor.call_when_running([&] {
        try {
            weft::blocking_call_from_thread(reactor, [] { return 1; });
        } catch (const weft::StateError&) {
            refused = true;
        }
        reactor.stop();
    });
    REQUIRE(run_bounded(reactor));
    CHECK(refused);
}

TEST_CASE("thread: blocking_call_from_thread gives up with ReactorNotRunning when the reactor does not run or stops",
          "[thread]") {
    weft::Reactor reactor;
    std::optional<bool> before;
    std::thread t([&] {
        try {
            weft::blocking_call_from_thread(reactor, [] {});
            before = false;
        } catch (const weft::ReactorNotRunning&) {
            before = true;
        }
    });
    t.join();
    CHECK(before == std::optional<bool>(true));

    // A Deferred that never fires: the waiting thread is released when run() ends (the shutdown waits for
    // its job until the shutdown timeout).
    reactor.set_shutdown_timeout(std::chrono::milliseconds(100));
    Gate gate;
    std::atomic<bool> released{false};
    reactor.call_when_running([&] {
        reactor.call_in_thread([&] {
            try {
                weft::blocking_call_from_thread(reactor, [&] {
                    gate.open();
                    return Deferred<int>();
                });
            } catch (const weft::ReactorNotRunning&) {
                released = true;
            }
        });
    });
    std::thread stopper([&] {
        gate.pass();  // the blocking call is on the loop
        reactor.stop();
    });
    REQUIRE(run_bounded(reactor));
    stopper.join();
    REQUIRE(eventually([&] { return released.load(); }));
}

TEST_CASE("thread pool: reactor shutdown waits for queued and running jobs; new ones are refused", "[thread][shutdown]") {
    weft::Reactor reactor;
    reactor.set_thread_pool_size(0, 1);
    Gate gate;
    std::atomic<bool> first_done{false};
    bool second_delivered = false, first_delivered_before_after = false, refused = false;
    reactor.call_when_running([&] {
        weft::defer_to_thread(reactor, [&] {
            gate.pass();
            first_done = true;
        });
        weft::defer_to_thread(reactor, [] { return 2; }).add_callback([&](int) { second_delivered = true; });
        reactor.stop();
    });
    reactor.add_system_event_trigger(weft::TriggerPhase::during, weft::SystemEvent::shutdown, [&] {
        weft::defer_to_thread(reactor, [] { return 3; }).add_errback([&](Failure f) {
            refused = f.check<weft::ThreadPoolStopped>();
            return 0;
        });
        gate.open();
    });
    reactor.add_system_event_trigger(weft::TriggerPhase::after, weft::SystemEvent::shutdown,
                                     [&] { first_delivered_before_after = first_done.load() && second_delivered; });
    REQUIRE(run_bounded(reactor));
    CHECK(refused);
    CHECK(first_delivered_before_after);
    // The next run takes jobs again.
    int again = 0;
    reactor.call_when_running([&] {
        weft::defer_to_thread(reactor, [] { return 4; }).add_callback([&](int v) {
            again = v;
            reactor.stop();
        });
    });
    REQUIRE(run_bounded(reactor));
    CHECK(again == 4);
}

TEST_CASE("thread pool: shutdown gives up at the shutdown timeout: queued jobs fail, a running one is joined by "
          "~Reactor", "[thread][shutdown]") {
    Gate gate;
    std::atomic<bool> finished{false};
    std::optional<Failure> queued_failure;
    {
        weft::Reactor reactor;
        reactor.set_shutdown_timeout(std::chrono::milliseconds(50));
        reactor.set_thread_pool_size(0, 1);
        reactor.call_when_running([&] {
            reactor.call_in_thread([&] {
                gate.pass();
                finished = true;
            });
            weft::defer_to_thread(reactor, [] { return 1; }).add_errback([&](Failure f) {
                queued_failure = f;
                return 0;
            });
            reactor.stop();
        });
        const auto t0 = std::chrono::steady_clock::now();
        REQUIRE(run_bounded(reactor));
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
        CHECK_FALSE(finished.load());  // still blocked on the gate: run() did not wait for it
        REQUIRE(queued_failure);
        CHECK(queued_failure->check<weft::ThreadPoolStopped>());
        gate.open();
    }  // ~Reactor joins the thread
    CHECK(finished.load());
}

TEST_CASE("thread pool: stop_now() does not wait for the pool's jobs", "[thread][shutdown]") {
    Gate gate;
    std::optional<Failure> queued_failure;
    {
        weft::Reactor reactor;  // the default shutdown timeout, 10 s: stop_now() must not wait for it
        reactor.set_thread_pool_size(0, 1);
        reactor.call_when_running([&] {
            reactor.call_in_thread([&] { gate.pass(); });
            weft::defer_to_thread(reactor, [] { return 1; }).add_errback([&](Failure f) {
                queued_failure = f;
                return 0;
            });
            reactor.stop();
            reactor.stop_now();
        });
        const auto t0 = std::chrono::steady_clock::now();
        REQUIRE(run_bounded(reactor));
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
        REQUIRE(queued_failure);
        CHECK(queued_failure->check<weft::ThreadPoolStopped>());
        gate.open();
    }
}

TEST_CASE("thread pool: destroyed on the loop while a job waits in blocking_call_from_thread, the job is released",
          "[thread]") {
    // The loop's thread waits in ~ThreadPool for the job, and the job waits for the loop: without the release
    // this deadlocks (found in review).
    weft::Reactor reactor;
    auto pool = std::make_unique<ThreadPool>(reactor, ThreadPoolOptions{1, 1, 8, std::chrono::seconds(30)});
    Gate gate;
    std::atomic<bool> stopped{false};
    reactor.call_when_running([&] {
        pool->call_in_thread([&] {
            try {
                weft::blocking_call_from_thread(reactor, [&] {
                    gate.open();
                    return Deferred<int>();  // never fires: only the pool's destruction can release the job
                });
            } catch (const weft::ThreadPoolStopped&) {
                stopped = true;
            }
        });
    });
    std::thread destroyer([&] {
        gate.pass();  // the blocking call has reached the loop
        reactor.call_from_thread([&] {
            pool.reset();  // on the loop's thread
            reactor.stop();
        });
    });
    REQUIRE(run_bounded(reactor));
    destroyer.join();
    CHECK(stopped.load());
    CHECK(pool == nullptr);
}
