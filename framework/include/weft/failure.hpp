#pragma once
// Failure: an error travelling down a Deferred's chain (Twisted: twisted.python.failure.Failure), and the
// errors the Deferred machinery itself raises (Twisted: defer.AlreadyCalledError, CancelledError,
// TimeoutError).

#include <exception>
#include <string>
#include <utility>

#include "weft/error.hpp"

namespace weft {

/// A captured exception. Copies share the same exception object (std::exception_ptr semantics).
/// Contract: never empty; constructing one from a null exception_ptr throws std::invalid_argument.
class Failure {
public:
    /// Wraps `e`, typically std::current_exception() inside a catch block.
    explicit Failure(std::exception_ptr e);
    /// Wraps a copy of `e` (any exception object, e.g. Failure(std::runtime_error("x"))).
    template <class E>
        requires(!std::is_same_v<std::decay_t<E>, Failure> && !std::is_same_v<std::decay_t<E>, std::exception_ptr>)
    explicit Failure(E&& e) : Failure(std::make_exception_ptr(std::forward<E>(e))) {}

    /// The exception's what() if it is a std::exception, else "unknown exception".
    [[nodiscard]] std::string what() const;
    /// True if the exception is an E (or derives from E).
    template <class E>
    [[nodiscard]] bool check() const {
        try {
            std::rethrow_exception(error_);
        } catch (const E&) {
            return true;
        } catch (...) {
            return false;
        }
    }
    /// Returns if the exception is an E; otherwise rethrows it, so that an errback can write
    /// `f.trap<Timeout>();` and pass every other failure on (Twisted: Failure.trap).
    template <class E>
    void trap() const {
        if (!check<E>()) rethrow();
    }
    /// Throws the wrapped exception.
    [[noreturn]] void rethrow() const;
    /// The wrapped exception.
    [[nodiscard]] const std::exception_ptr& exception() const noexcept { return error_; }

private:
    std::exception_ptr error_;
};

/// callback()/errback() on a Deferred that has already been fired (Twisted: AlreadyCalledError).
class AlreadyCalledError : public Error {
public:
    AlreadyCalledError() : Error("the Deferred has already been called") {}
};

/// The failure of a Deferred that was cancelled (Twisted: CancelledError).
class CancelledError : public Error {
public:
    CancelledError() : Error("the Deferred was cancelled") {}
};

/// The failure of a Deferred cancelled by add_timeout at its deadline (Twisted: defer.TimeoutError).
class TimeoutError : public Error {
public:
    TimeoutError() : Error("the Deferred timed out") {}
};

}  // namespace weft
