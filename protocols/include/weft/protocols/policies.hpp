#pragma once
// Resource-limiting policies (Twisted: twisted.protocols.policies): a timeout helper for protocols, and
// factory wrappers that limit connections, time out idle ones and throttle bandwidth.
//
// Every timer is driven by a weft::ReactorTime, so tests run them on weft::testing::Clock.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "weft/client_factory.hpp"
#include "weft/delayed_call.hpp"
#include "weft/factory.hpp"
#include "weft/producer.hpp"
#include "weft/protocol.hpp"
#include "weft/reactor_time.hpp"
#include "weft/time.hpp"
#include "weft/transport.hpp"

namespace weft::protocols {

/// A single, resettable timeout for a protocol (Twisted: TimeoutMixin). Inherit from it next to Protocol.
///
/// Contract: set_timeout(period) (re)starts the countdown, set_timeout(std::nullopt) cancels it and
/// returns the previous period. reset_timeout() restarts a running countdown (call it on activity) and does
/// nothing once it fired or was cancelled. When the countdown ends, timeout_connection() runs once on the
/// ReactorTime's thread; the default loses the connection if this object is also a weft::Protocol with a
/// transport. Destroying the object cancels a pending countdown, so it never fires into a dead protocol.
class TimeoutMixin {
public:
    /// Borrows `time` (it must outlive this object), which runs the countdown; none runs before set_timeout().
    explicit TimeoutMixin(ReactorTime& time) noexcept : time_(&time) {}
    virtual ~TimeoutMixin();
    TimeoutMixin(const TimeoutMixin&) = delete;
    TimeoutMixin& operator=(const TimeoutMixin&) = delete;

    /// Changes the period (std::nullopt: no timeout); returns the previous one.
    std::optional<Duration> set_timeout(std::optional<Duration> period);
    /// set_timeout() with any std::chrono duration (30s, 500ms), rounded to nanoseconds.
    template <class Rep, class Period>
    std::optional<Duration> set_timeout(std::chrono::duration<Rep, Period> period) {
        return set_timeout(std::optional<Duration>(to_duration(period)));
    }
    /// Restarts the countdown from now, if one is running.
    void reset_timeout();
    /// The period last given to set_timeout() (it stays after the countdown fired); std::nullopt: none.
    [[nodiscard]] std::optional<Duration> timeout() const noexcept { return period_; }

    /// The countdown ended. Default: lose the connection (see the class comment).
    virtual void timeout_connection();

    /// The ReactorTime given to the constructor, which runs the countdown.
    [[nodiscard]] ReactorTime& reactor_time() const noexcept { return *time_; }

private:
    ReactorTime* time_;
    std::optional<Duration> period_;
    DelayedCall call_;
};

class WrappingFactory;

/// A protocol that wraps another and is its transport, forwarding both ways (Twisted: ProtocolWrapper).
/// Subclasses intercept what they need (bytes in and out, pausing) and call the base to forward.
///
/// Contract: owns the wrapped protocol. connection_made registers with the factory and connects the
/// wrapped protocol to this wrapper; connection_lost unregisters and forwards. The wrapped protocol sees
/// this wrapper as its transport until its connection_lost returns. Half-close is forwarded to a wrapped
/// protocol that is HalfCloseable; for one that is not, the peer's EOF loses the connection, as the
/// framework does for it unwrapped.
class ProtocolWrapper : public Protocol, public Transport, public HalfCloseable {
public:
    /// Owns `wrapped` (throws std::invalid_argument if it is null); borrows `factory`, which must outlive
    /// the wrapper (it is told when the wrapper goes). Normally made by the factory's wrap().
    ProtocolWrapper(WrappingFactory& factory, std::unique_ptr<Protocol> wrapped);
    ~ProtocolWrapper() override;

    /// The wrapped protocol, owned by this wrapper.
    [[nodiscard]] Protocol& wrapped_protocol() const noexcept { return *wrapped_; }
    /// The factory that built this wrapper and counts it.
    [[nodiscard]] WrappingFactory& wrapping_factory() const noexcept { return *wrapping_factory_; }

    // Protocol
    void connection_made() override;
    void data_received(std::string_view data) override;
    void connection_lost(const Reason& reason) override;

    // HalfCloseable
    void read_connection_lost() override;
    void write_connection_lost() override;

    // Transport, forwarded to the real transport
    void write(std::string_view data) override;
    void write_sequence(std::span<const std::string_view> pieces) override;
    void write_shared(std::shared_ptr<const std::string> data) override;
    void lose_connection() override;
    void abort_connection() override;
    void lose_write_connection() override;
    [[nodiscard]] Address peer() const override;
    [[nodiscard]] Address host() const override;
    [[nodiscard]] std::uint64_t id() const noexcept override;
    /// connecting before connection_made, disconnected once connection_lost was forwarded, the real
    /// transport's state in between. Every other Transport call is ignored (or answers empty) outside that
    /// span; register_producer() then stops the producer, as a closed transport does.
    [[nodiscard]] ConnectionState state() const noexcept override;
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override;
    void set_write_buffer_limits(std::size_t high, std::size_t low) override;
    [[nodiscard]] TcpTransport* as_tcp() noexcept override;
    [[nodiscard]] UnixTransport* as_unix() noexcept override;
    void register_producer(Producer& producer, bool streaming) override;
    void unregister_producer() override;
    void pause_reading_while_backed_up() override;
    /// The wrapped protocol pausing/resuming/stopping its transport's reading.
    void pause_producing() override;
    void resume_producing() override;
    void stop_producing() override;

private:
    friend class WrappingFactory;
    void release() noexcept;

    WrappingFactory* wrapping_factory_;
    std::unique_ptr<Protocol> wrapped_;
    bool lost_ = false;
    bool released_ = false;
};

/// Wraps a factory and the protocols it builds, and keeps track of the connected ones (Twisted:
/// WrappingFactory). Client-side callbacks are forwarded when the wrapped factory is a ClientFactory.
///
/// Contract: build_protocol returns nullptr when the wrapped factory does (or a policy refuses). Every
/// protocol it built is unregistered exactly once: at connection_lost, or when it is destroyed without
/// having been connected, so counts never leak. The wrapped factory must outlive this one.
class WrappingFactory : public ClientFactory {
public:
    /// Wraps `wrapped` (borrowed).
    explicit WrappingFactory(Factory& wrapped) noexcept : wrapped_(&wrapped) {}

    /// The wrapped factory's protocol for `peer` (its factory() set to the wrapped factory), inside the
    /// wrapper wrap() makes; nullptr if the wrapped factory builds none.
    std::unique_ptr<Protocol> build_protocol(const Address& peer) override;
    /// Starts the wrapped factory (its do_start(), so a factory wrapped and used directly starts once).
    void start_factory() override { wrapped_->do_start(); }
    /// Stops the wrapped factory (its do_stop()).
    void stop_factory() override { wrapped_->do_stop(); }
    /// Forwarded to the wrapped factory when it is a ClientFactory; otherwise nothing happens.
    /// @{
    void started_connecting(Connector& connector) override;
    void client_connection_failed(Connector& connector, const Reason& reason) override;
    void client_connection_lost(Connector& connector, const Reason& reason) override;
    /// @}

    /// The factory whose protocols are wrapped (borrowed).
    [[nodiscard]] Factory& wrapped_factory() const noexcept { return *wrapped_; }
    /// The wrappers whose connection is up.
    [[nodiscard]] const std::unordered_set<ProtocolWrapper*>& protocols() const noexcept { return protocols_; }

    /// A wrapper's connection is up (called from its connection_made).
    virtual void register_protocol(ProtocolWrapper& protocol);
    /// A wrapper is gone: connection lost, or destroyed unconnected. Called once per built wrapper.
    virtual void unregister_protocol(ProtocolWrapper& protocol);

protected:
    /// Builds the wrapper around `wrapped` (never null). Override to use a ProtocolWrapper subclass.
    virtual std::unique_ptr<ProtocolWrapper> wrap(std::unique_ptr<Protocol> wrapped, const Address& peer);
    /// Asks the wrapped factory (or `factory`) for a protocol and sets its factory, as the framework does.
    static std::unique_ptr<Protocol> build_from(Factory& factory, const Address& peer);

private:
    Factory* wrapped_;
    std::unordered_set<ProtocolWrapper*> protocols_;
};

/// Limits the number of simultaneous connections (Twisted: LimitTotalConnectionsFactory). Over the
/// limit, a connection is refused (build_protocol returns nullptr) or, if an overflow factory is given,
/// served by its protocol (to say "busy" politely); overflow connections count too.
class LimitTotalConnectionsFactory : public WrappingFactory {
public:
    /// `limit` std::nullopt: no limit. `overflow` is borrowed and may be null.
    LimitTotalConnectionsFactory(Factory& wrapped, std::optional<std::size_t> limit, Factory* overflow = nullptr)
        : WrappingFactory(wrapped), limit_(limit), overflow_(overflow) {}

    /// Under the limit, the wrapped factory's protocol; at the limit, the overflow factory's, or nullptr
    /// (logged at info level) without one. A protocol returned is wrapped and counted.
    std::unique_ptr<Protocol> build_protocol(const Address& peer) override;
    void unregister_protocol(ProtocolWrapper& protocol) override;

    /// Connections counted now: protocols built and not yet lost (or destroyed unconnected), overflow
    /// ones included.
    [[nodiscard]] std::size_t connection_count() const noexcept { return count_; }
    /// The limit; std::nullopt: none.
    [[nodiscard]] std::optional<std::size_t> connection_limit() const noexcept { return limit_; }
    /// Changes the limit for connections still to come; those already counted are not closed.
    void set_connection_limit(std::optional<std::size_t> limit) noexcept { limit_ = limit; }
    /// Sets the factory that serves connections over the limit (borrowed: it must outlive this one), or
    /// with nullptr refuses them instead.
    void set_overflow_factory(Factory* overflow) noexcept { overflow_ = overflow; }

private:
    std::optional<std::size_t> limit_;
    Factory* overflow_;
    std::size_t count_ = 0;
};

/// At most `limit` simultaneous connections to `factory`'s protocols; over it, a connection is sent
/// `busy_message` (when not empty) and closed once that is written, or closed at once (when empty). One
/// self-contained factory in place of LimitTotalConnectionsFactory + an overflow factory + their order:
///     auto factory = protocols::limit_connections(Factory::for_protocol<Chat>(), 100, "busy\r\n");
/// It shares ownership of `factory` (a std::unique_ptr converts) and owns the busy one; busy connections
/// count towards the limit as LimitTotalConnectionsFactory counts them. Throws std::invalid_argument for
/// a null factory.
[[nodiscard]] std::unique_ptr<LimitTotalConnectionsFactory> limit_connections(std::shared_ptr<Factory> factory,
                                                                            std::size_t limit,
                                                                            std::string busy_message = {});

/// Limits simultaneous connections per peer host (Twisted: LimitConnectionsByPeer); over the limit the
/// connection is refused. The host is the one build_protocol was given, so it is counted down exactly.
class LimitConnectionsByPeer : public WrappingFactory {
public:
    /// At most `max_per_peer` connections (default 5, Twisted's) from one host to `wrapped`'s protocols
    /// (`wrapped` is borrowed).
    explicit LimitConnectionsByPeer(Factory& wrapped, std::size_t max_per_peer = 5)
        : WrappingFactory(wrapped), max_per_peer_(max_per_peer) {}

    /// nullptr (logged at info level) when `peer.host` already has max_per_peer() connections; otherwise
    /// the wrapped factory's protocol, wrapped and counted for that host.
    std::unique_ptr<Protocol> build_protocol(const Address& peer) override;
    void unregister_protocol(ProtocolWrapper& protocol) override;

    /// Connections counted now for `host` (compared as spelled in Address::host); 0 for a host never seen.
    [[nodiscard]] std::size_t connections_from(const std::string& host) const;
    /// The per-host limit given to the constructor.
    [[nodiscard]] std::size_t max_per_peer() const noexcept { return max_per_peer_; }

private:
    std::size_t max_per_peer_;
    std::unordered_map<std::string, std::size_t> per_peer_;
    std::unordered_map<const ProtocolWrapper*, std::string> host_of_;
};

/// The wrapper of TimeoutFactory: loses the connection when nothing was read or written for the period
/// (Twisted: TimeoutProtocol). The countdown starts at connection_made.
class TimeoutProtocol : public ProtocolWrapper {
public:
    /// Owns `wrapped`; borrows `factory` and `time` (both must outlive it). `period` std::nullopt: no
    /// timeout until set_timeout(). Normally made by TimeoutFactory.
    TimeoutProtocol(WrappingFactory& factory, std::unique_ptr<Protocol> wrapped, ReactorTime& time,
                    std::optional<Duration> period);
    ~TimeoutProtocol() override;

    /// Cancels any countdown, then starts one with `period` (std::nullopt: none).
    void set_timeout(std::optional<Duration> period);
    /// Cancels the countdown; harmless if there is none.
    void cancel_timeout() noexcept;
    /// Restarts a running countdown.
    void reset_timeout();
    /// The current period; std::nullopt after cancel_timeout() or connection_lost (which cancels).
    [[nodiscard]] std::optional<Duration> timeout() const noexcept { return period_; }

    /// The countdown ended. Default: lose the connection.
    virtual void timeout_func();

    void connection_made() override;
    void data_received(std::string_view data) override;
    void connection_lost(const Reason& reason) override;
    void write(std::string_view data) override;
    void write_sequence(std::span<const std::string_view> pieces) override;
    void write_shared(std::shared_ptr<const std::string> data) override;

private:
    ReactorTime* time_;
    std::optional<Duration> period_;
    DelayedCall call_;
};

/// Times out idle connections of any protocol (Twisted: TimeoutFactory). Default period 30 minutes.
class TimeoutFactory : public WrappingFactory {
public:
    /// Wraps each of `wrapped`'s protocols in a TimeoutProtocol counting `period` on `time` (both factory
    /// and time borrowed: they must outlive this one).
    TimeoutFactory(Factory& wrapped, ReactorTime& time, Duration period = std::chrono::minutes(30))
        : WrappingFactory(wrapped), time_(&time), period_(period) {}

    /// The idle period each new connection gets.
    [[nodiscard]] Duration timeout_period() const noexcept { return period_; }

protected:
    std::unique_ptr<ProtocolWrapper> wrap(std::unique_ptr<Protocol> wrapped, const Address& peer) override;

private:
    ReactorTime* time_;
    Duration period_;
};

/// The limits of a ThrottlingFactory; the defaults limit nothing.
struct ThrottlingOptions {
    /// Connections over this count are refused.
    std::size_t max_connection_count = std::numeric_limits<std::size_t>::max();
    /// Bytes per second read over all connections; std::nullopt: no limit.
    std::optional<std::size_t> read_limit;
    /// Bytes per second written over all connections; std::nullopt: no limit. Only connections with a
    /// registered producer can be slowed down.
    std::optional<std::size_t> write_limit;
};

class ThrottlingFactory;

/// The wrapper of ThrottlingFactory (Twisted: ThrottlingProtocol): counts bytes both ways, pauses the real
/// transport's reading and the wrapped protocol's producer when the factory says so.
///
/// Contract: throttling combines with the protocol's own wishes instead of overriding them: reading is
/// paused while either the protocol paused it or reads are throttled; a streaming producer is paused while
/// either the transport's buffer is full or writes are throttled; a pull producer is not asked for more
/// while writes are throttled.
class ThrottlingProtocol : public ProtocolWrapper {
public:
    /// Owns `wrapped`; borrows `factory`. Normally made by ThrottlingFactory.
    ThrottlingProtocol(ThrottlingFactory& factory, std::unique_ptr<Protocol> wrapped);
    ~ThrottlingProtocol() override;

    void connection_made() override;
    void data_received(std::string_view data) override;
    void write(std::string_view data) override;
    void write_sequence(std::span<const std::string_view> pieces) override;
    void write_shared(std::shared_ptr<const std::string> data) override;
    void register_producer(Producer& producer, bool streaming) override;
    void unregister_producer() override;
    void pause_producing() override;
    void resume_producing() override;

    /// Pauses the real transport's reading until unthrottle_reads() (the factory calls it over read_limit).
    void throttle_reads();
    /// Lifts throttle_reads(); reading resumes unless the protocol itself paused it.
    void unthrottle_reads();
    /// Pauses a streaming producer, or stops asking a pull producer for more, until unthrottle_writes().
    /// Plain write() calls are not held back (the factory calls it over write_limit).
    void throttle_writes();
    /// Lifts throttle_writes(): a streaming producer resumes unless the transport's buffer is full; a pull
    /// producer asked for more meanwhile is asked now.
    void unthrottle_writes();

    /// Whether this connection's reading is throttled now.
    [[nodiscard]] bool reads_throttled() const noexcept { return reads_throttled_; }
    /// Whether this connection's producer is throttled now.
    [[nodiscard]] bool writes_throttled() const noexcept { return writes_throttled_; }

private:
    // Stands between the real transport and the wrapped protocol's producer.
    class WriteGate final : public Producer {
    public:
        explicit WriteGate(ThrottlingProtocol& owner) noexcept : owner_(&owner) {}
        void pause_producing() override;
        void resume_producing() override;
        void stop_producing() override;

    private:
        ThrottlingProtocol* owner_;
    };

    void update_reading();
    void update_writing();

    ThrottlingFactory* throttling_factory_;
    WriteGate gate_{*this};
    Producer* producer_ = nullptr;
    bool streaming_ = false;
    bool consumer_paused_ = false;  // the real transport paused the streaming producer
    bool producer_paused_ = false;  // what we last told the streaming producer
    bool pull_wanted_ = false;      // the transport asked a pull producer for more while throttled
    bool protocol_paused_reading_ = false;
    bool reading_paused_ = false;   // what we last told the real transport
    bool reads_throttled_ = false;
    bool writes_throttled_ = false;
};

/// Throttles bandwidth and the number of connections (Twisted: ThrottlingFactory). Once a second it
/// compares the bytes read (written) in the last second with the limit; over it, every connection's
/// reading (writing) is paused for (bytes / limit - 1) seconds.
class ThrottlingFactory : public WrappingFactory {
public:
    /// Borrows `wrapped` and `time` (they must outlive this one). Throws std::invalid_argument for a
    /// read_limit or write_limit of 0. The once-a-second checks run on `time` only while there are
    /// connections.
    ThrottlingFactory(Factory& wrapped, ReactorTime& time, ThrottlingOptions options = {});
    ~ThrottlingFactory() override;

    /// nullptr (logged at info level) at max_connection_count connections; otherwise the wrapped factory's
    /// protocol in a ThrottlingProtocol, counted. The first connection starts the bandwidth checks.
    std::unique_ptr<Protocol> build_protocol(const Address& peer) override;
    void unregister_protocol(ProtocolWrapper& protocol) override;

    /// Called by the protocols.
    void register_written(std::size_t length) noexcept { written_this_second_ += length; }
    /// Counts `length` bytes read in this second (called by the protocols' data_received).
    void register_read(std::size_t length) noexcept { read_this_second_ += length; }

    /// Connections counted now: built and not yet lost (or destroyed unconnected).
    [[nodiscard]] std::size_t connection_count() const noexcept { return count_; }
    /// Bytes read over all connections since the last once-a-second check.
    [[nodiscard]] std::size_t read_this_second() const noexcept { return read_this_second_; }
    /// Bytes written over all connections since the last once-a-second check.
    [[nodiscard]] std::size_t written_this_second() const noexcept { return written_this_second_; }
    /// Whether every connection's reading is throttled now (a connection made meanwhile starts throttled).
    [[nodiscard]] bool reads_throttled() const noexcept { return reads_throttled_; }
    /// Whether every connection's producer is throttled now (a connection made meanwhile starts throttled).
    [[nodiscard]] bool writes_throttled() const noexcept { return writes_throttled_; }
    /// The options given to the constructor.
    [[nodiscard]] const ThrottlingOptions& options() const noexcept { return options_; }

protected:
    std::unique_ptr<ProtocolWrapper> wrap(std::unique_ptr<Protocol> wrapped, const Address& peer) override;

private:
    void check_read_bandwidth();
    void check_write_bandwidth();
    void throttle_reads();
    void unthrottle_reads();
    void throttle_writes();
    void unthrottle_writes();
    void cancel_timers() noexcept;

    ReactorTime* time_;
    ThrottlingOptions options_;
    std::size_t count_ = 0;
    std::size_t read_this_second_ = 0;
    std::size_t written_this_second_ = 0;
    bool reads_throttled_ = false;
    bool writes_throttled_ = false;
    DelayedCall check_read_;
    DelayedCall check_write_;
    DelayedCall unthrottle_reads_;
    DelayedCall unthrottle_writes_;
};

}  // namespace weft::protocols
