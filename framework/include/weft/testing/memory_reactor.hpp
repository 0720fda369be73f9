#pragma once
// weft::testing::MemoryReactor: a ReactorNetwork that records listen/connect calls instead of making
// sockets, with fake time (Twisted: twisted.internet.testing.MemoryReactor and MemoryReactorClock).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "weft/client_factory.hpp"
#include "weft/connector.hpp"
#include "weft/factory.hpp"
#include "weft/listening_port.hpp"
#include "weft/reactor_network.hpp"
#include "weft/reactor_time.hpp"
#include "weft/testing/clock.hpp"
#include "weft/testing/io_pump.hpp"

namespace weft::testing {

/// The ListeningPort a MemoryReactor returns: it accepts nothing by itself. Like a real port it starts
/// its factory (do_start) when made and stops it (do_stop) on the first stop_listening().
class MemoryPort final : public ListeningPort {
public:
    /// A port listening on `address` for `factory` (borrowed: it must outlive the port); calls
    /// factory.do_start() at once. MemoryReactor makes these; a test rarely needs to.
    MemoryPort(Address address, Factory& factory);

    [[nodiscard]] std::uint16_t port() const noexcept override { return address_.port; }
    /// The address given at construction: for listen_tcp, the asked interface ("0.0.0.0" for "") and
    /// port (a made-up one for 0); for listen_unix, the path.
    [[nodiscard]] Address address() const override { return address_; }
    void stop_listening() override;
    [[nodiscard]] bool listening() const noexcept override { return listening_; }

    /// How many times stop_listening() was called.
    [[nodiscard]] int stop_listening_calls() const noexcept { return stop_listening_calls_; }
    /// The factory this port was made for (the one given to listen_tcp/listen_unix/adopt_stream_port).
    [[nodiscard]] Factory& factory() const noexcept { return factory_; }

private:
    Address address_;
    Factory& factory_;
    bool listening_ = true;
    int stop_listening_calls_ = 0;
};

/// The Connector a MemoryReactor returns. It stays `connecting` until the test decides the attempt:
/// complete() connects it in memory to a server protocol (an IOPump), fail() fails it. Either delivers
/// started_connecting first (a real reactor does that on a later turn; here there are no turns, so it
/// comes when the test decides), then build_protocol and connection_made, or client_connection_failed.
/// When the pair's client end is lost the factory gets client_connection_lost. The factory is started
/// (do_start) by the first connect() and stopped (do_stop) when an attempt ends disconnected, as a real
/// connector does, so a ReconnectingClientFactory can be tested with the reactor's clock.
/// stop_connecting() is only recorded (call fail() to deliver what a reactor would); disconnect() while
/// connected loses the client's connection (pump to see it happen).
class MemoryConnector final : public Connector {
public:
    /// A disconnected connector to `server_address` for `factory` (borrowed: it must outlive the
    /// connector). MemoryReactor makes these and calls connect() at once.
    MemoryConnector(Address server_address, ClientFactory& factory);

    /// Starts a new attempt: the state becomes `connecting` and stays so until complete() or fail(). The
    /// factory's do_start runs here on the first attempt after a stop; started_connecting waits for the
    /// outcome. Throws StateError unless disconnected. Counted by connect_calls().
    void connect() override;
    /// Only recorded (stop_connecting_calls()): the attempt stays `connecting` until the test calls fail(),
    /// as a reactor would deliver client_connection_failed on a later turn. Throws StateError unless
    /// connecting (the call is counted either way).
    void stop_connecting() override;
    /// Counted by disconnect_calls(). While connecting: stop_connecting(). While connected: the client
    /// end's lose_connection(), so connection_lost and client_connection_lost come from the next pump().
    /// While disconnected: nothing.
    void disconnect() override;
    [[nodiscard]] State state() const noexcept override { return state_; }
    /// "host:port" (or "unix:PATH") as given to connect_tcp/connect_unix.
    [[nodiscard]] std::string destination() const override { return server_address_.to_string(); }

    /// Connects the attempt to `server` (borrowed: it must outlive the pump) and returns the pair; the
    /// client protocol is built by the connector's factory. Throws StateError unless connecting, or if
    /// the factory builds no protocol (it then gets client_connection_failed first). `options` defaults
    /// to the destination as the server's address and 127.0.0.1:54321 (or an unnamed UNIX socket) as
    /// the client's.
    IOPump& complete(Protocol& server, std::optional<PairOptions> options = std::nullopt);
    /// The same with a server protocol built by `server_factory` (e.g. the one a listen_tcp recorded).
    IOPump& complete(Factory& server_factory, std::optional<PairOptions> options = std::nullopt);
    /// Fails the attempt: client_connection_failed(reason). Throws StateError unless connecting.
    void fail(const Reason& reason);

    /// The pair of the last completed attempt, or nullptr.
    [[nodiscard]] IOPump* pump() const noexcept { return pumps_.empty() ? nullptr : pumps_.back().get(); }
    /// The client factory given to connect_tcp/connect_unix.
    [[nodiscard]] ClientFactory& factory() const noexcept { return factory_; }
    /// How many times connect() started an attempt (the reactor's own call included; one that threw is
    /// not counted).
    [[nodiscard]] int connect_calls() const noexcept { return connect_calls_; }
    /// How many times stop_connecting() was called, directly or by disconnect(), including calls that threw.
    [[nodiscard]] int stop_connecting_calls() const noexcept { return stop_connecting_calls_; }
    /// How many times disconnect() was called.
    [[nodiscard]] int disconnect_calls() const noexcept { return disconnect_calls_; }

private:
    void begin_outcome();
    PairOptions default_options() const;
    IOPump& attach(std::unique_ptr<IOPump> pump);
    void connection_lost(const Reason& reason);
    void settle();

    Address server_address_;
    ClientFactory& factory_;
    State state_ = State::disconnected;
    bool factory_started_ = false;
    bool started_delivered_ = false;
    int connect_calls_ = 0;
    int stop_connecting_calls_ = 0;
    int disconnect_calls_ = 0;
    std::vector<std::unique_ptr<IOPump>> pumps_;  // every attempt's pair, kept for inspection
};

/// A reactor for unit tests: every listen/connect call is recorded in the public vectors below and
/// answered with a MemoryPort or MemoryConnector; nothing touches the network. It is also a ReactorTime
/// through an embedded Clock (advance() moves time), so code that takes a ReactorTime& and a
/// ReactorNetwork& can be handed the same MemoryReactor (Twisted: MemoryReactorClock).
/// Listening on port 0 gives a made-up port (49152, 49153, ...). adopt_stream_port records the
/// descriptor and does not close it. The factories are borrowed, as with a real reactor.
class MemoryReactor final : public ReactorTime, public ReactorNetwork {
public:
    /// One listen_tcp call, as made.
    struct TcpServer {
        std::uint16_t port;     ///< the port as asked (0 included; the made-up one is listening_port->port())
        Factory& factory;       ///< the factory given (borrowed)
        ListenOptions options;  ///< the options given (only recorded)
        std::shared_ptr<MemoryPort> listening_port;  ///< the port returned to the caller
    };
    /// One connect_tcp call, as made.
    struct TcpClient {
        std::string host;        ///< the host as given (not resolved)
        std::uint16_t port;      ///< the port as given
        ClientFactory& factory;  ///< the factory given (borrowed)
        ConnectOptions options;  ///< the options given (only recorded: no timeout is scheduled)
        std::shared_ptr<MemoryConnector> connector;  ///< the connector returned, already connecting
    };
    /// One listen_unix call, as made.
    struct UnixServer {
        std::string path;           ///< the socket path as given (no file is made)
        Factory& factory;           ///< the factory given (borrowed)
        UnixListenOptions options;  ///< the options given (only recorded)
        std::shared_ptr<MemoryPort> listening_port;  ///< the port returned to the caller
    };
    /// One connect_unix call, as made.
    struct UnixClient {
        std::string path;            ///< the socket path as given
        ClientFactory& factory;      ///< the factory given (borrowed)
        UnixConnectOptions options;  ///< the options given (only recorded: no timeout is scheduled)
        std::shared_ptr<MemoryConnector> connector;  ///< the connector returned, already connecting
    };
    /// One adopt_stream_port call, as made.
    struct AdoptedPort {
        int fd;               ///< the descriptor given; the MemoryReactor neither uses nor closes it
        SocketFamily family;  ///< the family given
        Factory& factory;     ///< the factory given (borrowed)
        /// The port returned; its address is made up: 0.0.0.0:1234, [::]:1234 or an unnamed UNIX socket.
        std::shared_ptr<MemoryPort> listening_port;
    };

    MemoryReactor() = default;
    MemoryReactor(const MemoryReactor&) = delete;
    MemoryReactor& operator=(const MemoryReactor&) = delete;

    // ReactorNetwork
    std::shared_ptr<ListeningPort> listen_tcp(std::uint16_t port, Factory& factory, ListenOptions options = {}) override;
    std::shared_ptr<Connector> connect_tcp(std::string host, std::uint16_t port, ClientFactory& factory,
                                           ConnectOptions options = {}) override;
    std::shared_ptr<ListeningPort> listen_unix(std::string path, Factory& factory, UnixListenOptions options = {}) override;
    std::shared_ptr<Connector> connect_unix(std::string path, ClientFactory& factory,
                                            UnixConnectOptions options = {}) override;
    std::shared_ptr<ListeningPort> adopt_stream_port(int fd, SocketFamily family, Factory& factory) override;

    // ReactorTime, answered by clock()
    [[nodiscard]] double seconds() const override { return clock_.seconds(); }
    [[nodiscard]] TimePoint now() const override { return clock_.now(); }
    /// Runs `fn` once, `delay` of fake time from now (any std::chrono duration), from a later advance().
    using ReactorTime::call_later;
    DelayedCall call_later(Duration delay, std::function<void()> fn) override {
        return clock_.call_later(delay, std::move(fn));
    }
    [[nodiscard]] std::vector<DelayedCall> pending_calls() const override { return clock_.pending_calls(); }
    /// Moves the clock forward, running what falls due (Clock::advance).
    void advance(Duration amount) { clock_.advance(amount); }
    /// advance() with any std::chrono duration (1s, 250ms, 1.5s), rounded to nanoseconds.
    template <class Rep, class Period>
    void advance(std::chrono::duration<Rep, Period> d) { advance(to_duration(d)); }
    /// The embedded Clock that answers the ReactorTime calls, for code that wants a Clock& itself.
    [[nodiscard]] Clock& clock() noexcept { return clock_; }

    /// @name What was asked of the reactor
    /// Every call in order, appended as made; a test may inspect or clear them.
    /// @{
    std::vector<TcpServer> tcp_servers;    ///< listen_tcp calls
    std::vector<TcpClient> tcp_clients;    ///< connect_tcp calls
    std::vector<UnixServer> unix_servers;  ///< listen_unix calls
    std::vector<UnixClient> unix_clients;  ///< connect_unix calls
    std::vector<AdoptedPort> adopted;      ///< adopt_stream_port calls
    /// @}

private:
    std::uint16_t next_port_ = 49152;
    Clock clock_;
};

}  // namespace weft::testing
