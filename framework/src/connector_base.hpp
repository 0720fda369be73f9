#pragma once
// ConnectorBase: what every connector kind shares (states, the factory's calls in Twisted's order, the
// connect timeout, retries, the reactor's keep-alive); a kind (TCP, UNIX) only starts one attempt.

#include <cstdint>
#include <memory>

#include "stream/live_transport.hpp"
#include "weft/address.hpp"
#include "weft/client_factory.hpp"
#include "weft/connector.hpp"
#include "weft/delayed_call.hpp"
#include "weft/protocol.hpp"
#include "weft/tls_context.hpp"
#include "weft/transport.hpp"

namespace weft::detail {

class ReactorCore;

/// The connector's life: the reactor holds it (ReactorCore::keep) from connect() until it is disconnected
/// again and the factory has heard so; a retry it scheduled (retry_in) holds it while it waits. Nothing
/// else refers to it, so stopping the retry (cancelling the call) or the reactor's shutdown lets it go.
/// Contract for a kind: start_attempt() begins resolving/connecting and ends the attempt with exactly one
/// of attach() (after make_protocol() gave a protocol) or fail(), unless current(attempt) turned false
/// meanwhile (the attempt was stopped or timed out: drop the result). abandon_attempt() releases what
/// an attempt holds (resolver, socket) and must not call back.
class ConnectorBase : public Connector, public ConnectionObserver, public std::enable_shared_from_this<ConnectorBase> {
public:
    ~ConnectorBase() override;
    ConnectorBase(const ConnectorBase&) = delete;
    ConnectorBase& operator=(const ConnectorBase&) = delete;

    void connect() final;
    void stop_connecting() final;
    void disconnect() final;
    [[nodiscard]] State state() const noexcept final { return state_; }
    DelayedCall retry_in(Duration delay, ReactorTime& time) final;

    /// Called by the connection once its protocol has run connection_made: tells a factory that is a
    /// ConnectionMadeListener (endpoint_connect's).
    void connection_made() override;
    /// Called by the connection once its protocol has heard connection_lost.
    void connection_lost(const Reason& reason) override;

protected:
    ConnectorBase(ReactorCore& core, ClientFactory& factory, Duration timeout);

    /// Begins attempt number attempt() (started_connecting has run, the timeout is armed).
    virtual void start_attempt() = 0;
    /// Drops what the current attempt holds; called when it fails, times out or is stopped.
    virtual void abandon_attempt() noexcept = 0;

    [[nodiscard]] std::uint64_t attempt() const noexcept { return attempt_; }
    [[nodiscard]] bool current(std::uint64_t attempt) const noexcept {
        return attempt == attempt_ && state_ == State::connecting;
    }
    /// Connections speak TLS with `context` (a client context; null: none), `server_name` naming the server
    /// when the context does not.
    void use_tls(std::shared_ptr<TlsContext> context, std::string server_name);
    /// The attempt reached `peer`: stops the timeout and asks the factory for a protocol. Null means the
    /// attempt has failed (no protocol, or build_protocol threw) and the factory heard so.
    std::unique_ptr<Protocol> make_protocol(const Address& peer);
    /// The connection now carries the protocol: connected until connection_lost().
    void attach(const std::shared_ptr<LiveTransport>& connection);
    /// Ends the current attempt: client_connection_failed, then maybe stop_factory and release.
    void fail(const Reason& reason);

    ReactorCore& core_;
    ClientFactory& factory_;

private:
    /// Disconnected again: stop_factory unless the factory connected us from its callback, and leave the
    /// reactor (a scheduled retry keeps us alive on its own).
    void settle();

    Duration timeout_duration_;
    State state_ = State::disconnected;
    std::uint64_t attempt_ = 0;  // guards handlers of an attempt that was stopped
    DelayedCall timeout_;
    DelayedCall retry_;
    std::weak_ptr<LiveTransport> connection_;  // disconnect() closes it as a shutdown would: through TLS if any
    bool factory_started_ = false;
    std::shared_ptr<TlsContext> tls_;
    std::string tls_server_name_;
};

}  // namespace weft::detail
