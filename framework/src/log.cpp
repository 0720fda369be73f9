#include "weft/log.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/support/date_time.hpp>
#include <boost/log/utility/setup/common_attributes.hpp>
#include <boost/log/utility/setup/console.hpp>

namespace weft {

namespace logging = boost::log;

std::optional<LogLevel> parse_log_level(std::string_view name) noexcept {
    if (name == "trace") return LogLevel::trace;
    if (name == "debug") return LogLevel::debug;
    if (name == "info") return LogLevel::info;
    if (name == "warning" || name == "warn") return LogLevel::warning;
    if (name == "error") return LogLevel::error;
    if (name == "fatal") return LogLevel::fatal;
    return std::nullopt;
}

void init_logging(LogLevel level) {
    // Logging is the one piece of global state weft has: the sink is added once per process.
    static const bool sink_added = [] {
        namespace expr = logging::expressions;
        logging::add_common_attributes();
        logging::add_console_log(
            std::clog,
            logging::keywords::format =
                (expr::stream << expr::format_date_time<boost::posix_time::ptime>("TimeStamp", "%H:%M:%S.%f")
                              << " [" << logging::trivial::severity << "] " << expr::smessage),
            logging::keywords::auto_flush = true);
        return true;
    }();
    (void)sink_added;
    logging::core::get()->set_filter(logging::trivial::severity >= level);
}

void init_logging(std::string_view flag, LogLevel fallback) {
    std::string_view name = flag;
    if (name.empty()) {
        if (const char* env = std::getenv("WEFT_LOG_LEVEL"); env != nullptr) name = env;
    }
    if (name.empty()) {
        init_logging(fallback);
        return;
    }
    auto level = parse_log_level(name);
    if (!level) {
        throw std::invalid_argument("unknown log level '" + std::string(name) +
                                    "' (expected trace, debug, info, warning, error or fatal)");
    }
    init_logging(*level);
}

}  // namespace weft
