#pragma once
// UdpPort: a bound UDP socket, its protocol, its receive loop and its send queue (the UdpTransport
// behind Reactor::listen_udp).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <sys/socket.h>

#include <boost/asio/basic_datagram_socket.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "reactor_core.hpp"
#include "stream/live_transport.hpp"
#include "udp/datagram_address.hpp"
#include "udp/udp_send_queue.hpp"
#include "weft/datagram_protocol.hpp"
#include "weft/log.hpp"
#include "weft/udp_transport.hpp"

namespace weft::detail {

/// The data path (docs/udp.md): readable -> recvmmsg of up to 64 datagrams into the reactor's UdpBuffers
/// (MSG_TRUNC tells each datagram's real size) -> datagram_received for each -> the datagrams written
/// meanwhile leave by sendmmsg right after the batch. A batch that filled up is followed by another, up to
/// max_datagrams_per_turn, then the port yields (a posted continuation). Writes made outside the port's
/// own callbacks are flushed once at the end of the turn (ReactorCore::schedule_flush). When the kernel's
/// send buffer is full, the queue waits for writability; the queue's bounds drop what does not fit.
///
/// The reactor holds the port (ReactorCore::add_udp) from start() until it stops; the protocol, when owned,
/// is released after stop_protocol.
class UdpPort final : public UdpTransport, public LiveTransport, public std::enable_shared_from_this<UdpPort> {
public:
    using Socket = boost::asio::basic_datagram_socket<boost::asio::ip::udp, boost::asio::io_context::executor_type>;

    UdpPort(ReactorCore& core, DatagramProtocol& protocol, std::unique_ptr<DatagramProtocol> owned, const UdpOptions& options);
    ~UdpPort() override;
    UdpPort(const UdpPort&) = delete;
    UdpPort& operator=(const UdpPort&) = delete;

    /// Opens and binds the socket with the options; throws BindError naming the address.
    void bind(std::uint16_t port);
    /// Registers with the reactor, calls start_protocol and starts receiving.
    void start();
    /// The reactor is destroyed without a shutdown: close, call nothing back.
    void detach() noexcept;

    // UdpTransport
    bool write(std::string_view datagram, const Address& to) override;
    bool write(std::string_view datagram) override;
    void connect(const std::string& host, std::uint16_t port) override;
    [[nodiscard]] std::optional<Address> connected_address() const override { return connected_; }
    [[nodiscard]] Address host() const override { return bound_; }
    [[nodiscard]] std::uint16_t port() const noexcept override { return bound_.port; }
    void stop_listening() override;
    [[nodiscard]] bool listening() const noexcept override { return listening_; }
    [[nodiscard]] std::uint64_t id() const noexcept override { return id_; }
    [[nodiscard]] std::size_t max_packet_size() const noexcept override { return options_.max_packet_size; }
    [[nodiscard]] std::uint64_t dropped_datagrams() const noexcept override { return dropped_; }
    [[nodiscard]] std::uint64_t truncated_datagrams() const noexcept override { return truncated_; }
    [[nodiscard]] std::size_t queued_datagrams() const noexcept override { return queue_.size(); }
    [[nodiscard]] std::size_t queued_bytes() const noexcept override { return queue_.bytes(); }
    void set_broadcast_allowed(bool allowed) override;
    [[nodiscard]] bool broadcast_allowed() const override;
    void join_group(const std::string& group, const std::string& interface = "") override;
    void leave_group(const std::string& group, const std::string& interface = "") override;
    void set_ttl(int ttl) override;
    [[nodiscard]] int ttl() const override;
    void set_loopback_mode(bool enabled) override;
    [[nodiscard]] bool loopback_mode() const override;
    void set_outgoing_interface(const std::string& interface) override;
    [[nodiscard]] std::string outgoing_interface() const override;

    /// Tests only: replaces sendmmsg (same arguments and result, errno included), to reach what loopback
    /// never does (EAGAIN: lo releases the sender's buffer at once). Empty: sendmmsg.
    using SendFunction = std::function<int(int fd, ::mmsghdr* messages, unsigned count, int flags)>;
    void set_send_function_for_testing(SendFunction send) { send_for_testing_ = std::move(send); }

    // LiveTransport: the reactor's shutdown and its end-of-turn flush.
    void shutdown(bool force) override;
    void run_scheduled_flush() override;

private:
    /// Records that repeat per datagram under load (drops, truncations, send errors): one per interval.
    static constexpr auto repeated_log_interval = std::chrono::seconds(1);

    [[nodiscard]] int fd() const noexcept { return const_cast<Socket&>(socket_).native_handle(); }
    [[nodiscard]] std::string prefix() const;
    void require_listening(const char* what) const;
    bool enqueue(std::string_view datagram, const DatagramAddress* to);
    void wait_readable();
    void wait_writable();
    /// Receives and delivers up to max_datagrams_per_turn datagrams, then waits or yields.
    void receive();
    void deliver(std::string_view data, std::size_t size, bool truncated, const DatagramAddress& from);
    /// Sends what is queued until it is empty or the kernel's buffer is full. `callbacks`: the protocol
    /// may hear connection_refused (not while the port stops).
    void flush(bool callbacks);
    void drop_head(int error);
    /// Closes the socket and leaves the reactor's registry; stop_protocol is the caller's.
    void close();
    template <class F>
    void call_protocol(const char* what, F&& fn) noexcept;

    ReactorCore& core_;
    DatagramProtocol& protocol_;
    std::unique_ptr<DatagramProtocol> owned_;
    UdpOptions options_;
    Socket socket_;
    std::uint64_t id_;
    Address bound_;
    bool ipv6_ = false;
    bool listening_ = false;
    bool reading_ = false;       // a wait or a continuation is pending
    bool in_receive_ = false;    // inside this port's own callbacks: their writes leave after the batch
    bool flush_scheduled_ = false;
    bool blocked_ = false;       // waiting for writability
    std::optional<Address> connected_;
    DatagramAddress connected_raw_;
    std::optional<Address> last_to_;               // the last address written to, parsed once
    DatagramAddress last_raw_;
    const Address* current_from_ = nullptr;        // the sender being delivered: a reply to it needs no parse
    const DatagramAddress* current_raw_ = nullptr;
    UdpSendQueue queue_;
    std::uint64_t dropped_ = 0;
    std::uint64_t truncated_ = 0;
    LogRateLimiter drop_log_{repeated_log_interval};
    LogRateLimiter truncate_log_{repeated_log_interval};
    LogRateLimiter error_log_{repeated_log_interval};
    SendFunction send_for_testing_;
};

/// Binds and starts a port (Reactor::listen_udp). Throws BindError, or Error for options out of range.
std::shared_ptr<UdpPort> listen_udp(ReactorCore& core, std::uint16_t port, DatagramProtocol& protocol,
                                    std::unique_ptr<DatagramProtocol> owned, const UdpOptions& options);

}  // namespace weft::detail
