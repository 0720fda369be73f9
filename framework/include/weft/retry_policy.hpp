#pragma once
// Retry policies for ClientService (Twisted: twisted.application.internet.backoffPolicy).

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "weft/time.hpp"

namespace weft {

/// How long ClientService waits before its next attempt, given how many attempts in a row have failed
/// (1 for the first retry). A plain value: copy it, store it, call it; the copies of a policy with jitter
/// share its random generator, so services given the same policy draw different delays (call them on one
/// thread: the reactor's).
using RetryPolicy = std::function<Duration(std::uint32_t failed_attempts)>;

/// Exponential back-off with a cap and additive jitter, exactly Twisted's backoffPolicy:
///
///     delay(n) = min(initial * factor^min(n, 100), max_delay) + U[0, jitter)
///
/// n is the number of consecutive failed attempts (ClientService counts a lost connection as one, so the
/// first reconnect after a loss waits delay(1)). The cap applies before the jitter: a delay can reach
/// max_delay + jitter. U[0, jitter) is a uniform draw from the policy's own std::mt19937 (seeded from
/// `seed`, or from std::random_device when none is given); jitter 0 makes the policy deterministic.
/// With the defaults (Twisted's): 1.5 s, 2.25 s, 3.375 s, ... up to 60 s, each plus up to 1 s.
/// Throws std::invalid_argument for a negative initial, max_delay or jitter, or a factor below 1 or not finite.
[[nodiscard]] RetryPolicy backoff_policy(Duration initial = std::chrono::seconds(1), double factor = 1.5,
                                         Duration max_delay = std::chrono::seconds(60),
                                         Duration jitter = std::chrono::seconds(1),
                                         std::optional<std::uint32_t> seed = std::nullopt);

}  // namespace weft
