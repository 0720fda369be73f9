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
    using ReactorTime::call_later;
    DelayedCall call_later(Duration delay, std::function<void()> fn) override;
    [[nodiscard]] std::vector<DelayedCall> pending_calls() const override;

    /// Moves time forward by `amount`, running what falls due.
    void advance(Duration amount);
    template <class Rep, class Period>
    void advance(std::chrono::duration<Rep, Period> d) { advance(to_duration(d)); }

private:
    std::shared_ptr<detail::TimerQueue> queue_;
    TimePoint now_{};
};

}  // namespace testing
}  // namespace weft
