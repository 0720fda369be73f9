// Google Benchmark of weft's asynchronous composition (issue 13): what a Deferred costs next to
// std::promise/std::future, in nanoseconds and heap allocations per operation. tests/bench/async runs it
// beside Twisted's Deferred (tests/bench/twisted_async.py under /usr/bin/python3) and prints the ratios.
//
//   deferred_three_callbacks   a Deferred<int> with three callbacks, fired once (added before the fire)
//   deferred_fired_then_added  the same fired first, its callbacks then run as they are added
//   promise_future_three       std::promise<int> + std::future<int>: set_value, get, then the same three
//                              functions applied by hand (a future has no callbacks)
//   coawait_fired              a coroutine (a function returning Deferred<int>) awaiting a fired Deferred,
//                              its result read through a callback (Twisted: ensureDeferred of an async def
//                              awaiting succeed(1))
//   defer_to_thread_round_trip defer_to_thread of a trivial job on the reactor's pool (one thread), its
//                              result back on the reactor's thread, one at a time (Twisted: deferToThread)
//   promise_thread_round_trip  the same with the standard library: a std::packaged_task handed to one
//                              worker thread through a mutex and a condition variable, future.get()
//
// Each benchmark reports `allocs` (operator new calls per iteration, counted by the replacement below).
// Run: <build>/apps/bench/weft-async-bench

#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <deque>
#include <future>
#include <mutex>
#include <new>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "weft/coroutine.hpp"
#include "weft/deferred.hpp"
#include "weft/reactor.hpp"
#include "weft/thread_pool.hpp"

// GCC sees the replaced operator delete calling free() on memory from the operator new below, which is
// malloc, and warns.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

/// Sets the `allocs` counter: operator new calls per iteration since `before`.
void report_allocations(benchmark::State& state, std::size_t before) {
    state.counters["allocs"] = benchmark::Counter(static_cast<double>(allocations.load() - before),
                                                  benchmark::Counter::kAvgIterations);
}

void deferred_three_callbacks(benchmark::State& state) {
    int sum = 0;
    const auto before = allocations.load();
    for (auto _ : state) {
        weft::Deferred<int> d;
        d.add_callback([](int v) { return v + 1; }).add_callback([](int v) { return v * 2; }).add_callback([&sum](int v) {
            sum += v;
        });
        d.callback(1);
    }
    report_allocations(state, before);
    benchmark::DoNotOptimize(sum);
}
BENCHMARK(deferred_three_callbacks);

void deferred_fired_then_added(benchmark::State& state) {
    int sum = 0;
    const auto before = allocations.load();
    for (auto _ : state) {
        weft::Deferred<int> d;
        d.callback(1);
        d.add_callback([](int v) { return v + 1; }).add_callback([](int v) { return v * 2; }).add_callback([&sum](int v) {
            sum += v;
        });
    }
    report_allocations(state, before);
    benchmark::DoNotOptimize(sum);
}
BENCHMARK(deferred_fired_then_added);

void promise_future_three(benchmark::State& state) {
    int sum = 0;
    const auto before = allocations.load();
    for (auto _ : state) {
        std::promise<int> p;
        std::future<int> f = p.get_future();
        p.set_value(1);
        int v = f.get();
        v = v + 1;
        v = v * 2;
        sum += v;
    }
    report_allocations(state, before);
    benchmark::DoNotOptimize(sum);
}
BENCHMARK(promise_future_three);

weft::Deferred<int> await_fired(weft::Deferred<int> d) { co_return co_await std::move(d); }

void coawait_fired(benchmark::State& state) {
    int sum = 0;
    const auto before = allocations.load();
    for (auto _ : state) {
        await_fired(weft::succeed(1)).add_callback([&sum](int v) { sum += v; });
    }
    report_allocations(state, before);
    benchmark::DoNotOptimize(sum);
}
BENCHMARK(coawait_fired);

void defer_to_thread_round_trip(benchmark::State& state) {
    weft::Reactor reactor;
    reactor.set_thread_pool_size(1, 1);
    // The loop is driven here one handler at a time; the guard keeps run_one() waiting for the worker's post.
    auto guard = boost::asio::make_work_guard(reactor.context());
    int sum = 0;
    const auto before = allocations.load();
    for (auto _ : state) {
        bool done = false;
        weft::defer_to_thread(reactor, [] { return 1; }).add_callback([&](int v) {
            sum += v;
            done = true;
        });
        while (!done) reactor.context().run_one();
    }
    report_allocations(state, before);
    benchmark::DoNotOptimize(sum);
}
BENCHMARK(defer_to_thread_round_trip)->UseRealTime();

/// One worker thread fed through a mutex and a condition variable: the least a standard-library pool does.
class Worker {
public:
    Worker() : thread_([this] { loop(); }) {}
    ~Worker() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }
    void post(std::packaged_task<int()> task) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(task));
        }
        wake_.notify_one();
    }

private:
    void loop() {
        for (;;) {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            auto task = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            task();
        }
    }
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::packaged_task<int()>> queue_;
    bool stopping_ = false;
    std::thread thread_;
};

void promise_thread_round_trip(benchmark::State& state) {
    Worker worker;
    int sum = 0;
    const auto before = allocations.load();
    for (auto _ : state) {
        std::packaged_task<int()> task([] { return 1; });
        auto result = task.get_future();
        worker.post(std::move(task));
        sum += result.get();
    }
    report_allocations(state, before);
    benchmark::DoNotOptimize(sum);
}
BENCHMARK(promise_thread_round_trip)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
