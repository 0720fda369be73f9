#pragma once
// ClientService: keeps one connection up through an endpoint, reconnecting with a retry policy (Twisted:
// twisted.application.internet.ClientService). docs/clients.md shows it in use.

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "weft/deferred.hpp"
#include "weft/endpoint.hpp"
#include "weft/factory.hpp"
#include "weft/protocol.hpp"
#include "weft/reactor_network.hpp"
#include "weft/reactor_time.hpp"
#include "weft/retry_policy.hpp"
#include "weft/source_location.hpp"

namespace weft {

/// Keeps one connection to `endpoint` up: start() connects (endpoint_connect); a failed attempt or a
/// lost connection schedules the next attempt on `time`, `policy(n)` later, n being the number of failed
/// attempts in a row (a lost connection counts as one; a connection that is made sets it back to 0).
///
/// Contract:
///  - when_connected() fires with the current connection's protocol, at once if there is one, else when
///    the next attempt connects. With fail_after_failures = N it instead fails with the attempt's failure
///    (ConnectError) at the first failed attempt after which the count of failed attempts in a row is >= N.
///    Waiters still waiting when the service stops fail with CancelledError; so does when_connected() on a
///    service stopped after a start() (before the first start() it waits, as Twisted's). The pointer is valid until that connection's connection_lost returns.
///  - stop() stops retrying: cancels a scheduled retry, stops an attempt in progress, or loses the current
///    connection (lose_connection: pending output is sent first); its Deferred fires once no connection
///    is left and no retry is pending (at once if stopped already). start() after stop() starts again;
///    start() while stopping connects again once the stop is done; start() while running does nothing.
///  - Everything runs on the reactor's thread; the factory's protocols are built by endpoint_connect, so
///    the factory's client callbacks are not called (the service reports attempts itself).
///  - The factory is borrowed (it must outlive every connection the service made) or shared (the
///    shared_ptr overloads keep it alive as long as a connection needs it). Destroying a running service
///    stops it without waiting: retries and attempts are cancelled and the connection is lost; its
///    waiters are dropped unfired.
class ClientService {
public:
    /// A stopped service for `endpoint`: nothing connects until start(). `network` and `time` are borrowed
    /// and must outlive the service; `factory` is borrowed (Factory&) or shared (std::shared_ptr, which
    /// must not be null: std::invalid_argument); `policy` gives the delay before each retry.
    /// @{
    ClientService(ReactorNetwork& network, ReactorTime& time, ClientEndpoint endpoint, Factory& factory,
                  RetryPolicy policy = backoff_policy());
    ClientService(ReactorNetwork& network, ReactorTime& time, ClientEndpoint endpoint,
                  std::shared_ptr<Factory> factory, RetryPolicy policy = backoff_policy());
    /// @}
    /// A description string instead of an endpoint (EndpointError if it does not parse).
    /// @{
    ClientService(ReactorNetwork& network, ReactorTime& time, std::string_view description, Factory& factory,
                  RetryPolicy policy = backoff_policy());
    ClientService(ReactorNetwork& network, ReactorTime& time, std::string_view description,
                  std::shared_ptr<Factory> factory, RetryPolicy policy = backoff_policy());
    /// @}
    /// One object that is both (weft::Reactor, testing::MemoryReactor).
    template <class R, class E, class F>
        requires std::derived_from<R, ReactorNetwork> && std::derived_from<R, ReactorTime>
    ClientService(R& reactor, E&& endpoint, F&& factory, RetryPolicy policy = backoff_policy())
        : ClientService(static_cast<ReactorNetwork&>(reactor), static_cast<ReactorTime&>(reactor),
                        std::forward<E>(endpoint), std::forward<F>(factory), std::move(policy)) {}
    ~ClientService();
    ClientService(const ClientService&) = delete;
    ClientService& operator=(const ClientService&) = delete;

    /// Starts connecting (Twisted: startService).
    void start();
    /// Stops (Twisted: stopService); fires once disconnected with no retry pending.
    Deferred<void> stop();
    /// The protocol of the current connection, now or once there is one (Twisted: whenConnected).
    Deferred<Protocol*> when_connected(std::optional<std::uint32_t> fail_after_failures = std::nullopt,
                                       SourceLocation where = SourceLocation::current());

    /// True between start() and the end of the stop that follows.
    [[nodiscard]] bool running() const noexcept;
    /// The current connection's protocol, or nullptr.
    [[nodiscard]] Protocol* protocol() const noexcept;
    /// Failed attempts in a row so far (a lost connection counts as one).
    [[nodiscard]] std::uint32_t failed_attempts() const noexcept;
    /// The scheduled retry (inactive when none is).
    [[nodiscard]] DelayedCall pending_retry() const noexcept;

private:
    struct State;
    std::shared_ptr<State> state_;
};

}  // namespace weft
