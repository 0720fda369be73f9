#pragma once
// cooperate / coiterate: a long job in slices that yield to the loop (Twisted: twisted.internet.task.
// cooperate, coiterate, CooperativeTask). See docs/scheduling.md.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "weft/deferred.hpp"
#include "weft/error.hpp"
#include "weft/reactor_time.hpp"
#include "weft/time.hpp"

namespace weft {

/// when_done()'s failure for a task stopped with stop() (Twisted: task.TaskStopped).
class TaskStopped : public Error {
public:
    TaskStopped() : Error("the cooperative task was stopped") {}
};

/// pause(), resume() or stop() on a task that has finished, failed or been stopped (Twisted: TaskDone,
/// TaskFinished).
class TaskDone : public StateError {
public:
    TaskDone() : StateError("the cooperative task has finished") {}
};

/// How a task shares the loop.
struct CooperateOptions {
    /// A slice runs steps until this much time has passed on the ReactorTime's clock (Twisted's
    /// Cooperator uses 10 ms), then yields to the loop; a slice runs at least one step.
    Duration slice = std::chrono::milliseconds(10);
    /// If not 0, a slice also ends after this many steps (for steps so short, or a test clock so still,
    /// that time alone would not end it).
    std::size_t max_steps = 0;
};

/// The delay before each slice (Twisted's _EPSILON): a test Clock must advance at least this much per slice.
inline constexpr Duration next_slice_delay = std::chrono::microseconds(10);

namespace detail {
struct CooperativeState;
}

/// @class CooperativeTask
/// A job running in slices (Twisted: CooperativeTask). The handle may be dropped: the job goes on.
/// Contract: each slice runs on a later turn of the loop (a call_later(next_slice_delay) on the ReactorTime), never inside
/// cooperate(), resume() or stop(); step() runs on the loop's thread. The job ends when step() returns false
/// (when_done() succeeds), throws (when_done() fails with that) or stop() is called (when_done() fails with
/// TaskStopped). I/O and timers due meanwhile run between slices, so a step longer than the slice is the
/// longest the loop is held.
class CooperativeTask;
CooperativeTask cooperate(ReactorTime& time, std::function<bool()> step, CooperateOptions options);
Deferred<void> coiterate(ReactorTime& time, std::function<bool()> step, CooperateOptions options);

class CooperativeTask {
public:
    /// Holds the job after the current step (counted: as many resume() as pause()). Throws TaskDone once
    /// the job has ended.
    void pause();
    /// Undoes one pause(). Throws StateError if not paused, TaskDone once the job has ended.
    void resume();
    /// Ends the job: no further step runs; when_done() Deferreds fail with TaskStopped. Throws TaskDone
    /// once the job has ended.
    void stop();
    /// A new Deferred fired when the job ends (each call gives its own; Twisted: whenDone). For a job that
    /// has ended, it has the result already.
    Deferred<void> when_done();
    /// True once step() returned false, threw, or stop() was called.
    [[nodiscard]] bool done() const noexcept;
    /// True while pause() calls outnumber resume() calls.
    [[nodiscard]] bool paused() const noexcept;
    /// Steps run so far.
    [[nodiscard]] std::size_t steps() const noexcept;

private:
    friend CooperativeTask cooperate(ReactorTime&, std::function<bool()>, CooperateOptions);
    friend Deferred<void> coiterate(ReactorTime&, std::function<bool()>, CooperateOptions);
    explicit CooperativeTask(std::shared_ptr<detail::CooperativeState> state) : state_(std::move(state)) {}
    std::shared_ptr<detail::CooperativeState> state_;
};

/// Runs `step` (which does one bounded piece of work and returns whether there is more) in slices on
/// `time`'s loop, starting on a later turn (Twisted: task.cooperate).
CooperativeTask cooperate(ReactorTime& time, std::function<bool()> step, CooperateOptions options = {});

/// cooperate(), and a Deferred fired when the job is done, or failed with what step() threw (Twisted:
/// task.coiterate). Cancelling the Deferred stops the job (it then fails with TaskStopped).
Deferred<void> coiterate(ReactorTime& time, std::function<bool()> step, CooperateOptions options = {});

}  // namespace weft
