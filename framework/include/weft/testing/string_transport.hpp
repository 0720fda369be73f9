#pragma once
// weft::testing::StringTransport: an in-memory transport for unit-testing protocols without sockets
// (Twisted: twisted.internet.testing.StringTransport).

#include <cstddef>
#include <string>
#include <utility>

#include "weft/tcp_transport.hpp"

namespace weft::testing {

/// A fake TCP connection (as_tcp() is itself; the TCP options are only recorded).
/// Records everything written; touches no network and no reactor. lose_connection() and
/// abort_connection() only set flags (connection_lost is delivered by the test, by calling the
/// protocol's connection_lost, as with Twisted's StringTransport).
/// buffered_bytes() is value().size(): what was written and not yet clear()ed counts as unsent, so a test
/// can model a peer that does not read.
class StringTransport : public TcpTransport {
public:
    /// Where the transport's own reading side stands, as a Producer: `producing` initially and after
    /// resume_producing(), `paused` after pause_producing(), `stopped` after stop_producing() for good
    /// (pause/resume then throw StateError).
    enum class ProducerState { producing, paused, stopped };

    /// A connected transport with remote address `peer` and local address `host` (made-up defaults: the
    /// peer 192.168.1.1:54321, the host 10.0.0.1:1234), nothing written, 64 KiB/16 KiB watermarks.
    explicit StringTransport(Address peer = {"192.168.1.1", 54321}, Address host = {"10.0.0.1", 1234})
        : peer_(std::move(peer)), host_(std::move(host)) {}

    /// Everything written since construction or the last clear().
    [[nodiscard]] const std::string& value() const noexcept { return written_; }
    /// Empties value() and returns what it held.
    std::string clear() { return std::exchange(written_, {}); }

    // Transport
    void write(std::string_view data) override;
    void write_sequence(std::span<const std::string_view> pieces) override;
    void write_shared(std::shared_ptr<const std::string> data) override;
    void lose_connection() override;
    void abort_connection() override;
    void lose_write_connection() override;
    [[nodiscard]] Address peer() const override { return peer_; }
    [[nodiscard]] Address host() const override { return host_; }
    [[nodiscard]] std::uint64_t id() const noexcept override { return 0; }
    /// connected, then disconnecting after lose_connection()/abort_connection()/stop_producing() or
    /// write_half_closed after lose_write_connection(); it becomes disconnected only through set_state().
    [[nodiscard]] ConnectionState state() const noexcept override { return state_; }
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override { return written_.size(); }
    void set_write_buffer_limits(std::size_t high, std::size_t low) override;
    bool set_tcp_nodelay(bool enabled) override { nodelay = enabled; return true; }
    bool set_tcp_keepalive(bool enabled) override { keepalive = enabled; return true; }
    void register_producer(Producer& producer, bool streaming) override;
    void unregister_producer() override;
    /// Only recorded (reading_backpressure): a StringTransport reads nothing by itself.
    void pause_reading_while_backed_up() override { reading_backpressure = true; }

    // Producer: the transport's own reading side
    void pause_producing() override;
    void resume_producing() override;
    void stop_producing() override;

    /// Test-side inspection.
    [[nodiscard]] bool disconnect_requested() const noexcept { return lose_called_; }
    /// Whether abort_connection() was called (it sets disconnect_requested() too).
    [[nodiscard]] bool aborted() const noexcept { return aborted_; }
    /// Whether lose_write_connection() was called.
    [[nodiscard]] bool write_closed() const noexcept { return write_closed_; }
    /// Where pause_producing()/resume_producing()/stop_producing() left the reading side.
    [[nodiscard]] ProducerState producer_state() const noexcept { return producer_state_; }
    /// The producer registered with register_producer(), or nullptr. Nothing drives it: the test pauses
    /// or resumes it itself.
    [[nodiscard]] Producer* producer() const noexcept { return producer_; }
    /// Whether the registered producer was registered as streaming (push); false with none.
    [[nodiscard]] bool streaming() const noexcept { return streaming_; }
    /// The high watermark in bytes set by set_write_buffer_limits() (default 64 KiB); only recorded.
    [[nodiscard]] std::size_t high_water() const noexcept { return high_; }
    /// The low watermark in bytes set by set_write_buffer_limits() (default 16 KiB); only recorded.
    [[nodiscard]] std::size_t low_water() const noexcept { return low_; }
    /// Sets the connection's state, e.g. disconnected once the test delivered connection_lost.
    void set_state(ConnectionState state) noexcept { state_ = state; }

    bool nodelay = false;               ///< the last value given to set_tcp_nodelay(); only recorded
    bool keepalive = false;             ///< the last value given to set_tcp_keepalive(); only recorded
    bool reading_backpressure = false;  ///< whether pause_reading_while_backed_up() was called

protected:
    /// For subclasses that replace abort_connection(): records it as StringTransport's does.
    void mark_aborted() noexcept { aborted_ = true; }

private:
    Address peer_;
    Address host_;
    std::string written_;
    ConnectionState state_ = ConnectionState::connected;
    ProducerState producer_state_ = ProducerState::producing;
    Producer* producer_ = nullptr;
    bool streaming_ = false;
    bool lose_called_ = false;
    bool aborted_ = false;
    bool write_closed_ = false;
    std::size_t high_ = 64 * 1024;
    std::size_t low_ = 16 * 1024;
};

}  // namespace weft::testing
