// The untyped machinery of Deferred<T>: firing, running the chain without recursion, chaining, cancelling,
// and the unhandled-error record.
#include "weft/deferred.hpp"

#include <stdexcept>

#include "weft/log.hpp"

namespace weft {

Failure::Failure(std::exception_ptr e) : error_(std::move(e)) {
    if (!error_) throw std::invalid_argument("weft::Failure needs an exception");
}

std::string Failure::what() const {
    try {
        std::rethrow_exception(error_);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "unknown exception";
    }
}

void Failure::rethrow() const { std::rethrow_exception(error_); }

namespace detail {

DeferredCore::~DeferredCore() {
    // Deterministic where Twisted waits for the garbage collector (#10089): the last handle, link or
    // chained Deferred holding this chain is gone, so nobody can handle the failure any more.
    if (failure) {
        WEFT_LOG(error) << "Unhandled error in Deferred created at " << where.file_name() << ':' << where.line()
                        << " (" << where.function_name() << "): " << Failure(failure).what();
    }
}

bool DeferredCore::begin_fire(const std::type_info& type) {
    if (called) {
        if (suppress_already_called) {
            // The source fires a Deferred its consumer cancelled without a canceller: Twisted ignores
            // that one fire, so the source needs no knowledge of the cancel.
            suppress_already_called = false;
            return false;
        }
        throw AlreadyCalledError();
    }
    if (type != *fire_type) throw std::logic_error("Deferred fired through a handle of another type than it was created with");
    return true;
}

void DeferredCore::fire(const CorePtr& self) {
    self->called = true;
    // A fired Deferred is never cancelled: dropping the canceller now breaks a cycle through what it
    // captured (a connection holding this Deferred, say), which would otherwise keep both alive forever.
    self->canceller = Step{};
    run(self);
}

void DeferredCore::push(Step step) {
    if (count_ < kInlineSteps) {
        small_[count_] = std::move(step);
    } else {
        more_.push_back(std::move(step));
    }
    ++count_;
}

void DeferredCore::append(const CorePtr& self, const std::type_info& from, const std::type_info& to, Step step) {
    if (self->chained) {
        throw std::logic_error("callbacks added to a Deferred after a callback of another Deferred returned it");
    }
    if (from != *self->chain_type) {
        throw std::logic_error("callback added through a Deferred handle whose type the chain has moved past");
    }
    self->push(std::move(step));
    self->chain_type = &to;
    if (self->called && !self->running && !self->paused) run(self);
}

void DeferredCore::append_same(const CorePtr& self, Step step) {
    append(self, *self->chain_type, *self->chain_type, std::move(step));
}

void DeferredCore::receive_from(DeferredCore& inner) noexcept {
    value = std::move(inner.value);
    failure = std::exchange(inner.failure, nullptr);  // handed on: no longer the inner's to report
    paused = false;
    waiting_on.reset();
}

void DeferredCore::chain_to(const CorePtr& self, const CorePtr& inner, const std::type_info& type) {
    if (inner == self) throw std::logic_error("a callback returned the Deferred it was added to");
    if (inner->chained) throw std::logic_error("a callback returned a Deferred that is already chained to another");
    if (type != *inner->chain_type) {
        throw std::logic_error("a callback returned a Deferred handle whose type its chain has moved past");
    }
    inner->chained = true;
    self->value.reset();
    self->paused = true;
    self->waiting_on = inner;
    if (inner->called && !inner->running && !inner->paused) {
        // Already has its result: take it now; the caller's run loop goes on (no recursion).
        self->receive_from(*inner);
    } else {
        inner->continuation = self;
    }
}

void DeferredCore::run(CorePtr cur) {
    // Twisted's trampoline: when a chained Deferred finishes, the loop moves on to the Deferred that was
    // waiting for it instead of calling into it, so a long chain of chained Deferreds uses constant stack.
    while (cur) {
        if (cur->running || cur->paused || !cur->called) return;
        cur->running = true;
        while (!cur->paused && cur->head_ < cur->count_) {
            // Moved out first: the link may append links, which can reallocate more_.
            Step step = std::move(cur->slot(cur->head_));
            ++cur->head_;
            step(cur);
        }
        if (!cur->paused) {
            cur->head_ = cur->count_ = 0;
            cur->more_.clear();
        }
        cur->running = false;
        if (cur->paused || !cur->continuation) return;
        CorePtr outer = std::move(cur->continuation);
        cur->continuation.reset();
        outer->receive_from(*cur);
        cur = std::move(outer);
    }
}

void DeferredCore::hold(const CorePtr& self) noexcept {
    self->called = true;
    self->paused = true;
    self->held = true;
}

void DeferredCore::release(const CorePtr& self) {
    self->held = false;
    self->paused = false;
    self->canceller = Step{};
    run(self);
}

void DeferredCore::cancel(CorePtr self) {
    if (!self->called) {
        if (self->canceller) {
            Step canceller = std::move(self->canceller);
            self->canceller = Step{};
            try {
                canceller(self);
            } catch (...) {
                // A canceller that throws fails the Deferred with its exception instead of leaving it
                // unfired (and the caller of cancel(), perhaps another chain's link, unharmed).
                if (!self->called) {
                    self->set_failure(std::current_exception());
                    fire(self);
                }
                return;
            }
        } else {
            self->suppress_already_called = true;
        }
        if (!self->called) {
            self->set_failure(std::make_exception_ptr(CancelledError()));
            fire(self);
        }
    } else if (self->held) {
        // Its owner goes on after a first cancel (a coroutine that caught CancelledError): cancel again
        // whatever it waits for now.
        if (self->canceller) {
            Step canceller = std::move(self->canceller);
            self->canceller = Step{};
            canceller(self);
        }
    } else if (self->paused) {
        if (auto inner = self->waiting_on.lock()) cancel(inner);
    }
}

void add_timeout(const CorePtr& core, Duration timeout, ReactorTime& time) {
    struct State {
        DelayedCall call;
        bool timed_out = false;
        bool done = false;  // the link ran: the Deferred fired
    };
    auto state = std::make_shared<State>();
    // The link first: if it cannot be added (a chained Deferred), no timer is left behind; if the
    // Deferred has fired already, it runs at once and no timer is needed.
    DeferredCore::append_same(core, Step([state](const CorePtr& self) {
        state->done = true;
        if (state->call.active()) state->call.cancel();
        if (state->timed_out && self->failure && Failure(self->failure).check<CancelledError>()) {
            self->failure = std::make_exception_ptr(TimeoutError());
        }
    }));
    if (state->done) return;
    // The timer holds the chain (as Twisted's does), so the timeout's errbacks run even if nobody else
    // holds it; the cycle through the DelayedCall ends when the call runs or is cancelled.
    state->call = time.call_later(timeout, [core, state] {
        state->timed_out = true;
        DeferredCore::cancel(core);
    });
}

}  // namespace detail
}  // namespace weft
