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
    MemoryPort(Address address, Factory& factory);

    [[nodiscard]] std::uint16_t port() const noexcept override { return address_.port; }
    [[nodiscard]] Address address() const override { return address_; }
    void stop_listening() override;
    [[nodiscard]] bool listening() const noexcept override { return listening_; }

    /// How many times stop_listening() was called.
    [[nodiscard]] int stop_listening_calls() const noexcept { return stop_listening_calls_; }
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
    MemoryConnector(Address server_address, ClientFactory& factory);

    void connect() override;
    void stop_connecting() override;
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
    [[nodiscard]] ClientFactory& factory() const noexcept { return factory_; }
    [[nodiscard]] int connect_calls() const noexcept { return connect_calls_; }
    [[nodiscard]] int stop_connecting_calls() const noexcept { return stop_connecting_calls_; }
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
    struct TcpServer {
        std::uint16_t port;  // as asked (0 included)
        Factory& factory;
        ListenOptions options;
        std::shared_ptr<MemoryPort> listening_port;
    };
    struct TcpClient {
        std::string host;
        std::uint16_t port;
        ClientFactory& factory;
        ConnectOptions options;
        std::shared_ptr<MemoryConnector> connector;
    };
    struct UnixServer {
        std::string path;
        Factory& factory;
        UnixListenOptions options;
        std::shared_ptr<MemoryPort> listening_port;
    };
    struct UnixClient {
        std::string path;
        ClientFactory& factory;
        UnixConnectOptions options;
        std::shared_ptr<MemoryConnector> connector;
    };
    struct AdoptedPort {
        int fd;
        SocketFamily family;
        Factory& factory;
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
    using ReactorTime::call_later;
    DelayedCall call_later(Duration delay, std::function<void()> fn) override {
        return clock_.call_later(delay, std::move(fn));
    }
    [[nodiscard]] std::vector<DelayedCall> pending_calls() const override { return clock_.pending_calls(); }
    /// Moves the clock forward, running what falls due (Clock::advance).
    void advance(Duration amount) { clock_.advance(amount); }
    template <class Rep, class Period>
    void advance(std::chrono::duration<Rep, Period> d) { advance(to_duration(d)); }
    [[nodiscard]] Clock& clock() noexcept { return clock_; }

    std::vector<TcpServer> tcp_servers;
    std::vector<TcpClient> tcp_clients;
    std::vector<UnixServer> unix_servers;
    std::vector<UnixClient> unix_clients;
    std::vector<AdoptedPort> adopted;

private:
    std::uint16_t next_port_ = 49152;
    Clock clock_;
};

}  // namespace weft::testing
