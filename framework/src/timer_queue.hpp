#pragma once
// TimerQueue: the delayed calls of one scheduler (the Reactor or a testing::Clock), in time order.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <vector>

#include "weft/delayed_call.hpp"

namespace weft::detail {

class TimerQueue;

struct DelayedCallState {
    enum class Status { pending, called, cancelled };
    std::function<void()> fn;
    TimePoint time;
    Status status = Status::pending;
    std::uint64_t generation = 0;  // bumped when moved sooner: older heap entries are stale
    std::weak_ptr<TimerQueue> queue;
};

/// A min-heap of delayed calls with lazy deletion. Moving a call later leaves its heap entry in place:
/// when the entry comes up it is re-pushed at the new time (as Twisted does), so an idle timeout that is
/// reset on every line costs no heap growth. Moving it sooner pushes a fresh entry.
class TimerQueue : public std::enable_shared_from_this<TimerQueue> {
public:
    /// `now` reads the scheduler's clock; `on_earlier` is told when the earliest deadline moved sooner.
    TimerQueue(std::function<TimePoint()> now, std::function<void(TimePoint)> on_earlier)
        : now_(std::move(now)), on_earlier_(std::move(on_earlier)) {}
    /// Releases the functions of the calls that never ran: a function holding its own DelayedCall (or an
    /// object that does) would otherwise keep itself alive after the scheduler is gone.
    ~TimerQueue() { drop_pending(); }
    TimerQueue(const TimerQueue&) = delete;
    TimerQueue& operator=(const TimerQueue&) = delete;

    DelayedCall schedule(Duration delay, std::function<void()> fn);
    /// Cancels every pending call and releases its function now (what the destructor does), for an owner
    /// whose calls' captures must go before the rest of it.
    void drop_pending();
    /// Runs every call due at or before `now`, in time order. With `include_new`, calls scheduled by those
    /// calls run too if due (testing::Clock); without, they wait for the next pass, so a call that
    /// re-schedules itself with no delay cannot starve the reactor's loop. Returns how many ran.
    /// Exceptions from a call are caught and logged.
    std::size_t run_due(TimePoint now, bool include_new = true);
    /// The earliest pending deadline, if any.
    [[nodiscard]] std::optional<TimePoint> next_deadline();
    [[nodiscard]] std::vector<DelayedCall> pending() const;
    [[nodiscard]] TimePoint now() const { return now_(); }

    void moved(const std::shared_ptr<DelayedCallState>& state, TimePoint old_time);
    void cancelled() { --pending_count_; }

private:
    struct Entry {
        TimePoint time;
        std::uint64_t seq;
        std::uint64_t generation;
        std::shared_ptr<DelayedCallState> state;
        bool operator>(const Entry& o) const { return time != o.time ? time > o.time : seq > o.seq; }
    };
    void push(const std::shared_ptr<DelayedCallState>& state);
    /// Drops stale entries and re-files postponed ones until the top is a live, correctly timed call.
    void settle();

    std::function<TimePoint()> now_;
    std::function<void(TimePoint)> on_earlier_;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
    std::uint64_t seq_ = 0;
    std::size_t pending_count_ = 0;
};

}  // namespace weft::detail
