#pragma once
// TcpConnector: an outgoing TCP connection attempt (resolve through the reactor's Resolver, connect) on ConnectorBase, which does the
// rest (states, factory calls, timeout, retries, keep-alive).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "connector_base.hpp"
#include "socket_types.hpp"

#include "weft/deferred.hpp"
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
    void connect_to(const std::vector<Address>& addresses);
    void try_endpoint(std::size_t index, boost::system::error_code last);
    void connected();

    std::string host_;
    std::uint16_t port_;
    ConnectOptions options_;
    std::optional<Deferred<std::vector<Address>>> resolution_;  // while the resolver works on host_
    Socket socket_;
    std::vector<asio::ip::tcp::endpoint> endpoints_;
};

}  // namespace weft::detail
