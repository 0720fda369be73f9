#include "weft/retry_policy.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <stdexcept>

namespace weft {

RetryPolicy backoff_policy(Duration initial, double factor, Duration max_delay, Duration jitter,
                           std::optional<std::uint32_t> seed) {
    if (initial < Duration::zero() || max_delay < Duration::zero() || jitter < Duration::zero()) {
        throw std::invalid_argument("backoff_policy: initial, max_delay and jitter must not be negative");
    }
    if (!std::isfinite(factor) || factor < 1.0) {
        throw std::invalid_argument("backoff_policy: factor must be a finite number >= 1");
    }
    const double initial_s = std::chrono::duration<double>(initial).count();
    const double max_s = std::chrono::duration<double>(max_delay).count();
    // Shared by the copies of the policy, so that services given one policy value draw different jitter
    // (a generator copied with it would replay the same delays and reconnect them in lockstep).
    auto rng = std::make_shared<std::mt19937>(seed ? *seed : std::random_device{}());
    return [=](std::uint32_t failed_attempts) -> Duration {
        // Twisted caps the exponent at 100 so that a long outage cannot overflow; a result that is still
        // not finite (a huge factor) is the cap.
        const double grown = initial_s * std::pow(factor, std::min<std::uint32_t>(failed_attempts, 100));
        const double capped = std::isfinite(grown) ? std::min(grown, max_s) : max_s;
        Duration delay = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(capped));
        if (jitter > Duration::zero()) {
            std::uniform_int_distribution<Duration::rep> spread(0, jitter.count() - 1);
            delay += Duration(spread(*rng));
        }
        return delay;
    };
}

}  // namespace weft
