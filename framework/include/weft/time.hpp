#pragma once
// The time types of weft: monotonic only. Wall-clock time never drives a timer.

#include <chrono>

namespace weft {

using Clock_t = std::chrono::steady_clock;
using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

/// Converts any std::chrono duration (1s, 250ms, 1.5s) to weft's Duration, rounding to nanoseconds.
template <class Rep, class Period>
constexpr Duration to_duration(std::chrono::duration<Rep, Period> d) {
    return std::chrono::round<Duration>(std::chrono::duration<double, std::nano>(d));
}

}  // namespace weft
