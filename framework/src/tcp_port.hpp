#pragma once
// TcpPort: the TCP ListeningPort. Accepts connections and builds a protocol for each.

#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "socket_types.hpp"
#include <boost/asio/steady_timer.hpp>

#include "weft/factory.hpp"
#include "weft/listening_port.hpp"
#include "weft/log.hpp"
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
    /// Connections accepted in one turn at most (Twisted's numberAccepts starts at 100). Accepting a burst
    /// in one turn lets the writes its connection_made calls cause (a chat room's join notices) leave in
    /// one flush pass instead of one per connection; the cap keeps a connect flood from hogging the loop.
    static constexpr std::size_t max_accepts_per_turn = 64;
    /// Records that repeat per connection under attack (failed accepts, refusals) are let through once
    /// per this interval per port, with the count of those held back.
    static constexpr auto repeated_log_interval = std::chrono::seconds(1);

private:
    /// Waits for the listening socket to be readable (a connection is pending).
    void accept();
    /// Accepts what is pending, up to max_accepts_per_turn, then waits again (or continues next turn).
    void accept_pending();
    /// False if accepting must pause (out of descriptors): the back-off timer then resumes it.
    bool accept_failed(const boost::system::error_code& ec);
    void accepted(Socket socket);

    ReactorCore& core_;
    Factory& factory_;
    Acceptor acceptor_;
    asio::steady_timer backoff_timer_;
    std::chrono::milliseconds backoff_{0};
    LogRateLimiter aborted_log_{repeated_log_interval};   // ECONNABORTED/EPROTO (connect-then-RST floods)
    LogRateLimiter failed_log_{repeated_log_interval};    // EMFILE/ENFILE and other pausing errors
    LogRateLimiter refused_log_{repeated_log_interval};   // build_protocol returned nullptr
    asio::ip::tcp::endpoint bound_;
    bool listening_ = false;
};

}  // namespace weft::detail
