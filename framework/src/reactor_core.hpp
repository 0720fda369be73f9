#pragma once
// ReactorCore: the reactor's private state, shared by the transports, ports and connectors.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdlib>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "socket_types.hpp"
#include "timer_queue.hpp"
#include "stream/edge_poller.hpp"
#include "stream/live_transport.hpp"
#include "stream/write_scratch.hpp"
#include "weft/log.hpp"
#include "weft/listening_port.hpp"
#include "weft/reactor.hpp"
#include "weft/resolver.hpp"
#include "weft/thread_pool.hpp"

namespace weft::detail {

namespace asio = boost::asio;

class ConnectorBase;
class ProcessImpl;
struct UdpBuffers;

/// Runs `fn`, logging instead of propagating an exception: the reactor must outlive any callback's bug.
template <class F>
bool run_guarded(const char* what, F&& fn) noexcept {
    try {
        std::forward<F>(fn)();
        return true;
    } catch (const std::exception& e) {
        WEFT_LOG(error) << what << " threw: " << e.what();
    } catch (...) {
        WEFT_LOG(error) << what << " threw a non-std exception";
    }
    return false;
}

struct Lingerer;

// Debug builds check at the transports' entry points that they run on the loop thread (muduo's
// assertInLoopThread): a call from another thread is a data race that would otherwise corrupt quietly.
// Before run() and after it returns, the thread that owns the reactor may call in.
#ifdef NDEBUG
#define WEFT_ASSERT_IN_LOOP(core) static_cast<void>(0)
#else
#define WEFT_ASSERT_IN_LOOP(core) ::weft::detail::assert_in_loop((core), __func__)
#endif

/// The lingering sockets, shared with them so that one outliving the core (an adopted io_context) touches
/// nothing of it: the core clears `on_idle` when it goes.
struct LingerCount {
    std::size_t sockets = 0;
    std::function<void()> on_idle;
    std::unordered_set<Lingerer*> live;  // so that a shutdown that cannot wait closes them all
    /// Closes every lingering socket now (their handlers then end them on a later turn).
    void close_all();
};

/// Whether run() runs, for threads waiting in blocking_call_from_thread: they give up when a run ends.
struct RunState {
    std::mutex mutex;
    std::condition_variable changed;
    bool running = false;
    std::uint64_t runs = 0;  // run() calls that ended
};

class ReactorCore {
public:
    explicit ReactorCore(asio::io_context* adopted);
    ~ReactorCore();

    asio::io_context& io() noexcept { return *io_; }
    TimePoint now() const noexcept { return std::chrono::time_point_cast<Duration>(Clock_t::now()); }

    ReactorStats stats;
    /// Records of protocol callbacks that threw (one per connection a peer can make throw): rate-limited.
    LogRateLimiter callback_error_log{std::chrono::seconds(1)};

    // -- timers ------------------------------------------------------------------------------------
    std::shared_ptr<TimerQueue> timers;
    DelayedCall call_later(Duration delay, std::function<void()> fn) { return timers->schedule(delay, std::move(fn)); }

    // -- the read buffer every connection reads into: idle connections own none -------------------
    static constexpr std::size_t read_buffer_size = 64 * 1024;
    char* read_buffer() noexcept { return read_buffer_.get(); }

    // -- readiness of the stream sockets: Asio's (re-armed per wait), or weft's own edge-triggered epoll
    // instance (registered once, the default), chosen by WEFT_POLLER=asio|epoll (docs/architecture.md,
    // "Readiness").
    // With the poller, stream sockets live on a context nobody runs (socket_context()): Asio still opens,
    // configures and closes them, but never waits on them, so it never re-arms them.
    EdgePoller* poller() noexcept { return poller_.get(); }
    asio::io_context& socket_context() noexcept { return socket_context_ ? *socket_context_ : *io_; }

    // -- the plaintext buffer TLS connections decrypt into: allocated by the first one --------------
    static constexpr std::size_t tls_buffer_size = 64 * 1024;
    char* tls_buffer() {
        if (!tls_buffer_) tls_buffer_ = std::make_unique<char[]>(tls_buffer_size);
        return tls_buffer_.get();
    }
    // -- the arrays of batched datagram calls (recvmmsg, sendmmsg), made when a UDP port first needs them
    UdpBuffers& udp_buffers();

    // -- what the connection inside data_received writes: sent when the callback returns ------------
    WriteScratch write_scratch;

    // -- live transports (every kind), ports, connectors -------------------------------------------
    std::uint64_t next_connection_id() noexcept { return ++last_connection_id_; }
    /// From connection_made until connection_lost was delivered, the reactor holds the transport.
    void add(std::shared_ptr<LiveTransport> t) { transports_.insert(std::move(t)); }
    void remove(const std::shared_ptr<LiveTransport>& t);
    std::size_t connection_count() const noexcept { return transports_.size(); }
    /// UDP ports, held from listen_udp until they stop; shutdown stops them (stop_protocol) with the
    /// listening ports. They are not connections: connection_count() leaves them out.
    void add_udp(std::shared_ptr<LiveTransport> p) { udp_ports_.insert(std::move(p)); }
    void remove_udp(const std::shared_ptr<LiveTransport>& p) { udp_ports_.erase(p); }
    /// Listening ports are closed when shutdown begins.
    void add_port(const std::shared_ptr<ListeningPort>& p) { ports_.push_back(p); }
    /// A connector is kept from connect() until it is disconnected again and its factory heard so; a
    /// retry it scheduled then holds it on its own, so shutdown never waits for a retry.
    void keep(const std::shared_ptr<ConnectorBase>& c) { connectors_.insert(c); }
    void release(const std::shared_ptr<ConnectorBase>& c);
    /// Child processes live here from spawn_process until process_ended; a reactor destroyed before that
    /// closes their pipes and pidfds and calls nothing back (the children are left running).
    void add_process(std::shared_ptr<ProcessImpl> p) { processes_.insert(std::move(p)); }
    void remove_process(const std::shared_ptr<ProcessImpl>& p) { processes_.erase(p); }
    /// A socket whose connection has ended for its protocol, kept open only to read and discard what the
    /// peer still sends, so that closing with unread input does not reset the connection and destroy
    /// output we already handed to the kernel (a "lingering close").
    /// Takes ownership of `fd`, a stream socket whose write side the caller already shut down.
    void linger(int fd);
    /// Queues a connection's flush for the end of this turn. All connections written to in one turn are
    /// flushed by one posted handler, so a broadcast to N clients costs one handler, not N.
    void schedule_flush(std::shared_ptr<LiveTransport> transport);

    // -- life cycle ---------------------------------------------------------------------------------
    void run(bool handle_signals);
    void stop();
    /// Shutdown "now" (a second SIGINT/SIGTERM): stop waiting for triggers, abort every connection still
    /// flushing and close the lingering sockets. Begins the shutdown first if it had not begun.
    void stop_now();
    /// Takes `signo` over while run() handles signals (`fn` empty: the default again).
    void on_signal(int signo, std::function<void()> fn);
    bool running() const noexcept { return running_.load(); }
    bool in_loop_thread() const noexcept { return loop_thread_ == std::this_thread::get_id(); }
    bool shutting_down() const noexcept { return phase_ != Phase::running && phase_ != Phase::idle; }
    /// What run(true) handles unless the application took them over (docs/architecture.md, signals).
    static constexpr int default_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    Duration shutdown_timeout = std::chrono::seconds(10);
    Duration linger_timeout = std::chrono::seconds(2);
    Duration disconnect_timeout = std::chrono::seconds(30);

    // -- threads and name resolution (issue 13) --------------------------------------------------------
    Reactor* owner = nullptr;  // the public face, which the pool and the default resolver work through
    std::shared_ptr<RunState> run_state = std::make_shared<RunState>();
    ThreadPoolOptions thread_pool_options;
    std::unique_ptr<ThreadPool> thread_pool;  // made on first use; joined first thing in ~Reactor
    std::shared_ptr<Resolver> resolver;       // made on first use (ThreadedResolver) unless set

    void call_when_running(std::function<void()> fn);
    Reactor::TriggerId add_trigger(TriggerPhase phase, SystemEvent event,
                                   std::function<void(std::function<void()>)> fn);
    bool remove_trigger(Reactor::TriggerId id);

private:
    enum class Phase { idle, running, before_shutdown, during_shutdown, after_shutdown };
    struct Trigger {
        Reactor::TriggerId id;
        TriggerPhase phase;
        SystemEvent event;
        std::function<void(std::function<void()>)> fn;
    };

    void arm_timer(TimePoint deadline);
    void on_timer();
    /// Runs the triggers of (phase, event); calls `next` once each reported done or the timeout passed.
    void fire(TriggerPhase phase, SystemEvent event, std::function<void()> next, bool bounded);
    void begin_during_shutdown();
    void wait_for_signal();
    void signal_received(int signo);
    /// Aborts every connection and closes every lingering socket: the shutdown timeout passed, or stop_now().
    void abort_remaining(const char* why);
    void maybe_finish_during_shutdown();
    void finish_shutdown();

    // Declared first, destroyed last: the transports that die with owned_'s pending handlers still close
    // their sockets (bound to socket_context_) and leave the poller.
    std::unique_ptr<asio::io_context> socket_context_;
    std::unique_ptr<EdgePoller> poller_;
    std::unique_ptr<asio::io_context> owned_;
    asio::io_context* io_;
    std::unique_ptr<char[]> read_buffer_;
    std::unique_ptr<char[]> tls_buffer_;
    asio::steady_timer timer_;
    std::optional<TimePoint> armed_;
    std::uint64_t last_connection_id_ = 0;
    std::unordered_set<std::shared_ptr<LiveTransport>> transports_;
    std::unordered_set<std::shared_ptr<LiveTransport>> udp_ports_;
    std::unique_ptr<UdpBuffers> udp_buffers_;
    std::vector<std::weak_ptr<ListeningPort>> ports_;
    std::unordered_set<std::shared_ptr<ConnectorBase>> connectors_;
    std::unordered_set<std::shared_ptr<ProcessImpl>> processes_;
    std::shared_ptr<LingerCount> lingering_ = std::make_shared<LingerCount>();
    std::vector<std::shared_ptr<LiveTransport>> flush_queue_;
    std::vector<std::shared_ptr<LiveTransport>> flush_batch_;  // the queue being run; kept for its capacity
    bool flush_posted_ = false;

    std::atomic<bool> running_{false};
    std::atomic<bool> stop_requested_{false};
    std::atomic<std::thread::id> loop_thread_{};
    Phase phase_ = Phase::idle;
    std::vector<Trigger> triggers_;
    Reactor::TriggerId last_trigger_id_ = 0;
    std::vector<std::function<void()>> when_running_;
    std::optional<asio::signal_set> signals_;
    std::map<int, std::function<void()>> signal_hooks_;
    std::map<int, struct sigaction> saved_actions_;  // each watched signal's disposition before run()
    std::vector<int> defaults_watched_;              // the default signals run() watches (not a nohup SIGHUP)
    /// Watches `signo` in signals_, first saving its disposition so that it can be given back.
    void watch_signal(int signo);
    /// Stops watching `signo` and gives it back the disposition it had before.
    void unwatch_signal(int signo);
    /// Gives every watched signal back its disposition from before run() (Asio leaves SIG_DFL).
    void restore_signals();
    bool hurry_ = false;                 // stop_now() was called: nothing more is waited for
    std::function<void()> cut_wait_;     // ends the current bounded wait for triggers at once
    DelayedCall shutdown_timer_;
    bool during_triggers_done_ = false;
    bool pool_idle_ = true;  // the pool has no job left to wait for during shutdown
    /// The shutdown cannot wait for the pool any longer: drop its queue, log what still runs.
    void give_up_on_pool(const char* why);
};

/// A transport's entry point was called off the loop thread while the reactor runs: a bug in the caller.
inline void assert_in_loop(const ReactorCore& core, const char* where) noexcept {
    if (!core.running() || core.in_loop_thread()) return;
    WEFT_LOG(fatal) << where << " called from a thread that does not run the reactor (use call_from_thread)";
    flush_log();
    std::abort();
}

}  // namespace weft::detail
