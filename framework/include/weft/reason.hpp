#pragma once
// Reason: why a connection ended, or why a connection attempt failed (Twisted: the Failure passed to
// connectionLost, wrapping ConnectionDone or ConnectionLost).

#include <string>
#include <system_error>
#include <utility>

namespace weft {

/// Why a connection ended. `clean()` is true for an orderly close (ours or the peer's: Twisted's
/// ConnectionDone) and false for anything else (reset, timeout, error, abort: ConnectionLost).
/// `code()` carries the operating system's error where there was one; `message()` is for people.
class Reason {
public:
    /// How the connection ended; only `done` is clean().
    enum class Kind {
        done,     ///< closed cleanly, by either side
        lost,     ///< the network failed: reset, broken pipe, timeout, refused, unresolvable
        aborted,  ///< abort_connection() or an aborted attempt; buffered output was dropped
        error,    ///< a callback threw, or weft closed the connection for a policy (limit, timeout)
    };

    /// A clean close ("connection was closed cleanly"), as done() gives.
    Reason() = default;
    /// Any kind with any code and message; the named constructors below are the usual way.
    Reason(Kind kind, std::error_code code, std::string message)
        : kind_(kind), code_(code), message_(std::move(message)) {}

    /// An orderly close by either side (Twisted: ConnectionDone); no error code.
    static Reason done(std::string message = "connection was closed cleanly") {
        return {Kind::done, {}, std::move(message)};
    }
    /// The network failed with `code` (Twisted: ConnectionLost); the message defaults to code.message().
    static Reason lost(std::error_code code, std::string message = {}) {
        return {Kind::lost, code, message.empty() ? code.message() : std::move(message)};
    }
    /// Aborted on purpose (abort_connection, stop_connecting, shutdown); no error code.
    static Reason aborted(std::string message = "connection was aborted") {
        return {Kind::aborted, {}, std::move(message)};
    }
    /// Closed by weft or the application for a reason of its own (`message`), with an error code if any.
    static Reason error(std::string message, std::error_code code = {}) {
        return {Kind::error, code, std::move(message)};
    }

    /// How it ended.
    [[nodiscard]] Kind kind() const noexcept { return kind_; }
    /// True only for Kind::done: an orderly close by either side.
    [[nodiscard]] bool clean() const noexcept { return kind_ == Kind::done; }
    /// The operating system's error, or an empty (false) code when there was none.
    [[nodiscard]] std::error_code code() const noexcept { return code_; }
    /// A human-readable explanation; never meant to be parsed.
    [[nodiscard]] const std::string& message() const noexcept { return message_; }
    /// "KIND: message", e.g. "lost: Connection reset by peer"; for logs.
    [[nodiscard]] std::string to_string() const { return std::string(kind_name(kind_)) + ": " + message_; }

    /// "done", "lost", "aborted" or "error"; a static string.
    static const char* kind_name(Kind kind) noexcept {
        switch (kind) {
            case Kind::done: return "done";
            case Kind::lost: return "lost";
            case Kind::aborted: return "aborted";
            case Kind::error: return "error";
        }
        return "?";
    }

private:
    Kind kind_ = Kind::done;
    std::error_code code_;
    std::string message_ = "connection was closed cleanly";
};

}  // namespace weft
