#include "timer_queue.hpp"

#include <algorithm>
#include <exception>

#include "weft/error.hpp"
#include "weft/log.hpp"

namespace weft {

using detail::DelayedCallState;

namespace {
void require_pending(const std::shared_ptr<DelayedCallState>& s) {
    if (!s || s->status == DelayedCallState::Status::cancelled) throw AlreadyCancelled();
    if (s->status == DelayedCallState::Status::called) throw AlreadyCalled();
}
}  // namespace

void DelayedCall::cancel() {
    require_pending(state_);
    state_->status = DelayedCallState::Status::cancelled;
    state_->fn = nullptr;  // release captures now, not when the heap entry surfaces
    if (auto q = state_->queue.lock()) q->cancelled();
}

void DelayedCall::reset(Duration delay) {
    require_pending(state_);
    auto q = state_->queue.lock();
    if (!q) throw AlreadyCancelled();
    const TimePoint old = state_->time;
    state_->time = q->now() + delay;
    q->moved(state_, old);
}

void DelayedCall::delay(Duration extra) {
    require_pending(state_);
    auto q = state_->queue.lock();
    if (!q) throw AlreadyCancelled();
    const TimePoint old = state_->time;
    state_->time += extra;
    q->moved(state_, old);
}

bool DelayedCall::active() const noexcept {
    return state_ && state_->status == DelayedCallState::Status::pending && !state_->queue.expired();
}
TimePoint DelayedCall::time() const { return state_ ? state_->time : TimePoint{}; }
bool DelayedCall::called() const noexcept { return state_ && state_->status == DelayedCallState::Status::called; }
bool DelayedCall::cancelled() const noexcept {
    return state_ && state_->status == DelayedCallState::Status::cancelled;
}

namespace detail {

void TimerQueue::drop_pending() {
    // A released function may destroy objects that cancel or schedule calls: nothing here is held across.
    while (!heap_.empty()) {
        const auto state = heap_.top().state;
        heap_.pop();
        if (state->status == DelayedCallState::Status::pending) {
            state->status = DelayedCallState::Status::cancelled;
            --pending_count_;
        }
        auto fn = std::move(state->fn);
        state->fn = nullptr;
    }
}

DelayedCall TimerQueue::schedule(Duration delay, std::function<void()> fn) {
    auto state = std::make_shared<DelayedCallState>();
    state->fn = std::move(fn);
    state->time = now_() + delay;
    state->queue = weak_from_this();
    ++pending_count_;
    const auto before = next_deadline();
    push(state);
    if (!before || state->time < *before) on_earlier_(state->time);
    return DelayedCall(state);
}

void TimerQueue::push(const std::shared_ptr<DelayedCallState>& state) {
    heap_.push(Entry{state->time, seq_++, state->generation, state});
}

void TimerQueue::moved(const std::shared_ptr<DelayedCallState>& state, TimePoint old_time) {
    if (state->time >= old_time) return;  // later: the old entry is re-filed when it surfaces
    ++state->generation;
    const auto before = next_deadline();
    push(state);
    if (!before || state->time < *before) on_earlier_(state->time);
}

void TimerQueue::settle() {
    while (!heap_.empty()) {
        const Entry& top = heap_.top();
        if (top.state->status != DelayedCallState::Status::pending || top.generation != top.state->generation) {
            heap_.pop();
        } else if (top.time < top.state->time) {
            auto state = top.state;
            heap_.pop();
            push(state);
        } else {
            return;
        }
    }
}

std::optional<TimePoint> TimerQueue::next_deadline() {
    settle();
    if (heap_.empty()) return std::nullopt;
    return heap_.top().time;
}

std::size_t TimerQueue::run_due(TimePoint now, bool include_new) {
    std::size_t ran = 0;
    const std::uint64_t first_new = include_new ? UINT64_MAX : seq_;
    auto self = shared_from_this();  // a call may destroy the scheduler's owner
    for (;;) {
        settle();
        if (heap_.empty() || heap_.top().time > now || heap_.top().seq >= first_new) break;
        auto state = heap_.top().state;
        heap_.pop();
        state->status = DelayedCallState::Status::called;
        --pending_count_;
        auto fn = std::move(state->fn);
        state->fn = nullptr;
        ++ran;
        try {
            if (fn) fn();
        } catch (const std::exception& e) {
            WEFT_LOG(error) << "delayed call threw: " << e.what();
        } catch (...) {
            WEFT_LOG(error) << "delayed call threw a non-std exception";
        }
    }
    return ran;
}

std::vector<DelayedCall> TimerQueue::pending() const {
    std::vector<std::shared_ptr<DelayedCallState>> live;
    auto copy = heap_;
    while (!copy.empty()) {
        const Entry& e = copy.top();
        if (e.state->status == DelayedCallState::Status::pending && e.generation == e.state->generation) {
            live.push_back(e.state);
        }
        copy.pop();
    }
    std::stable_sort(live.begin(), live.end(), [](const auto& a, const auto& b) { return a->time < b->time; });
    live.erase(std::unique(live.begin(), live.end()), live.end());
    std::vector<DelayedCall> out;
    out.reserve(live.size());
    for (auto& s : live) out.emplace_back(s);
    return out;
}

}  // namespace detail
}  // namespace weft
