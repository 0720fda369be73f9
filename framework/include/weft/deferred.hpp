#pragma once
// Deferred<T>: a result that is not there yet (Twisted: twisted.internet.defer.Deferred), with
// succeed/fail, add_timeout, gather, deferred_list and first_of. See docs/deferred.md.
//
// Re-entrancy rules (Twisted's):
//  - callback()/errback() run the callbacks already added before they return, on the caller's stack.
//  - add_callback & co. on a Deferred that has fired (and is not paused on a chained Deferred) run the new
//    callback before they return.
//  - A callback that adds a callback to its own Deferred: the new one runs after the current one returns,
//    in the same loop. A callback that fires another Deferred runs that one's callbacks at once.
//  - A callback that returns a Deferred pauses the chain until that one has a result; when it gets one the
//    chain goes on inside whatever fired it. Chains of chained Deferreds run in a loop, not by recursion.
//  - Unlike a transport's connection_lost (which the reactor never calls inside a caller), Deferred
//    callbacks run inside the call that made them due: a callback must not assume a fresh stack.
// Not thread-safe: a Deferred belongs to the reactor's thread.

#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include "weft/source_location.hpp"
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "weft/detail/deferred_core.hpp"
#include "weft/failure.hpp"
#include "weft/reactor_time.hpp"
#include "weft/time.hpp"

namespace weft {

template <class T = void>
class Deferred;

namespace detail {

/// The argument type of callback() for a Deferred<T> (void has none).
struct Unit {
    friend bool operator==(Unit, Unit) noexcept { return true; }
};
template <class T>
using StoredType = std::conditional_t<std::is_void_v<T>, Unit, T>;

struct PassThrough {};

template <class R>
struct DeferredTraits {
    static constexpr bool is_deferred = false;
    using value_type = R;
};
template <class U>
struct DeferredTraits<Deferred<U>> {
    static constexpr bool is_deferred = true;
    using value_type = U;
};
template <class R>
inline constexpr bool is_deferred_v = DeferredTraits<std::remove_cvref_t<R>>::is_deferred;

template <class F, class T>
struct CallbackResult {
    using type = std::invoke_result_t<F&, T>;
};
template <class F>
struct CallbackResult<F, void> {
    using type = std::invoke_result_t<F&>;
};
/// What a link returning `R` makes of the chain: U for U and Deferred<U>, void for void.
template <class R>
using ChainType = typename DeferredTraits<std::remove_cvref_t<R>>::value_type;

struct DeferredAccess {
    template <class T>
    static const CorePtr& core(const Deferred<T>& d) noexcept {
        return d.core_;
    }
    template <class T>
    static Deferred<T> make(CorePtr core) {
        return Deferred<T>(std::move(core));
    }
};

/// Stores what a link returned as the chain's new result.
template <class U, class Call>
void store_result(const CorePtr& self, Call&& call) {
    using R = decltype(call());
    if constexpr (std::is_void_v<R>) {
        static_assert(std::is_void_v<U>, "a callback returning nothing cannot continue a chain of values");
        call();
        self->value.reset();
    } else if constexpr (std::is_same_v<std::remove_cvref_t<R>, Failure>) {
        Failure f = call();
        self->set_failure(f.exception());
    } else if constexpr (is_deferred_v<R>) {
        static_assert(std::is_same_v<ChainType<R>, U>, "a callback returned a Deferred of another type");
        auto inner = call();
        DeferredCore::chain_to(self, DeferredAccess::core(inner), typeid(U));
    } else {
        static_assert(!std::is_void_v<U>, "a callback returning a value cannot continue a chain of void");
        U result = call();  // computed while the previous value is still alive: the callback may hold it
        self->value.reset();
        self->value.template emplace<U>(std::move(result));
    }
}

/// One link: cb on a value, eb on a failure; PassThrough lets that side through untouched.
template <class T, class U, class CB, class EB>
struct CallbacksLink {
    [[no_unique_address]] CB cb;
    [[no_unique_address]] EB eb;

    void operator()(const CorePtr& self) noexcept {
        try {
            if (!self->failure) {
                if constexpr (!std::is_same_v<CB, PassThrough>) {
                    store_result<U>(self, [&]() -> decltype(auto) {
                        if constexpr (std::is_void_v<T>) {
                            return std::invoke(cb);
                        } else {
                            return std::invoke(cb, std::move(self->value.template get<T>()));
                        }
                    });
                }
            } else if constexpr (!std::is_same_v<EB, PassThrough>) {
                Failure f(std::exchange(self->failure, nullptr));
                store_result<U>(self, [&]() -> decltype(auto) { return std::invoke(eb, std::move(f)); });
            }
        } catch (...) {
            self->set_failure(std::current_exception());
        }
    }
};

void add_timeout(const CorePtr& core, Duration timeout, ReactorTime& time);

}  // namespace detail

/// A handle to a result that comes later. Copies share the same Deferred (the handle is one shared
/// pointer). Fired at most once with callback() or errback(); the callbacks then run in the order added,
/// each getting the previous one's result: a value goes to the next callback, a failure (an exception a
/// callback threw, or errback()) to the next errback.
///
/// Typing: add_callback(f) returns a `Deferred<U>` over the same chain, U being what f returns (or, for a
/// `Deferred<U>`, what it will give). Add further callbacks through the handle returned; adding through a
/// handle whose type the chain has moved past throws std::logic_error. callback() is called through a
/// handle of the type the Deferred was created with (any copy of the original handle).
///
/// Contract: a second fire throws AlreadyCalledError, except the first fire after a cancel() without a
/// canceller failed it (Twisted's rule: the source need not know of the cancel). A chain that ends in a failure nobody
/// handled is logged at error level, with the place the Deferred was created, when its last holder lets go.
///
/// A function returning a Deferred<T> that uses co_await or co_return is a coroutine that starts at once
/// and returns the Deferred of its result (weft/coroutine.hpp, docs/coroutines.md).
template <class T>
class Deferred {
public:
    /// T: what callback() fires with and the first callback receives (void: nothing).
    using value_type = T;

    /// A new, unfired Deferred; `where` is reported if it ends in an unhandled failure.
    explicit Deferred(SourceLocation where = SourceLocation::current())
        : core_(std::make_shared<detail::DeferredCore>(typeid(T), where)) {}
    /// As above, with a canceller: cancel() on the unfired Deferred calls canceller(*this) once; if that
    /// does not fire it, the Deferred fails with CancelledError.
    template <class C>
        requires std::invocable<C&, Deferred&>
    explicit Deferred(C canceller, SourceLocation where = SourceLocation::current()) : Deferred(where) {
        core_->canceller = detail::Step([c = std::move(canceller)](const detail::CorePtr& core) mutable {
            Deferred d(core);
            c(d);
        });
    }

    /// Fires with a value: runs the callbacks before returning.
    void callback(detail::StoredType<T> v)
        requires(!std::is_void_v<T>)
    {
        if (!core_->begin_fire(typeid(T))) return;
        core_->value.template emplace<T>(std::move(v));
        detail::DeferredCore::fire(core_);
    }
    /// Fires a Deferred<void>.
    void callback()
        requires std::is_void_v<T>
    {
        if (!core_->begin_fire(typeid(T))) return;
        detail::DeferredCore::fire(core_);
    }
    /// Fires with a failure: runs the errbacks before returning.
    void errback(Failure f) {
        if (!core_->begin_fire(*core_->fire_type)) return;
        core_->set_failure(f.exception());
        detail::DeferredCore::fire(core_);
    }

    /// Adds f, called with the value (nothing for void); its return value (a U, a `Deferred<U>`, or nothing)
    /// is the next result. A failure skips f. Returns the chain as a `Deferred<U>`.
    template <class F>
    auto add_callback(F&& f) {
        using U = detail::ChainType<typename detail::CallbackResult<std::decay_t<F>, T>::type>;
        return link<U>(detail::CallbacksLink<T, U, std::decay_t<F>, detail::PassThrough>{std::forward<F>(f), {}});
    }
    /// Adds f, called with the Failure; it recovers by returning a T (or Deferred<T>, or nothing for void),
    /// or passes a failure on by throwing (Failure::trap, rethrow) or by returning a Failure. A value
    /// skips f.
    template <class F>
    Deferred<T> add_errback(F&& f) {
        return link<T>(detail::CallbacksLink<T, T, detail::PassThrough, std::decay_t<F>>{{}, std::forward<F>(f)});
    }
    /// Adds cb for a value and eb for a failure at the same point of the chain (eb does not see what cb
    /// throws). eb returns what cb returns (or a Deferred of it, or a Failure to pass one on).
    template <class CB, class EB>
    auto add_callbacks(CB&& cb, EB&& eb) {
        using U = detail::ChainType<typename detail::CallbackResult<std::decay_t<CB>, T>::type>;
        return link<U>(detail::CallbacksLink<T, U, std::decay_t<CB>, std::decay_t<EB>>{std::forward<CB>(cb),
                                                                                        std::forward<EB>(eb)});
    }
    /// add_callbacks(f, f): f takes the value (nothing for void) or a Failure, e.g. a generic lambda
    /// `[](auto r) { cleanup(); return r; }` on a Deferred<int> (a Failure returned passes on as a failure).
    template <class F>
    auto add_both(F&& f) {
        std::decay_t<F> copy(f);
        return add_callbacks(std::move(copy), std::forward<F>(f));
    }

    /// Twisted's cancel: an unfired Deferred calls its canceller, then fails with CancelledError unless the
    /// canceller fired it; a Deferred paused on a chained Deferred cancels that one; otherwise nothing.
    void cancel() { detail::DeferredCore::cancel(core_); }  // copied: the canceller may destroy this handle

    /// True once callback() or errback() was called (or cancel() failed it).
    [[nodiscard]] bool called() const noexcept { return core_->called; }
    /// True while the chain waits for a Deferred one of its callbacks returned.
    [[nodiscard]] bool paused() const noexcept { return core_->paused; }

    /// True if both handles are the same chain.
    friend bool operator==(const Deferred& a, const Deferred& b) noexcept { return a.core_ == b.core_; }

private:
    template <class>
    friend class Deferred;
    friend struct detail::DeferredAccess;

    explicit Deferred(detail::CorePtr core) noexcept : core_(std::move(core)) {}

    template <class U, class Link>
    Deferred<U> link(Link&& l) {
        // A copy: on a fired Deferred the link runs inside append(), and it may destroy this handle.
        detail::CorePtr core = core_;
        detail::DeferredCore::append(core, typeid(T), typeid(U), detail::Step(std::forward<Link>(l)));
        return Deferred<U>(std::move(core));
    }

    detail::CorePtr core_;
};

/// A Deferred that already has `value` (Twisted: succeed).
template <class T>
Deferred<std::decay_t<T>> succeed(T&& value, SourceLocation where = SourceLocation::current()) {
    Deferred<std::decay_t<T>> d(where);
    d.callback(std::forward<T>(value));
    return d;
}
/// A Deferred<void> that has already fired.
inline Deferred<void> succeed(SourceLocation where = SourceLocation::current()) {
    Deferred<void> d(where);
    d.callback();
    return d;
}
/// A Deferred<T> that has already failed with `f` (Twisted: fail).
template <class T = void>
Deferred<T> fail(Failure f, SourceLocation where = SourceLocation::current()) {
    Deferred<T> d(where);
    d.errback(std::move(f));
    return d;
}

/// Cancels `d` if it has no result `timeout` from now; the failure is then TimeoutError instead of
/// CancelledError (Twisted: Deferred.addTimeout). If d fires first, the timer is cancelled. A canceller
/// that fires d with a value wins: d keeps that value. Returns d.
template <class T>
Deferred<T>& add_timeout(Deferred<T>& d, Duration timeout, ReactorTime& time) {
    detail::add_timeout(detail::DeferredAccess::core(d), timeout, time);
    return d;
}
/// add_timeout on a Deferred the caller does not keep, e.g. in a coroutine:
/// `co_await add_timeout(fetch(), 2s, reactor)` throws TimeoutError at the deadline.
template <class T>
Deferred<T> add_timeout(Deferred<T>&& d, Duration timeout, ReactorTime& time) {
    detail::add_timeout(detail::DeferredAccess::core(d), timeout, time);
    return std::move(d);
}

/// One input's result in deferred_list: success with a value (for void, a Unit) or a failure.
template <class T>
struct Outcome {
    std::optional<detail::StoredType<T>> value;  ///< the input's value when it succeeded, else empty
    std::optional<Failure> failure;              ///< the input's failure when it failed, else empty
    /// True when the input succeeded (failure is empty; value holds its result).
    [[nodiscard]] bool success() const noexcept { return !failure.has_value(); }
};

/// first_of's result: which input succeeded first, and its value.
template <class T>
struct FirstOf {
    std::size_t index;  ///< the position in first_of's input of the Deferred that succeeded first
    T value;            ///< that Deferred's value
};
/// first_of's result for Deferred<void> inputs: only which one succeeded first.
template <>
struct FirstOf<void> {
    std::size_t index;  ///< the position in first_of's input of the Deferred that succeeded first
};

/// first_of's failure when every input failed: their failures, in input order.
class FirstOfError : public Error {
public:
    /// `failures` in input order (empty when first_of was given no Deferreds).
    explicit FirstOfError(std::vector<Failure> failures)
        : Error("every Deferred given to first_of failed"), failures_(std::move(failures)) {}
    /// One failure per input, in input order.
    [[nodiscard]] const std::vector<Failure>& failures() const noexcept { return failures_; }

private:
    std::vector<Failure> failures_;
};

namespace detail {
inline void cancel_all(const std::vector<std::weak_ptr<DeferredCore>>& inputs) {
    for (const auto& w : inputs) {
        if (auto c = w.lock()) DeferredCore::cancel(c);
    }
}

/// Adds to every input a link that feeds `state` (which has `result`, `inputs`) and gives a canceller
/// for the result that cancels the inputs.
template <class T, class State, class OnValue, class OnFailure>
void attach_all(std::vector<Deferred<T>>& ds, const std::shared_ptr<State>& state, OnValue on_value, OnFailure on_failure) {
    for (std::size_t i = 0; i < ds.size(); ++i) {
        state->inputs.push_back(DeferredAccess::core(ds[i]));
        if constexpr (std::is_void_v<T>) {
            ds[i].add_callbacks([state, i, on_value]() { on_value(*state, i, Unit{}); },
                                [state, i, on_failure](Failure f) { on_failure(*state, i, std::move(f)); });
        } else {
            ds[i].add_callbacks([state, i, on_value](T v) { on_value(*state, i, std::move(v)); },
                                [state, i, on_failure](Failure f) { on_failure(*state, i, std::move(f)); });
        }
    }
}
}  // namespace detail

/// Waits for every Deferred in `ds` and gives their values in input order (Twisted: gatherResults).
/// The first failure fails the result at once (as itself, not wrapped); later results are ignored.
/// With consume_errors the inputs' failures end there; without, each also stays the failure of its own
/// chain (and is reported if nobody handles it). Cancelling the result cancels the unfired inputs.
/// The inputs' chains go on as Deferred<void> (their values were moved into the result). For T = void
/// the result is a Deferred<void>.
template <class T>
auto gather(std::vector<Deferred<T>> ds, bool consume_errors = false,
            SourceLocation where = SourceLocation::current()) {
    using R = std::conditional_t<std::is_void_v<T>, void, std::vector<detail::StoredType<T>>>;
    struct State {
        std::vector<std::optional<detail::StoredType<T>>> values;
        std::size_t left = 0;
        bool done = false;
        std::optional<Deferred<R>> result;
        std::vector<std::weak_ptr<detail::DeferredCore>> inputs;
    };
    auto state = std::make_shared<State>();
    state->values.resize(ds.size());
    state->left = ds.size();
    std::weak_ptr<State> weak = state;
    state->result.emplace(
        [weak](Deferred<R>&) {
            if (auto s = weak.lock()) detail::cancel_all(s->inputs);
        },
        where);
    Deferred<R> result = *state->result;
    auto finish = [](State& s) {
        s.done = true;
        if constexpr (std::is_void_v<T>) {
            s.result->callback();
        } else {
            std::vector<T> values;
            values.reserve(s.values.size());
            for (auto& v : s.values) values.push_back(std::move(*v));
            s.result->callback(std::move(values));
        }
    };
    if (ds.empty()) {
        finish(*state);
        return result;
    }
    detail::attach_all<T>(
        ds, state,
        [finish](State& s, std::size_t i, detail::StoredType<T> v) {
            if (s.done) return;
            s.values[i] = std::move(v);
            if (--s.left == 0) finish(s);
        },
        [consume_errors](State& s, std::size_t, Failure f) {
            if (!s.done) {
                s.done = true;
                s.result->errback(f);
            }
            if (!consume_errors) f.rethrow();
        });
    return result;
}

/// Waits for every Deferred in `ds` and gives each one's Outcome, in input order (Twisted: DeferredList
/// with neither fireOnOne flag). Never fails. consume_errors as for gather. Cancelling the result cancels
/// the unfired inputs (whose outcomes are then CancelledError failures).
template <class T>
Deferred<std::vector<Outcome<T>>> deferred_list(std::vector<Deferred<T>> ds, bool consume_errors = false,
                                                SourceLocation where = SourceLocation::current()) {
    using R = std::vector<Outcome<T>>;
    struct State {
        R outcomes;
        std::size_t left = 0;
        std::optional<Deferred<R>> result;
        std::vector<std::weak_ptr<detail::DeferredCore>> inputs;
    };
    auto state = std::make_shared<State>();
    state->outcomes.resize(ds.size());
    state->left = ds.size();
    std::weak_ptr<State> weak = state;
    state->result.emplace(
        [weak](Deferred<R>&) {
            if (auto s = weak.lock()) detail::cancel_all(s->inputs);
        },
        where);
    Deferred<R> result = *state->result;
    if (ds.empty()) {
        result.callback(R{});
        return result;
    }
    auto done_one = [](State& s) {
        if (--s.left == 0) s.result->callback(std::move(s.outcomes));
    };
    detail::attach_all<T>(
        ds, state,
        [done_one](State& s, std::size_t i, detail::StoredType<T> v) {
            s.outcomes[i].value.emplace(std::move(v));
            done_one(s);
        },
        [done_one, consume_errors](State& s, std::size_t i, Failure f) {
            s.outcomes[i].failure.emplace(f);
            done_one(s);
            if (!consume_errors) f.rethrow();
        });
    return result;
}

/// The first of `ds` to succeed, with its index (Twisted: race). The others are then cancelled. If all
/// fail, fails with FirstOfError holding every failure; an empty `ds` fails so at once. The inputs'
/// failures are consumed. Cancelling the result cancels every unfired input.
template <class T>
Deferred<FirstOf<T>> first_of(std::vector<Deferred<T>> ds, SourceLocation where = SourceLocation::current()) {
    using R = FirstOf<T>;
    struct State {
        std::vector<std::optional<Failure>> failures;
        std::size_t left = 0;
        bool done = false;
        std::optional<Deferred<R>> result;
        std::vector<std::weak_ptr<detail::DeferredCore>> inputs;
    };
    auto state = std::make_shared<State>();
    state->failures.resize(ds.size());
    state->left = ds.size();
    std::weak_ptr<State> weak = state;
    state->result.emplace(
        [weak](Deferred<R>&) {
            if (auto s = weak.lock()) detail::cancel_all(s->inputs);
        },
        where);
    Deferred<R> result = *state->result;
    auto all_failed = [](State& s) {
        std::vector<Failure> failures;
        for (auto& f : s.failures) {
            if (f) failures.push_back(*f);
        }
        s.done = true;
        s.result->errback(Failure(FirstOfError(std::move(failures))));
    };
    if (ds.empty()) {
        all_failed(*state);
        return result;
    }
    detail::attach_all<T>(
        ds, state,
        [](State& s, std::size_t i, detail::StoredType<T> v) {
            if (s.done) return;
            s.done = true;
            if constexpr (std::is_void_v<T>) {
                (void)v;
                s.result->callback(R{i});
            } else {
                s.result->callback(R{i, std::move(v)});
            }
            auto others = s.inputs;
            others[i].reset();
            detail::cancel_all(others);
        },
        [all_failed](State& s, std::size_t i, Failure f) {
            if (s.done) return;
            s.failures[i].emplace(std::move(f));
            if (--s.left == 0) all_failed(s);
        });
    return result;
}

/// A Deferred of fn()'s result, `delay` from now (Twisted: task.deferLater). fn may return a value, a
/// Deferred or nothing; what it throws is the failure. Cancelling the Deferred before then cancels the
/// DelayedCall, and the Deferred fails with CancelledError.
template <class F>
auto defer_later(ReactorTime& time, Duration delay, F fn, SourceLocation where = SourceLocation::current()) {
    auto call = std::make_shared<DelayedCall>();
    Deferred<void> d(
        [call](Deferred<void>&) {
            if (call->active()) call->cancel();
        },
        where);
    auto result = d.add_callback(std::move(fn));
    *call = time.call_later(delay, [d]() mutable { d.callback(); });
    return result;
}

/// A Deferred<void> that fires `delay` from now: defer_later with nothing to call, for a coroutine's
/// `co_await sleep(reactor, 1s)` (Twisted: deferLater(reactor, 1, lambda: None)). Cancelling it cancels the
/// timer.
inline Deferred<void> sleep(ReactorTime& time, Duration delay, SourceLocation where = SourceLocation::current()) {
    return defer_later(time, delay, [] {}, where);
}

}  // namespace weft
