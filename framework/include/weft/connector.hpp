#pragma once
// Connector: an outgoing connection attempt and the connection it makes (Twisted: IConnector).

#include <cstdint>
#include <string>

#include "weft/delayed_call.hpp"
#include "weft/reactor_time.hpp"
#include "weft/time.hpp"

namespace weft {

/// Returned by Reactor::connect_tcp. The reactor keeps it alive while it is connecting or connected, and
/// while a retry of it is scheduled (retry_in): nobody needs to hold it.
/// Contract: connect() starts a new attempt from the disconnected state (it replaces a scheduled retry);
/// stop_connecting() aborts an attempt in progress (the factory gets client_connection_failed);
/// disconnect() stops an attempt or loses the connection. Every attempt calls the factory in Twisted's
/// order: start_factory (first attempt after a stop), started_connecting, then build_protocol and later
/// client_connection_lost, or client_connection_failed; stop_factory once it is disconnected again and its
/// factory did not connect it again from that callback.
class Connector {
public:
    /// Where the connector is; an attempt goes disconnected -> connecting -> connected (or back to
    /// disconnected when it fails), and a connection lost makes it disconnected again.
    enum class State {
        disconnected,  ///< no attempt and no connection: connect() may start one
        connecting,    ///< an attempt is resolving/connecting, guarded by the connect timeout
        connected      ///< a protocol runs on the connection it made
    };

    virtual ~Connector() = default;
    /// Starts a new attempt (Twisted: connect); the factory hears of it on a later loop turn. Throws
    /// StateError unless disconnected. Cancels a retry scheduled by retry_in().
    virtual void connect() = 0;
    /// Aborts the attempt in progress (Twisted: stopConnecting); client_connection_failed follows on a
    /// later turn with an "aborted" reason. Throws StateError when not connecting.
    virtual void stop_connecting() = 0;
    /// Stops an attempt (as stop_connecting) or loses the connection (as Transport::lose_connection,
    /// flushing first); does nothing when disconnected (Twisted: disconnect).
    virtual void disconnect() = 0;
    /// The current state; see State.
    [[nodiscard]] virtual State state() const noexcept = 0;
    /// "host:port" as given to connect_tcp.
    [[nodiscard]] virtual std::string destination() const = 0;

    /// Schedules connect() `delay` from now on `time` and returns that call; cancelling it gives the retry
    /// up. A connector made by the reactor is kept alive by the scheduled call itself (until it has run or
    /// was cancelled), so whoever asked for the retry holds only the returned handle, never the connector,
    /// and may go away first. A new retry replaces one still scheduled; one that comes due while the
    /// connector is not disconnected does nothing. ReconnectingClientFactory uses it.
    /// This default schedules a plain call that keeps nothing alive (enough for a test double).
    virtual DelayedCall retry_in(Duration delay, ReactorTime& time) {
        return time.call_later(delay, [this] { connect(); });
    }

protected:
    Connector() = default;
    /// For implementations (and test doubles) only; the reactor's connectors are not copyable.
    /// @{
    Connector(const Connector&) = default;
    Connector& operator=(const Connector&) = default;
    /// @}
};

}  // namespace weft
