#include "weft/cooperator.hpp"

#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace weft {
namespace detail {

struct CooperativeState : std::enable_shared_from_this<CooperativeState> {
    enum class Status { running, finished, failed, stopped };

    CooperativeState(ReactorTime& t, std::function<bool()> s, CooperateOptions o)
        : time(t), step(std::move(s)), options(o) {}

    ReactorTime& time;
    std::function<bool()> step;
    CooperateOptions options;
    Status status = Status::running;
    std::size_t pauses = 0;
    std::size_t steps = 0;
    bool in_slice = false;
    std::optional<Failure> failure;
    DelayedCall next;
    std::vector<Deferred<void>> waiters;

    void schedule() {
        // The call holds the state: a task whose handle was dropped goes on until it ends. Not a zero delay:
        // a Clock runs zero-delay calls added during advance() in that advance, which would run the whole
        // job at once (Twisted's Cooperator waits _EPSILON for the same reason).
        next = time.call_later(next_slice_delay, [self = shared_from_this()] { self->run_slice(); });
    }

    void run_slice() {
        const TimePoint start = time.now();
        std::size_t count = 0;
        in_slice = true;
        while (status == Status::running && pauses == 0) {
            bool more = false;
            try {
                ++steps;
                more = step();
            } catch (...) {
                in_slice = false;
                return end(Status::failed, Failure(std::current_exception()));
            }
            if (!more) {
                in_slice = false;
                return end(Status::finished, std::nullopt);
            }
            ++count;
            if (time.now() - start >= options.slice) break;
            if (options.max_steps != 0 && count >= options.max_steps) break;
        }
        in_slice = false;
        if (status != Status::running) {
            step = nullptr;
        } else if (pauses == 0) {
            schedule();
        }
    }

    void end(Status how, std::optional<Failure> f) {
        status = how;
        failure = std::move(f);
        if (next.active()) next.cancel();
        if (!in_slice) step = nullptr;  // what the job captured goes now (stop() from a step: after it)
        for (auto& d : std::exchange(waiters, {})) fire(d);
    }

    void fire(Deferred<void>& d) const {
        if (d.called()) return;  // a coiterate Deferred being cancelled
        switch (status) {
            case Status::finished: d.callback(); break;
            case Status::failed: d.errback(*failure); break;
            default: d.errback(Failure(TaskStopped())); break;
        }
    }

    void check_live() const {
        if (status != Status::running) throw TaskDone();
    }
};

}  // namespace detail

void CooperativeTask::pause() {
    state_->check_live();
    ++state_->pauses;
    if (state_->next.active()) state_->next.cancel();
}

void CooperativeTask::resume() {
    state_->check_live();
    if (state_->pauses == 0) throw StateError("resume(): the cooperative task is not paused");
    if (--state_->pauses == 0 && !state_->in_slice) state_->schedule();
}

void CooperativeTask::stop() {
    state_->check_live();
    state_->end(detail::CooperativeState::Status::stopped, std::nullopt);
}

Deferred<void> CooperativeTask::when_done() {
    Deferred<void> d;
    if (state_->status == detail::CooperativeState::Status::running) {
        state_->waiters.push_back(d);
    } else {
        state_->fire(d);
    }
    return d;
}

bool CooperativeTask::done() const noexcept { return state_->status != detail::CooperativeState::Status::running; }
bool CooperativeTask::paused() const noexcept { return state_->pauses != 0; }
std::size_t CooperativeTask::steps() const noexcept { return state_->steps; }

CooperativeTask cooperate(ReactorTime& time, std::function<bool()> step, CooperateOptions options) {
    if (!step) throw std::invalid_argument("cooperate: no step function");
    auto state = std::make_shared<detail::CooperativeState>(time, std::move(step), options);
    state->schedule();
    return CooperativeTask(std::move(state));
}

Deferred<void> coiterate(ReactorTime& time, std::function<bool()> step, CooperateOptions options) {
    auto task = cooperate(time, std::move(step), options);
    std::weak_ptr<detail::CooperativeState> weak = task.state_;
    Deferred<void> d([weak](Deferred<void>&) {
        if (auto s = weak.lock(); s && s->status == detail::CooperativeState::Status::running) {
            s->end(detail::CooperativeState::Status::stopped, std::nullopt);
        }
    });
    task.state_->waiters.push_back(d);
    return d;
}

}  // namespace weft
