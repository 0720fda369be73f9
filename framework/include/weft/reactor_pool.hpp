#pragma once
// ReactorPool: n reactors on n threads, a reactor per core (muduo: EventLoopThreadPool; seastar's
// shared-nothing). docs/reactor-pool.md.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "weft/address.hpp"
#include "weft/endpoint.hpp"
#include "weft/factory.hpp"
#include "weft/listening_port.hpp"
#include "weft/reactor.hpp"
#include "weft/time.hpp"

namespace weft {

class TlsContext;
namespace detail {
class PoolListeners;
}

/// How ReactorPool::listen spreads connections over the reactors.
enum class PoolListenStrategy {
    /// reuse_port for tcp:, tcp6: and ssl: endpoints, acceptor for the others (unix:, fd:, systemd:).
    automatic,
    /// Each reactor listens on its own SO_REUSEPORT socket bound to the same port; the kernel hashes each
    /// new connection (by its addresses and ports) to one of them. No thread hands anything over, but the
    /// balance is the hash's: a few connections may land unevenly, and a reactor that is busy still gets its
    /// share. TCP only: a UNIX socket (or an inherited one) is a single socket.
    reuse_port,
    /// One socket, accepted on reactor 0, each accepted socket handed round-robin (next()) to a reactor,
    /// which builds the connection on its own thread. An even spread and any kind of socket, at the cost of
    /// one accept thread and one cross-thread hand-off per connection.
    acceptor,
};

/// What ReactorPool::listen started: one listening port per reactor (reuse_port) or one on reactor 0
/// (acceptor). Each port belongs to its reactor's thread. Release it before the pool is destroyed.
class PoolPort {
public:
    /// Made by ReactorPool::listen.
    PoolPort(PoolListenStrategy strategy, std::vector<std::shared_ptr<ListeningPort>> ports,
             std::vector<std::shared_ptr<TlsContext>> tls_contexts)
        : strategy_(strategy), ports_(std::move(ports)), tls_contexts_(std::move(tls_contexts)) {}

    /// The strategy used (automatic resolved to reuse_port or acceptor).
    [[nodiscard]] PoolListenStrategy strategy() const noexcept { return strategy_; }
    /// The port every socket of it is bound to (the one the system picked for port 0).
    [[nodiscard]] std::uint16_t port() const { return ports_.front()->port(); }
    /// The bound address (a UNIX socket's path for unix:).
    [[nodiscard]] Address address() const { return ports_.front()->address(); }
    /// reuse_port: ports()[i] listens on the pool's reactor i; acceptor: one port, on reactor 0.
    [[nodiscard]] const std::vector<std::shared_ptr<ListeningPort>>& ports() const noexcept { return ports_; }
    /// ssl: endpoints: one context per reactor, tls_contexts()[i] used on reactor i's thread only (a
    /// TlsContext is single-threaded); reload each there (Reactor::call_from_thread). Empty otherwise.
    [[nodiscard]] const std::vector<std::shared_ptr<TlsContext>>& tls_contexts() const noexcept {
        return tls_contexts_;
    }

private:
    PoolListenStrategy strategy_;
    std::vector<std::shared_ptr<ListeningPort>> ports_;
    std::vector<std::shared_ptr<TlsContext>> tls_contexts_;
};

/// How a ReactorPool runs its reactors.
struct ReactorPoolOptions {
    /// Reactor 0 handles the signals of Reactor::run(true) for the whole pool: SIGINT, SIGTERM, SIGHUP and
    /// SIGQUIT stop every reactor (a second SIGINT/SIGTERM: stop_now()); at(0).on_signal() takes others.
    bool handle_signals = true;
    /// Each reactor's shutdown timeout (Reactor::set_shutdown_timeout): join() after stop() is bounded by it
    /// (plus the threads' last turns).
    Duration shutdown_timeout = std::chrono::seconds(10);
};

/// n reactors, each run by a thread of its own (the thread that calls start() runs none of them).
///
/// Contract:
/// - Each reactor is a whole Reactor with its own loop, read buffer, write scratch, timers and connection
///   registry; nothing of the per-message path is shared between them and nothing there takes a lock.
///   A connection lives on one reactor: all its callbacks run on that reactor's thread.
/// - Work goes to another reactor with at(i).call_from_thread(fn) or next().call_from_thread(fn)
///   (thread-safe; the functions posted to one reactor run in the order they were posted).
/// - listen(), and anything else on at(i), before start() or after join(): the reactors are not running
///   then and the calling thread may use them. Once started, touch reactor i only from its own thread
///   (call_from_thread to get there).
/// - start() returns once every reactor runs. stop() and stop_now() may be called from any thread (a pool
///   thread's callback included) and from a signal (handle_signals); each reactor shuts down as
///   Reactor::stop says, bounded by its shutdown timeout. join() waits for every thread and rethrows the
///   first exception that escaped a reactor's run() (which also stops the pool).
/// - Destroying a running pool stops it and joins. Ports from listen() must be released before.
class ReactorPool {
public:
    /// `n` reactors (n >= 1; std::invalid_argument otherwise).
    explicit ReactorPool(std::size_t n, ReactorPoolOptions options = {});
    ~ReactorPool();
    ReactorPool(const ReactorPool&) = delete;
    ReactorPool& operator=(const ReactorPool&) = delete;

    /// The number of reactors.
    [[nodiscard]] std::size_t size() const noexcept { return reactors_.size(); }
    /// Reactor `i` (0 <= i < size(); std::out_of_range otherwise).
    [[nodiscard]] Reactor& at(std::size_t i) { return *reactors_.at(i); }
    /// The next reactor in round-robin order. Thread-safe.
    Reactor& next() noexcept;
    /// The index of the reactor whose thread calls this, or nullopt on any other thread.
    [[nodiscard]] std::optional<std::size_t> current() const noexcept;

    /// Listens on `endpoint` with every reactor (strategy: PoolListenStrategy). The factory's
    /// build_protocol runs on the thread of the reactor that serves the connection, so on several threads
    /// at once: whatever it and its protocols share must be safe to use from those threads (or be per
    /// reactor: current() says which). start_factory runs here, stop_factory once the last port stopped
    /// (on that port's thread). Call while the pool is not running (StateError otherwise). Throws what
    /// listen_on throws (BindError, EndpointError for udp:), and Error for reuse_port with an endpoint
    /// that is not TCP.
    std::shared_ptr<PoolPort> listen(const ServerEndpoint& endpoint, Factory& factory,
                                     PoolListenStrategy strategy = PoolListenStrategy::automatic);
    /// parse_server_endpoint, then the above.
    std::shared_ptr<PoolPort> listen(std::string_view description, Factory& factory,
                                     PoolListenStrategy strategy = PoolListenStrategy::automatic);

    /// Starts one thread per reactor, each running it; returns once all run. StateError if running.
    void start();
    /// Begins every reactor's orderly shutdown. Any thread; does nothing when not running.
    void stop();
    /// Every reactor shuts down now (Reactor::stop_now). Any thread; does nothing when not running.
    void stop_now();
    /// Waits for every thread to end (after stop(), or a signal). Not from a pool thread (StateError).
    void join();
    /// start(), then join(): runs until stopped or signalled.
    void run();
    /// Between start() and the end of join().
    [[nodiscard]] bool running() const noexcept { return started_.load(); }

private:
    std::size_t next_index() noexcept;
    void run_reactor(std::size_t i);
    void signalled(int signo);

    ReactorPoolOptions options_;
    // listen()'s per-reactor factories and per-factory port counts: they outlive the reactors' handlers.
    std::unique_ptr<detail::PoolListeners> listeners_;
    std::vector<std::unique_ptr<Reactor>> reactors_;
    std::vector<std::thread> threads_;
    std::unique_ptr<std::atomic<std::thread::id>[]> thread_ids_;  // [i]: the thread running reactor i, while it runs
    std::atomic<std::size_t> next_{0};
    std::atomic<bool> started_{false};
    std::atomic<bool> stopping_{false};
    std::mutex failure_mutex_;
    std::exception_ptr failure_;
};

}  // namespace weft
