#pragma once
// The untyped shared state behind weft::Deferred<T>. Not part of the API: use weft/deferred.hpp.
//
// One DeferredCore serves a whole chain: Deferred<T>::add_callback returns a Deferred<U> over the same
// core, so a Deferred with a few small callbacks costs one allocation (make_shared: core and control
// block together). The value travels in an InlineBox (inline when small, else boxed), the callbacks are
// Steps kept inline for the first kInlineSteps of them.

#include <array>
#include <cstddef>
#include <exception>
#include <memory>
#include <new>
#include "weft/source_location.hpp"
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace weft::detail {

/// Holds one object of any type: in place when it is small and nothrow-movable, else through a
/// unique_ptr kept in place. Moving a box moves the object (or the pointer).
template <std::size_t N>
class InlineBox {
    template <class T>
    static constexpr bool fits =
        sizeof(T) <= N && alignof(T) <= alignof(std::max_align_t) && std::is_nothrow_move_constructible_v<T>;
    struct Ops {
        void (*destroy)(void*) noexcept;
        void (*move)(void* dst, void* src) noexcept;
    };
    template <class S>
    static constexpr Ops ops_for{
        [](void* p) noexcept { static_cast<S*>(p)->~S(); },
        [](void* dst, void* src) noexcept {
            ::new (dst) S(std::move(*static_cast<S*>(src)));
            static_cast<S*>(src)->~S();
        }};

public:
    InlineBox() noexcept = default;
    ~InlineBox() { reset(); }
    InlineBox(InlineBox&& other) noexcept { take(other); }
    InlineBox& operator=(InlineBox&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    InlineBox(const InlineBox&) = delete;
    InlineBox& operator=(const InlineBox&) = delete;

    template <class T, class... A>
    T& emplace(A&&... args) {
        reset();
        if constexpr (fits<T>) {
            T* p = ::new (static_cast<void*>(buf_)) T(std::forward<A>(args)...);
            ops_ = &ops_for<T>;
            return *p;
        } else {
            auto* p = ::new (static_cast<void*>(buf_)) std::unique_ptr<T>(std::make_unique<T>(std::forward<A>(args)...));
            ops_ = &ops_for<std::unique_ptr<T>>;
            return **p;
        }
    }
    /// The object, which must be a T.
    template <class T>
    T& get() noexcept {
        if constexpr (fits<T>) {
            return *std::launder(reinterpret_cast<T*>(buf_));
        } else {
            return **std::launder(reinterpret_cast<std::unique_ptr<T>*>(buf_));
        }
    }
    void reset() noexcept {
        if (ops_ != nullptr) {
            ops_->destroy(buf_);
            ops_ = nullptr;
        }
    }
    [[nodiscard]] bool empty() const noexcept { return ops_ == nullptr; }

private:
    void take(InlineBox& other) noexcept {
        if (other.ops_ != nullptr) {
            other.ops_->move(buf_, other.buf_);
            ops_ = other.ops_;
            other.ops_ = nullptr;
        }
    }
    alignas(std::max_align_t) std::byte buf_[N];
    const Ops* ops_ = nullptr;
};

class DeferredCore;
using CorePtr = std::shared_ptr<DeferredCore>;

/// A type-erased callable run on the core: a link of the chain, or a canceller. A link must not throw (the
/// typed links catch what the user's callables throw and turn it into the chain's failure); what a
/// canceller throws, cancel() turns into the Deferred's failure.
class Step {
public:
    static constexpr std::size_t kInlineSize = 48;
    Step() noexcept = default;
    template <class F>
        requires(!std::is_same_v<std::decay_t<F>, Step>)
    explicit Step(F&& f) {
        using Fn = std::decay_t<F>;
        box_.template emplace<Fn>(std::forward<F>(f));
        call_ = [](InlineBox<kInlineSize>& box, const CorePtr& core) { box.template get<Fn>()(core); };
    }
    Step(Step&& other) noexcept : box_(std::move(other.box_)), call_(std::exchange(other.call_, nullptr)) {}
    Step& operator=(Step&& other) noexcept {
        box_ = std::move(other.box_);
        call_ = std::exchange(other.call_, nullptr);
        return *this;
    }
    explicit operator bool() const noexcept { return call_ != nullptr; }
    void operator()(const CorePtr& core) { call_(box_, core); }

private:
    InlineBox<kInlineSize> box_;
    void (*call_)(InlineBox<kInlineSize>&, const CorePtr&) = nullptr;
};

/// The state of one chain. Fields are public to the typed layer in weft/deferred.hpp only.
class DeferredCore {
public:
    static constexpr std::size_t kInlineSteps = 4;
    static constexpr std::size_t kInlineValue = 32;

    DeferredCore(const std::type_info& type, SourceLocation created_at) noexcept
        : fire_type(&type), chain_type(&type), where(created_at) {}
    /// Logs the failure if the chain ends in one that nobody handled.
    ~DeferredCore();
    DeferredCore(const DeferredCore&) = delete;
    DeferredCore& operator=(const DeferredCore&) = delete;

    /// Before a fire through a handle of type `type`: throws AlreadyCalledError if fired (false instead,
    /// once, after a cancel() without canceller, as Twisted), std::logic_error if `type` is not the type
    /// the Deferred was created with.
    bool begin_fire(const std::type_info& type);
    /// After the value or failure is in place: marks the core fired and runs the chain.
    static void fire(const CorePtr& self);
    /// Appends a link taking a `from` and giving a `to`, running it at once when fired and idle.
    static void append(const CorePtr& self, const std::type_info& from, const std::type_info& to, Step step);
    /// Appends a link that keeps the chain's type.
    static void append_same(const CorePtr& self, Step step);
    /// `self` (inside one of its links) waits for `inner`, whose chain gives a `type`.
    static void chain_to(const CorePtr& self, const CorePtr& inner, const std::type_info& type);
    /// Twisted's Deferred.cancel.
    static void cancel(CorePtr self);  // by value: the canceller may destroy the handle it came through
    /// Runs the links from `start`, then the Deferreds waiting on it, in a loop (no recursion).
    static void run(CorePtr start);
    /// Marks an unfired core fired with its result still to come, as a chain paused on a Deferred would be:
    /// a fire throws AlreadyCalledError, links wait, cancel() calls the canceller again (if one is set).
    /// Used by a coroutine cancelled while it goes on (weft/coroutine.hpp): its Deferred gets what the
    /// coroutine ends with, as in Twisted.
    static void hold(const CorePtr& self) noexcept;
    /// Ends hold() once the value or failure is in place: runs the links.
    static void release(const CorePtr& self);

    void set_failure(std::exception_ptr e) noexcept {
        value.reset();
        failure = std::move(e);
    }

    const std::type_info* fire_type;   // what callback() takes
    const std::type_info* chain_type;  // what the next link added takes
    InlineBox<kInlineValue> value;     // the current result when it is not a failure (empty for void)
    std::exception_ptr failure;        // the current failure, if any
    Step canceller;
    std::weak_ptr<DeferredCore> waiting_on;  // the chained Deferred this one is paused for
    CorePtr continuation;                    // the Deferred paused for this one
    SourceLocation where;
    bool called = false;
    bool running = false;
    bool paused = false;
    bool chained = false;  // returned by a link of another Deferred: no links may be added now
    bool suppress_already_called = false;
    bool held = false;     // hold(): fired, its result to come from its owner

private:
    Step& slot(std::size_t i) noexcept { return i < kInlineSteps ? small_[i] : more_[i - kInlineSteps]; }
    void push(Step step);
    void receive_from(DeferredCore& inner) noexcept;

    std::array<Step, kInlineSteps> small_;
    std::vector<Step> more_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;
};

}  // namespace weft::detail
