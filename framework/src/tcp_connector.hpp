#pragma once
// TcpConnector: an outgoing TCP connection attempt (resolve, connect) on ConnectorBase, which does the
// rest (states, factory calls, timeout, retries, keep-alive).

#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "connector_base.hpp"
#include "socket_types.hpp"

#include "weft/reactor.hpp"

namespace weft::detail {

namespace asio = boost::asio;

class TcpConnector final : public ConnectorBase {
public:
    TcpConnector(ReactorCore& core, std::string host, std::uint16_t port, ClientFactory& factory,
                 ConnectOptions options);

    [[nodiscard]] std::string destination() const override;

private:
    void start_attempt() override;
    void abandon_attempt() noexcept override;
    std::shared_ptr<TcpConnector> self() { return std::static_pointer_cast<TcpConnector>(shared_from_this()); }
    void connect_to(asio::ip::tcp::resolver::results_type endpoints);
    void try_endpoint(asio::ip::tcp::resolver::results_type::const_iterator it, boost::system::error_code last);
    void connected();

    std::string host_;
    std::uint16_t port_;
    ConnectOptions options_;
    asio::ip::tcp::resolver resolver_;
    Socket socket_;
    asio::ip::tcp::resolver::results_type endpoints_;
};

}  // namespace weft::detail
