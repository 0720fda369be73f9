#pragma once
// Reactor: the event loop (Twisted: the reactor), wrapping one boost::asio::io_context.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "weft/client_factory.hpp"
#include "weft/datagram_protocol.hpp"
#include "weft/connector.hpp"
#include "weft/factory.hpp"
#include "weft/listening_port.hpp"
#include "weft/process_options.hpp"
#include "weft/reactor_network.hpp"
#include "weft/reactor_time.hpp"
#include "weft/udp_transport.hpp"

namespace boost::asio {
class io_context;
}

namespace weft {

namespace detail {
class ReactorCore;
}
class ProcessProtocol;
class ProcessTransport;
class Resolver;
class ThreadPool;
struct ThreadPoolOptions;

/// The two system events (Twisted: "startup", "shutdown").
enum class SystemEvent { startup, shutdown };
/// When a trigger runs relative to the event (Twisted: "before", "during", "after").
enum class TriggerPhase { before, during, after };

/// Counters of the reactor's system calls on connections, for tests and benchmarks.
struct ReactorStats {
    std::uint64_t read_calls = 0;   ///< read_some() on connection sockets
    std::uint64_t write_calls = 0;  ///< gather-writes (sendmsg) on connection sockets
    std::uint64_t accepted = 0;     ///< connections accepted
    std::uint64_t accept_errors = 0;  ///< failed accepts (EMFILE, ECONNABORTED, ...)
    std::uint64_t datagram_receive_calls = 0;  ///< recvmmsg calls on UDP ports (up to 64 datagrams each)
    std::uint64_t datagram_send_calls = 0;     ///< sendmmsg calls on UDP ports (up to 64 datagrams each)
};

/// The event loop. One thread runs it; every callback of every protocol, factory, timer and trigger runs
/// on that thread. The only calls allowed from other threads are call_from_thread() and stop().
///
/// Contract:
/// - run() fires the startup triggers, runs until stop() (or a shutdown signal when signal handling is
///   on), then fires the shutdown triggers: "before" triggers may hold shutdown until they report done
///   (bounded by shutdown_timeout); "during", weft stops listening and loses every connection, letting each
///   flush its output for at most shutdown_timeout before it is aborted (lingering closes end then too),
///   so connection_lost runs for every live connection, and waits for the thread pool's jobs within the
///   same bound (thread_pool() says what happens to one still running); "after" triggers run last; then
///   run() returns.
///   stop_now() during that sequence stops waiting: whatever is still flushing is aborted at once.
/// - Signals, when run(true) handles them (docs/architecture.md has the table): SIGINT, SIGTERM, SIGHUP and
///   SIGQUIT begin the orderly shutdown (stop()); a SIGINT or SIGTERM during the shutdown means "now"
///   (stop_now()), while SIGHUP and SIGQUIT then change nothing; SIGUSR1 and SIGUSR2 are logged and
///   otherwise ignored. A SIGHUP already ignored when run() starts (nohup) stays ignored. on_signal()
///   takes any of them (or another) over. When run() returns, every signal it watched gets back the
///   disposition it had before. Whatever the signals, weft ignores SIGPIPE for the process from the first Reactor
///   (or init_logging) on: a write to a pipe whose reader has gone fails with EPIPE instead of killing.
/// - Stream sockets (TCP, UNIX) learn when to read and write from an edge-triggered epoll instance of the
///   reactor's own, where each socket is registered once; the environment variable WEFT_POLLER=asio, read
///   when the reactor is made, gives Asio's readiness instead, as does an adopted io_context, and so does a
///   reactor made when the descriptors for its epoll instance run out (it logs a warning). A program that
///   forks without exec does so before it makes a reactor (docs/architecture.md, "Readiness").
/// - call_soon() runs on a later loop turn, in FIFO order, never inside the caller.
/// - An exception escaping any callback is logged; the reactor carries on.
/// - Destroying a reactor that is not running calls no factory back and delivers no connection_lost:
///   call stop() and let run() return for an orderly end. Protocols still alive are destroyed with it.
///   The ListeningPort and Connector handles it returned hold its sockets and timers: release them before
///   the reactor is destroyed (declare them after it).
///   With an adopted io_context, destroy the reactor only once that context will not run weft's pending
///   handlers any more (it has stopped for good, or run() returned after an orderly shutdown).
class Reactor final : public ReactorTime, public ReactorNetwork {
public:
    /// A reactor with its own io_context.
    Reactor();
    /// A reactor on an existing io_context, so weft fits into an Asio program: other Asio work on the
    /// context runs alongside. run() runs the context; stop() stops it.
    explicit Reactor(boost::asio::io_context& context);
    ~Reactor() override;
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    /// The io_context the loop runs (its own, or the one given); for Asio objects that should run on the
    /// reactor's thread. Valid as long as the reactor.
    [[nodiscard]] boost::asio::io_context& context() noexcept;

    /// Runs the loop until stopped and shut down. With handle_signals, the signals of the contract above
    /// are handled while it runs (and given back the disposition they had before when it returns).
    void run(bool handle_signals = true);
    /// Begins an orderly shutdown. Callable from any thread and from callbacks. Throws ReactorNotRunning
    /// when called on the reactor's own thread while it is not running; idempotent while shutting down.
    void stop();
    /// Shuts down now (nginx's fast shutdown; what a second SIGTERM does): begins the shutdown if it had
    /// not begun, stops waiting for shutdown triggers, aborts every connection still flushing and closes
    /// lingering sockets; connection_lost and the "after" triggers still run. Same threading as stop().
    void stop_now();
    /// Runs `fn` on the loop thread each time `signo` arrives while run(true) runs, instead of the
    /// default action above (an empty `fn` restores it). Call before run() or on the loop thread
    /// (StateError otherwise).
    /// Example: weft-chat logs its statistics on SIGUSR1.
    void on_signal(int signo, std::function<void()> fn);
    /// True from the start of run() until it returns, shutdown included. Callable from any thread.
    [[nodiscard]] bool running() const noexcept;

    /// Bound of each wait during shutdown (before-triggers, flushing connections and lingering closes,
    /// after-triggers). Default 10 s.
    void set_shutdown_timeout(Duration timeout) noexcept;
    /// How long lose_connection() may take to flush before the connection is aborted (a peer that never
    /// reads cannot hold a closing connection longer). Default 30 s.
    void set_disconnect_timeout(Duration timeout) noexcept;

    // ReactorTime
    [[nodiscard]] double seconds() const override;
    [[nodiscard]] TimePoint now() const override;
    using ReactorTime::call_later;
    DelayedCall call_later(Duration delay, std::function<void()> fn) override;
    [[nodiscard]] std::vector<DelayedCall> pending_calls() const override;

    /// Runs `fn` on the next loop turn (FIFO).
    void call_soon(std::function<void()> fn);
    /// Thread-safe: runs `fn` on the reactor thread, waking the loop.
    void call_from_thread(std::function<void()> fn);
    /// Runs `fn` once the reactor is running (at once on the next turn if it already is).
    void call_when_running(std::function<void()> fn);

    /// Names a trigger for remove_system_event_trigger.
    using TriggerId = std::uint64_t;
    /// Runs `fn` at `phase` of `event`.
    TriggerId add_system_event_trigger(TriggerPhase phase, SystemEvent event, std::function<void()> fn);
    /// Like add_system_event_trigger, but the event waits until `fn` calls the `done` it is given. For
    /// the shutdown event the wait is bounded by shutdown_timeout; startup waits as long as it takes.
    /// This is how a "before shutdown" trigger holds shutdown.
    TriggerId add_async_system_event_trigger(TriggerPhase phase, SystemEvent event,
                                             std::function<void(std::function<void()> done)> fn);
    /// Removes a trigger; returns false if there was no such trigger.
    bool remove_system_event_trigger(TriggerId id);

    // ReactorNetwork (reactor_network.hpp has the contracts)
    std::shared_ptr<ListeningPort> listen_tcp(std::uint16_t port, Factory& factory, ListenOptions options = {}) override;
    std::shared_ptr<Connector> connect_tcp(std::string host, std::uint16_t port, ClientFactory& factory,
                                           ConnectOptions options = {}) override;
    std::shared_ptr<ListeningPort> listen_unix(std::string path, Factory& factory, UnixListenOptions options = {}) override;
    std::shared_ptr<Connector> connect_unix(std::string path, ClientFactory& factory,
                                            UnixConnectOptions options = {}) override;
    std::shared_ptr<ListeningPort> adopt_stream_port(int fd, SocketFamily family, Factory& factory) override;

    /// Starts `executable` as a child process talking to `protocol` (Twisted: spawnProcess), which the
    /// process owns and destroys after process_ended. `args` is the whole argv, args[0] included (empty:
    /// {executable}); an executable without a '/' is looked for in the parent's PATH. `options` gives the
    /// environment, the working directory and the child's descriptors (default: stdin, stdout and stderr
    /// as pipes; the child inherits no other descriptor). Never blocks the loop: the child is started with
    /// posix_spawn, and a missing or non-executable program throws SpawnError at once, naming it and the
    /// reason. connection_made comes on a later turn. The returned transport is a handle that may be
    /// dropped: the reactor keeps the process until process_ended. During shutdown the process's pipes
    /// are closed (what is queued for its stdin is flushed first, within the shutdown timeout); the child
    /// is neither signalled nor waited for. See docs/processes.md.
    std::shared_ptr<ProcessTransport> spawn_process(std::unique_ptr<ProcessProtocol> protocol, std::string executable,
                                                    std::vector<std::string> args, ProcessOptions options = {});
    /// The same with a borrowed protocol, which must outlive process_ended (or the reactor).
    std::shared_ptr<ProcessTransport> spawn_process(ProcessProtocol& protocol, std::string executable,
                                                    std::vector<std::string> args, ProcessOptions options = {});

    /// Binds a UDP socket on `port` (0: the system picks; UdpOptions: interface, max_packet_size, ...)
    /// and attaches `protocol` (Twisted: listenUDP), which must outlive stop_protocol (or the reactor).
    /// start_protocol runs inside this call; datagrams come on later turns. The returned transport is a
    /// handle that may be dropped: the reactor holds the port until stop_listening() or its shutdown,
    /// which stops every UDP port (stop_protocol runs before the "after shutdown" triggers). Throws BindError
    /// (naming the address), Error (an option out of range), StateError (the protocol already serves a
    /// port). docs/udp.md.
    std::shared_ptr<UdpTransport> listen_udp(std::uint16_t port, DatagramProtocol& protocol, UdpOptions options = {});
    /// The same with a protocol the port owns; it is destroyed with the port after stop_protocol.
    std::shared_ptr<UdpTransport> listen_udp(std::uint16_t port, std::unique_ptr<DatagramProtocol> protocol,
                                             UdpOptions options = {});

    /// The reactor's thread pool (Twisted: reactor.getThreadPool()), made on first use with the sizes given
    /// to set_thread_pool_options (default: 0 to 10 threads, 1024 queued jobs). Call on the reactor's thread
    /// (or before run()). Shutdown ("during" phase) stops it taking jobs and waits for the queued and running
    /// ones, bounded by the shutdown timeout: then the queue is dropped and a job still running goes on on its
    /// thread, which ~Reactor joins. docs/threads.md.
    ThreadPool& thread_pool();
    /// Sizes the pool (made now or on first use); see ThreadPoolOptions.
    void set_thread_pool_options(const ThreadPoolOptions& options);
    /// Changes the pool's thread counts only.
    void set_thread_pool_size(std::size_t min_threads, std::size_t max_threads);
    /// thread_pool().call_in_thread(fn) (Twisted: reactor.callInThread).
    void call_in_thread(std::function<void()> fn);
    /// The name resolver connect_tcp uses (Twisted: reactor.nameResolver); by default a ThreadedResolver
    /// (getaddrinfo on the thread pool).
    Resolver& resolver();
    /// Replaces it (null: the default again). Attempts already resolving keep the old one.
    void set_resolver(std::shared_ptr<Resolver> resolver);

    /// Live transports: connections accepted and outgoing, of every kind (TCP, UNIX, stdio, processes).
    [[nodiscard]] std::size_t connection_count() const noexcept;
    /// The system-call counters since construction; read on the reactor thread.
    [[nodiscard]] const ReactorStats& stats() const noexcept;

    /// For weft's own classes.
    [[nodiscard]] detail::ReactorCore& core() noexcept { return *core_; }

private:
    std::unique_ptr<detail::ReactorCore> core_;
};

}  // namespace weft
