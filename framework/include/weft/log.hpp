#pragma once
// Logging: Boost.Log's trivial logger with weft's set-up. Levels trace, debug, info, warning, error, fatal.
//
// Records go to stderr through an asynchronous sink: the thread that logs (the reactor's) only queues the
// record; a writer thread formats and writes it. The queue is bounded: when it is full (stderr is a pipe
// nobody reads, or is read slowly) records are dropped and counted, and the writer reports the count
// ("N log records dropped") before the next record it manages to write. A write error on stderr (EPIPE,
// the reader is gone) loses that record and nothing else. At exit the queue is flushed for at most a
// fraction of a second. Without init_logging the level is warning.
//
// The writer is a thread, started by init_logging() or the first record. A process that forks without
// exec should fork before that (a daemon: fork first, then log): the child of a later fork has no writer
// thread, so what it logs is not written (it is queued until the queue is full, then dropped). Its exit()
// does not wait for the missing writer.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include <boost/log/trivial.hpp>

#include "weft/time.hpp"

namespace weft::detail {
/// Installs weft's stderr sink (at warning and above) the first time a record is made. Always true.
bool install_log_sink() noexcept;
inline bool log_sink_ready() noexcept {
    static const bool ready = install_log_sink();
    return ready;
}
}  // namespace weft::detail

/// WEFT_LOG(info) << "text"; -- a Boost.Log record at the given level. A single statement, safe in an
/// unbraced if/else (two nested for statements, no dangling else).
#define WEFT_LOG(level)                                                                                        \
    for (bool weft_log_sink_ready_ = ::weft::detail::log_sink_ready(); weft_log_sink_ready_;                   \
         weft_log_sink_ready_ = false)                                                                         \
    BOOST_LOG_TRIVIAL(level)

namespace weft {

/// A record's severity, trace < debug < info < warning < error < fatal (Boost.Log's trivial levels).
using LogLevel = boost::log::trivial::severity_level;

/// "trace".."fatal" (also "warn"), case-sensitive; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name) noexcept;

/// Sends records at `level` and above to stderr as "time [level] message". Call once at start-up;
/// calling again only changes the level. Also ignores SIGPIPE for the process (see Reactor).
void init_logging(LogLevel level);

/// The level from `flag` if given (a --log-level value), else from $WEFT_LOG_LEVEL, else `fallback`.
/// Throws std::invalid_argument naming the bad value.
void init_logging(std::string_view flag = {}, LogLevel fallback = LogLevel::info);

/// Records dropped so far because the sink's queue was full (the writer could not keep up with stderr).
[[nodiscard]] std::uint64_t dropped_log_records() noexcept;

/// Waits until every record queued so far was written (or given up on), for at most `limit`. Returns
/// true if the queue was drained in time. The records of other threads may keep coming meanwhile.
bool flush_log(std::chrono::milliseconds limit = std::chrono::milliseconds(250)) noexcept;

/// Lets one record of a repeating kind through per `interval` and counts the rest, so that an event
/// repeated per connection under attack (accept failures, refusals) costs one record per interval, not
/// one per event. Not thread-safe: one limiter per place that logs, used on one thread.
///
///     if (limiter.allow(now)) WEFT_LOG(warning) << "accept failed" << LogRateLimiter::note(limiter);
class LogRateLimiter {
public:
    /// At most one record per `interval` (the reactor's ports use one second).
    explicit LogRateLimiter(Duration interval) noexcept : interval_(interval) {}

    /// True if a record may be made at `now`: the first call, and then the first call at least `interval`
    /// after the last one allowed. A false is counted. After a true, suppressed() is the count of the
    /// calls held back since the previous true.
    bool allow(TimePoint now) noexcept {
        if (allowed_once_ && now - last_ < interval_) {
            ++held_;
            return false;
        }
        allowed_once_ = true;
        last_ = now;
        suppressed_ = held_;
        held_ = 0;
        return true;
    }
    /// Records held back between the last two allowed ones.
    [[nodiscard]] std::uint64_t suppressed() const noexcept { return suppressed_; }
    /// Records held back since the last allowed one (not reported yet).
    [[nodiscard]] std::uint64_t pending() const noexcept { return held_; }

    /// Streams " (N similar records suppressed)" after a record, or nothing when N is 0.
    struct Note {
        std::uint64_t suppressed;  ///< how many records were held back
        /// Writes the note to any ostream-like `out` (WEFT_LOG's stream included).
        template <class Stream>
        friend Stream& operator<<(Stream& out, const Note& n) {
            if (n.suppressed != 0) out << " (" << n.suppressed << " similar records suppressed)";
            return out;
        }
    };
    /// The note for `l`'s suppressed() count, to stream after a record `l` allowed.
    [[nodiscard]] static Note note(const LogRateLimiter& l) noexcept { return {l.suppressed()}; }

private:
    Duration interval_;
    TimePoint last_{};
    bool allowed_once_ = false;
    std::uint64_t held_ = 0;
    std::uint64_t suppressed_ = 0;
};

}  // namespace weft
