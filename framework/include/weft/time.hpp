#pragma once
// The time types of weft: monotonic only. Wall-clock time never drives a timer.

#include <chrono>

namespace weft {

/// The clock every timer runs on: monotonic, so changing the system time never fires or delays one.
using Clock_t = std::chrono::steady_clock;
/// A span of time, in nanoseconds (about 292 years either way).
using Duration = std::chrono::nanoseconds;
/// A point on Clock_t with nanosecond resolution: what ReactorTime::seconds() and timers deal in.
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

/// Converts any std::chrono duration (1s, 250ms, 1.5s) to weft's Duration, rounding to nanoseconds.
template <class Rep, class Period>
constexpr Duration to_duration(std::chrono::duration<Rep, Period> d) {
    return std::chrono::round<Duration>(std::chrono::duration<double, std::nano>(d));
}

}  // namespace weft
