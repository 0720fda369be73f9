#pragma once
// weft::testing::IOPump, FakeTransport, connect_pair: two protocols connected in memory, with no reactor and
// no socket (Twisted: twisted.test.iosim -- connect, FakeTransport, IOPump, connectedServerAndClient).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "weft/protocol.hpp"
#include "weft/tcp_transport.hpp"

namespace weft::testing {

class IOPump;

/// One end of an in-memory connection (Twisted: iosim.FakeTransport). Writes are buffered until the
/// IOPump moves them to the other end; nothing is delivered inside a call into the transport, so a
/// protocol sees the same order of callbacks as on a real connection, each pump round standing for a
/// loop turn. A TCP transport (as_tcp() is itself, options are only recorded) unless the pair was made
/// with UNIX addresses, in which case as_tcp() is nullptr (and as_unix() too: there are no peer
/// credentials to give).
class FakeTransport final : public TcpTransport {
public:
    /// An end with remote address `peer`, local address `host` and id() `id`, connected, with 64 KiB/16 KiB
    /// watermarks. IOPump makes both ends (the server's has id 1, the client's 2); only the pump delivers
    /// anything, so an end made alone just buffers what is written.
    FakeTransport(Address peer, Address host, std::uint64_t id);

    // Transport
    void write(std::string_view data) override;
    void write_sequence(std::span<const std::string_view> pieces) override;
    void write_shared(std::shared_ptr<const std::string> data) override;
    void lose_connection() override;
    void abort_connection() override;
    void lose_write_connection() override;
    [[nodiscard]] Address peer() const override { return peer_; }
    [[nodiscard]] Address host() const override { return host_; }
    [[nodiscard]] std::uint64_t id() const noexcept override { return id_; }
    [[nodiscard]] ConnectionState state() const noexcept override { return state_; }
    /// Bytes written and not yet delivered to the other end.
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override { return out_.size() - out_pos_; }
    void set_write_buffer_limits(std::size_t high, std::size_t low) override;
    [[nodiscard]] TcpTransport* as_tcp() noexcept override { return host_.is_unix() ? nullptr : this; }
    bool set_tcp_nodelay(bool enabled) override { nodelay = enabled; return true; }
    bool set_tcp_keepalive(bool enabled) override { keepalive = enabled; return true; }
    void register_producer(Producer& producer, bool streaming) override;
    void unregister_producer() override;
    void pause_reading_while_backed_up() override { reading_backpressure_ = true; }

    // Producer: this end's reading side. While paused, the pump delivers nothing to this end.
    void pause_producing() override { reading_paused_ = true; }
    void resume_producing() override { reading_paused_ = false; }
    void stop_producing() override { lose_connection(); }

    /// Test-side inspection.
    [[nodiscard]] bool reading_paused() const noexcept { return reading_paused_; }
    /// True while pause_reading_while_backed_up() holds reading (output above the high watermark).
    [[nodiscard]] bool backed_up() const noexcept { return backed_up_; }
    /// The producer registered with register_producer(), or nullptr (also once the end was lost, which
    /// unregisters and stops it).
    [[nodiscard]] Producer* producer() const noexcept { return producer_; }
    /// Whether the registered streaming producer is paused by the watermarks.
    [[nodiscard]] bool producer_paused() const noexcept { return producer_paused_; }
    /// The reason delivered with connection_lost, once it was.
    [[nodiscard]] const std::optional<Reason>& lost_reason() const noexcept { return lost_reason_; }

    bool nodelay = false;    ///< the last value given to set_tcp_nodelay(); it changes nothing else
    bool keepalive = false;  ///< the last value given to set_tcp_keepalive(); it changes nothing else

private:
    friend class IOPump;

    [[nodiscard]] bool writable() const noexcept {
        return state_ == ConnectionState::connected || state_ == ConnectionState::read_half_closed;
    }
    /// Whether the pump may deliver input to this end now.
    [[nodiscard]] bool reading() const noexcept { return !reading_paused_ && !backed_up_; }
    /// Whether this end still takes input at all (lose_connection() stops reading for good).
    [[nodiscard]] bool accepts_input() const noexcept { return !closing_ && !aborting_ && !lost_reason_; }
    void after_write();
    void after_drain();

    Address peer_;
    Address host_;
    std::uint64_t id_;
    ConnectionState state_ = ConnectionState::connected;
    std::string out_;          // bytes from out_pos_ on are not yet delivered
    std::size_t out_pos_ = 0;
    std::size_t high_ = 64 * 1024;
    std::size_t low_ = 16 * 1024;
    Producer* producer_ = nullptr;
    bool streaming_ = false;
    bool producer_paused_ = false;
    bool reading_paused_ = false;
    bool reading_backpressure_ = false;
    bool backed_up_ = false;
    bool closing_ = false;         // lose_connection(): close once out_ is delivered
    bool aborting_ = false;        // abort_connection(): close on the next round, dropping out_
    bool write_shutdown_ = false;  // lose_write_connection(): send EOF once out_ is delivered
    bool eof_sent_ = false;
    bool eof_received_ = false;
    std::optional<Reason> lost_reason_;
};

/// Where the two ends of a pair are and how the pump delivers.
struct PairOptions {
    /// The server's address: the server transport's host(), the client transport's peer(). Make both
    /// addresses Address::unix_socket(...) for a UNIX socket pair.
    Address server_address{"127.0.0.1", 8080};
    /// The client's address: the client transport's host(), the server transport's peer().
    Address client_address{"127.0.0.1", 54321};
    /// The most bytes one data_received call gets; 0 = whatever is buffered. 1 delivers byte by byte,
    /// which is where parsing bugs live.
    std::size_t chunk_size = 0;
    /// pump() gives up with a StateError after this many rounds: two protocols that answer each other
    /// forever are a bug to report, not a hang.
    std::size_t round_limit = 10'000'000;
};

/// Two protocols joined by two FakeTransports (Twisted: iosim.IOPump, connect and
/// connectedServerAndClient, and loopback). The constructor calls the server's make_connection, then the
/// client's; nothing moves until pump(). Deterministic: no reactor, no socket, no time.
///
/// Each round (step()) stands for one loop turn of a real connection:
/// - an abort_connection() closes at once, dropping what either end had buffered: the aborting end gets
///   connection_lost(Reason::aborted()), the other Reason::lost(connection_reset) as a TCP peer of a
///   reset would;
/// - a pull producer whose transport's buffer is empty is asked for more (resume_producing);
/// - each direction moves what is buffered (at most chunk_size bytes) to the other end's data_received,
///   unless that end paused reading (pause_producing(), or pause_reading_while_backed_up() with its
///   output above the high watermark): a paused end receives nothing until it resumes. Input for an end
///   that called lose_connection() is dropped, as a real transport stops reading. Draining below the low
///   watermark resumes a streaming producer paused at the high one;
/// - when nothing moved: once an end's buffer is delivered, its lose_write_connection() becomes the other
///   end's read_connection_lost() (HalfCloseable protocols; other protocols then lose their connection
///   as a real transport does on EOF) and its own write_connection_lost(); its lose_connection() closes
///   the connection, with connection_lost(Reason::done()) to both ends (the closing end first). Both
///   ends shutting down their write sides closes it too.
/// A registered producer is stopped when its end is lost. The protocols stay alive until the pump is
/// destroyed, so a test can inspect them after connection_lost; destroying the pump delivers nothing. Exceptions thrown by a callback leave
/// pump() (a real transport would log them and abort the connection).
class IOPump {
public:
    /// Connects two protocols the test owns; they must outlive the pump.
    IOPump(Protocol& server, Protocol& client, PairOptions options = {});
    /// Connects two protocols the pump owns (e.g. built by factories).
    IOPump(std::unique_ptr<Protocol> server, std::unique_ptr<Protocol> client, PairOptions options = {});
    /// Connects a server the test owns to a client the pump owns (MemoryConnector::complete).
    IOPump(Protocol& server, std::unique_ptr<Protocol> client, PairOptions options = {});
    IOPump(const IOPump&) = delete;
    IOPump& operator=(const IOPump&) = delete;
    ~IOPump();

    /// Runs rounds until one moves nothing; returns whether anything moved (Twisted: IOPump.flush).
    bool pump();
    /// The same as pump(), under Twisted's name.
    bool flush() { return pump(); }
    /// One round; returns whether anything moved (Twisted: IOPump.pump).
    bool step();

    /// The server's end: the transport the server protocol writes to (host() is the server address). Valid
    /// for the pump's lifetime, also after connection_lost.
    [[nodiscard]] FakeTransport& server_transport() noexcept { return *transports_[0]; }
    /// The client's end: the transport the client protocol writes to (host() is the client address). Valid
    /// for the pump's lifetime, also after connection_lost.
    [[nodiscard]] FakeTransport& client_transport() noexcept { return *transports_[1]; }
    /// The server protocol, owned by the pump or borrowed from the test (the constructor used says which);
    /// alive until the pump is destroyed.
    [[nodiscard]] Protocol& server() noexcept { return *protocols_[0]; }
    /// The client protocol, owned by the pump or borrowed from the test (the constructor used says which);
    /// alive until the pump is destroyed.
    [[nodiscard]] Protocol& client() noexcept { return *protocols_[1]; }
    /// Bytes moved so far, client to server and server to client.
    [[nodiscard]] std::size_t bytes_to_server() const noexcept { return moved_[0]; }
    /// Bytes moved so far from the server to the client (delivered to the client's data_received).
    [[nodiscard]] std::size_t bytes_to_client() const noexcept { return moved_[1]; }
    /// Both ends got connection_lost.
    [[nodiscard]] bool disconnected() const noexcept;

    /// The most bytes one data_received call gets from now on (0 = all that is buffered).
    void set_chunk_size(std::size_t chunk_size) noexcept { options_.chunk_size = chunk_size; }

    /// Called right after an end's connection_lost (0 = server, 1 = client); MemoryReactor uses it to tell
    /// a client factory.
    void on_lost(int side, std::function<void(const Reason&)> hook) { hooks_[side] = std::move(hook); }

private:
    friend class FakeTransport;

    void start();
    bool transfer(int from);
    bool settle(int side);
    void close_both(int first, const Reason& first_reason, const Reason& second_reason);
    void deliver_lost(int side, const Reason& reason);

    PairOptions options_;
    // Transports before the protocols: a protocol's destructor may still touch its transport.
    std::unique_ptr<FakeTransport> transports_[2];
    std::unique_ptr<Protocol> owned_[2];
    Protocol* protocols_[2] = {nullptr, nullptr};
    std::function<void(const Reason&)> hooks_[2];
    std::size_t moved_[2] = {0, 0};
    bool stepping_ = false;
};

/// Connects `server` and `client` (borrowed) through an IOPump (Twisted: iosim.connect).
[[nodiscard]] inline std::unique_ptr<IOPump> connect_pair(Protocol& server, Protocol& client, PairOptions options = {}) {
    return std::make_unique<IOPump>(server, client, std::move(options));
}

/// Builds a server S and a client C and connects them (Twisted: iosim.connectedServerAndClient); reach
/// them with `static_cast<S&>(pump->server())`.
template <class S, class C>
[[nodiscard]] std::unique_ptr<IOPump> connected_server_and_client(PairOptions options = {}) {
    return std::make_unique<IOPump>(std::make_unique<S>(), std::make_unique<C>(), std::move(options));
}

}  // namespace weft::testing
