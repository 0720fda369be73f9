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
    enum class Kind {
        done,     ///< closed cleanly, by either side
        lost,     ///< the network failed: reset, broken pipe, timeout, refused, unresolvable
        aborted,  ///< abort_connection() or an aborted attempt; buffered output was dropped
        error,    ///< a callback threw, or weft closed the connection for a policy (limit, timeout)
    };

    Reason() = default;
    Reason(Kind kind, std::error_code code, std::string message)
        : kind_(kind), code_(code), message_(std::move(message)) {}

    static Reason done(std::string message = "connection was closed cleanly") {
        return {Kind::done, {}, std::move(message)};
    }
    static Reason lost(std::error_code code, std::string message = {}) {
        return {Kind::lost, code, message.empty() ? code.message() : std::move(message)};
    }
    static Reason aborted(std::string message = "connection was aborted") {
        return {Kind::aborted, {}, std::move(message)};
    }
    static Reason error(std::string message, std::error_code code = {}) {
        return {Kind::error, code, std::move(message)};
    }

    [[nodiscard]] Kind kind() const noexcept { return kind_; }
    [[nodiscard]] bool clean() const noexcept { return kind_ == Kind::done; }
    [[nodiscard]] std::error_code code() const noexcept { return code_; }
    [[nodiscard]] const std::string& message() const noexcept { return message_; }
    [[nodiscard]] std::string to_string() const { return std::string(kind_name(kind_)) + ": " + message_; }

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
