#pragma once
// LoopingCall: call a function every interval (Twisted: twisted.internet.task.LoopingCall).

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

#include "weft/deferred.hpp"
#include "weft/reactor_time.hpp"
#include "weft/time.hpp"

namespace weft {

/// Calls a function on a fixed grid of times: start + k × interval. A call that overruns skips the grid
/// points it missed (they are never piled up); with_count tells the function how many it covers. The
/// function may return a Deferred<void>: the loop then waits for it before scheduling the next call (its
/// failure stops the loop like an exception).
/// Contract: the function runs on the ReactorTime's thread (inside Clock::advance in tests), never inside
/// start() unless `now` is true. Neither copyable nor movable (its timer refers to it); destroying it
/// cancels the pending call and leaves the Deferred from start() unfired. It must not be destroyed from
/// inside its own function (stop() it there and destroy it later); a Deferred its function returned may
/// fire after it is gone (that is then ignored, a failure logged as unhandled).
class LoopingCall {
public:
    /// `fn()` is called every interval once started; it returns nothing or a Deferred<void>.
    template <class F>
        requires std::invocable<F&>
    LoopingCall(ReactorTime& time, F fn) : LoopingCall(time, wrap(std::move(fn)), false) {}
    /// A LoopingCall whose `fn(count)` gets the number of intervals elapsed since its last call (1 when on
    /// time, more when calls were missed; 1 for the first call, and for every call when the interval is 0)
    /// (Twisted: LoopingCall.withCount).
    template <class F>
        requires std::invocable<F&, std::int64_t>
    static LoopingCall with_count(ReactorTime& time, F fn) {
        return LoopingCall(time, wrap_counted(std::move(fn)), true);
    }
    ~LoopingCall();
    LoopingCall(const LoopingCall&) = delete;
    LoopingCall& operator=(const LoopingCall&) = delete;

    /// Starts calling: at once if `now`, then at start + k × interval. Returns a Deferred fired when
    /// stop() is called, or failed with what the function threw (which also stops the loop). An interval
    /// of 0 calls once per turn of the loop. Throws std::invalid_argument for a negative interval and
    /// StateError if already running.
    Deferred<void> start(Duration interval, bool now = true);
    /// Stops calling and fires start()'s Deferred — at once, or, while the function runs or its Deferred
    /// is pending, once that call is over (as Twisted: a failure of that call then fails it). Throws
    /// StateError if not running.
    void stop();
    /// Restarts the grid from now: the next call is one interval from now. Nothing happens while the
    /// function's Deferred is pending. Throws StateError if not running.
    void reset();
    /// True between start() and stop() (or the failure).
    [[nodiscard]] bool running() const noexcept { return running_; }
    /// The interval given to start().
    [[nodiscard]] Duration interval() const noexcept { return interval_; }

private:
    using Body = std::function<std::optional<Deferred<void>>(std::int64_t)>;
    LoopingCall(ReactorTime& time, Body body, bool counted);

    template <class R, class Call>
    static std::optional<Deferred<void>> result_of(Call&& call) {
        if constexpr (std::is_same_v<R, Deferred<void>>) {
            return call();
        } else {
            static_assert(std::is_void_v<R>, "a LoopingCall function returns nothing or a Deferred<void>");
            call();
            return std::nullopt;
        }
    }
    template <class F>
    static Body wrap(F fn) {
        return [fn = std::move(fn)](std::int64_t) mutable {
            return result_of<std::invoke_result_t<F&>>([&] { return fn(); });
        };
    }
    template <class F>
    static Body wrap_counted(F fn) {
        return [fn = std::move(fn)](std::int64_t count) mutable {
            return result_of<std::invoke_result_t<F&, std::int64_t>>([&] { return fn(count); });
        };
    }

    void fire();
    void after_call(std::uint64_t generation);
    void failed(std::uint64_t generation, Failure f);
    void schedule_from(TimePoint when);
    std::int64_t intervals_since_last(TimePoint now);

    ReactorTime& time_;
    Body body_;
    bool counted_;
    Duration interval_{};
    TimePoint start_time_{};
    std::optional<TimePoint> last_time_;
    bool started_now_ = false;
    bool running_ = false;
    bool in_call_ = false;        // the function runs, or its Deferred is pending
    std::uint64_t generation_ = 0;  // one per start(): what a call of an earlier run reports is ignored
    DelayedCall call_;
    std::optional<Deferred<void>> deferred_;
    // What callbacks on the function's Deferred hold instead of `this`: gone with the LoopingCall.
    std::shared_ptr<LoopingCall*> self_;
};

}  // namespace weft
