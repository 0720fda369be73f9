#pragma once
// Logging: Boost.Log's trivial logger with weft's set-up. Levels trace, debug, info, warning, error, fatal.

#include <optional>
#include <string_view>

#include <boost/log/trivial.hpp>

/// WEFT_LOG(info) << "text"; -- a Boost.Log record at the given level.
#define WEFT_LOG(level) BOOST_LOG_TRIVIAL(level)

namespace weft {

using LogLevel = boost::log::trivial::severity_level;

/// "trace".."fatal" (also "warn"), case-sensitive; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name) noexcept;

/// Sends records at `level` and above to stderr as "time [level] message". Call once at start-up;
/// calling again only changes the level.
void init_logging(LogLevel level);

/// The level from `flag` if given (a --log-level value), else from $WEFT_LOG_LEVEL, else `fallback`.
/// Throws std::invalid_argument naming the bad value.
void init_logging(std::string_view flag = {}, LogLevel fallback = LogLevel::info);

}  // namespace weft
