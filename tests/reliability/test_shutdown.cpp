// Shutdown under load: thousands of connections with output still queued. In process (a Reactor whose
// connection_lost calls we count) and the real weft-chat on SIGTERM.
#include <catch2/catch.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <thread>

#include "reliability.hpp"
#include "support/loop.hpp"

using namespace reliability;

namespace {

/// Client sockets on their own thread and io_context: they connect with a 4 KiB receive buffer and read
/// nothing until told to, so the server's output stays queued in the server.
struct SilentClients {
    struct Conn {
        explicit Conn(asio::io_context& io) : socket(io) {}
        tcp::socket socket;
        std::array<char, 65536> buf{};
        std::size_t received = 0;
        bool eof = false;
        bool error = false;
    };

    asio::io_context io;
    std::vector<std::unique_ptr<Conn>> conns;
    std::size_t connected = 0, finished = 0;
    std::size_t readers = 0;  // the first `readers` connections read once told to; the rest never do
    std::thread thread;

    void start(std::size_t n, std::uint16_t port) {
        for (std::size_t i = 0; i < n; ++i) {
            auto c = std::make_unique<Conn>(io);
            c->socket.open(tcp::v4());
            c->socket.set_option(asio::socket_base::receive_buffer_size(4096));
            c->socket.async_connect({asio::ip::make_address("127.0.0.1"), port}, [this](const boost::system::error_code&) {
                ++connected;
            });
            conns.push_back(std::move(c));
        }
        thread = std::thread([this] {
            auto guard = asio::make_work_guard(io);
            io.run_for(60s);
        });
    }
    /// From any thread: the readers start reading until EOF or error.
    void read_now() {
        asio::post(io, [this] {
            for (std::size_t i = 0; i < readers; ++i) read(*conns[i]);
        });
    }
    void read(Conn& c) {
        c.socket.async_read_some(asio::buffer(c.buf), [this, &c](const boost::system::error_code& ec, std::size_t n) {
            c.received += n;
            if (ec) {
                (ec == asio::error::eof ? c.eof : c.error) = true;
                if (++finished == readers) io.stop();
                return;
            }
            read(c);
        });
    }
    void join() {
        if (thread.joinable()) thread.join();
    }
    ~SilentClients() {
        io.stop();
        join();
    }
};

/// Sets SO_SNDBUF to 4 KiB on this process's sockets accepted on `port`. On loopback the kernel would
/// otherwise grow each send buffer to megabytes and take the whole payload, leaving nothing queued in weft
/// for a slow reader and nothing for the shutdown timeout to act on. (The Transport has no such option.)
void shrink_send_buffers(std::uint16_t port) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        const int fd = std::stoi(entry.path().filename().string());
        sockaddr_in local{}, peer{};
        socklen_t len = sizeof local;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0 || local.sin_family != AF_INET) continue;
        len = sizeof peer;
        if (ntohs(local.sin_port) != port || getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
        const int size = 4096;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
}

struct ShutdownRun {
    std::size_t made = 0, lost = 0, lost_clean = 0, lost_aborted = 0;
    std::size_t pending_connections = 0;  // connections with output queued when stop() was called
    std::size_t pending_bytes = 0;
    double shutdown_seconds = 0;
    bool in_time = false;  // run() returned within its bound
};

/// `n` connections each get `payload` written on connection_made, shared (one buffer for all). Once all
/// are made, the reactor is stopped and the first `readers` clients start reading.
ShutdownRun shutdown_with_pending_output(std::size_t n, std::size_t readers, std::size_t payload_size,
                                         weft::Duration shutdown_timeout, SilentClients& clients) {
    ShutdownRun r;
    weft::Reactor reactor;
    reactor.set_shutdown_timeout(shutdown_timeout);
    const auto payload = std::make_shared<const std::string>(payload_size, 'p');
    std::vector<weft_test::Recorder*> live;
    steady::time_point stop_at{};
    std::uint16_t port_number = 0;
    weft_test::LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_made = [&](weft_test::Recorder& self) {
            live.push_back(&self);
            if (++r.made < n) return;
            // All connected: queue the payload on each and stop in the same turn, so that every byte is
            // still queued in weft when shutdown begins.
            reactor.call_soon([&] {
                shrink_send_buffers(port_number);
                for (auto* c : live) c->transport().write_shared(payload);
                for (auto* c : live) {
                    if (c->transport().buffered_bytes() > 0) ++r.pending_connections;
                    r.pending_bytes += c->transport().buffered_bytes();
                }
                stop_at = steady::now();
                reactor.stop();
                clients.read_now();
            });
        };
        p->on_lost = [&](weft_test::Recorder&, const weft::Reason& reason) {
            ++r.lost;
            if (reason.clean()) ++r.lost_clean;
            if (reason.kind() == weft::Reason::Kind::aborted) ++r.lost_aborted;
        };
        return p;
    });
    auto port = reactor.listen_tcp(0, server, {.interface = "127.0.0.1", .backlog = 4096});
    port_number = port->port();
    clients.readers = readers;
    clients.start(n, port->port());
    r.in_time = weft_test::run_bounded(reactor, std::chrono::seconds(60));
    r.shutdown_seconds = seconds_since(stop_at);
    return r;
}

}  // namespace

TEST_CASE("reactor shutdown with 2000 connections and queued output flushes all of it and runs every connection_lost",
          "[reliability][shutdown]") {
    constexpr std::size_t n = 2000;
    constexpr std::size_t payload = 64 * 1024;
    REQUIRE(raise_fd_limit() >= 2 * n + 64);
    SilentClients clients;
    const ShutdownRun r = shutdown_with_pending_output(n, n, payload, std::chrono::seconds(30), clients);
    clients.join();
    std::size_t complete = 0, eof = 0;
    for (auto& c : clients.conns) {
        complete += c->received == payload ? 1 : 0;
        eof += c->eof ? 1 : 0;
    }
    figure("shutdown-flush", "connections=" + std::to_string(n) + " payload=64KiB each; at stop() " +
                                 std::to_string(r.pending_connections) + " had " + std::to_string(r.pending_bytes >> 20) +
                                 " MiB queued; run() returned " + std::to_string(r.shutdown_seconds) +
                                 " s after stop(); connection_lost=" + std::to_string(r.lost) + " clean=" +
                                 std::to_string(r.lost_clean) + "; clients with every byte then EOF=" + std::to_string(complete));
    REQUIRE(r.in_time);
    CHECK(r.made == n);
    CHECK(r.pending_connections == n);  // the test really had output to flush
    CHECK(r.lost == n);
    CHECK(r.lost_clean == n);
    CHECK(complete == n);
    CHECK(eof == n);
    CHECK(r.shutdown_seconds < 30);  // flushed, not cut by the timeout
}

TEST_CASE("reactor shutdown with clients that never read ends at the shutdown timeout and still runs every connection_lost",
          "[reliability][shutdown]") {
    constexpr std::size_t n = 2000;
    constexpr std::size_t readers = 1000;  // the other 1000 never read a byte
    constexpr std::size_t payload = 32 * 1024;  // far beyond the 4 KiB + 8 KiB kernel buffers
    REQUIRE(raise_fd_limit() >= 2 * n + 64);
    SilentClients clients;
    const ShutdownRun r = shutdown_with_pending_output(n, readers, payload, std::chrono::seconds(2), clients);
    clients.join();
    std::size_t complete = 0;
    for (std::size_t i = 0; i < readers; ++i) complete += clients.conns[i]->received == payload ? 1 : 0;
    figure("shutdown-timeout", "connections=" + std::to_string(n) + " (" + std::to_string(n - readers) +
                                   " never read) payload=32KiB each, shutdown timeout 2 s; run() returned " + std::to_string(r.shutdown_seconds) +
                                   " s after stop(); connection_lost=" + std::to_string(r.lost) + " clean=" +
                                   std::to_string(r.lost_clean) + " aborted=" + std::to_string(r.lost_aborted) +
                                   "; readers with every byte=" + std::to_string(complete));
    REQUIRE(r.in_time);
    CHECK(r.made == n);
    CHECK(r.lost == n);
    CHECK(r.lost_clean == readers);
    CHECK(r.lost_clean + r.lost_aborted == n);
    CHECK(complete == readers);
    CHECK(r.shutdown_seconds >= 1.9);  // the non-readers held it until the timeout
    CHECK(r.shutdown_seconds < 6);
}

#ifdef WEFT_CHAT_BINARY
TEST_CASE("weft-chat on SIGTERM with 1000 clients and output queued for all delivers it all and exits 0",
          "[reliability][shutdown][chat]") {
    constexpr std::size_t n = 1000;
    constexpr int lines = 200;
    REQUIRE(raise_fd_limit() >= n + 64);
    Server chat({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "error",
        // Issue 10's input budget and per-address limit off: these tests send bursts from many loopback
        // clients on purpose (tests/chat/test_chat_limits.cpp covers the limits).
        "--flood-limit", "0", "--max-per-address", "0"});
    REQUIRE(chat.port() != 0);

    asio::io_context io;
    Deadline deadline(io, 60s);
    struct Seen {
        std::size_t talk = 0;  // the talker's lines, in order
        bool out_of_order = false;
        bool shutdown_notice = false;
        bool after_notice = false;  // anything after "* server shutting down"
        std::optional<boost::system::error_code> end;
    };
    std::vector<Seen> seen(n);
    std::vector<std::shared_ptr<LineClient>> clients;
    std::size_t welcomed = 0, ended = 0;
    std::uint64_t joins = 0;
    const std::uint64_t all_joins = static_cast<std::uint64_t>(n) * (n - 1) / 2;
    const std::string pad(90, '.');
    std::string talker_name;
    steady::time_point sigterm_at{};
    bool talking = false;

    auto start_talking = [&] {
        // Everyone but the talker stops reading: what is said now stays queued for them.
        talking = true;
        for (std::size_t i = 1; i < n; ++i) clients[i]->pause_reading();
        std::string all;
        for (int i = 0; i < lines; ++i) all += std::to_string(i) + pad + "\n";
        clients[0]->send(std::move(all));
    };
    std::function<void()> connect_more = [&] {
        while (clients.size() < n && clients.size() - welcomed < 256) {
            const std::size_t i = clients.size();
            auto c = std::make_shared<LineClient>(io, 4096);
            c->on_line = [&, i](LineClient& self, std::string_view line) {
                Seen& s = seen[i];
                if (s.shutdown_notice) s.after_notice = true;
                if (line.rfind("Welcome", 0) == 0) {
                    if (i == 0) talker_name = self.chat_name();
                    ++welcomed;
                    connect_more();
                } else if (line.ends_with(" joined")) {
                    ++joins;
                } else if (line == "* server shutting down") {
                    s.shutdown_notice = true;
                } else if (!talker_name.empty() && line.rfind(talker_name + ": ", 0) == 0) {
                    if (line != talker_name + ": " + std::to_string(s.talk) + pad) s.out_of_order = true;
                    ++s.talk;
                    // The talker heard itself last time: the server has queued every line for everyone.
                    if (i == 0 && s.talk == lines) {
                        sigterm_at = steady::now();
                        chat.signal(SIGTERM);
                        for (std::size_t k = 1; k < n; ++k) clients[k]->start_reading();
                    }
                }
                if (!talking && welcomed == n && joins == all_joins) start_talking();
            };
            c->on_close = [&, i](LineClient&, const boost::system::error_code& ec) {
                seen[i].end = ec;
                if (++ended == n) io.stop();
            };
            clients.push_back(c);
            c->connect(chat.endpoint());
        }
    };
    connect_more();
    io.run();
    const double to_last_eof = seconds_since(sigterm_at);
    REQUIRE_FALSE(deadline.expired());
    const auto status = chat.wait(20s);
    const double to_exit = seconds_since(sigterm_at);

    std::size_t complete = 0, notified = 0, clean = 0, disordered = 0, trailing = 0;
    for (const Seen& s : seen) {
        complete += s.talk == lines ? 1 : 0;
        notified += s.shutdown_notice ? 1 : 0;
        clean += s.end && *s.end == asio::error::eof ? 1 : 0;
        disordered += s.out_of_order ? 1 : 0;
        trailing += s.after_notice ? 1 : 0;
    }
    figure("shutdown-chat", "clients=" + std::to_string(n) + " lines queued for each=" + std::to_string(lines) +
                                " (~20 KiB); after SIGTERM every client had all lines=" + std::to_string(complete) +
                                " the notice=" + std::to_string(notified) + " clean EOF=" + std::to_string(clean) +
                                "; last EOF after " + std::to_string(to_last_eof) + " s, exit after " +
                                std::to_string(to_exit) + " s: " + chat.describe());
    CHECK(complete == n);
    CHECK(disordered == 0);
    CHECK(notified == n);
    CHECK(trailing == 0);
    CHECK(clean == n);
    CHECK(exited_zero(status));
}
#endif
