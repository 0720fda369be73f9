#include "weft/testing/clock.hpp"

#include "timer_queue.hpp"

namespace weft::testing {

Clock::Clock()
    : queue_(std::make_shared<detail::TimerQueue>([this] { return now_; }, [](TimePoint) {})) {}

Clock::~Clock() = default;

double Clock::seconds() const { return std::chrono::duration<double>(now_.time_since_epoch()).count(); }
TimePoint Clock::now() const { return now_; }

DelayedCall Clock::call_later(Duration delay, std::function<void()> fn) {
    return queue_->schedule(delay, std::move(fn));
}

std::vector<DelayedCall> Clock::pending_calls() const { return queue_->pending(); }

void Clock::advance(Duration amount) {
    // Step from deadline to deadline so that each call sees now() equal to its own time, as in Twisted.
    const TimePoint target = now_ + amount;
    for (;;) {
        auto next = queue_->next_deadline();
        if (!next || *next > target) break;
        if (*next > now_) now_ = *next;
        queue_->run_due(now_);
    }
    now_ = target;
}

}  // namespace weft::testing
