#pragma once
// ReactorTime: the time interface protocols depend on (Twisted: IReactorTime), so that their timers can
// be driven by weft::testing::Clock in tests and by the Reactor in production.

#include <functional>
#include <vector>

#include "weft/delayed_call.hpp"
#include "weft/time.hpp"

namespace weft {

/// Monotonic time and delayed calls. Implemented by weft::Reactor and weft::testing::Clock.
/// Contract: call_later never runs `fn` inside call_later itself, even with a zero or negative delay;
/// calls due at the same time run in the order they were scheduled.
class ReactorTime {
public:
    virtual ~ReactorTime() = default;

    /// Seconds on the monotonic clock (Twisted: seconds()); only differences are meaningful.
    [[nodiscard]] virtual double seconds() const = 0;
    /// The current monotonic time.
    [[nodiscard]] virtual TimePoint now() const = 0;
    /// Runs `fn` once, `delay` from now (Twisted: callLater).
    virtual DelayedCall call_later(Duration delay, std::function<void()> fn) = 0;
    /// call_later with any std::chrono duration (`call_later(2s, fn)`, `call_later(250ms, fn)`).
    template <class Rep, class Period>
    DelayedCall call_later(std::chrono::duration<Rep, Period> delay, std::function<void()> fn) {
        return call_later(to_duration(delay), std::move(fn));
    }
    /// The calls that are still pending, earliest first (Twisted: getDelayedCalls).
    [[nodiscard]] virtual std::vector<DelayedCall> pending_calls() const = 0;

protected:
    ReactorTime() = default;
    /// For implementations only; users hold a ReactorTime by reference.
    /// @{
    ReactorTime(const ReactorTime&) = default;
    ReactorTime& operator=(const ReactorTime&) = default;
    /// @}
};

}  // namespace weft
