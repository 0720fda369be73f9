#pragma once
// C++20 coroutines over Deferreds (Twisted: inlineCallbacks, ensureDeferred, `await` on a Deferred).
// See docs/coroutines.md.
//
// Two ways to write one:
//  - a function returning weft::Deferred<T> that uses co_await/co_return is itself a coroutine: it starts
//    at once, runs to its first co_await of a Deferred that has no result yet, and returns the Deferred of
//    its result (Twisted: an @inlineCallbacks function, or `async def` wrapped in ensureDeferred);
//  - a function returning weft::Coroutine<T> makes a coroutine that has not started (Python's coroutine
//    object); ensure_deferred(c) starts it and gives its Deferred; `co_await c` from another coroutine
//    does both.
//
// Rules (tested in tests/unit/test_coroutine.cpp):
//  - co_await of a Deferred<U> gives its value, or rethrows its failure's exception (the original type,
//    so try/catch works). The Deferred's chain goes on as a Deferred<void> (Twisted leaves None in it).
//  - A Deferred that has its result already is taken without suspending (no allocation, no stack growth).
//    Otherwise the coroutine suspends, and resumes inside the call that fires the Deferred (callback(),
//    errback(), cancel()), as Twisted resumes an inlineCallbacks generator inside callback().
//  - The result Deferred fires when the body ends (co_return, falling off the end, an exception) after the
//    coroutine's frame is destroyed, so its callbacks see a finished coroutine.
//  - cancel() on the result cancels the Deferred the coroutine awaits at that moment; the coroutine sees
//    CancelledError (or TimeoutError, ...) at that co_await, and the result is what the coroutine then ends
//    with (Twisted's rule: a coroutine that catches CancelledError and returns a value succeeds). A cancel
//    while the body runs (not awaiting) cancels its next await of a Deferred with no result yet.
//  - While suspended, the frame is owned by the chain of the Deferred it awaits (whoever will fire that
//    holds it: a timer, a connection), and the frame holds its result Deferred: `f().add_callback(...)`
//    and dropping the handle is fine. If the awaited Deferred is destroyed without firing, the frame is
//    destroyed with it (its locals' destructors run) and the result never fires. A Deferred nobody but the
//    coroutine holds stays in the frame (a cancel of the result can still fire it). Do not keep the
//    awaited Deferred in a local of the coroutine (`co_await d` on a local `d` whose source may vanish
//    makes a cycle that never ends): await the temporary, or co_await std::move(d).
//  - Only Deferreds and Coroutines can be awaited.
// Not thread-safe, as Deferreds: a coroutine runs on the reactor's thread.

#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "weft/deferred.hpp"
#include "weft/source_location.hpp"

namespace weft {

template <class T = void>
class Coroutine;

namespace detail {

template <class T>
class CoroutinePromise;

/// What a coroutine keeps of an awaited Deferred<U>'s result.
template <class U>
struct AwaitedResult {
    std::optional<StoredType<U>> value;
    std::exception_ptr failure;

    /// Takes the result out of `core` (a link of its chain); the chain goes on without a value.
    void take(const CorePtr& core) noexcept {
        if (core->failure) {
            failure = std::exchange(core->failure, nullptr);  // handled here: no longer the chain's to report
            return;
        }
        try {
            if constexpr (std::is_void_v<U>) {
                value.emplace();
            } else {
                value.emplace(std::move(core->value.template get<U>()));
            }
        } catch (...) {
            failure = std::current_exception();
        }
        core->value.reset();
    }
    StoredType<U> get() {
        if (failure) std::rethrow_exception(std::exchange(failure, nullptr));
        return std::move(*value);
    }
};

/// The awaiter of `co_await deferred` inside a weft coroutine.
template <class U, class Promise>
class DeferredAwaiter {
public:
    DeferredAwaiter(CorePtr core, Promise& promise) : core_(std::move(core)), promise_(&promise) {
        if (!core_) throw std::logic_error("co_await of an empty (moved-from) Deferred");
    }
    DeferredAwaiter(const DeferredAwaiter&) = delete;
    DeferredAwaiter& operator=(const DeferredAwaiter&) = delete;

    bool await_ready() {
        if (!core_->called || core_->paused || core_->running) return false;
        // The fast path: the result is there, the chain is idle; the link runs inside append().
        append(Step([this](const CorePtr& core) noexcept { result_.take(core); }));
        core_.reset();
        return true;
    }

    bool await_suspend(std::coroutine_handle<> handle) {
        // The frame does not keep the awaited chain: the chain keeps the frame (through the link), so a
        // chain dropped unfired destroys the coroutine instead of leaking both.
        CorePtr core = std::move(core_);
        // ...unless nobody else holds it: then only a cancel of our result can fire it, and it must stay.
        if (core.use_count() == 1) orphan_ = core;
        suspending_ = true;
        append(Step(ResumeLink{handle, this}), core);
        armed_ = true;
        if (promise_->cancel_requested_) {
            promise_->cancel_requested_ = false;
            DeferredCore::cancel(core);  // the link takes the failure now; we go on at once, below
        }
        suspending_ = false;
        if (completed_) return false;
        promise_->suspended_on(core);
        return true;
    }

    decltype(auto) await_resume() {
        if constexpr (std::is_void_v<U>) {
            result_.get();
        } else {
            return result_.get();
        }
    }

private:
    /// The link added to the awaited chain: owns the suspended frame until it resumes it.
    struct ResumeLink {
        std::coroutine_handle<> handle;
        DeferredAwaiter* awaiter;

        ResumeLink(std::coroutine_handle<> h, DeferredAwaiter* a) noexcept : handle(h), awaiter(a) {}
        ResumeLink(ResumeLink&& other) noexcept
            : handle(other.handle), awaiter(std::exchange(other.awaiter, nullptr)) {}
        ResumeLink& operator=(ResumeLink&&) = delete;
        ResumeLink(const ResumeLink&) = delete;
        ~ResumeLink() {
            // Never run: the chain is being destroyed unfired (or append() failed, then not armed).
            if (awaiter != nullptr && awaiter->armed_) handle.destroy();
        }
        void operator()(const CorePtr& core) noexcept {
            DeferredAwaiter* a = std::exchange(awaiter, nullptr);
            a->result_.take(core);
            if (a->suspending_) {
                a->completed_ = true;  // fired inside await_suspend: it returns false, no resume here
                return;
            }
            a->promise_->resumed();
            handle.resume();  // may destroy the frame, and with it *a
        }
    };

    void append(Step step, const CorePtr& core) {
        DeferredCore::append(core, typeid(U), typeid(void), std::move(step));
    }
    void append(Step step) { append(std::move(step), core_); }

    CorePtr core_;
    CorePtr orphan_;
    Promise* promise_;
    AwaitedResult<U> result_;
    bool suspending_ = false;
    bool armed_ = false;
    bool completed_ = false;
};

/// The promise of both kinds of weft coroutine: holds the result Deferred and what is awaited now.
///
/// Ownership, so that nothing leaks: whoever will fire the awaited Deferred holds its chain, the chain
/// holds the suspended frame (ResumeLink), the frame holds the result. The result reaches what is awaited
/// weakly (for cancel()). A Deferred nobody else holds is kept by the awaiter, as only a cancel can fire it.
template <class T>
class CoroutinePromise {
public:
    explicit CoroutinePromise(SourceLocation where = SourceLocation::current())
        : result_(std::make_shared<DeferredCore>(typeid(T), where)) {
        result_->canceller = Step(Canceller{this});
    }
    ~CoroutinePromise() {
        // Destroyed mid-await (what it awaited went away unfired): no canceller may point at us.
        if (result_ && (!result_->called || result_->held)) result_->canceller = Step{};
    }
    CoroutinePromise(const CoroutinePromise&) = delete;
    CoroutinePromise& operator=(const CoroutinePromise&) = delete;

    [[nodiscard]] Deferred<T> result() const { return DeferredAccess::make<T>(result_); }

    struct FinalAwaiter {
        bool await_ready() const noexcept { return false; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> handle) const noexcept {
            CoroutinePromise& p = handle.promise();
            CorePtr core = std::move(p.result_);
            std::exception_ptr failure = std::move(p.failure_);
            std::optional<StoredType<T>> value = std::move(p.value_);
            handle.destroy();  // the frame goes first: the result's callbacks see a finished coroutine
            finish(core, std::move(value), std::move(failure));
        }
        void await_resume() const noexcept {}
    };
    FinalAwaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept { failure_ = std::current_exception(); }

    template <class U>
    auto await_transform(Deferred<U> d) {
        // Emptied: the parameter lives in the frame until the end of the co_await expression, and a frame
        // holding its awaited chain would never be destroyed with it.
        Deferred<U> local(std::move(d));
        return DeferredAwaiter<U, CoroutinePromise>(DeferredAccess::core(local), *this);
    }
    template <class U>
    auto await_transform(Coroutine<U> c);

protected:
    std::optional<StoredType<T>> value_;

private:
    template <class, class>
    friend class DeferredAwaiter;

    struct Canceller {
        CoroutinePromise* promise;
        void operator()(const CorePtr& core) { promise->on_cancel(core); }
    };

    /// At a suspension: what cancel() reaches.
    void suspended_on(const CorePtr& awaited) noexcept { awaiting_ = awaited; }
    void resumed() noexcept { awaiting_.reset(); }

    void on_cancel(const CorePtr& core) {
        if (auto awaited = awaiting_.lock()) {
            // May resume the coroutine, which may end and destroy *this; core->held says it did not.
            DeferredCore::cancel(awaited);
        } else {
            cancel_requested_ = true;  // running: its next await is cancelled
        }
        if (!core->called) {
            // Still going (it caught the error and awaits something else, or the awaited Deferred did not
            // fire at its cancel): the result waits for its end instead of failing now.
            DeferredCore::hold(core);
        }
        if (core->held && !core->canceller) core->canceller = Step(Canceller{this});  // for a later cancel
    }

    static void finish(const CorePtr& core, std::optional<StoredType<T>> value, std::exception_ptr failure) noexcept {
        if (core->called && !core->held) return;  // someone fired our Deferred by hand: it keeps that
        if (failure) {
            core->set_failure(std::move(failure));
        } else if constexpr (!std::is_void_v<T>) {
            core->value.template emplace<T>(std::move(*value));
        }
        if (core->held) {
            DeferredCore::release(core);
        } else {
            DeferredCore::fire(core);
        }
    }

    CorePtr result_;
    std::exception_ptr failure_;
    std::weak_ptr<DeferredCore> awaiting_;
    bool cancel_requested_ = false;
};

/// return_value / return_void, by T.
template <class T>
class ReturningPromise : public CoroutinePromise<T> {
public:
    using CoroutinePromise<T>::CoroutinePromise;
    template <class V = T>
        requires std::convertible_to<V&&, T>
    void return_value(V&& v) {
        this->value_.emplace(std::forward<V>(v));
    }
};
template <>
class ReturningPromise<void> : public CoroutinePromise<void> {
public:
    using CoroutinePromise<void>::CoroutinePromise;
    void return_void() noexcept { value_.emplace(); }
};

}  // namespace detail

/// A coroutine that has not started yet (Python: the coroutine object an `async def` returns). Start it
/// with ensure_deferred(), or co_await it from another weft coroutine. Move-only; destroying one that was
/// never started destroys its frame.
template <class T>
class [[nodiscard]] Coroutine {
public:
    /// The C++20 coroutine machinery's promise (the compiler uses it; user code never names it): the body
    /// does not run until ensure_deferred() or a co_await starts it.
    struct promise_type : detail::ReturningPromise<T> {
        /// `where` (the coroutine, where the compiler supports it) is logged with an unhandled failure.
        explicit promise_type(SourceLocation where = SourceLocation::current()) : detail::ReturningPromise<T>(where) {}
        /// The compiler's hooks: the Coroutine handle that owns the frame, and a suspended start.
        /// @{
        Coroutine get_return_object() noexcept {
            return Coroutine(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        std::suspend_always initial_suspend() const noexcept { return {}; }
        /// @}
    };

    /// Moves the unstarted coroutine; `other` is left empty (ensure_deferred on it throws). Assigning
    /// destroys the frame this one held, if any.
    /// @{
    Coroutine(Coroutine&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    Coroutine& operator=(Coroutine&& other) noexcept {
        if (this != &other) {
            if (handle_) handle_.destroy();
            handle_ = std::exchange(other.handle_, {});
        }
        return *this;
    }
    /// @}
    Coroutine(const Coroutine&) = delete;
    Coroutine& operator=(const Coroutine&) = delete;
    ~Coroutine() {
        if (handle_) handle_.destroy();
    }

    /// ensure_deferred takes the frame out of the handle (see the function below).
    template <class U>
    friend Deferred<U> ensure_deferred(Coroutine<U> c);

private:
    explicit Coroutine(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}
    std::coroutine_handle<promise_type> handle_;
};

/// Starts the coroutine: it runs until its first co_await of a Deferred with no result yet. Returns the
/// Deferred of its result (Twisted: ensureDeferred). Throws std::logic_error if it was already started.
template <class T>
Deferred<T> ensure_deferred(Coroutine<T> c) {
    if (!c.handle_) throw std::logic_error("ensure_deferred: the coroutine was already started");
    auto handle = std::exchange(c.handle_, {});
    Deferred<T> result = handle.promise().result();
    handle.resume();  // from here on the frame owns itself
    return result;
}

/// A Deferred is already a Deferred (Twisted's ensureDeferred accepts both).
template <class T>
Deferred<T> ensure_deferred(Deferred<T> d) {
    return d;
}

template <class T>
template <class U>
auto detail::CoroutinePromise<T>::await_transform(Coroutine<U> c) {
    return await_transform(ensure_deferred(std::move(c)));
}

}  // namespace weft

// Out of the API reference (cond section): doxygen has no scope for a specialization in namespace std and fails on
// it; weft::Deferred's doc says what it does.
/// @cond
/// A function returning weft::Deferred<T> that uses co_await or co_return is a coroutine that starts at once.
template <class T, class... Args>
struct std::coroutine_traits<weft::Deferred<T>, Args...> {
    /// The promise of such a coroutine (the compiler uses it; user code never names it).
    struct promise_type : weft::detail::ReturningPromise<T> {
        /// `where` (the coroutine, where the compiler supports it) is logged with an unhandled failure.
        explicit promise_type(weft::SourceLocation where = weft::SourceLocation::current())
            : weft::detail::ReturningPromise<T>(where) {}
        /// The compiler's hooks: the caller gets the result Deferred, and the body starts at once.
        /// @{
        weft::Deferred<T> get_return_object() const { return this->result(); }
        std::suspend_never initial_suspend() const noexcept { return {}; }
        /// @}
    };
};
/// @endcond
