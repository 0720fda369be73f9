#pragma once
// weft's exception types. Errors of API misuse are exceptions (as Twisted raises); network errors are
// never thrown from callbacks but arrive as a Reason in connection_lost / client_connection_failed.

#include <stdexcept>
#include <string>
#include <system_error>

namespace weft {

/// Base of every exception weft throws.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// DelayedCall::cancel/reset/delay on a call that has already run (Twisted: AlreadyCalled).
class AlreadyCalled : public Error {
public:
    AlreadyCalled() : Error("the delayed call has already been called") {}
};

/// DelayedCall::cancel/reset/delay on a call that was cancelled (Twisted: AlreadyCancelled).
class AlreadyCancelled : public Error {
public:
    AlreadyCancelled() : Error("the delayed call has already been cancelled") {}
};

/// Reactor::stop() while the reactor is not running (Twisted: ReactorNotRunning).
class ReactorNotRunning : public Error {
public:
    ReactorNotRunning() : Error("the reactor is not running") {}
};

/// A method called in a state that does not allow it (e.g. a second registered producer).
class StateError : public Error {
public:
    using Error::Error;
};

/// listen_tcp could not bind or listen: says the address and the operating system's reason.
class BindError : public Error {
public:
    /// The message is "cannot listen on ADDRESS: " and `code`'s text.
    BindError(const std::string& address, std::error_code code)
        : Error("cannot listen on " + address + ": " + code.message()), code_(code) {}
    /// The operating system's error (EADDRINUSE, EACCES, EADDRNOTAVAIL, ...).
    [[nodiscard]] std::error_code code() const noexcept { return code_; }

private:
    std::error_code code_;
};

/// spawn_process could not start the child: says what it tried (the executable, or the descriptor or
/// working directory it could not set up) and the operating system's reason.
class SpawnError : public Error {
public:
    /// The message is `what` followed by `code`'s text.
    SpawnError(const std::string& what, std::error_code code)
        : Error(what + ": " + code.message()), code_(code) {}
    /// The operating system's error (ENOENT, EACCES, ...).
    [[nodiscard]] std::error_code code() const noexcept { return code_; }

private:
    std::error_code code_;
};

/// signal_process() on a process that has already ended and been reaped (Twisted: ProcessExitedAlready).
class ProcessExitedAlready : public Error {
public:
    ProcessExitedAlready() : Error("the process has already exited") {}
};

}  // namespace weft
