#include "weft/client_service.hpp"

#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

#include "endpoint_connection.hpp"
#include "weft/log.hpp"
#include "weft/string_endpoints.hpp"

namespace weft {

/// The service's state machine (Twisted's _ClientMachine, without prepareConnection). Callbacks from the
/// attempt and the retry timer hold it weakly and check `generation`, so that a stopped or destroyed
/// service ignores what is still in flight.
struct ClientService::State : std::enable_shared_from_this<ClientService::State> {
    enum class Phase { stopped, connecting, waiting, connected, disconnecting };

    struct Waiter {
        Deferred<Protocol*> deferred;
        std::optional<std::uint32_t> fail_after;
    };

    State(ReactorNetwork& n, ReactorTime& t, ClientEndpoint e, Factory& f, std::shared_ptr<Factory> o, RetryPolicy p)
        : network(n), time(t), endpoint(std::move(e)), factory(f), owner(std::move(o)), policy(std::move(p)) {
        if (!policy) throw std::invalid_argument("ClientService: no retry policy");
    }

    ReactorNetwork& network;
    ReactorTime& time;
    ClientEndpoint endpoint;
    Factory& factory;
    std::shared_ptr<Factory> owner;
    RetryPolicy policy;

    Phase phase = Phase::stopped;
    bool restart = false;  // start() while disconnecting
    bool started = false;  // start() was called at least once
    std::uint64_t generation = 0;
    std::uint32_t failed = 0;
    std::optional<Deferred<Protocol*>> attempt;
    DelayedCall retry;
    Protocol* protocol = nullptr;
    std::vector<Waiter> waiters;
    std::vector<Deferred<void>> stop_waiters;

    void connect() {
        phase = Phase::connecting;
        const auto gen = ++generation;
        keep_tls_context();
        std::weak_ptr<State> weak = shared_from_this();
        Deferred<Protocol*> d = detail::connect_endpoint(
            network, endpoint, factory, owner,
            [weak, gen](const Reason& r) {
                if (auto self = weak.lock()) self->lost(gen, r);
            },
            SourceLocation::current());
        attempt = d;
        d.add_callbacks(
            [weak, gen](Protocol* p) {
                if (auto self = weak.lock()) self->made(gen, p);
            },
            [weak, gen](Failure f) {
                if (auto self = weak.lock()) self->attempt_failed(gen, std::move(f));
            });
    }

    // A tls: endpoint's context is built once and kept for every later attempt (Twisted's endpoint holds
    // its options the same way): reading the CA store again per attempt would block the loop each time,
    // and a reconnect resumes its session only with the context that made it. If it cannot be built now
    // (a CA file not there yet) the attempt fails with ConnectError and the next one tries again.
    void keep_tls_context() {
        auto* tls = std::get_if<TlsClientEndpoint>(&endpoint);
        if (tls == nullptr || tls->context) return;
        try {
            tls->context = tls_context_for(*tls);
        } catch (const std::exception&) {
            // Reported by the attempt, which builds it again and fails with ConnectError naming the file.
        }
    }

    void made(std::uint64_t gen, Protocol* p) {
        if (gen != generation) return;
        attempt.reset();
        protocol = p;
        if (phase == Phase::disconnecting) {
            p->transport().lose_connection();
            return;
        }
        phase = Phase::connected;
        failed = 0;
        auto ready = std::exchange(waiters, {});
        for (auto& w : ready) {
            if (!w.deferred.called()) w.deferred.callback(p);
        }
    }

    void attempt_failed(std::uint64_t gen, Failure f) {
        if (gen != generation) return;
        attempt.reset();
        if (phase == Phase::disconnecting) return finish_stop();
        ++failed;
        WEFT_LOG(info) << "client service: attempt " << failed << " failed: " << f.what();
        std::vector<Waiter> keep;
        std::vector<Waiter> told;
        for (auto& w : waiters) (w.fail_after && failed >= *w.fail_after ? told : keep).push_back(std::move(w));
        waiters = std::move(keep);
        wait();
        for (auto& w : told) {
            if (!w.deferred.called()) w.deferred.errback(f);
        }
    }

    void lost(std::uint64_t gen, const Reason& reason) {
        if (gen != generation) return;
        protocol = nullptr;
        if (phase == Phase::disconnecting) return finish_stop();
        WEFT_LOG(info) << "client service: connection lost (" << reason.message() << ")";
        ++failed;
        wait();
    }

    /// Schedules the next attempt after policy(failed).
    void wait() {
        phase = Phase::waiting;
        const auto gen = generation;
        std::weak_ptr<State> weak = shared_from_this();
        const Duration delay = policy(failed);
        retry = time.call_later(delay, [weak, gen] {
            auto self = weak.lock();
            if (self && self->generation == gen && self->phase == Phase::waiting) self->connect();
        });
    }

    void finish_stop() {
        phase = Phase::stopped;
        ++generation;
        auto stoppers = std::exchange(stop_waiters, {});
        auto cancelled = std::exchange(waiters, {});
        for (auto& d : stoppers) d.callback();
        for (auto& w : cancelled) {
            if (!w.deferred.called()) w.deferred.errback(Failure(CancelledError()));
        }
        if (std::exchange(restart, false) && phase == Phase::stopped) connect();
    }

    void start() {
        if (phase == Phase::disconnecting) {
            restart = true;
            return;
        }
        if (phase != Phase::stopped) return;
        started = true;
        failed = 0;
        connect();
    }

    Deferred<void> stop() {
        restart = false;
        switch (phase) {
            case Phase::stopped: return succeed();
            case Phase::waiting: {
                if (retry.active()) retry.cancel();
                Deferred<void> d;
                stop_waiters.push_back(d);
                finish_stop();
                return d;
            }
            case Phase::connecting: {
                phase = Phase::disconnecting;
                Deferred<void> d;
                stop_waiters.push_back(d);
                auto a = attempt;
                if (a) a->cancel();  // fails the attempt (attempt_failed finishes the stop)
                return d;
            }
            case Phase::connected: {
                phase = Phase::disconnecting;
                Deferred<void> d;
                stop_waiters.push_back(d);
                protocol->transport().lose_connection();  // lost() finishes the stop
                return d;
            }
            case Phase::disconnecting: {
                Deferred<void> d;
                stop_waiters.push_back(d);
                return d;
            }
        }
        return succeed();
    }

    Deferred<Protocol*> when_connected(std::optional<std::uint32_t> fail_after, SourceLocation where) {
        if (phase == Phase::connected) return succeed(protocol, where);
        // Before the first start() it waits (Twisted's _init state); once stopped, nothing will come.
        if ((phase == Phase::stopped && started) || (phase == Phase::disconnecting && !restart)) {
            return fail<Protocol*>(Failure(CancelledError()), where);
        }
        Deferred<Protocol*> d(where);
        waiters.push_back({d, fail_after});
        return d;
    }

    /// The service is destroyed: nothing is waited for and nothing is told.
    void abandon() {
        ++generation;
        waiters.clear();
        stop_waiters.clear();
        if (retry.active()) retry.cancel();
        auto a = std::exchange(attempt, std::nullopt);
        if (a) a->cancel();
        if (protocol != nullptr) std::exchange(protocol, nullptr)->transport().lose_connection();
        phase = Phase::stopped;
    }
};

ClientService::ClientService(ReactorNetwork& network, ReactorTime& time, ClientEndpoint endpoint, Factory& factory,
                             RetryPolicy policy)
    : state_(std::make_shared<State>(network, time, std::move(endpoint), factory, nullptr, std::move(policy))) {}

ClientService::ClientService(ReactorNetwork& network, ReactorTime& time, ClientEndpoint endpoint,
                             std::shared_ptr<Factory> factory, RetryPolicy policy) {
    if (!factory) throw std::invalid_argument("ClientService: no factory");
    Factory& ref = *factory;
    state_ = std::make_shared<State>(network, time, std::move(endpoint), ref, std::move(factory), std::move(policy));
}

ClientService::ClientService(ReactorNetwork& network, ReactorTime& time, std::string_view description,
                             Factory& factory, RetryPolicy policy)
    : ClientService(network, time, parse_client_endpoint(description), factory, std::move(policy)) {}

ClientService::ClientService(ReactorNetwork& network, ReactorTime& time, std::string_view description,
                             std::shared_ptr<Factory> factory, RetryPolicy policy)
    : ClientService(network, time, parse_client_endpoint(description), std::move(factory), std::move(policy)) {}

ClientService::~ClientService() { state_->abandon(); }

void ClientService::start() { state_->start(); }
Deferred<void> ClientService::stop() { return state_->stop(); }
Deferred<Protocol*> ClientService::when_connected(std::optional<std::uint32_t> fail_after_failures,
                                                  SourceLocation where) {
    return state_->when_connected(fail_after_failures, where);
}
bool ClientService::running() const noexcept { return state_->phase != State::Phase::stopped; }
Protocol* ClientService::protocol() const noexcept {
    return state_->phase == State::Phase::connected ? state_->protocol : nullptr;
}
std::uint32_t ClientService::failed_attempts() const noexcept { return state_->failed; }
DelayedCall ClientService::pending_retry() const noexcept { return state_->retry; }

}  // namespace weft
