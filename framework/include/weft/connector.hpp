#pragma once
// Connector: an outgoing connection attempt and the connection it makes (Twisted: IConnector).

#include <string>
#include <cstdint>

namespace weft {

/// Returned by Reactor::connect_tcp. The reactor keeps it alive while it is connecting or connected, and
/// while a ReconnectingClientFactory has a retry of it scheduled.
/// Contract: connect() starts a new attempt from the disconnected state (ReconnectingClientFactory uses
/// it); stop_connecting() aborts an attempt in progress (the factory gets client_connection_failed);
/// disconnect() stops an attempt or loses the connection.
class Connector {
public:
    enum class State { disconnected, connecting, connected };

    virtual ~Connector() = default;
    virtual void connect() = 0;
    virtual void stop_connecting() = 0;
    virtual void disconnect() = 0;
    [[nodiscard]] virtual State state() const noexcept = 0;
    /// "host:port" as given to connect_tcp.
    [[nodiscard]] virtual std::string destination() const = 0;

protected:
    Connector() = default;
    Connector(const Connector&) = default;
    Connector& operator=(const Connector&) = default;

private:
    friend class ReconnectingClientFactory;
    /// The reconnecting factory dropped the retry it had scheduled (stop_trying): a disconnected connector
    /// that the reactor kept alive for that retry may now be released.
    virtual void retry_abandoned() {}
};

}  // namespace weft
