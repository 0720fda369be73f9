#pragma once
// TcpConnector: an outgoing TCP connection attempt (resolve, connect, timeout) and its connection.

#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "socket_types.hpp"
#include "stream/live_transport.hpp"

#include "weft/client_factory.hpp"
#include "weft/connector.hpp"
#include "weft/delayed_call.hpp"
#include "weft/reactor.hpp"

namespace weft::detail {

namespace asio = boost::asio;
class ReactorCore;
class TcpConnection;

class TcpConnector final : public Connector,
                           public ConnectionObserver,
                           public std::enable_shared_from_this<TcpConnector> {
public:
    TcpConnector(ReactorCore& core, std::string host, std::uint16_t port, ClientFactory& factory,
                 ConnectOptions options);
    ~TcpConnector() override;

    void connect() override;
    void stop_connecting() override;
    void disconnect() override;
    [[nodiscard]] State state() const noexcept override { return state_; }
    [[nodiscard]] std::string destination() const override;

    /// Called by the connection once its protocol has heard connection_lost.
    void connection_lost(const Reason& reason) override;

private:
    /// Releases this connector from the reactor if it was only kept for the abandoned retry.
    void retry_abandoned() override;
    void connect_to(asio::ip::tcp::resolver::results_type endpoints);
    void try_endpoint(asio::ip::tcp::resolver::results_type::const_iterator it, boost::system::error_code last);
    void connected();
    void fail(const Reason& reason);
    /// Drops the reactor's reference unless the factory will connect again.
    void settle();

    ReactorCore& core_;
    std::string host_;
    std::uint16_t port_;
    ClientFactory& factory_;
    ConnectOptions options_;
    asio::ip::tcp::resolver resolver_;
    Socket socket_;
    asio::ip::tcp::resolver::results_type endpoints_;
    State state_ = State::disconnected;
    std::uint64_t attempt_ = 0;  // guards handlers of an attempt that was stopped
    DelayedCall timeout_;
    std::weak_ptr<TcpConnection> connection_;
    bool factory_started_ = false;
};

}  // namespace weft::detail
