#include "weft/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "reactor_core.hpp"
#include "weft/log.hpp"

namespace weft {
namespace detail {

class ThreadPoolImpl;
/// The pool whose job this thread runs (null outside pool threads), for blocking_call.
thread_local ThreadPoolImpl* current_pool = nullptr;

class ThreadPoolImpl {
public:
    struct Job {
        std::uint64_t id;
        std::function<void()> run;
        std::function<void()> dropped;
    };

    ThreadPoolImpl(Reactor& reactor, ThreadPoolOptions options) : reactor_(reactor), options_(options) {}

    std::uint64_t submit(std::function<void()> run, std::function<void()> dropped) {
        std::vector<std::thread> finished;
        std::uint64_t id = 0;
        {
            std::lock_guard lock(mutex_);
            if (stopped_) throw ThreadPoolStopped("the thread pool is stopped: the reactor is shutting down");
            if (queue_.size() >= options_.max_queue) throw ThreadPoolFull();
            id = ++last_id_;
            queue_.push_back(Job{id, std::move(run), std::move(dropped)});
            // Idle threads are woken one per job; a job no idle thread will take gets a new thread.
            if (idle_ < queue_.size() && threads_.size() < options_.max_threads) spawn_locked();
            work_.notify_one();
            finished.swap(exited_);
        }
        for (auto& t : finished) t.join();
        return id;
    }

    bool remove(std::uint64_t id) {
        Job removed;
        {
            std::lock_guard lock(mutex_);
            auto it = std::find_if(queue_.begin(), queue_.end(), [id](const Job& j) { return j.id == id; });
            if (it == queue_.end()) return false;
            removed = std::move(*it);
            queue_.erase(it);
            maybe_idle_locked();
        }
        return true;  // `removed` (and what it captured) goes here, outside the lock
    }

    void set_size(std::size_t min_threads, std::size_t max_threads) {
        if (max_threads == 0 || min_threads > max_threads) {
            throw std::invalid_argument("thread pool size: need 0 <= min_threads <= max_threads and max_threads >= 1");
        }
        std::lock_guard lock(mutex_);
        options_.min_threads = min_threads;
        options_.max_threads = max_threads;
        while (threads_.size() < options_.min_threads) spawn_locked();
        while (threads_.size() < options_.max_threads && idle_ + spawned_unstarted_ < queue_.size()) spawn_locked();
        work_.notify_all();  // threads beyond max exit when they see it
    }

    ThreadPoolOptions options() const {
        std::lock_guard lock(mutex_);
        return options_;
    }
    std::size_t threads() const {
        std::lock_guard lock(mutex_);
        return threads_.size();
    }
    std::size_t working() const {
        std::lock_guard lock(mutex_);
        return working_;
    }
    std::size_t queued() const {
        std::lock_guard lock(mutex_);
        return queue_.size();
    }
    /// True once the pool is being destroyed: its jobs' blocking calls give up.
    bool releasing() const noexcept { return releasing_; }

    void stop(std::function<void()> on_idle) {
        std::lock_guard lock(mutex_);
        stopped_ = true;
        on_idle_ = std::move(on_idle);
        maybe_idle_locked();
    }
    void start() {
        std::lock_guard lock(mutex_);
        stopped_ = false;
        on_idle_ = nullptr;
    }

    std::size_t drop_queued() {
        std::deque<Job> dropped;
        {
            std::lock_guard lock(mutex_);
            dropped.swap(queue_);
            maybe_idle_locked();
        }
        for (auto& job : dropped) {
            job.run = nullptr;
            if (job.dropped) run_guarded("a dropped thread pool job", job.dropped);
        }
        return dropped.size();
    }

    /// Drops the queue and joins every thread: the running jobs end first.
    void shut_down() noexcept {
        std::deque<Job> dropped;
        std::unique_lock lock(mutex_);
        destroying_ = true;
        dropped.swap(queue_);
        work_.notify_all();
        // A job waiting in blocking_call_from_thread for the loop would wait forever when the pool is destroyed
        // on the loop's thread (the loop is this thread, which waits for the job): release it. The flag is set
        // before the RunState mutex is taken, so a caller about to wait sees it.
        releasing_ = true;
        {
            const auto state = reactor_.core().run_state;
            std::lock_guard state_lock(state->mutex);
            state->changed.notify_all();
        }
        gone_.wait(lock, [this] { return threads_.empty(); });
        std::vector<std::thread> finished;
        finished.swap(exited_);
        lock.unlock();
        for (auto& t : finished) t.join();
    }

private:
    void spawn_locked() {
        // The new thread first takes the lock we hold, so it finds itself in threads_.
        std::thread t([this] { work(); });
        const auto id = t.get_id();
        threads_.emplace(id, std::move(t));
        ++spawned_unstarted_;
    }

    /// Stopped, and nothing runs or waits: tell the reactor (once).
    void maybe_idle_locked() {
        if (!stopped_ || working_ != 0 || !queue_.empty() || !on_idle_) return;
        reactor_.call_from_thread(std::exchange(on_idle_, nullptr));
    }

    void work() {
        current_pool = this;
        std::unique_lock lock(mutex_);
        --spawned_unstarted_;
        while (!destroying_) {
            if (!queue_.empty() && threads_.size() <= options_.max_threads) {
                Job job = std::move(queue_.front());
                queue_.pop_front();
                ++working_;
                lock.unlock();
                // The drop handler holds a reference to the reactor's Deferred: released before the job
                // runs, so that this thread never holds the last one.
                job.dropped = nullptr;
                run_guarded("a thread pool job", job.run);
                job.run = nullptr;  // what the job captured is released outside the lock
                lock.lock();
                --working_;
                maybe_idle_locked();
                continue;
            }
            if (threads_.size() > options_.max_threads) break;
            ++idle_;
            const auto status = work_.wait_for(lock, options_.idle_timeout);
            --idle_;
            if (status == std::cv_status::timeout && queue_.empty() && threads_.size() > options_.min_threads) break;
        }
        // Joined by the next submit() or by shut_down(): a thread cannot join itself.
        auto self = threads_.find(std::this_thread::get_id());
        exited_.push_back(std::move(self->second));
        threads_.erase(self);
        gone_.notify_all();
    }

    Reactor& reactor_;
    mutable std::mutex mutex_;
    std::condition_variable work_;
    std::condition_variable gone_;
    ThreadPoolOptions options_;
    std::deque<Job> queue_;
    std::map<std::thread::id, std::thread> threads_;
    std::vector<std::thread> exited_;
    std::size_t idle_ = 0;
    std::size_t working_ = 0;
    std::size_t spawned_unstarted_ = 0;
    std::uint64_t last_id_ = 0;
    bool stopped_ = false;
    bool destroying_ = false;
    std::atomic<bool> releasing_{false};
    std::function<void()> on_idle_;
};

bool remove_queued_job(const std::weak_ptr<ThreadPoolImpl>& pool, std::uint64_t id) noexcept {
    auto p = pool.lock();
    if (!p || id == 0) return false;
    return p->remove(id);
}

void blocking_call(Reactor& reactor, std::function<void(std::function<void(std::exception_ptr)>)> start) {
    auto& core = reactor.core();
    if (core.in_loop_thread()) {
        throw StateError("blocking_call_from_thread called on the reactor's thread: it would wait for itself");
    }
    struct Call {
        bool done = false;
        bool abandoned = false;
        std::exception_ptr error;
    };
    auto call = std::make_shared<Call>();
    std::shared_ptr<RunState> state = core.run_state;
    std::unique_lock lock(state->mutex);
    if (!state->running) throw ReactorNotRunning();
    const auto run = state->runs;
    lock.unlock();
    reactor.call_from_thread([call, state, start = std::move(start)] {
        {
            std::lock_guard l(state->mutex);
            if (call->abandoned) return;  // the caller gave up when an earlier run() ended
        }
        auto finish = [call, state](std::exception_ptr e) {
            std::lock_guard l(state->mutex);
            if (call->done) return;
            call->done = true;
            call->error = std::move(e);
            state->changed.notify_all();
        };
        try {
            start(finish);
        } catch (...) {
            finish(std::current_exception());
        }
    });
    ThreadPoolImpl* const pool = current_pool;
    lock.lock();
    state->changed.wait(lock, [&] { return call->done || state->runs != run || (pool && pool->releasing()); });
    if (!call->done) {
        call->abandoned = true;
        if (state->runs == run) throw ThreadPoolStopped("blocking_call_from_thread: the thread pool is being destroyed");
        throw ReactorNotRunning();
    }
    if (call->error) std::rethrow_exception(call->error);
}

}  // namespace detail

ThreadPool::ThreadPool(Reactor& reactor, ThreadPoolOptions options)
    : reactor_(reactor), impl_(std::make_shared<detail::ThreadPoolImpl>(reactor, options)) {
    // Every job passes through the queue, even to an idle thread: a queue of 0 would refuse them all.
    if (options.max_queue == 0) throw std::invalid_argument("thread pool: max_queue must be at least 1");
    set_size(options.min_threads, options.max_threads);
}

ThreadPool::~ThreadPool() { impl_->shut_down(); }

void ThreadPool::call_in_thread(std::function<void()> fn) { submit(std::move(fn), nullptr); }

std::uint64_t ThreadPool::submit(std::function<void()> job, std::function<void()> dropped) {
    return impl_->submit(std::move(job), std::move(dropped));
}

void ThreadPool::set_size(std::size_t min_threads, std::size_t max_threads) { impl_->set_size(min_threads, max_threads); }
ThreadPoolOptions ThreadPool::options() const { return impl_->options(); }
std::size_t ThreadPool::threads() const { return impl_->threads(); }
std::size_t ThreadPool::working() const { return impl_->working(); }
std::size_t ThreadPool::queued() const { return impl_->queued(); }
void ThreadPool::stop(std::function<void()> on_idle) { impl_->stop(std::move(on_idle)); }
std::size_t ThreadPool::drop_queued() { return impl_->drop_queued(); }
void ThreadPool::start() { impl_->start(); }

}  // namespace weft
