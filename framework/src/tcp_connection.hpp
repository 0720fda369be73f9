#pragma once
// TcpConnection: the TCP Transport. One per connection; owns its socket and its protocol.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <sys/uio.h>

#include <boost/asio/ip/tcp.hpp>

#include "socket_types.hpp"
#include "write_queue.hpp"
#include "weft/delayed_call.hpp"
#include "weft/protocol.hpp"
#include "weft/reason.hpp"
#include "weft/tcp_transport.hpp"

namespace weft::detail {

namespace asio = boost::asio;
class ReactorCore;
class TcpConnector;

/// The data path, in order: the socket becomes readable -> read_some() into the reactor's shared buffer
/// -> protocol.data_received(view). What the protocol writes meanwhile goes to the reactor's write scratch
/// and is sent by one gathered sendmsg right after data_received returns. Writes made at other times
/// (a timer, another connection's broadcast) go to out_ and are flushed by one posted handler per turn
/// for all connections. What the kernel does not take waits in out_ for writability. connection_lost
/// is always posted, so it never runs inside a call the protocol made.
class TcpConnection final : public TcpTransport, public std::enable_shared_from_this<TcpConnection> {
public:
    /// `peer` is the socket's remote endpoint, which the accepting port or the connector already read.
    TcpConnection(ReactorCore& core, Socket socket, const asio::ip::tcp::endpoint& peer,
                  std::unique_ptr<Protocol> protocol);
    ~TcpConnection() override;

    /// Attaches the protocol (connection_made) and starts reading. `connector` is set for outgoing ones.
    void start(std::shared_ptr<TcpConnector> connector = nullptr);
    /// Reactor shutdown: lose the connection; abort it if `force`.
    void shutdown(bool force);

    // Transport
    void write(std::string_view data) override;
    void write_sequence(std::span<const std::string_view> pieces) override;
    void write_shared(std::shared_ptr<const std::string> data) override;
    void lose_connection() override;
    void abort_connection() override;
    void lose_write_connection() override;
    [[nodiscard]] Address peer() const override;
    [[nodiscard]] Address host() const override;
    [[nodiscard]] std::uint64_t id() const noexcept override { return id_; }
    [[nodiscard]] ConnectionState state() const noexcept override { return state_; }
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override { return buffered_; }
    void set_write_buffer_limits(std::size_t high, std::size_t low) override;
    bool set_tcp_nodelay(bool enabled) override;
    bool set_tcp_keepalive(bool enabled) override;
    void register_producer(Producer& producer, bool streaming) override;
    void unregister_producer() override;
    void pause_producing() override;
    void resume_producing() override;
    void pause_reading_while_backed_up() override;
    void stop_producing() override;

    /// Called by the reactor at the end of the turn in which schedule_flush() queued this connection.
    void run_scheduled_flush() {
        flush_queued_ = false;
        flush();
    }

private:
    void set_state(ConnectionState to, const char* event);
    [[nodiscard]] bool reading_allowed() const noexcept;
    /// Arms reading again (on a later turn) if it is allowed and not armed.
    void rearm_reading();
    [[nodiscard]] bool writing_allowed() const noexcept;
    /// Runs a protocol callback; a throw aborts this connection only.
    template <class F>
    void call_protocol(const char* what, F&& fn);

    void read_some();
    void wait_readable();
    void handle_eof();
    /// Queues non-empty `data` (write scratch or out_) and counts it; after_write_queued() follows.
    void queue(std::string_view data);
    void after_write_queued();
    void schedule_flush();
    /// Appends what this connection wrote to the write scratch onto out_ (it must wait for the kernel).
    void spill_scratch();
    /// Sends out_ and then `tail` (this connection's pieces of the write scratch) in gathered writes; keeps
    /// what the kernel does not take, and waits for writability or yields for the rest of the turn.
    void flush(std::span<const ::iovec> tail = {});
    void wait_writable();
    void on_drained();
    void begin_disconnecting(const char* event);
    /// Closes the socket (with a reset if `reset`) and posts connection_lost(reason).
    void close(Reason reason, bool reset, const char* event);
    void deliver_connection_lost(const Reason& reason);

    ReactorCore& core_;
    Socket socket_;
    std::unique_ptr<Protocol> protocol_;
    HalfCloseable* half_closeable_ = nullptr;
    std::shared_ptr<TcpConnector> connector_;
    asio::ip::tcp::endpoint peer_;
    std::uint64_t id_;
    ConnectionState state_ = ConnectionState::connecting;

    WriteQueue out_;           // output waiting for the kernel
    std::size_t buffered_ = 0;  // out_ plus what this connection has in the write scratch
    std::size_t high_water_ = 64 * 1024;
    std::size_t low_water_ = 16 * 1024;

    Producer* producer_ = nullptr;
    bool streaming_ = false;
    bool producer_paused_ = false;

    bool reading_paused_ = false;   // pause_producing()
    bool backpressure_reads_ = false;  // pause_reading_while_backed_up()
    bool backlog_paused_ = false;   // ... and the output is above the high watermark
    bool read_pending_ = false;     // an async_wait(read) or a posted read is outstanding
    bool flush_queued_ = false;     // queued in the reactor's flush batch for this turn
    bool in_data_received_ = false; // writes go to the write scratch; flush when data_received returns
    bool flush_after_callback_ = false;
    bool write_waiting_ = false;    // an async_wait(write) is outstanding
    bool eof_received_ = false;
    bool write_shutdown_requested_ = false;
    bool write_shut_ = false;
    bool lost_delivered_ = false;
    DelayedCall disconnect_timer_;
};

}  // namespace weft::detail
