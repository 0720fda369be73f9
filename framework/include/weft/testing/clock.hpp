#pragma once
// weft::testing::Clock: fake time for tests (Twisted: twisted.internet.task.Clock).

#include <memory>

#include "weft/reactor_time.hpp"

namespace weft {
namespace detail {
class TimerQueue;
}

namespace testing {

/// A ReactorTime whose time moves only when advance() is called, so timers are tested without sleeping.
/// Time starts at 0. advance(d) runs, in time order, every call that falls due within d (calls scheduled
/// by those calls included, if they fall due within d too).
class Clock final : public ReactorTime {
public:
    Clock();
    ~Clock() override;
    Clock(const Clock&) = delete;
    Clock& operator=(const Clock&) = delete;

    [[nodiscard]] double seconds() const override;
    [[nodiscard]] TimePoint now() const override;
    /// Runs `fn` once, `delay` of fake time from now (any std::chrono duration); it runs only inside a later
    /// advance() that reaches its deadline, never inside call_later.
    using ReactorTime::call_later;
    DelayedCall call_later(Duration delay, std::function<void()> fn) override;
    [[nodiscard]] std::vector<DelayedCall> pending_calls() const override;

    /// Moves time forward by `amount`, running what falls due. Each call runs with now() at its own
    /// deadline; afterwards now() is the old time plus `amount`. A negative amount is not checked and moves
    /// now() back: don't pass one.
    void advance(Duration amount);
    /// advance() with any std::chrono duration (1s, 250ms, 1.5s), rounded to nanoseconds.
    template <class Rep, class Period>
    void advance(std::chrono::duration<Rep, Period> d) { advance(to_duration(d)); }

private:
    std::shared_ptr<detail::TimerQueue> queue_;
    TimePoint now_{};
};

}  // namespace testing
}  // namespace weft
