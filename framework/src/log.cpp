#include "weft/log.hpp"

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/async_frontend.hpp>
#include <boost/log/sinks/basic_sink_backend.hpp>
#include <boost/log/sinks/bounded_fifo_queue.hpp>
#include <boost/log/support/date_time.hpp>
#include <boost/log/utility/setup/common_attributes.hpp>
#include <boost/date_time/posix_time/posix_time.hpp>
#include <boost/smart_ptr/make_shared_object.hpp>

#include "sigpipe.hpp"

namespace weft {

namespace logging = boost::log;
namespace sinks = boost::log::sinks;

namespace {

// Logging is the one piece of global state weft has (the developers' guide allows it): the sink, its
// drop count and the writer's deadline are per process.
std::atomic<std::uint64_t> dropped_total{0};
// Steady-clock nanoseconds after which the writer stops waiting for stderr to take a record (0: never).
// Set at exit, so that joining the writer thread cannot hang on a pipe nobody reads.
std::atomic<std::int64_t> give_up_at_ns{0};

std::int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

bool past_deadline() {
    const auto at = give_up_at_ns.load(std::memory_order_relaxed);
    return at != 0 && steady_ns() >= at;
}

/// bounded_fifo_queue's overflow strategy: drop the record, as drop_on_overflow does, and count it.
struct CountingDropOnOverflow {
    template <class Lock>
    static bool on_overflow(const logging::record_view&, Lock&) {
        dropped_total.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    static void on_queue_space_available() {}
    static void interrupt() {}
};

/// Writes each formatted record to stderr with write(2) from the writer thread. It never blocks for
/// long: it waits for POLLOUT in short slices and writes at most PIPE_BUF bytes after each (which a pipe
/// with room takes without blocking), so it notices the exit deadline. A write error drops the record.
class StderrBackend : public sinks::basic_formatted_sink_backend<char, sinks::synchronized_feeding> {
public:
    void consume(const logging::record_view&, const std::string& formatted) {
        report_drops();
        line_.assign(formatted);
        line_.push_back('\n');
        write_all(line_);
    }
    /// Called by the frontend's flush(): a drop count not yet reported is reported now.
    void flush() { report_drops(); }

private:
    void report_drops() {
        const std::uint64_t total = dropped_total.load(std::memory_order_relaxed);
        if (total == reported_) return;
        const std::uint64_t n = total - reported_;
        reported_ = total;
        const auto now = boost::posix_time::microsec_clock::local_time().time_of_day();
        write_all(boost::posix_time::to_simple_string(now) + " [warning] " + std::to_string(n) +
                  " log records dropped (stderr did not keep up; " + std::to_string(total) + " in all)\n");
    }

    static bool write_all(std::string_view data) {
        while (!data.empty()) {
            if (past_deadline()) return false;
            pollfd p{STDERR_FILENO, POLLOUT, 0};
            const int ready = ::poll(&p, 1, 50);
            if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
            if (ready < 0) return false;
            const ssize_t n = ::write(STDERR_FILENO, data.data(), std::min<std::size_t>(data.size(), PIPE_BUF));
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
                return false;  // EPIPE (the reader is gone), EBADF, ENOSPC...: this record is lost, nothing else
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    std::string line_;
    std::uint64_t reported_ = 0;
};

// Records the writer may hold before new ones are dropped: a burst of a few thousand (every client of a
// large room leaving at once) fits; a stderr that stopped being read costs at most this many records.
constexpr std::size_t queue_capacity = 4096;
using Sink = sinks::asynchronous_sink<StderrBackend, sinks::bounded_fifo_queue<queue_capacity, CountingDropOnOverflow>>;

boost::shared_ptr<Sink>& the_sink() {
    static boost::shared_ptr<Sink> sink;
    return sink;
}

/// The writer: our own thread running the sink's feeding loop (not the sink's dedicated boost::thread),
/// so that the child of a fork, which has no such thread, can let go of it instead of joining it.
struct Writer {
    std::thread thread;
    pid_t owner = 0;  // the process that started it
};
Writer& the_writer() {
    static Writer writer;
    return writer;
}

std::mutex& setup_mutex() {
    static std::mutex m;
    return m;
}

/// At exit: write what is queued for at most a moment, then stop and join the writer. Registered after
/// Boost.Log's core exists, so it runs before the core (and the sink in it) is destroyed.
void stop_sink_at_exit() {
    boost::shared_ptr<Sink> sink;
    {
        const std::lock_guard lock(setup_mutex());
        sink = the_sink();
    }
    if (!sink) return;
    Writer& writer = the_writer();
    if (::getpid() != writer.owner) {
        // The child of a fork: the writer thread was the parent's and does not exist here. Waiting for it
        // (flush) or joining it would hang the exit; what the child queued is lost.
        if (writer.thread.joinable()) writer.thread.detach();
        return;
    }
    give_up_at_ns = steady_ns() + std::chrono::nanoseconds(std::chrono::milliseconds(250)).count();
    sink->flush();
    sink->stop();  // ends the feeding loop, whose writes give up at the deadline
    if (writer.thread.joinable()) writer.thread.join();
    // The sink stays registered, stopped: a record made later (by a static destructor) is queued and lost
    // rather than sent to Boost.Log's default sink on stdout, which a core without sinks would use.
}

void add_sink() {
    namespace expr = logging::expressions;
    logging::add_common_attributes();
    // The writer thread takes the signal mask of the thread that creates it: it blocks every signal, so
    // that a SIGPIPE from its write (the program did not ignore it) fails the write instead of killing
    // the process, and so that the process's signals go to the threads that wait for them.
    // The mask is put back however make_shared ends (no thread to be had throws): left fully blocked, the
    // calling thread (often the loop's) would never see SIGINT/SIGTERM again.
    struct BlockAllSignals {
        sigset_t old{};
        BlockAllSignals() {
            sigset_t all;
            sigfillset(&all);
            pthread_sigmask(SIG_SETMASK, &all, &old);
        }
        ~BlockAllSignals() { pthread_sigmask(SIG_SETMASK, &old, nullptr); }
        BlockAllSignals(const BlockAllSignals&) = delete;
        BlockAllSignals& operator=(const BlockAllSignals&) = delete;
    };
    auto sink = boost::make_shared<Sink>(boost::make_shared<StderrBackend>(), /*start_thread=*/false);
    {
        const BlockAllSignals blocked;
        the_writer().thread = std::thread([sink] { sink->run(); });
        the_writer().owner = ::getpid();
    }
    sink->set_formatter(expr::stream << expr::format_date_time<boost::posix_time::ptime>("TimeStamp", "%H:%M:%S.%f")
                                     << " [" << logging::trivial::severity << "] " << expr::smessage);
    logging::core::get()->add_sink(sink);
    the_sink() = sink;
    std::atexit(stop_sink_at_exit);
}

}  // namespace

namespace detail {

bool install_log_sink() noexcept {
    try {
        const std::lock_guard lock(setup_mutex());
        if (!the_sink()) {
            add_sink();
            logging::core::get()->set_filter(logging::trivial::severity >= LogLevel::warning);
        }
    } catch (...) {
        // No sink (out of memory or threads at start-up): records go nowhere rather than fail the caller.
    }
    return true;
}

}  // namespace detail

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
    detail::ignore_sigpipe_once();
    const std::lock_guard lock(setup_mutex());
    if (!the_sink()) add_sink();
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

std::uint64_t dropped_log_records() noexcept { return dropped_total.load(std::memory_order_relaxed); }

bool flush_log(std::chrono::milliseconds limit) noexcept {
    // asynchronous_sink::flush() has no deadline of its own: bound it by making the writer give up on
    // stderr at the deadline, then lift that again (unless exit set an earlier one meanwhile).
    boost::shared_ptr<Sink> sink;
    {
        const std::lock_guard lock(setup_mutex());
        sink = the_sink();
    }
    if (!sink) return true;
    const std::int64_t deadline = steady_ns() + std::chrono::nanoseconds(limit).count();
    std::int64_t expected = 0;
    const bool set_here = give_up_at_ns.compare_exchange_strong(expected, deadline);
    try {
        sink->flush();
    } catch (...) {
    }
    const bool in_time = steady_ns() < deadline;
    if (set_here) {
        expected = deadline;
        give_up_at_ns.compare_exchange_strong(expected, 0);
    }
    return in_time;
}

}  // namespace weft
