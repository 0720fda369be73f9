#pragma once
// weft::use_deferred: a Boost.Asio completion token that makes an asynchronous operation return a
// Deferred of its result (Twisted has no Asio; the nearest is Deferred.fromFuture / asyncio interop).
//
//   weft::Deferred<void> d = timer.async_wait(weft::use_deferred);
//   std::size_t n = co_await socket.async_read_some(boost::asio::buffer(buf), weft::use_deferred);
//
// The completion signature decides the Deferred's type and how errors travel:
//   ()  and (error_code)  and (exception_ptr)           -> Deferred<void>
//   (T) and (error_code, T) and (exception_ptr, T)       -> Deferred<T>   (e.g. (error_code, size_t))
// A non-zero error_code fails the Deferred with boost::system::system_error (its code() is the error); an
// exception_ptr fails it with that exception. Other signatures do not compile (static_assert).
//
// The Deferred fires where Asio runs the completion handler: on the I/O object's executor, so for an
// object on the reactor's io_context (Reactor::context()), on the reactor thread, in a handler of its own
// (never inside the call that started the operation).
//
// cancel() on the Deferred emits a terminal cancellation on the operation's per-operation cancellation slot
// (Asio cancels the timers, sockets and composed operations that support it), then the Deferred fails with
// CancelledError at once; the operation's own completion (operation_aborted, or a result that raced the
// cancel) comes later and is dropped. An operation that does not support per-operation cancellation runs to
// its end; its result is dropped likewise.

#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include "weft/deferred.hpp"

namespace weft {

/// The completion token type; use the weft::use_deferred object.
struct UseDeferred {
    constexpr UseDeferred() noexcept = default;
};
/// Pass as an Asio operation's completion token to get a Deferred of its result.
inline constexpr UseDeferred use_deferred{};

namespace detail {

/// Maps a completion signature's arguments to the Deferred's type.
template <class... Args>
struct UseDeferredSignature {
    static_assert(sizeof...(Args) == 0 && false,
                  "weft::use_deferred supports (), (error_code), (exception_ptr), (T), (error_code, T) and "
                  "(exception_ptr, T) completion signatures");
};
template <>
struct UseDeferredSignature<> {
    using type = void;
};
template <>
struct UseDeferredSignature<boost::system::error_code> {
    using type = void;
};
template <>
struct UseDeferredSignature<std::exception_ptr> {
    using type = void;
};
template <class T>
struct UseDeferredSignature<T> {
    using type = T;
};
template <class T>
struct UseDeferredSignature<boost::system::error_code, T> {
    using type = T;
};
template <class T>
struct UseDeferredSignature<std::exception_ptr, T> {
    using type = T;
};

/// Shared by the handler (which Asio owns until it completes) and the Deferred's canceller (weakly: the
/// state holds the Deferred, and a strong reference would keep both alive after an operation that never
/// completes, its io_context destroyed).
template <class T>
struct UseDeferredState {
    std::optional<Deferred<T>> deferred;
    boost::asio::cancellation_signal signal;

    static std::shared_ptr<UseDeferredState> make() {
        auto state = std::make_shared<UseDeferredState>();
        state->deferred.emplace([weak = std::weak_ptr<UseDeferredState>(state)](Deferred<T>&) {
            if (auto s = weak.lock()) s->signal.emit(boost::asio::cancellation_type::terminal);
        });
        return state;
    }
};

template <class T>
class UseDeferredHandler {
public:
    using cancellation_slot_type = boost::asio::cancellation_slot;

    explicit UseDeferredHandler(std::shared_ptr<UseDeferredState<T>> state) noexcept : state_(std::move(state)) {}
    [[nodiscard]] cancellation_slot_type get_cancellation_slot() const noexcept { return state_->signal.slot(); }

    void operator()() { succeed_with(); }
    void operator()(const boost::system::error_code& ec) {
        if (ec) return fail_with(std::make_exception_ptr(boost::system::system_error(ec)));
        succeed_with();
    }
    void operator()(std::exception_ptr e) {
        if (e) return fail_with(std::move(e));
        succeed_with();
    }
    template <class V>
        requires(!std::is_same_v<std::decay_t<V>, boost::system::error_code> &&
                 !std::is_same_v<std::decay_t<V>, std::exception_ptr>)
    void operator()(V&& v) {
        succeed_with(std::forward<V>(v));
    }
    template <class V>
    void operator()(const boost::system::error_code& ec, V&& v) {
        if (ec) return fail_with(std::make_exception_ptr(boost::system::system_error(ec)));
        succeed_with(std::forward<V>(v));
    }
    template <class V>
    void operator()(std::exception_ptr e, V&& v) {
        if (e) return fail_with(std::move(e));
        succeed_with(std::forward<V>(v));
    }

private:
    template <class... V>
    void succeed_with(V&&... v) {
        auto state = std::move(state_);
        if (state->deferred->called()) return;  // cancelled: this is the operation's late completion
        state->deferred->callback(std::forward<V>(v)...);
    }
    void fail_with(std::exception_ptr e) {
        auto state = std::move(state_);
        if (state->deferred->called()) return;
        state->deferred->errback(Failure(std::move(e)));
    }

    std::shared_ptr<UseDeferredState<T>> state_;
};

}  // namespace detail
}  // namespace weft

/// What makes weft::use_deferred a completion token: an operation with completion signature R(Args...)
/// returns a weft::Deferred (the header's comment has the signatures, threading and cancellation).
template <class R, class... Args>
struct boost::asio::async_result<weft::UseDeferred, R(Args...)> {
    /// The Deferred's type: void, or the signature's value (its error_code or exception_ptr removed).
    using value_type = typename weft::detail::UseDeferredSignature<std::decay_t<Args>...>::type;
    /// What the asynchronous operation returns: a Deferred of value_type.
    using return_type = weft::Deferred<value_type>;

    /// Asio's hook: starts the operation with a handler that fires the returned Deferred.
    template <class Initiation, class... InitArgs>
    static return_type initiate(Initiation&& initiation, weft::UseDeferred, InitArgs&&... args) {
        auto state = weft::detail::UseDeferredState<value_type>::make();
        return_type d = *state->deferred;
        std::forward<Initiation>(initiation)(weft::detail::UseDeferredHandler<value_type>(std::move(state)),
                                            std::forward<InitArgs>(args)...);
        return d;
    }
};
