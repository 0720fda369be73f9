#pragma once
// DelayedCall: the handle returned by call_later (Twisted: IDelayedCall).

#include <memory>

#include "weft/time.hpp"

namespace weft {

namespace detail {
struct DelayedCallState;
}

/// A handle to a function scheduled with ReactorTime::call_later. Copies share the same call.
/// Contract: the function runs at most once, on the reactor's thread (or inside Clock::advance), never
/// inside cancel/reset/delay. cancel/reset/delay on a call that already ran throw AlreadyCalled, on a
/// cancelled one AlreadyCancelled. A default-constructed handle, or one whose scheduler is gone, is not
/// active; calling cancel on it throws AlreadyCancelled.
class DelayedCall {
public:
    DelayedCall() = default;
    /// For schedulers (the reactor, Clock): a handle on a call they scheduled. Users get handles from
    /// call_later.
    explicit DelayedCall(std::shared_ptr<detail::DelayedCallState> state) : state_(std::move(state)) {}

    /// Stops the call from running.
    void cancel();
    /// Reschedules the call to run `delay` from now.
    void reset(Duration delay);
    /// reset() with any std::chrono duration (`call.reset(2s)`, `call.reset(250ms)`).
    template <class Rep, class Period>
    void reset(std::chrono::duration<Rep, Period> d) { reset(to_duration(d)); }
    /// Postpones the call by `extra` beyond its current time.
    void delay(Duration extra);
    /// delay() with any std::chrono duration.
    template <class Rep, class Period>
    void delay(std::chrono::duration<Rep, Period> d) { delay(to_duration(d)); }
    /// True while the call is pending (neither run nor cancelled).
    [[nodiscard]] bool active() const noexcept;
    /// When the call is due to run (meaningful while active).
    [[nodiscard]] TimePoint time() const;
    /// True once the call has run; false while pending or after cancel.
    [[nodiscard]] bool called() const noexcept;
    /// True once the call was cancelled.
    [[nodiscard]] bool cancelled() const noexcept;

    /// True when both handles are copies of one call (or both default-constructed).
    friend bool operator==(const DelayedCall& a, const DelayedCall& b) noexcept { return a.state_ == b.state_; }

private:
    std::shared_ptr<detail::DelayedCallState> state_;
};

}  // namespace weft
