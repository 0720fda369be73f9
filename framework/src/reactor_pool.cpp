#include "weft/reactor_pool.hpp"

#include <csignal>
#include <latch>
#include <map>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>

#include <unistd.h>

#include "reactor_core.hpp"
#include "tcp_port.hpp"
#include "unix/unix_port.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"
#include "weft/string_endpoints.hpp"
#include "weft/tls_context.hpp"

namespace weft {
namespace detail {

namespace {

/// The factory one pool port of one reactor listens with: builds with the user's factory (on that reactor's
/// thread) and gives its protocols the user's factory; the user's start_factory/stop_factory are counted per
/// pool over all its ports (PoolListeners), so that no two threads count on the user's factory at once.
class PoolFactory final : public Factory {
public:
    PoolFactory(Factory& user, std::shared_ptr<std::atomic<std::size_t>> live) : user_(user), live_(std::move(live)) {}
    std::unique_ptr<Protocol> build_protocol(const Address& peer) override {
        auto protocol = user_.build_protocol(peer);
        if (protocol) protocol->set_factory(&user_);
        return protocol;
    }
    void stop_factory() override {
        // The last port of this user's factory stopped: every other one already counted down.
        if (live_->fetch_sub(1) == 1) user_.do_stop();
    }

private:
    Factory& user_;
    std::shared_ptr<std::atomic<std::size_t>> live_;
};

/// A descriptor handed from the acceptor to another reactor: closed unless that reactor takes it (the
/// reactor may be gone or shutting down before its turn comes).
struct HandedFd {
    int fd;
    explicit HandedFd(int f) noexcept : fd(f) {}
    HandedFd(const HandedFd&) = delete;
    HandedFd& operator=(const HandedFd&) = delete;
    ~HandedFd() {
        if (fd >= 0) ::close(fd);
    }
    int release() noexcept { return std::exchange(fd, -1); }
};

/// What the acceptor's hand-off shares with the reactors it hands to; entry i is used on reactor i's thread.
struct HandOff {
    Factory& factory;
    std::vector<std::shared_ptr<TlsContext>> tls;  // per reactor, or empty
    std::vector<LogRateLimiter> refused_log;
};

template <class Kind>
void hand_off_from(ReactorPool& pool, StreamPort<Kind>& port, Factory& factory, std::vector<std::shared_ptr<TlsContext>> tls) {
    using Socket = typename StreamPort<Kind>::Socket;
    boost::system::error_code ec;
    const auto protocol = port.acceptor().local_endpoint(ec).protocol();
    auto state = std::make_shared<HandOff>(HandOff{
        factory, std::move(tls),
        std::vector<LogRateLimiter>(pool.size(), LogRateLimiter(StreamPort<Kind>::repeated_log_interval))});
    port.hand_off_to([&pool, state, protocol](int fd) {
        auto handed = std::make_shared<HandedFd>(fd);
        Reactor& reactor = pool.next();
        std::size_t target = 0;
        while (&pool.at(target) != &reactor) ++target;
        auto serve = [state, handed, target, protocol, &reactor] {
            ReactorCore& core = reactor.core();
            if (!core.running() || core.shutting_down()) return;  // `handed` closes it
            Socket socket(core.socket_context());  // as a port's own accept: with the EdgePoller, a context nobody runs
            boost::system::error_code error;
            socket.assign(protocol, handed->fd, error);
            if (error) {
                WEFT_LOG(warning) << "a handed-off connection could not be registered: " << error.message();
                return;
            }
            handed->release();
            const auto context = state->tls.empty() ? std::shared_ptr<TlsContext>() : state->tls[target];
            serve_accepted<Kind>(core, std::move(socket), state->factory, context, state->refused_log[target]);
        };
        // The acceptor's own reactor serves its share at once; the others get it on their next turn.
        if (pool.current() == target) {
            serve();
        } else {
            reactor.call_from_thread(std::move(serve));
        }
    });
}

}  // namespace

/// listen()'s factories and the per-factory count of live pool ports.
class PoolListeners {
public:
    std::vector<std::unique_ptr<Factory>> forwarders;
    std::map<Factory*, std::shared_ptr<std::atomic<std::size_t>>> live;
};

}  // namespace detail

namespace {

constexpr int shutdown_signals[] = {SIGINT, SIGTERM, SIGQUIT, SIGHUP};

bool is_tcp(const ServerEndpoint& endpoint) {
    return std::holds_alternative<TcpServerEndpoint>(endpoint) || std::holds_alternative<SslServerEndpoint>(endpoint);
}

}  // namespace

ReactorPool::ReactorPool(std::size_t n, ReactorPoolOptions options)
    : options_(options), listeners_(std::make_unique<detail::PoolListeners>()) {
    if (n == 0) throw std::invalid_argument("ReactorPool: needs at least one reactor (n >= 1)");
    thread_ids_ = std::make_unique<std::atomic<std::thread::id>[]>(n);
    reactors_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        reactors_.push_back(std::make_unique<Reactor>());
        reactors_.back()->set_shutdown_timeout(options_.shutdown_timeout);
    }
}

ReactorPool::~ReactorPool() {
    if (threads_.empty()) return;
    stop();
    try {
        join();
    } catch (const std::exception& e) {
        WEFT_LOG(error) << "ReactorPool: a reactor failed: " << e.what();
    } catch (...) {
        WEFT_LOG(error) << "ReactorPool: a reactor failed";
    }
}

std::size_t ReactorPool::next_index() noexcept { return next_.fetch_add(1, std::memory_order_relaxed) % reactors_.size(); }

Reactor& ReactorPool::next() noexcept { return *reactors_[next_index()]; }

std::optional<std::size_t> ReactorPool::current() const noexcept {
    const auto self = std::this_thread::get_id();
    for (std::size_t i = 0; i < reactors_.size(); ++i) {
        if (thread_ids_[i].load(std::memory_order_relaxed) == self) return i;
    }
    return std::nullopt;
}

std::shared_ptr<PoolPort> ReactorPool::listen(std::string_view description, Factory& factory, PoolListenStrategy strategy) {
    return listen(parse_server_endpoint(description), factory, strategy);
}

std::shared_ptr<PoolPort> ReactorPool::listen(const ServerEndpoint& endpoint, Factory& factory, PoolListenStrategy strategy) {
    if (running()) throw StateError("ReactorPool::listen: call it before start() or after join()");
    if (std::holds_alternative<UdpServerEndpoint>(endpoint)) {
        throw EndpointError(to_string(endpoint) + ": udp: is a datagram endpoint; a ReactorPool listens on "
                            "stream endpoints (Reactor::listen_udp on one of its reactors serves datagrams)", "type");
    }
    if (strategy == PoolListenStrategy::automatic) {
        strategy = is_tcp(endpoint) ? PoolListenStrategy::reuse_port : PoolListenStrategy::acceptor;
    }
    if (strategy == PoolListenStrategy::reuse_port && !is_tcp(endpoint)) {
        throw Error("ReactorPool::listen " + to_string(endpoint) +
                    ": SO_REUSEPORT needs a tcp:, tcp6: or ssl: endpoint (a UNIX or inherited socket is one "
                    "socket): use PoolListenStrategy::acceptor");
    }
    const SslServerEndpoint* ssl = std::get_if<SslServerEndpoint>(&endpoint);
    const TcpServerEndpoint* tcp = ssl != nullptr ? &ssl->tcp : std::get_if<TcpServerEndpoint>(&endpoint);

    // One TLS context per reactor: a TlsContext is used on one thread.
    std::vector<std::shared_ptr<TlsContext>> contexts;
    if (ssl != nullptr) {
        for (std::size_t i = 0; i < size(); ++i) contexts.push_back(tls_context_for(*ssl));
    }

    auto& live = listeners_->live[&factory];
    if (!live) live = std::make_shared<std::atomic<std::size_t>>(0);
    const bool first = live->load() == 0;
    if (first) factory.do_start();
    std::vector<std::shared_ptr<ListeningPort>> ports;
    auto listen_one = [&](const std::function<std::shared_ptr<ListeningPort>(Factory&)>& how) {
        listeners_->forwarders.push_back(std::make_unique<detail::PoolFactory>(factory, live));
        live->fetch_add(1);
        try {
            ports.push_back(how(*listeners_->forwarders.back()));
        } catch (...) {
            live->fetch_sub(1);
            throw;
        }
    };
    try {
        if (strategy == PoolListenStrategy::reuse_port) {
            ListenOptions options;
            options.interface = tcp->interface.empty() && tcp->ipv6 ? "::" : tcp->interface;
            options.backlog = tcp->backlog;
            options.reuse_port = true;
            for (std::size_t i = 0; i < size(); ++i) {
                // The first binds what was asked (port 0 included); the others join it on the port it got.
                const std::uint16_t port = i == 0 ? tcp->port : ports.front()->port();
                if (ssl != nullptr) options.tls = contexts[i];
                listen_one([&](Factory& f) { return at(i).listen_tcp(port, f, options); });
            }
        } else {
            listen_one([&](Factory& f) -> std::shared_ptr<ListeningPort> {
                if (tcp != nullptr) {
                    ListenOptions options;
                    options.interface = tcp->interface.empty() && tcp->ipv6 ? "::" : tcp->interface;
                    options.backlog = tcp->backlog;
                    return at(0).listen_tcp(tcp->port, f, options);
                }
                return listen_on(at(0), endpoint, f);
            });
            auto& port = ports.front();
            if (auto t = std::dynamic_pointer_cast<detail::TcpPort>(port)) {
                detail::hand_off_from(*this, *t, factory, contexts);
            } else if (auto u = std::dynamic_pointer_cast<detail::UnixPort>(port)) {
                detail::hand_off_from(*this, *u, factory, contexts);
            } else {
                throw Error("ReactorPool::listen " + to_string(endpoint) + ": this kind of port cannot hand off");
            }
        }
    } catch (...) {
        // All or none. The ports made stop now (the last one stops the user's factory).
        for (const auto& p : ports) p->stop_listening();
        if (first && ports.empty()) factory.do_stop();
        throw;
    }
    return std::make_shared<PoolPort>(strategy, std::move(ports), std::move(contexts));
}

void ReactorPool::run_reactor(std::size_t i) {
    try {
        reactors_[i]->run(options_.handle_signals && i == 0);
    } catch (...) {
        {
            std::lock_guard lock(failure_mutex_);
            if (!failure_) failure_ = std::current_exception();
        }
        WEFT_LOG(error) << "ReactorPool: reactor " << i << " failed; stopping the pool";
        stop();
    }
}

void ReactorPool::start() {
    if (started_.exchange(true)) throw StateError("ReactorPool::start: the pool is already running");
    stopping_ = false;
    if (options_.handle_signals) {
        // Reactor 0 watches the signals; a shutdown signal stops every reactor. A SIGHUP ignored now (nohup)
        // stays ignored, as Reactor::run leaves it.
        for (const int signo : shutdown_signals) {
            struct sigaction current {};
            if (signo == SIGHUP && sigaction(signo, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) continue;
            reactors_[0]->on_signal(signo, [this, signo] { signalled(signo); });
        }
    }
    // start() returns once every reactor runs, so that stop() from then on reaches each (Reactor::stop refuses
    // a reactor that does not run yet). A stop() that came before a reactor ran is caught up by its first turn.
    struct Gate {
        std::latch latch;
        std::vector<std::atomic<bool>> arrived;
        explicit Gate(std::size_t n) : latch(static_cast<std::ptrdiff_t>(n)), arrived(n) {}
        void arrive(std::size_t i) {
            if (!arrived[i].exchange(true)) latch.count_down();
        }
    };
    // Also makes Boost.Log's global logger here, before the threads: they would otherwise race to make it
    // on their first record (safe inside the library, but TSan cannot see its uninstrumented locks).
    WEFT_LOG(debug) << "ReactorPool: starting " << size() << " reactors";
    auto gate = std::make_shared<Gate>(size());
    for (std::size_t i = 0; i < size(); ++i) {
        reactors_[i]->call_from_thread([this, gate, i] {
            gate->arrive(i);
            if (stopping_) reactors_[i]->stop();
        });
    }
    threads_.reserve(size());
    for (std::size_t i = 0; i < size(); ++i) {
        threads_.emplace_back([this, gate, i] {
            thread_ids_[i] = std::this_thread::get_id();
            run_reactor(i);
            thread_ids_[i] = std::thread::id{};
            gate->arrive(i);  // run() failed before its first turn: start() must not wait for it
        });
    }
    gate->latch.wait();
}

void ReactorPool::stop() {
    stopping_ = true;
    for (auto& reactor : reactors_) {
        try {
            reactor->stop();
        } catch (const ReactorNotRunning&) {
            // Not started yet (its first turn stops it) or already ended.
        }
    }
}

void ReactorPool::stop_now() {
    stopping_ = true;
    for (auto& reactor : reactors_) {
        try {
            reactor->stop_now();
        } catch (const ReactorNotRunning&) {
        }
    }
}

void ReactorPool::signalled(int signo) {
    if (!stopping_) {
        WEFT_LOG(info) << "received signal " << signo << "; stopping " << size() << " reactors";
        stop();
        return;
    }
    // As Reactor's default: only an operator's repeated SIGINT/SIGTERM means "now".
    if (signo == SIGINT || signo == SIGTERM) {
        WEFT_LOG(warning) << "received signal " << signo << " during shutdown; stopping every reactor now";
        stop_now();
    }
}

void ReactorPool::join() {
    if (current()) throw StateError("ReactorPool::join: called from one of the pool's threads (it would wait for itself)");
    for (auto& t : threads_) {
        if (t.joinable()) t.join();
    }
    threads_.clear();
    started_ = false;
    std::exception_ptr failure;
    {
        std::lock_guard lock(failure_mutex_);
        failure = std::exchange(failure_, nullptr);
    }
    if (failure) std::rethrow_exception(failure);
}

void ReactorPool::run() {
    start();
    join();
}

}  // namespace weft
