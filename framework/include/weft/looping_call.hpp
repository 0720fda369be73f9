#pragma once
// LoopingCall: call a function every interval (Twisted: twisted.internet.task.LoopingCall).

#include <cstdint>
#include <functional>
#include <optional>

#include "weft/deferred.hpp"
#include "weft/reactor_time.hpp"
#include "weft/time.hpp"

namespace weft {

/// Calls a function on a fixed grid of times: start + k × interval. A call that overruns skips the grid
/// points it missed (they are never piled up); with_count tells the function how many it covers.
/// Contract: the function runs on the ReactorTime's thread (inside Clock::advance in tests), never inside
/// start() unless now is true. Neither copyable nor movable (its timer refers to it); destroying it
/// cancels the pending call and leaves the Deferred from start() unfired.
class LoopingCall {
public:
    /// `fn` is called every interval once started.
    LoopingCall(ReactorTime& time, std::function<void()> fn);
    /// A LoopingCall whose `fn` gets the number of intervals elapsed since its last call (1 when on time,
    /// more when calls were missed; 1 for the first call, and for every call when the interval is 0)
    /// (Twisted: LoopingCall.withCount).
    static LoopingCall with_count(ReactorTime& time, std::function<void(std::int64_t)> fn) {
        return LoopingCall(time, std::move(fn), Counted{});
    }
    ~LoopingCall();
    LoopingCall(const LoopingCall&) = delete;
    LoopingCall& operator=(const LoopingCall&) = delete;

    /// Starts calling: at once if `now`, then at start + k × interval. Returns a Deferred fired when
    /// stop() is called, or failed with what the function threw (which also stops the loop). An interval
    /// of 0 calls once per turn of the loop. Throws std::invalid_argument for a negative interval and
    /// StateError if already running.
    Deferred<void> start(Duration interval, bool now = true);
    /// Stops calling and fires start()'s Deferred. Throws StateError if not running.
    void stop();
    /// True between start() and stop() (or the failure).
    [[nodiscard]] bool running() const noexcept { return running_; }
    /// The interval given to start().
    [[nodiscard]] Duration interval() const noexcept { return interval_; }

private:
    struct Counted {};
    LoopingCall(ReactorTime& time, std::function<void(std::int64_t)> fn, Counted);
    void fire();
    void schedule_from(TimePoint when);
    std::int64_t intervals_since_last(TimePoint now);

    ReactorTime& time_;
    std::function<void()> fn_;
    std::function<void(std::int64_t)> counted_fn_;
    Duration interval_{};
    TimePoint start_time_{};
    std::optional<TimePoint> last_time_;
    bool started_now_ = false;
    bool running_ = false;
    DelayedCall call_;
    std::optional<Deferred<void>> deferred_;
};

}  // namespace weft
