#include "weft/reactor.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <cstdlib>
#include <csignal>

#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>

#include "connector_base.hpp"
#include "process/process_impl.hpp"
#include "reactor_core.hpp"
#include "sigpipe.hpp"
#include "tcp_connector.hpp"
#include "tcp_port.hpp"
#include "udp/udp_buffers.hpp"
#include "udp/udp_port.hpp"
#include "unix/unix_connector.hpp"
#include "unix/unix_port.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"
#include "weft/resolver.hpp"
#include "weft/thread_pool.hpp"

namespace weft {
namespace detail {

ReactorCore::ReactorCore(asio::io_context* adopted)
    // weft's own context runs on one thread and its sockets and timers are used only there (other
    // threads may only post: call_from_thread, stop), so the reactor's per-descriptor locks are not
    // needed. The scheduler keeps its lock for those posts. An adopted context keeps its own hint.
    : owned_(adopted != nullptr ? nullptr : std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO)),
      io_(adopted != nullptr ? adopted : owned_.get()),
      read_buffer_(std::make_unique<char[]>(read_buffer_size)),
      timer_(*io_) {
    timers = std::make_shared<TimerQueue>([this] { return now(); }, [this](TimePoint t) { arm_timer(t); });
    const char* poller = std::getenv("WEFT_POLLER");
    const std::string_view choice = poller != nullptr ? poller : "";
    if (!choice.empty() && choice != "asio" && choice != "epoll") {
        WEFT_LOG(warning) << "WEFT_POLLER=" << choice << " is neither asio nor epoll: using the default";
    }
    if (choice == "asio") return;
    if (adopted != nullptr) {
        // Handlers left in a context that outlives the reactor may hold connections whose sockets live on
        // socket_context_ and in the poller, both gone with the reactor: adopted contexts keep Asio's.
        if (choice == "epoll") {
            WEFT_LOG(info) << "WEFT_POLLER=epoll: not for a reactor on an adopted io_context; using asio";
        }
        return;
    }
    try {
        socket_context_ = std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
        // Asio makes a context's reactor (an epoll instance, an eventfd and a timerfd) with its first socket.
        // Made now: made by the first accept instead, it threw at EMFILE and the port stopped accepting.
        { const asio::ip::tcp::socket make_reactor_now(*socket_context_); }
        poller_ = std::make_unique<EdgePoller>(*io_);
    } catch (const std::exception& e) {
        // Out of descriptors (EMFILE, ENFILE) or kernel memory (ENOMEM): Asio's readiness needs none of
        // what failed up front, so the reactor still works.
        WEFT_LOG(warning) << "the edge poller could not start (" << e.what() << "): using asio's readiness";
        poller_.reset();
        socket_context_.reset();
    }
}

ReactorCore::~ReactorCore() {
    thread_pool.reset();  // ~Reactor did it already; the jobs' results post to the context, still alive here
    // A reactor destroyed without stop() closes its sockets but calls nothing back: factories and
    // protocols' owners may already be gone. Connections are released after the context's pending
    // handlers (which hold references to them) were destroyed unrun.
    timer_.cancel();
    lingering_->on_idle = nullptr;
    // The calls that never ran go now, while the io_context lives: a connector's scheduled retry holds
    // the connector, whose socket must not outlive the context. The queue itself stays (emptied), so
    // that whatever the rest of this destruction cancels finds it.
    timers->drop_pending();
    for (const auto& p : udp_ports_) static_cast<UdpPort&>(*p).detach();
    udp_ports_.clear();
    for (const auto& p : processes_) p->detach();
    processes_.clear();
    // The waits the poller holds go before the context: they hold connections, which close their sockets.
    if (poller_) poller_->shutdown();
    if (owned_) owned_->stop();
}

// -- timers -----------------------------------------------------------------------------------------

void ReactorCore::arm_timer(TimePoint deadline) {
    if (armed_ && *armed_ <= deadline) return;
    armed_ = deadline;
    timer_.expires_at(std::chrono::time_point_cast<Clock_t::duration>(deadline));
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec == asio::error::operation_aborted) return;
        on_timer();
    });
}

void ReactorCore::on_timer() {
    armed_.reset();
    timers->run_due(now(), false);
    if (auto next = timers->next_deadline()) arm_timer(*next);
}

UdpBuffers& ReactorCore::udp_buffers() {
    if (!udp_buffers_) udp_buffers_ = std::make_unique<UdpBuffers>();
    return *udp_buffers_;
}

// -- connections ------------------------------------------------------------------------------------

void ReactorCore::schedule_flush(std::shared_ptr<LiveTransport> transport) {
    flush_queue_.push_back(std::move(transport));
    if (flush_posted_) return;
    flush_posted_ = true;
    asio::post(io(), [this] {
        flush_posted_ = false;
        std::swap(flush_queue_, flush_batch_);  // flushes may queue more (a yield): they go to the next turn
        for (const auto& c : flush_batch_) c->run_scheduled_flush();
        flush_batch_.clear();
    });
}

void ReactorCore::release(const std::shared_ptr<ConnectorBase>& c) {
    connectors_.erase(c);
    if (phase_ == Phase::during_shutdown) maybe_finish_during_shutdown();
}

void ReactorCore::remove(const std::shared_ptr<LiveTransport>& t) {
    transports_.erase(t);
    if (phase_ == Phase::during_shutdown) maybe_finish_during_shutdown();
}

/// Reads and discards until EOF, error or timeout, then closes. See ReactorCore::linger. Self-contained
/// (its own small buffer, a shared counter) so that it may outlive the reactor harmlessly.
struct Lingerer : std::enable_shared_from_this<Lingerer> {
    Lingerer(asio::io_context& io, int fd, std::shared_ptr<LingerCount> c)
        : socket(io, fd), timer(io), count(std::move(c)) {
        socket.non_blocking(true, ignored);  // without it Asio's synchronous read_some would poll: block
        ++count->sockets;
        count->live.insert(this);
    }
    ~Lingerer() {
        count->live.erase(this);
        if (--count->sockets == 0 && count->on_idle) count->on_idle();
    }
    void start(Duration timeout) {
        timer.expires_after(timeout);
        timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (!ec) self->socket.close(self->ignored);
        });
        drain();
    }
    void drain() {
        for (;;) {
            socket.read_some(asio::buffer(buffer), ignored);
            if (ignored == asio::error::would_block || ignored == asio::error::try_again) break;
            if (ignored) {  // EOF or error: done
                timer.cancel();
                socket.close(ignored);
                return;
            }
        }
        socket.async_wait(asio::posix::descriptor_base::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
            if (!ec) self->drain();
        });
    }
    // Any stream socket (TCP, UNIX): only read() and close() are used.
    asio::posix::basic_stream_descriptor<asio::io_context::executor_type> socket;
    asio::steady_timer timer;
    std::shared_ptr<LingerCount> count;
    std::array<char, 4096> buffer{};
    boost::system::error_code ignored;
};

void LingerCount::close_all() {
    // Closing cancels the lingerer's wait and timer; their handlers release it on a later turn.
    for (Lingerer* l : std::vector<Lingerer*>(live.begin(), live.end())) {
        l->timer.cancel();
        l->socket.close(l->ignored);
    }
}

void ReactorCore::linger(int fd) {
    try {
        std::make_shared<Lingerer>(io(), fd, lingering_)->start(linger_timeout);
    } catch (const std::exception& e) {
        // Out of memory or epoll refused the descriptor: close at once rather than not at all.
        WEFT_LOG(warning) << "lingering close failed (" << e.what() << "); closing at once";
        ::close(fd);
    }
}

// -- triggers ---------------------------------------------------------------------------------------

Reactor::TriggerId ReactorCore::add_trigger(TriggerPhase phase, SystemEvent event,
                                            std::function<void(std::function<void()>)> fn) {
    triggers_.push_back(Trigger{++last_trigger_id_, phase, event, std::move(fn)});
    return last_trigger_id_;
}

bool ReactorCore::remove_trigger(Reactor::TriggerId id) {
    auto it = std::find_if(triggers_.begin(), triggers_.end(), [id](const Trigger& t) { return t.id == id; });
    if (it == triggers_.end()) return false;
    triggers_.erase(it);
    return true;
}

void ReactorCore::fire(TriggerPhase phase, SystemEvent event, std::function<void()> next, bool bounded) {
    std::vector<Trigger> due;
    for (const auto& t : triggers_) {
        if (t.phase == phase && t.event == event) due.push_back(t);
    }
    // Shared countdown: `next` runs once, when every trigger reported done or when the timeout fires.
    struct Countdown {
        std::size_t left;
        std::function<void()> next;
        DelayedCall timeout;
        void done() {
            if (left == 0) return;
            if (--left == 0) finish();
        }
        void finish() {
            left = 0;
            if (timeout.active()) timeout.cancel();
            if (auto n = std::exchange(next, nullptr)) n();
        }
    };
    auto countdown = std::make_shared<Countdown>(Countdown{due.size() + 1, std::move(next), {}});
    if (bounded) {
        // stop_now() ends the wait at once.
        cut_wait_ = [weak = std::weak_ptr<Countdown>(countdown)] {
            if (auto c = weak.lock()) c->finish();
        };
    }
    if (bounded && !due.empty()) {
        // The timer keeps the countdown alive even if every trigger dropped its `done`. The cycle this
        // makes (countdown -> timeout -> its function -> countdown) ends when either side finishes, and
        // ~TimerQueue releases the functions of calls that never ran.
        countdown->timeout = call_later(shutdown_timeout, [countdown] {
            WEFT_LOG(warning) << "shutdown triggers did not finish within the shutdown timeout; carrying on";
            countdown->finish();
        });
    }
    for (auto& t : due) {
        auto once = std::make_shared<bool>(false);
        std::function<void()> done = [countdown, once] {
            if (std::exchange(*once, true)) return;
            countdown->done();
        };
        if (!run_guarded("system event trigger", [&] { t.fn(done); })) done();
    }
    // The +1: triggers that completed synchronously do not finish before all were started. In a hurry
    // (stop_now), the triggers were started but are not waited for.
    if (bounded && hurry_) {
        countdown->finish();
    } else {
        countdown->done();
    }
}

void ReactorCore::call_when_running(std::function<void()> fn) {
    if (phase_ == Phase::running) {
        asio::post(io(), [fn = std::move(fn)] { run_guarded("call_when_running", fn); });
    } else {
        when_running_.push_back(std::move(fn));
    }
}

// -- run and shutdown -------------------------------------------------------------------------------

void ReactorCore::run(bool handle_signals) {
    if (running_.exchange(true)) throw StateError("the reactor is already running");
    loop_thread_ = std::this_thread::get_id();
    // Whatever ends run() (an exception from foreign Asio work included), the reactor can run again.
    struct Reset {
        ReactorCore& core;
        ~Reset() {
            core.signals_.reset();
            core.restore_signals();
            core.hurry_ = false;
            core.cut_wait_ = nullptr;
            core.phase_ = Phase::idle;
            core.loop_thread_ = std::thread::id{};
            core.running_ = false;
            // Threads waiting in blocking_call_from_thread give up: nothing runs their calls now.
            std::lock_guard lock(core.run_state->mutex);
            core.run_state->running = false;
            ++core.run_state->runs;
            core.run_state->changed.notify_all();
        }
    } reset{*this};
    {
        std::lock_guard lock(run_state->mutex);
        run_state->running = true;
    }
    io().restart();
    auto guard = asio::make_work_guard(io());
    if (handle_signals) {
        // The signals a server commonly receives, so that none of them kills it abruptly (see reactor.hpp).
        // A SIGHUP ignored when run() starts stays ignored: that is how nohup asks a program to outlive
        // its terminal.
        signals_.emplace(io());
        for (const int signo : default_signals) {
            struct sigaction current {};
            if (signo == SIGHUP && signal_hooks_.count(signo) == 0 && sigaction(signo, nullptr, &current) == 0 &&
                current.sa_handler == SIG_IGN) {
                continue;
            }
            watch_signal(signo);
            defaults_watched_.push_back(signo);
        }
        for (const auto& [signo, fn] : signal_hooks_) watch_signal(signo);
        wait_for_signal();
    }
    asio::post(io(), [this] {
        phase_ = Phase::running;
        if (thread_pool) thread_pool->start();  // a previous run's shutdown stopped it
        WEFT_LOG(debug) << "reactor running";
        fire(TriggerPhase::before, SystemEvent::startup, [this] {
            fire(TriggerPhase::during, SystemEvent::startup, [this] {
                fire(TriggerPhase::after, SystemEvent::startup, [this] {
                    for (auto& fn : std::exchange(when_running_, {})) run_guarded("call_when_running", fn);
                }, false);
            }, false);
        }, false);
        if (stop_requested_.exchange(false)) stop();
    });
    io().run();
}

namespace {
bool is_shutdown_signal(int signo) { return signo == SIGINT || signo == SIGTERM || signo == SIGHUP || signo == SIGQUIT; }

std::string signal_name(int signo) {
    switch (signo) {
        case SIGINT: return "SIGINT";
        case SIGTERM: return "SIGTERM";
        case SIGHUP: return "SIGHUP";
        case SIGQUIT: return "SIGQUIT";
        case SIGUSR1: return "SIGUSR1";
        case SIGUSR2: return "SIGUSR2";
        default: return "signal " + std::to_string(signo);
    }
}
}  // namespace

void ReactorCore::watch_signal(int signo) {
    if (saved_actions_.count(signo) == 0) {
        struct sigaction old {};
        if (sigaction(signo, nullptr, &old) == 0) saved_actions_.emplace(signo, old);
    }
    boost::system::error_code ec;
    signals_->add(signo, ec);
    if (ec) WEFT_LOG(warning) << "cannot handle signal " << signo << ": " << ec.message();
}

void ReactorCore::unwatch_signal(int signo) {
    boost::system::error_code ec;
    signals_->remove(signo, ec);
    if (auto it = saved_actions_.find(signo); it != saved_actions_.end()) {
        sigaction(signo, &it->second, nullptr);
        saved_actions_.erase(it);
    }
}

void ReactorCore::restore_signals() {
    // After signals_ is gone: Asio set every signal it watched to SIG_DFL, which would make a SIGUSR1 the
    // parent had ignored fatal from now on.
    for (const auto& [signo, action] : saved_actions_) sigaction(signo, &action, nullptr);
    saved_actions_.clear();
    defaults_watched_.clear();
}

void ReactorCore::wait_for_signal() {
    signals_->async_wait([this](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        signal_received(signo);
        if (signals_) wait_for_signal();
    });
}

void ReactorCore::signal_received(int signo) {
    if (auto it = signal_hooks_.find(signo); it != signal_hooks_.end()) {
        WEFT_LOG(debug) << "received " << signal_name(signo) << "; running its handler";
        run_guarded("signal handler", it->second);
        return;
    }
    if (!is_shutdown_signal(signo)) {
        WEFT_LOG(info) << "received " << signal_name(signo) << "; ignored (no handler: Reactor::on_signal)";
        return;
    }
    if (shutting_down()) {
        // Only an operator's repeated "stop" means "now": a SIGHUP from a closing terminal or a SIGQUIT
        // during a graceful drain must not throw away what is still owed to clients.
        if (signo != SIGINT && signo != SIGTERM) {
            WEFT_LOG(info) << "received " << signal_name(signo) << " during shutdown; already shutting down";
            return;
        }
        WEFT_LOG(warning) << "received " << signal_name(signo)
                          << " during shutdown; aborting what is still flushing and stopping now";
        stop_now();
        return;
    }
    WEFT_LOG(info) << "received " << signal_name(signo) << "; shutting down";
    stop();
}

void ReactorCore::on_signal(int signo, std::function<void()> fn) {
    if (running_ && !in_loop_thread()) throw StateError("on_signal: call it before run() or on the loop thread");
    if (!fn) {
        signal_hooks_.erase(signo);
        // A signal run() does not watch by default (one it never handles, or a SIGHUP that nohup had
        // ignored) gets back the disposition it had before.
        if (signals_ && std::find(defaults_watched_.begin(), defaults_watched_.end(), signo) == defaults_watched_.end()) {
            unwatch_signal(signo);
        }
        return;
    }
    signal_hooks_[signo] = std::move(fn);
    if (signals_) watch_signal(signo);
}

void ReactorCore::stop_now() {
    if (!in_loop_thread()) {
        if (!running_) throw ReactorNotRunning();
        asio::post(io(), [this] { stop_now(); });
        return;
    }
    if (!running_) throw ReactorNotRunning();
    hurry_ = true;
    if (phase_ == Phase::running || phase_ == Phase::idle) stop();
    // On a later turn, as stop() does: cutting the wait runs the next shutdown phase's triggers and
    // aborting delivers connection_lost, neither of which may run inside the caller's stop_now().
    asio::post(io(), [this] {
        if (!running_) return;
        if (auto cut = std::exchange(cut_wait_, nullptr)) cut();
        if (phase_ == Phase::during_shutdown) abort_remaining("shutdown cut short");
    });
}

void ReactorCore::give_up_on_pool(const char* why) {
    if (pool_idle_ || !thread_pool) return;
    pool_idle_ = true;
    const auto dropped = thread_pool->drop_queued();
    const auto running = thread_pool->working();
    // A running job cannot be stopped safely: it goes on on its thread (its Deferred, if any, fires if the
    // reactor runs again) and ~Reactor joins that thread, waiting for it.
    WEFT_LOG(warning) << why << ": thread pool: " << dropped << " queued jobs dropped, " << running
                      << " still running (~Reactor waits for them)";
}

void ReactorCore::abort_remaining(const char* why) {
    give_up_on_pool(why);
    if (!transports_.empty()) {
        WEFT_LOG(warning) << why << ": aborting " << transports_.size()
                          << (transports_.size() == 1 ? " connection" : " connections") << " still flushing";
    }
    for (const auto& c : std::vector<std::shared_ptr<LiveTransport>>(transports_.begin(), transports_.end())) {
        c->shutdown(true);
    }
    if (lingering_->sockets != 0) {
        // Lingering closes only read and discard what a peer still sends: nothing of ours is lost.
        WEFT_LOG(debug) << why << ": closing " << lingering_->sockets << " lingering sockets";
        lingering_->close_all();
    }
    maybe_finish_during_shutdown();
}

void ReactorCore::stop() {
    if (!in_loop_thread()) {
        if (!running_) throw ReactorNotRunning();
        asio::post(io(), [this] { stop(); });
        return;
    }
    if (phase_ == Phase::idle) {
        if (!running_) throw ReactorNotRunning();
        stop_requested_ = true;  // stop() before the first turn: shut down right after start-up
        return;
    }
    if (phase_ != Phase::running) return;  // already shutting down
    phase_ = Phase::before_shutdown;
    WEFT_LOG(info) << "reactor shutting down (" << transports_.size() << " connections)";
    // On a later turn: the triggers must not run inside the caller's stop() (no re-entrancy).
    asio::post(io(), [this] {
        fire(TriggerPhase::before, SystemEvent::shutdown, [this] { begin_during_shutdown(); }, true);
    });
}

void ReactorCore::begin_during_shutdown() {
    if (phase_ != Phase::before_shutdown) return;  // stop_now() cut the before-triggers short already
    phase_ = Phase::during_shutdown;
    for (auto& weak : ports_) {
        if (auto p = weak.lock()) p->stop_listening();
    }
    ports_.clear();
    for (const auto& p : std::vector<std::shared_ptr<LiveTransport>>(udp_ports_.begin(), udp_ports_.end())) {
        p->shutdown(hurry_);
    }
    for (const auto& c : std::vector<std::shared_ptr<ConnectorBase>>(connectors_.begin(), connectors_.end())) {
        if (c->state() == Connector::State::connecting) c->stop_connecting();
    }
    // Every connection flushes and closes; the ones that cannot within the timeout are aborted. Either way
    // connection_lost runs for each before the "after" triggers.
    // In a hurry (stop_now() came first), nothing is flushed.
    for (const auto& c : std::vector<std::shared_ptr<LiveTransport>>(transports_.begin(), transports_.end())) {
        c->shutdown(hurry_);
    }
    if (hurry_) lingering_->close_all();
    if (thread_pool) {
        // Queued and running jobs are waited for (their Deferreds fire meanwhile), new ones refused.
        pool_idle_ = false;
        thread_pool->stop([this] {
            if (phase_ != Phase::during_shutdown || pool_idle_) return;
            pool_idle_ = true;
            maybe_finish_during_shutdown();
        });
        if (hurry_) give_up_on_pool("shutdown cut short");
    }
    lingering_->on_idle = [this] { maybe_finish_during_shutdown(); };
    // The timeout bounds the whole wait: connections still flushing are aborted and lingering closes
    // (otherwise bounded by linger_timeout) end too.
    shutdown_timer_ = call_later(shutdown_timeout, [this] { abort_remaining("shutdown timeout passed"); });
    during_triggers_done_ = false;
    fire(TriggerPhase::during, SystemEvent::shutdown, [this] {
        during_triggers_done_ = true;
        maybe_finish_during_shutdown();
    }, true);
}

void ReactorCore::maybe_finish_during_shutdown() {
    // The connections, their lingering closes (bounded by linger_timeout) and the "during" triggers
    // (which may be asynchronous) must all be done: returning from run() early would let the process
    // exit and reset sockets whose last output is still on its way.
    if (phase_ != Phase::during_shutdown || !transports_.empty() || !during_triggers_done_ ||
        lingering_->sockets != 0 || !pool_idle_) {
        return;
    }
    // Stopped or refused attempts report client_connection_failed on a later turn: wait for that too.
    for (const auto& c : connectors_) {
        if (c->state() == Connector::State::connecting) return;
    }
    lingering_->on_idle = nullptr;
    phase_ = Phase::after_shutdown;
    if (shutdown_timer_.active()) shutdown_timer_.cancel();
    fire(TriggerPhase::after, SystemEvent::shutdown, [this] { finish_shutdown(); }, true);
}

void ReactorCore::finish_shutdown() {
    WEFT_LOG(info) << "reactor stopped";
    io().stop();
}

}  // namespace detail

// -- Reactor: the public face -----------------------------------------------------------------------

Reactor::Reactor() : core_(std::make_unique<detail::ReactorCore>(nullptr)) {
    core_->owner = this;
    detail::ignore_sigpipe_once();
}
Reactor::Reactor(boost::asio::io_context& context) : core_(std::make_unique<detail::ReactorCore>(&context)) {
    core_->owner = this;
    detail::ignore_sigpipe_once();
}
Reactor::~Reactor() {
    // First, while everything the jobs' completions post to is whole: waits for the running jobs.
    core_->thread_pool.reset();
}

ThreadPool& Reactor::thread_pool() {
    if (!core_->thread_pool) core_->thread_pool = std::make_unique<ThreadPool>(*this, core_->thread_pool_options);
    return *core_->thread_pool;
}
void Reactor::set_thread_pool_options(const ThreadPoolOptions& options) {
    if (options.max_threads == 0 || options.min_threads > options.max_threads || options.max_queue == 0) {
        throw std::invalid_argument("thread pool: need min_threads <= max_threads, max_threads >= 1, max_queue >= 1");
    }
    if (core_->thread_pool) {
        // The queue bound and idle timeout are fixed when the pool is made; the sizes change now.
        core_->thread_pool->set_size(options.min_threads, options.max_threads);
    }
    core_->thread_pool_options = options;
}
void Reactor::set_thread_pool_size(std::size_t min_threads, std::size_t max_threads) {
    ThreadPoolOptions options = core_->thread_pool_options;
    options.min_threads = min_threads;
    options.max_threads = max_threads;
    set_thread_pool_options(options);
}
void Reactor::call_in_thread(std::function<void()> fn) { thread_pool().call_in_thread(std::move(fn)); }
Resolver& Reactor::resolver() {
    if (!core_->resolver) core_->resolver = std::make_shared<ThreadedResolver>(*this);
    return *core_->resolver;
}
void Reactor::set_resolver(std::shared_ptr<Resolver> resolver) { core_->resolver = std::move(resolver); }

boost::asio::io_context& Reactor::context() noexcept { return core_->io(); }
void Reactor::run(bool handle_signals) { core_->run(handle_signals); }
void Reactor::stop() { core_->stop(); }
void Reactor::stop_now() { core_->stop_now(); }
void Reactor::on_signal(int signo, std::function<void()> fn) { core_->on_signal(signo, std::move(fn)); }
bool Reactor::running() const noexcept { return core_->running(); }
void Reactor::set_shutdown_timeout(Duration timeout) noexcept { core_->shutdown_timeout = timeout; }
void Reactor::set_disconnect_timeout(Duration timeout) noexcept { core_->disconnect_timeout = timeout; }

double Reactor::seconds() const { return std::chrono::duration<double>(core_->now().time_since_epoch()).count(); }
TimePoint Reactor::now() const { return core_->now(); }
DelayedCall Reactor::call_later(Duration delay, std::function<void()> fn) { return core_->call_later(delay, std::move(fn)); }
std::vector<DelayedCall> Reactor::pending_calls() const { return core_->timers->pending(); }

void Reactor::call_soon(std::function<void()> fn) {
    boost::asio::post(core_->io(), [fn = std::move(fn)] { detail::run_guarded("call_soon", fn); });
}

void Reactor::call_from_thread(std::function<void()> fn) {
    // asio::post is thread-safe and wakes the loop.
    boost::asio::post(core_->io(), [fn = std::move(fn)] { detail::run_guarded("call_from_thread", fn); });
}

void Reactor::call_when_running(std::function<void()> fn) { core_->call_when_running(std::move(fn)); }

Reactor::TriggerId Reactor::add_system_event_trigger(TriggerPhase phase, SystemEvent event, std::function<void()> fn) {
    return core_->add_trigger(phase, event, [fn = std::move(fn)](const std::function<void()>& done) {
        fn();
        done();
    });
}

Reactor::TriggerId Reactor::add_async_system_event_trigger(TriggerPhase phase, SystemEvent event,
                                                           std::function<void(std::function<void()>)> fn) {
    return core_->add_trigger(phase, event, std::move(fn));
}

bool Reactor::remove_system_event_trigger(TriggerId id) { return core_->remove_trigger(id); }

std::shared_ptr<ListeningPort> Reactor::listen_tcp(std::uint16_t port, Factory& factory, ListenOptions options) {
    return detail::listen_tcp(*core_, port, factory, options);
}

std::shared_ptr<Connector> Reactor::connect_tcp(std::string host, std::uint16_t port, ClientFactory& factory,
                                                ConnectOptions options) {
    auto c = std::make_shared<detail::TcpConnector>(*core_, std::move(host), port, factory, std::move(options));
    c->connect();
    return c;
}

std::shared_ptr<ListeningPort> Reactor::listen_unix(std::string path, Factory& factory, UnixListenOptions options) {
    return detail::listen_unix(*core_, path, factory, options);
}
std::shared_ptr<Connector> Reactor::connect_unix(std::string path, ClientFactory& factory, UnixConnectOptions options) {
    auto c = std::make_shared<detail::UnixConnector>(*core_, std::move(path), factory, options);
    c->connect();
    return c;
}
std::shared_ptr<ListeningPort> Reactor::adopt_stream_port(int fd, SocketFamily family, Factory& factory) {
    if (family == SocketFamily::unix_socket) return detail::adopt_unix_port(*core_, fd, factory);
    return detail::adopt_tcp_port(*core_, fd, family, factory);
}

std::shared_ptr<UdpTransport> Reactor::listen_udp(std::uint16_t port, DatagramProtocol& protocol, UdpOptions options) {
    return detail::listen_udp(*core_, port, protocol, nullptr, options);
}

std::shared_ptr<UdpTransport> Reactor::listen_udp(std::uint16_t port, std::unique_ptr<DatagramProtocol> protocol,
                                                  UdpOptions options) {
    if (!protocol) throw StateError("listen_udp: no protocol (a null unique_ptr)");
    DatagramProtocol& p = *protocol;
    return detail::listen_udp(*core_, port, p, std::move(protocol), options);
}

std::size_t Reactor::connection_count() const noexcept { return core_->connection_count(); }
const ReactorStats& Reactor::stats() const noexcept { return core_->stats; }

}  // namespace weft
