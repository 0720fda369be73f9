#pragma once
// ThreadPool: blocking work off the reactor's thread (Twisted: twisted.python.threadpool.ThreadPool,
// reactor.callInThread, threads.deferToThread, threads.blockingCallFromThread). See docs/threads.md.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "weft/deferred.hpp"
#include "weft/error.hpp"
#include "weft/failure.hpp"
#include "weft/reactor.hpp"
#include "weft/time.hpp"

namespace weft {

/// A pool's sizes. The defaults are Twisted's (0 to 10 threads) with a queue of 1024 jobs.
struct ThreadPoolOptions {
    std::size_t min_threads = 0;   ///< threads kept even when idle
    std::size_t max_threads = 10;  ///< never more threads than this (at least 1)
    std::size_t max_queue = 1024;  ///< jobs waiting for a thread; one more is refused (ThreadPoolFull)
    Duration idle_timeout = std::chrono::seconds(60);  ///< an idle thread beyond min_threads exits after this
};

/// A job refused because max_queue jobs already wait for a thread. The reactor's thread never blocks,
/// so a full queue is an error the caller handles (answer "busy", retry later), not backpressure.
class ThreadPoolFull : public Error {
public:
    ThreadPoolFull() : Error("the thread pool's queue is full") {}
};

/// A job refused (or dropped from the queue) because the pool is stopping: the reactor shuts down.
class ThreadPoolStopped : public StateError {
public:
    /// `what` is the message; the default says only that the pool is stopped.
    explicit ThreadPoolStopped(const std::string& what = "the thread pool is stopped") : StateError(what) {}
};

namespace detail {
class ThreadPoolImpl;
/// Removes a queued job; false if it has started (or the pool is gone). Any thread.
bool remove_queued_job(const std::weak_ptr<ThreadPoolImpl>& pool, std::uint64_t id) noexcept;
/// Runs `start` on `reactor`'s thread and waits for it to call its `finish` (with null for success):
/// rethrows the exception given. Throws StateError on the reactor's thread, ReactorNotRunning when the
/// reactor does not run or stops running before `finish`.
void blocking_call(Reactor& reactor, std::function<void(std::function<void(std::exception_ptr)>)> start);
}  // namespace detail

/// A bounded pool of threads for blocking calls (file I/O, getaddrinfo, a blocking database client).
/// Threads are started on demand up to max_threads; beyond min_threads an idle one exits after
/// idle_timeout. At most max_queue jobs wait; one more is refused with ThreadPoolFull.
/// Contract: call_in_thread may be called from any thread (submission is thread-safe); defer_to_thread only
/// from the reactor's thread (its Deferred is the reactor's). A job runs on one of the pool's threads and must
/// not touch the reactor's objects (transports, Deferreds) except through Reactor::call_from_thread or
/// blocking_call_from_thread. defer_to_thread's Deferred fires on the reactor's thread. max_queue counts the
/// jobs no thread has taken yet, including those an idle thread is about to take: a burst of more than
/// max_queue jobs at once is refused in part even with idle threads. Destroying the pool (done by ~Reactor for
/// the reactor's pool) drops the queued jobs and joins the threads, waiting for the running jobs (a job
/// waiting in blocking_call_from_thread is released with ThreadPoolStopped, so destroying a pool on the
/// reactor's thread cannot deadlock); destroy a pool of your own before its reactor.
class ThreadPool {
public:
    /// Starts min_threads threads. Throws std::invalid_argument for max_threads 0, min_threads above
    /// max_threads or max_queue 0.
    ThreadPool(Reactor& reactor, ThreadPoolOptions options = {});
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    /// Runs `fn` on a pool thread (Twisted: callInThread); what it throws is logged. Throws ThreadPoolFull
    /// when the queue is full, ThreadPoolStopped while the pool is stopped.
    void call_in_thread(std::function<void()> fn);

    /// A Deferred of fn()'s result, computed on a pool thread and delivered on the reactor's thread, or of
    /// what fn threw as a Failure (Twisted: deferToThread). A full queue or a stopped pool gives a failed
    /// Deferred (ThreadPoolFull, ThreadPoolStopped). Cancelling it before the job started removes the job;
    /// after, the job runs to its end and its result is dropped. fn must be copyable (it is kept in a
    /// std::function) and must not return a Deferred.
    template <class F>
    auto defer_to_thread(F fn, SourceLocation where = SourceLocation::current());

    /// Changes the sizes (Twisted: adjustPoolsize); extra idle threads exit, queued jobs get new threads.
    /// Throws std::invalid_argument if max_threads is 0 or below min_threads.
    void set_size(std::size_t min_threads, std::size_t max_threads);
    /// The current sizes (after set_size()). Safe from any thread.
    [[nodiscard]] ThreadPoolOptions options() const;

    /// Threads alive, threads running a job, jobs waiting (a snapshot, for tests and statistics). Safe
    /// from any thread.
    /// @{
    [[nodiscard]] std::size_t threads() const;
    [[nodiscard]] std::size_t working() const;
    [[nodiscard]] std::size_t queued() const;
    /// @}

    /// Refuses new jobs (ThreadPoolStopped) and calls `on_idle` on the reactor's thread once no job runs
    /// or waits. Used by the reactor's shutdown; start() takes jobs again.
    void stop(std::function<void()> on_idle);
    /// Drops the queued jobs (their Deferreds fail with ThreadPoolStopped, on the reactor's thread: call
    /// it there); returns how many.
    std::size_t drop_queued();
    /// Takes jobs again after stop().
    void start();

private:
    /// Queues `job`; `dropped` runs on the reactor's thread if drop_queued() removes it. Returns its id.
    std::uint64_t submit(std::function<void()> job, std::function<void()> dropped);

    Reactor& reactor_;
    std::shared_ptr<detail::ThreadPoolImpl> impl_;
};

template <class F>
auto ThreadPool::defer_to_thread(F fn, SourceLocation where) {
    using R = std::invoke_result_t<F&>;
    static_assert(!detail::is_deferred_v<R>, "defer_to_thread: a Deferred belongs to the reactor's thread");
    using Box = std::optional<detail::StoredType<R>>;
    // The id is known once submitted; the canceller reads it on the reactor's thread, after that.
    auto id = std::make_shared<std::uint64_t>(0);
    std::weak_ptr<detail::ThreadPoolImpl> pool = impl_;
    Deferred<R> d([id, pool](Deferred<R>&) { detail::remove_queued_job(pool, *id); }, where);
    Reactor& reactor = reactor_;
    auto job = [d, fn = std::move(fn), &reactor]() mutable {
        auto box = std::make_shared<Box>();
        std::exception_ptr error;
        try {
            if constexpr (std::is_void_v<R>) {
                fn();
                box->emplace();
            } else {
                box->emplace(fn());
            }
        } catch (...) {
            error = std::current_exception();
        }
        // Moved out: this thread keeps no reference to the Deferred, whose chain is the reactor's.
        reactor.call_from_thread([d = std::move(d), box, error]() mutable {
            if (d.called()) return;  // cancelled while the job ran
            if (error) return d.errback(Failure(error));
            if constexpr (std::is_void_v<R>) {
                d.callback();
            } else {
                d.callback(std::move(**box));
            }
        });
    };
    try {
        *id = submit(std::move(job), [d]() mutable {
            if (!d.called()) d.errback(Failure(ThreadPoolStopped("the reactor shut down before the job started")));
        });
    } catch (...) {
        if (!d.called()) d.errback(Failure(std::current_exception()));
    }
    return d;
}

/// reactor.thread_pool().defer_to_thread(fn) (Twisted: threads.deferToThread).
template <class F>
auto defer_to_thread(Reactor& reactor, F fn, SourceLocation where = SourceLocation::current()) {
    return reactor.thread_pool().defer_to_thread(std::move(fn), where);
}

/// From a thread that is not the reactor's: runs fn() on the reactor's thread and waits for its result;
/// if fn returns a Deferred, waits for that Deferred's result. Returns the value or throws what fn threw
/// (or the Deferred's failure) (Twisted: threads.blockingCallFromThread).
/// Throws StateError when called on the reactor's thread (it would wait for itself forever),
/// ReactorNotRunning when the reactor is not running or stops before fn's result is there, and
/// ThreadPoolStopped when called from a pool job whose pool is being destroyed meanwhile.
template <class F>
auto blocking_call_from_thread(Reactor& reactor, F fn) {
    using R = std::invoke_result_t<F&>;
    using V = detail::ChainType<R>;
    using Box = std::optional<detail::StoredType<V>>;
    auto box = std::make_shared<Box>();
    detail::blocking_call(reactor, [fn = std::move(fn), box](std::function<void(std::exception_ptr)> finish) mutable {
        if constexpr (detail::is_deferred_v<R>) {
            R d = fn();
            if constexpr (std::is_void_v<V>) {
                d.add_callbacks([box, finish]() { box->emplace(); finish(nullptr); },
                                [finish](Failure f) { finish(f.exception()); });
            } else {
                d.add_callbacks([box, finish](V v) { box->emplace(std::move(v)); finish(nullptr); },
                                [finish](Failure f) { finish(f.exception()); });
            }
        } else if constexpr (std::is_void_v<R>) {
            fn();
            finish(nullptr);
        } else {
            box->emplace(fn());
            finish(nullptr);
        }
    });
    if constexpr (!std::is_void_v<V>) return std::move(**box);
}

}  // namespace weft
