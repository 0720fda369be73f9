#pragma once
// SourceLocation: where a call was made. std::source_location where the standard library has it; clang 14
// (the fuzzing compiler) with libstdc++ 12 has not, and gets a class with the same members, made of the
// builtins std::source_location is made of (three words instead of one pointer, so a Deferred's state is
// larger there; the allocation counts in docs/deferred.md are GCC's).

#include <version>
#if defined(__cpp_lib_source_location)
#include <source_location>
#endif

namespace weft {

#if defined(__cpp_lib_source_location)
using SourceLocation = std::source_location;
#else
/// The file, line and function of a call: `SourceLocation where = SourceLocation::current()` as a default
/// argument records the caller's place (std::source_location's contract, for the members it has).
class SourceLocation {
public:
    /// The place of the call: used as a default argument, the caller's file, line and function.
    [[nodiscard]] static constexpr SourceLocation current(const char* file = __builtin_FILE(),
                                                          unsigned line = __builtin_LINE(),
                                                          const char* function = __builtin_FUNCTION()) noexcept {
        return SourceLocation(file, line, function);
    }
    constexpr SourceLocation() noexcept = default;

    /// The source file's name as the compiler spelled it; "" for a default-constructed location.
    [[nodiscard]] constexpr const char* file_name() const noexcept { return file_; }
    /// The line number, from 1; 0 for a default-constructed location.
    [[nodiscard]] constexpr unsigned line() const noexcept { return line_; }
    /// The enclosing function's name; "" for a default-constructed location or outside a function.
    [[nodiscard]] constexpr const char* function_name() const noexcept { return function_; }

private:
    constexpr SourceLocation(const char* file, unsigned line, const char* function) noexcept
        : file_(file), line_(line), function_(function) {}

    const char* file_ = "";
    unsigned line_ = 0;
    const char* function_ = "";
};
#endif

}  // namespace weft
