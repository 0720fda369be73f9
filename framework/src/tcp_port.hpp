#pragma once
// TcpPort: the TCP ListeningPort. Accepts connections and builds a protocol for each.

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "weft/factory.hpp"
#include "weft/listening_port.hpp"
#include "weft/reactor.hpp"

namespace weft::detail {

namespace asio = boost::asio;
class ReactorCore;

class TcpPort final : public ListeningPort, public std::enable_shared_from_this<TcpPort> {
public:
    TcpPort(ReactorCore& core, Factory& factory);
    ~TcpPort() override;

    /// Binds and listens; throws BindError.
    void start(std::uint16_t port, const ListenOptions& options);

    [[nodiscard]] std::uint16_t port() const noexcept override { return bound_.port(); }
    [[nodiscard]] Address address() const override;
    void stop_listening() override;
    [[nodiscard]] bool listening() const noexcept override { return listening_; }

    /// After EMFILE/ENFILE the port waits this long before accepting again, doubling up to the maximum:
    /// no busy loop while descriptors are exhausted, and accepting resumes by itself once they are back.
    static constexpr auto min_accept_backoff = std::chrono::milliseconds(10);
    static constexpr auto max_accept_backoff = std::chrono::milliseconds(1000);

private:
    void accept();
    void on_accept(const boost::system::error_code& ec, asio::ip::tcp::socket socket);

    ReactorCore& core_;
    Factory& factory_;
    asio::ip::tcp::acceptor acceptor_;
    asio::steady_timer backoff_timer_;
    std::chrono::milliseconds backoff_{0};
    asio::ip::tcp::endpoint bound_;
    bool listening_ = false;
};

}  // namespace weft::detail
