#pragma once
// The transport kinds the conformance suite runs on. Each kind is a fixture: a Reactor and open(a, b),
// which connects two ends and attaches a protocol of type A recording into Side `a` and one of type B
// recording into `b` (connection_made may run inside open() or on a later turn, as the kind does it);
// open_echo(near) connects `near` to a peer that behaves like `cat`. A kind also says what its peer sees of
// an abort. To add a kind: write its fixture here and add it to PAIR_KINDS (both ends are weft transports)
// or only to ECHO_KINDS (the far end is something else, such as a child process).

#include <deque>
#include <filesystem>
#include <string>
#include <system_error>
#include <memory>
#include <vector>

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conformance.hpp"
#include "support/child_process.hpp"
#include "support/loop.hpp"
#include "support/pipe.hpp"
#include "weft/process_protocol.hpp"
#include "weft/process_transport.hpp"
#include "weft/reactor.hpp"
#include "weft/standard_io.hpp"

namespace conformance {

/// A kind over a listening port and a connector: `a` is the accepted end, `b` the connecting one. The
/// kind gives listen(factory) and connect(port, client_factory).
template <class Kind>
class ListenConnectKind {
public:
    template <class A = HalfPeer, class B = HalfPeer>
    void open(Side& a, Side& b) {
        auto& server = factories_.emplace_back(std::make_unique<weft_test::LambdaFactory>(
            [&a](const weft::Address&) -> std::unique_ptr<weft::Protocol> { return std::make_unique<A>(a); }));
        auto& port = ports_.emplace_back(self().listen(*server));
        auto& client = clients_.emplace_back(std::make_unique<weft_test::LambdaClientFactory>(
            [&b](const weft::Address&) -> std::unique_ptr<weft::Protocol> { return std::make_unique<B>(b); }));
        client->on_end = [c = client.get()] { CHECK_FALSE(c->failed); };
        connectors_.push_back(self().connect(*port, *client));
    }

    void open_echo(Side& near) {
        Side& peer = peers_.emplace_back();
        make_echo(peer);
        open<HalfPeer, HalfPeer>(near, peer);
    }

protected:
    /// Ports and connectors must not outlive their reactor (a member of the derived kind, destroyed
    /// before this base): the kind's destructor calls this.
    void release() {
        connectors_.clear();
        ports_.clear();
    }

private:
    Kind& self() { return static_cast<Kind&>(*this); }

    std::vector<std::unique_ptr<weft_test::LambdaFactory>> factories_;
    std::vector<std::unique_ptr<weft_test::LambdaClientFactory>> clients_;
    std::vector<std::shared_ptr<weft::ListeningPort>> ports_;
    std::vector<std::shared_ptr<weft::Connector>> connectors_;
    std::deque<Side> peers_;
};

/// TCP over 127.0.0.1, port 0.
struct TcpKind : ListenConnectKind<TcpKind> {
    static constexpr bool abort_is_error_at_peer = true;  // the peer reads a reset (ECONNRESET)

    weft::Reactor reactor;
    ~TcpKind() { release(); }

    std::shared_ptr<weft::ListeningPort> listen(weft::Factory& factory) {
        return reactor.listen_tcp(0, factory, {"127.0.0.1"});
    }
    std::shared_ptr<weft::Connector> connect(weft::ListeningPort& port, weft::ClientFactory& factory) {
        return reactor.connect_tcp("127.0.0.1", port.port(), factory);
    }
};

/// A fresh directory for socket files, removed afterwards.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "weft-conformance-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

/// UNIX sockets, each port at its own path in a fresh temporary directory.
struct UnixKind : ListenConnectKind<UnixKind> {
    // Closing a UNIX socket resets the peer only when unread input is left on it, which no case does
    // at its abort: the peer reads EOF.
    static constexpr bool abort_is_error_at_peer = false;

    TempDir dir;
    weft::Reactor reactor;
    ~UnixKind() { release(); }

    std::shared_ptr<weft::ListeningPort> listen(weft::Factory& factory) {
        return reactor.listen_unix((dir.path / ("s" + std::to_string(++port_count_))).string(), factory);
    }
    std::shared_ptr<weft::Connector> connect(weft::ListeningPort& port, weft::ClientFactory& factory) {
        return reactor.connect_unix(port.address().path, factory);
    }

private:
    int port_count_ = 0;
};

/// A UNIX socket whose far end is not weft's: listen_unix in a fresh temporary directory, and the
/// connecting end a plain socket handed to a child `cat` as its stdin and stdout. A real external peer,
/// so this kind runs the echo cases only (CONFORMANCE_ECHO_KINDS).
struct UnixCatKind {
    TempDir dir;
    weft::Reactor reactor;

    void open_echo(Side& near) {
        const std::string path = (dir.path / ("s" + std::to_string(ports_.size()))).string();
        auto& server = factories_.emplace_back(std::make_unique<weft_test::LambdaFactory>(
            [&near](const weft::Address&) -> std::unique_ptr<weft::Protocol> { return std::make_unique<HalfPeer>(near); }));
        ports_.push_back(reactor.listen_unix(path, *server));
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        ::sockaddr_un address{};
        address.sun_family = AF_UNIX;
        REQUIRE(path.size() < sizeof address.sun_path);
        path.copy(address.sun_path, path.size());
        // A listening UNIX socket's backlog completes the connect at once: no wait on the reactor.
        REQUIRE(::connect(fd, reinterpret_cast<const ::sockaddr*>(&address), sizeof address) == 0);
        weft_test::ChildOptions options;
        options.stdin_fd = fd;
        options.stdout_fd = fd;
        cats_.push_back(std::make_unique<weft_test::ChildProcess>(std::vector<std::string>{"/bin/cat"}, options));
        ::close(fd);  // the child's copy is the only one: its exit is our EOF
    }

private:
    std::vector<std::unique_ptr<weft_test::LambdaFactory>> factories_;
    std::vector<std::shared_ptr<weft::ListeningPort>> ports_;
    std::vector<std::unique_ptr<weft_test::ChildProcess>> cats_;
};

/// Two pipes and two StandardIOs on one reactor: `a` reads pipe 1 and writes pipe 2, `b` the other way.
/// connection_made runs inside open() (StandardIO's constructor), reading starts on the next turn.
struct PipeKind {
    static constexpr bool abort_is_error_at_peer = false;  // a pipe has no reset: the peer reads EOF

    weft::Reactor reactor;

    template <class A = HalfPeer, class B = HalfPeer>
    void open(Side& a, Side& b) {
        const weft_test::Pipe to_a = weft_test::make_pipe();
        const weft_test::Pipe to_b = weft_test::make_pipe();
        ios_.push_back(std::make_unique<weft::StandardIO>(reactor, std::make_unique<A>(a), to_a.read, to_b.write));
        ios_.push_back(std::make_unique<weft::StandardIO>(reactor, std::make_unique<B>(b), to_b.read, to_a.write));
    }

    void open_echo(Side& near) {
        Side& peer = peers_.emplace_back();
        make_echo(peer);
        open<HalfPeer, HalfPeer>(near, peer);
    }

private:
    std::deque<Side> peers_;
    std::vector<std::unique_ptr<weft::StandardIO>> ios_;  // destroyed before the reactor
};

/// A child running `cat`, the near end its process transport: our writes go to its stdin, its stdout
/// comes back. A ProcessTransport has no write_shared (it copies), and cat cannot throw, pause or write
/// after its EOF, so only the echo cases run on this kind (CONFORMANCE_ECHO_KINDS).
class ProcessNear final : public Near {
public:
    explicit ProcessNear(weft::ProcessTransport& t) : t_(t) {}
    void write(std::string_view data) override { t_.write(data); }
    void write_sequence(std::span<const std::string_view> pieces) override { t_.write_sequence(pieces); }
    void write_shared(std::shared_ptr<const std::string> data) override { t_.write(*data); }
    void close_write() override { t_.close_stdin(); }
    void pause_reading() override { t_.pause_producing(); }
    void resume_reading() override { t_.resume_producing(); }
    [[nodiscard]] std::size_t buffered_bytes() const override { return t_.buffered_bytes(); }

private:
    weft::ProcessTransport& t_;
};

/// Records a child's stdio into a Side: stdout is the input, stdin's close our write_lost, process_ended
/// (after every pipe closed) connection_lost -- clean when cat exited 0.
struct CatProtocol : weft::ProcessProtocol {
    Side& side;
    explicit CatProtocol(Side& s) : side(s) {}
    void connection_made() override {
        side.near = std::make_unique<ProcessNear>(transport());
        side.record_made();
    }
    void out_received(std::string_view data) override { side.record_data(data); }
    void in_connection_lost() override {
        ++side.write_lost;
        if (side.on_write_lost) side.on_write_lost(side);
    }
    void out_connection_lost() override { ++side.read_lost; }
    void process_ended(const weft::ProcessStatus& status) override {
        side.record_lost(status.done() ? weft::Reason::done() : weft::Reason::error("cat: " + status.to_string()));
    }
};

/// A child process's stdio (spawn_process of /bin/cat): the fourth stream transport, on pipes.
struct ChildKind {
    weft::Reactor reactor;
    void open_echo(Side& near) {
        children_.push_back(reactor.spawn_process(std::make_unique<CatProtocol>(near), "/bin/cat", {"cat"}));
    }

private:
    std::vector<std::shared_ptr<weft::ProcessTransport>> children_;
};

}  // namespace conformance

// Kinds whose both ends are weft transports: every case runs on them.
#define CONFORMANCE_PAIR_KINDS conformance::TcpKind, conformance::UnixKind, conformance::PipeKind
// Kinds the echo cases run on: the pair kinds (with a `cat`-like weft peer) and those whose far end is not
// a weft transport.
#define CONFORMANCE_ECHO_KINDS CONFORMANCE_PAIR_KINDS, conformance::UnixCatKind, conformance::ChildKind
// Kinds whose lose_connection is bounded by the disconnect timeout: sockets, whose peer may be anyone.
// Pipes (stdio, a child's stdin) wait for their local reader, as in Twisted (test_standard_io.cpp has that
// case).
#define CONFORMANCE_SOCKET_KINDS conformance::TcpKind, conformance::UnixKind
