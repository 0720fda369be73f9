// LoopingCall on the interval grid, as Twisted's _scheduleFrom and withCount do it, in integer
// nanoseconds so that grid points are exact (Twisted needs floating-point guards there).
#include "weft/looping_call.hpp"

#include <stdexcept>

namespace weft {

LoopingCall::LoopingCall(ReactorTime& time, Body body, bool counted)
    : time_(time), body_(std::move(body)), counted_(counted), self_(std::make_shared<LoopingCall*>(this)) {}

LoopingCall::~LoopingCall() {
    if (call_.active()) call_.cancel();
}

Deferred<void> LoopingCall::start(Duration interval, bool now) {
    if (running_) throw StateError("LoopingCall::start: already running");
    if (interval < Duration::zero()) throw std::invalid_argument("LoopingCall::start: negative interval");
    if (deferred_) {
        // Stopped while a call was still running: that run is over now, whatever its call reports later.
        Deferred<void> old = std::move(*deferred_);
        deferred_.reset();
        old.callback();
    }
    ++generation_;
    in_call_ = false;
    running_ = true;
    Deferred<void> d;
    deferred_ = d;
    interval_ = interval;
    start_time_ = time_.now();
    last_time_.reset();
    started_now_ = now;
    if (now) {
        fire();
    } else {
        schedule_from(start_time_);
    }
    return d;
}

void LoopingCall::stop() {
    if (!running_) throw StateError("LoopingCall::stop: not running");
    running_ = false;
    if (call_.active()) call_.cancel();
    call_ = {};
    if (in_call_) return;  // after_call() or failed() fires it once the call is over
    if (deferred_) {
        Deferred<void> d = std::move(*deferred_);
        deferred_.reset();
        d.callback();
    }
}

void LoopingCall::reset() {
    if (!running_) throw StateError("LoopingCall::reset: not running");
    if (call_.active()) {
        call_.cancel();
        start_time_ = time_.now();
        schedule_from(start_time_);
    }
}

std::int64_t LoopingCall::intervals_since_last(TimePoint now) {
    if (interval_ == Duration::zero()) {
        last_time_ = now;
        return 1;
    }
    TimePoint last = start_time_;
    if (last_time_) {
        last = *last_time_;
    } else if (started_now_) {
        last -= interval_;  // the call made by start() itself covers one interval
    }
    const auto interval_of = [this](TimePoint t) { return (t - start_time_) / interval_; };
    const std::int64_t count = interval_of(now) - interval_of(last);
    if (count > 0) last_time_ = now;
    return count;
}

void LoopingCall::fire() {
    call_ = {};
    const std::uint64_t generation = generation_;
    std::weak_ptr<LoopingCall*> weak = self_;
    in_call_ = true;
    std::optional<Deferred<void>> pending;
    try {
        if (counted_) {
            const std::int64_t count = intervals_since_last(time_.now());
            if (count > 0) pending = body_(count);
        } else {
            pending = body_(1);
        }
        if (pending) {
            // Callbacks of a run that is over (stopped and started again, or the LoopingCall gone) do
            // nothing; a failure then passes on, so the chain logs it as unhandled.
            pending->add_callbacks(
                [weak, generation] {
                    if (auto self = weak.lock()) (*self)->after_call(generation);
                },
                [weak, generation](Failure f) {
                    auto self = weak.lock();
                    if (!self || (*self)->generation_ != generation) f.rethrow();
                    (*self)->failed(generation, std::move(f));
                });
            return;
        }
    } catch (...) {
        if (weak.expired()) throw;  // destroyed inside its own function (see the contract)
        failed(generation, Failure(std::current_exception()));
        return;
    }
    if (weak.expired()) return;
    after_call(generation);
}

void LoopingCall::after_call(std::uint64_t generation) {
    if (generation != generation_) return;  // a call of an earlier run
    in_call_ = false;
    if (running_) {
        schedule_from(time_.now());
    } else if (deferred_) {
        // stop() came while the call ran: the run ends now.
        Deferred<void> d = std::move(*deferred_);
        deferred_.reset();
        d.callback();
    }
}

void LoopingCall::failed(std::uint64_t generation, Failure f) {
    if (generation != generation_) f.rethrow();
    in_call_ = false;
    running_ = false;
    if (call_.active()) call_.cancel();
    if (!deferred_) f.rethrow();  // nobody to tell
    Deferred<void> d = std::move(*deferred_);
    deferred_.reset();
    d.errback(std::move(f));
}

void LoopingCall::schedule_from(TimePoint when) {
    Duration how_long = Duration::zero();
    if (interval_ != Duration::zero()) {
        // The next grid point strictly after `when`: a call on time waits a whole interval, a late one
        // only until the next point, so the missed points are skipped rather than run back to back.
        how_long = interval_ - (when - start_time_) % interval_;
    }
    if (call_.active()) call_.cancel();  // one pending call at a time
    call_ = time_.call_later(how_long, [this] { fire(); });
}

}  // namespace weft
