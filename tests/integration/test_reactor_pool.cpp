// ReactorPool over loopback: connections spread over the reactors with both listening strategies, each
// connection's callbacks on one thread, call_from_thread's order, stop/join with live connections, signals.
// The names contain "ReactorPool": tests/run-all runs them under TSan.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>

#include "support/loop.hpp"
#include "support/tls_certs.hpp"
#include "weft/endpoint.hpp"
#include "weft/error.hpp"
#include "weft/reactor_pool.hpp"
#include "weft/tls_context.hpp"

using namespace std::chrono_literals;
using weft::PoolListenStrategy;
using weft::ReactorPool;

namespace {

/// What the server side saw of one connection: the threads of its callbacks and its reactor.
struct Seen {
    std::thread::id built, made, lost;
    std::set<std::thread::id> data;
    std::optional<std::size_t> reactor;
};

/// Collects the connections' records across the pool's threads; a test waits for a count (bounded).
struct Board {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<Seen> ended;
    std::atomic<int> made{0};
    std::atomic<int> starts{0};
    std::atomic<int> stops{0};
    int target = 0;                      // set before start()
    std::function<void()> when_all_made;  // runs on the thread of the connection that made `target`

    void add(Seen s) {
        std::lock_guard lock(mutex);
        ended.push_back(std::move(s));
        changed.notify_all();
    }
    bool wait_for(std::size_t n, std::chrono::seconds limit = 20s) {
        std::unique_lock lock(mutex);
        return changed.wait_for(lock, limit, [&] { return ended.size() >= n; });
    }
};

/// Echoes; records the thread of each callback.
struct PoolEcho : weft::Protocol {
    Board& board;
    ReactorPool& pool;
    Seen seen;
    PoolEcho(Board& b, ReactorPool& p) : board(b), pool(p) {}
    void connection_made() override {
        seen.made = std::this_thread::get_id();
        seen.reactor = pool.current();
        if (++board.made == board.target && board.when_all_made) board.when_all_made();
    }
    void data_received(std::string_view data) override {
        seen.data.insert(std::this_thread::get_id());
        transport().write(data);
    }
    void connection_lost(const weft::Reason&) override {
        seen.lost = std::this_thread::get_id();
        board.add(seen);
    }
};

struct PoolEchoFactory : weft::Factory {
    Board& board;
    ReactorPool& pool;
    PoolEchoFactory(Board& b, ReactorPool& p) : board(b), pool(p) {}
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override {
        auto p = std::make_unique<PoolEcho>(board, pool);
        p->seen.built = std::this_thread::get_id();
        return p;
    }
    void start_factory() override { ++board.starts; }
    void stop_factory() override { ++board.stops; }
};

weft::ReactorPoolOptions quiet() {
    weft::ReactorPoolOptions options;
    options.handle_signals = false;
    options.shutdown_timeout = 5s;
    return options;
}

/// Connects `n` clients (TCP to 127.0.0.1:port, or the UNIX socket at `path`) from a reactor on this thread;
/// each sends a line, waits for its echo and closes. Returns the number that got their echo back.
int echo_clients(int n, std::uint16_t port, const std::string& path = "",
                 std::shared_ptr<weft::TlsContext> tls = nullptr) {
    weft::Reactor client;
    int done = 0;
    int echoed = 0;
    std::vector<std::shared_ptr<weft::Connector>> connectors;
    weft_test::LambdaClientFactory factory([&](const weft::Address&) {
        auto r = std::make_unique<weft_test::Recorder>();
        r->on_made = [](weft_test::Recorder& self) { self.transport().write("ping\n"); };
        r->on_data = [&](weft_test::Recorder& self, std::string_view) {
            if (self.received == "ping\n") {
                ++echoed;
                self.transport().lose_connection();
            }
        };
        r->on_lost = [&](weft_test::Recorder&, const weft::Reason&) {
            if (++done == n) client.stop();
        };
        return r;
    });
    factory.on_end = [&] {
        if (factory.failed && ++done == n) client.stop();
    };
    for (int i = 0; i < n; ++i) {
        if (tls) {
            connectors.push_back(client.connect_ssl("127.0.0.1", port, factory, tls));
        } else {
            connectors.push_back(path.empty() ? client.connect_tcp("127.0.0.1", port, factory)
                                              : client.connect_unix(path, factory));
        }
    }
    REQUIRE(weft_test::run_bounded(client));
    return echoed;
}

/// pool.join(), failing the test (and stopping the pool now) if it has not returned within `limit`.
bool join_bounded(ReactorPool& pool, std::chrono::seconds limit = 20s) {
    auto joined = std::async(std::launch::async, [&] { pool.join(); });
    if (joined.wait_for(limit) == std::future_status::ready) {
        joined.get();
        return true;
    }
    pool.stop_now();
    joined.wait();
    return false;
}

bool join_bounded_after_stop(ReactorPool& pool) {
    pool.stop();
    return join_bounded(pool);
}

/// Every connection's callbacks ran on one thread, the one of the reactor current() named.
void check_one_thread_each(ReactorPool& pool, const std::vector<Seen>& ended, std::map<std::size_t, int>& per_reactor) {
    for (const auto& s : ended) {
        CHECK(s.built == s.made);
        CHECK(s.lost == s.made);
        CHECK(s.data.size() == 1);
        CHECK(s.data.count(s.made) == 1);
        REQUIRE(s.reactor);
        CHECK(*s.reactor < pool.size());
        ++per_reactor[*s.reactor];
    }
}

}  // namespace

TEST_CASE("ReactorPool: reuse_port spreads connections, each connection's callbacks on one thread", "[pool]") {
    ReactorPool pool(2, quiet());
    Board board;
    PoolEchoFactory factory(board, pool);
    auto port = pool.listen("tcp:0:interface=127.0.0.1", factory, PoolListenStrategy::reuse_port);
    REQUIRE(port->strategy() == PoolListenStrategy::reuse_port);
    REQUIRE(port->ports().size() == 2);
    CHECK(port->ports()[1]->port() == port->port());
    CHECK(board.starts == 1);
    pool.start();
    const int n = 40;  // the kernel's hash puts all 40 on one socket with probability 2^-39
    CHECK(echo_clients(n, port->port()) == n);
    REQUIRE(board.wait_for(n));
    pool.stop();
    REQUIRE(join_bounded(pool));
    std::map<std::size_t, int> per_reactor;
    check_one_thread_each(pool, board.ended, per_reactor);
    CHECK(per_reactor.size() == 2);
    CHECK(board.stops == 1);  // once, although two ports on two threads stopped
    port.reset();
}

TEST_CASE("ReactorPool: the acceptor hands connections round-robin to every reactor", "[pool]") {
    ReactorPool pool(3, quiet());
    Board board;
    PoolEchoFactory factory(board, pool);
    auto port = pool.listen("tcp:0:interface=127.0.0.1", factory, PoolListenStrategy::acceptor);
    REQUIRE(port->ports().size() == 1);
    pool.start();
    const int n = 30;
    CHECK(echo_clients(n, port->port()) == n);
    REQUIRE(board.wait_for(n));
    pool.stop();
    REQUIRE(join_bounded(pool));
    std::map<std::size_t, int> per_reactor;
    check_one_thread_each(pool, board.ended, per_reactor);
    CHECK(per_reactor == std::map<std::size_t, int>{{0, 10}, {1, 10}, {2, 10}});
    CHECK(board.starts == 1);
    CHECK(board.stops == 1);
}

TEST_CASE("ReactorPool: a UNIX socket is served by the acceptor, and reuse_port refuses it", "[pool][unix]") {
    const auto dir = std::filesystem::temp_directory_path() / ("weft-pool-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "s").string();
    ReactorPool pool(2, quiet());
    Board board;
    PoolEchoFactory factory(board, pool);
    CHECK_THROWS_WITH(pool.listen("unix:" + path, factory, PoolListenStrategy::reuse_port),
                      Catch::Contains("SO_REUSEPORT needs a tcp:"));
    CHECK(board.starts == 0);
    auto port = pool.listen("unix:" + path, factory);  // automatic: the acceptor
    CHECK(port->strategy() == PoolListenStrategy::acceptor);
    pool.start();
    CHECK(echo_clients(8, 0, path) == 8);
    REQUIRE(board.wait_for(8));
    pool.stop();
    REQUIRE(join_bounded(pool));
    std::map<std::size_t, int> per_reactor;
    check_one_thread_each(pool, board.ended, per_reactor);
    CHECK(per_reactor == std::map<std::size_t, int>{{0, 4}, {1, 4}});
    port.reset();
    std::filesystem::remove_all(dir);
}

TEST_CASE("ReactorPool: an ssl: endpoint gets a TLS context per reactor, with both strategies", "[pool][tls]") {
    const auto& pki = weft_test::tls_certs();
    const std::string endpoint =
        "ssl:0:interface=127.0.0.1:private_key=" + pki.server_key + ":cert_key=" + pki.server;
    weft::TlsClientOptions client_options;
    client_options.server_name = "localhost";
    client_options.ca_file = pki.ca;
    for (const auto strategy : {PoolListenStrategy::reuse_port, PoolListenStrategy::acceptor}) {
        ReactorPool pool(2, quiet());
        Board board;
        PoolEchoFactory factory(board, pool);
        auto port = pool.listen(endpoint, factory, strategy);
        REQUIRE(port->tls_contexts().size() == 2);
        CHECK(port->tls_contexts()[0] != port->tls_contexts()[1]);
        pool.start();
        CHECK(echo_clients(12, port->port(), "", weft::TlsContext::client(client_options)) == 12);
        REQUIRE(board.wait_for(12));
        REQUIRE(join_bounded_after_stop(pool));
        std::map<std::size_t, int> per_reactor;
        check_one_thread_each(pool, board.ended, per_reactor);
        CHECK(per_reactor.size() == 2);
        port.reset();
    }
}

TEST_CASE("ReactorPool: call_from_thread runs each sender's functions in order on the target reactor", "[pool]") {
    ReactorPool pool(2, quiet());
    pool.start();
    const int n = 2000;
    std::vector<int> from_test, from_reactor0;  // touched on reactor 1's thread only
    std::vector<std::thread::id> threads;
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    auto finish = [&] {
        std::lock_guard lock(mutex);
        done = true;
        done_cv.notify_all();
    };
    // Reactor 0 sends its own sequence to reactor 1 while this thread sends another.
    pool.at(0).call_from_thread([&] {
        for (int i = 0; i < n; ++i) pool.at(1).call_from_thread([&, i] { from_reactor0.push_back(i); });
    });
    for (int i = 0; i < n; ++i) {
        pool.at(1).call_from_thread([&, i] {
            from_test.push_back(i);
            threads.push_back(std::this_thread::get_id());
        });
    }
    // Reactor 0 finished posting before this runs on it; what it posts to reactor 1 after that runs last.
    auto last = [&] { pool.at(0).call_from_thread([&] { pool.at(1).call_from_thread(finish); }); };
    pool.at(1).call_from_thread(last);
    {
        std::unique_lock lock(mutex);
        REQUIRE(done_cv.wait_for(lock, 20s, [&] { return done; }));
    }
    pool.stop();
    REQUIRE(join_bounded(pool));
    REQUIRE(from_test.size() == static_cast<std::size_t>(n));
    REQUIRE(from_reactor0.size() == static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        CHECK(from_test[static_cast<std::size_t>(i)] == i);
        CHECK(from_reactor0[static_cast<std::size_t>(i)] == i);
    }
    CHECK(std::set<std::thread::id>(threads.begin(), threads.end()).size() == 1);
}

TEST_CASE("ReactorPool: stop() from a reactor's thread ends live connections on every reactor, and join returns", "[pool][shutdown]") {
    ReactorPool pool(2, quiet());
    Board board;
    PoolEchoFactory factory(board, pool);
    auto port = pool.listen("tcp:0:interface=127.0.0.1", factory, PoolListenStrategy::acceptor);
    pool.start();
    const int n = 6;
    // Once every connection is up on the server, the reactor that made the last one stops the pool.
    board.target = n;
    board.when_all_made = [&] { pool.stop(); };
    weft::Reactor client;
    int lost = 0;
    weft_test::LambdaClientFactory client_factory([&](const weft::Address&) {
        auto r = std::make_unique<weft_test::Recorder>();
        r->on_lost = [&](weft_test::Recorder&, const weft::Reason&) {
            if (++lost == n) client.stop();
        };
        return r;
    });
    std::vector<std::shared_ptr<weft::Connector>> connectors;
    for (int i = 0; i < n; ++i) connectors.push_back(client.connect_tcp("127.0.0.1", port->port(), client_factory));
    REQUIRE(weft_test::run_bounded(client));
    REQUIRE(join_bounded(pool));
    CHECK(board.wait_for(n, 1s));
    CHECK(lost == n);
    CHECK_FALSE(pool.running());
    CHECK(board.stops == 1);
}

TEST_CASE("ReactorPool: shutdown is bounded by the pool's shutdown timeout when peers do not read", "[pool][shutdown]") {
    weft::ReactorPoolOptions options = quiet();
    options.shutdown_timeout = 300ms;
    ReactorPool pool(2, options);
    std::atomic<int> made{0};
    std::atomic<int> lost{0};
    weft_test::LambdaFactory factory([&](const weft::Address&) {
        auto r = std::make_unique<weft_test::Recorder>();
        // 8 MiB for a peer that never reads (with a 4 KiB receive buffer): more than the sockets hold
        // (Linux's default tcp_wmem maximum is 4 MiB), so it cannot flush.
        r->on_made = [&](weft_test::Recorder& self) {
            self.transport().write(std::string(8 << 20, 'z'));
            if (++made == 4) pool.stop();  // every connection is up (and stuck): stop from a pool thread
        };
        r->on_lost = [&](weft_test::Recorder&, const weft::Reason&) { ++lost; };
        return r;
    });
    auto port = pool.listen("tcp:0:interface=127.0.0.1", factory, PoolListenStrategy::acceptor);
    pool.start();
    boost::asio::io_context io;
    std::vector<boost::asio::ip::tcp::socket> peers;
    for (int i = 0; i < 4; ++i) {
        peers.emplace_back(io);
        peers.back().open(boost::asio::ip::tcp::v4());
        peers.back().set_option(boost::asio::socket_base::receive_buffer_size(4096));
        peers.back().connect({boost::asio::ip::make_address("127.0.0.1"), port->port()});
    }
    // Under 10 s, the reactors' default shutdown timeout: the pool's option is applied (with room for a
    // loaded machine under TSan).
    REQUIRE(join_bounded(pool, 9s));
    CHECK(made == 4);
    CHECK(lost == 4);
}

TEST_CASE("ReactorPool: SIGTERM stops every reactor (reactor 0 handles the signals)", "[pool][signal]") {
    weft::ReactorPoolOptions options = quiet();
    options.handle_signals = true;
    ReactorPool pool(2, options);
    Board board;
    PoolEchoFactory factory(board, pool);
    auto port = pool.listen("tcp:0:interface=127.0.0.1", factory);
    std::atomic<int> after{0};
    for (std::size_t i = 0; i < pool.size(); ++i) {
        pool.at(i).add_system_event_trigger(weft::TriggerPhase::after, weft::SystemEvent::shutdown, [&] { ++after; });
    }
    pool.start();
    CHECK(echo_clients(4, port->port()) == 4);
    ::kill(::getpid(), SIGTERM);
    REQUIRE(join_bounded(pool));
    CHECK(after == 2);
    CHECK_FALSE(pool.running());
}

TEST_CASE("ReactorPool: bad uses are refused with clear errors", "[pool]") {
    CHECK_THROWS_AS(ReactorPool(0), std::invalid_argument);
    ReactorPool pool(2, quiet());
    Board board;
    PoolEchoFactory factory(board, pool);
    CHECK_THROWS_AS(pool.listen("udp:0", factory), weft::EndpointError);
    pool.start();
    CHECK_THROWS_AS(pool.start(), weft::StateError);
    CHECK_THROWS_AS(pool.listen("tcp:0", factory), weft::StateError);
    // A pool thread may not join its own pool.
    std::atomic<bool> refused{false};
    pool.at(0).call_from_thread([&] {
        try {
            pool.join();
        } catch (const weft::StateError&) {
            refused = true;
        }
        pool.stop();
    });
    REQUIRE(join_bounded(pool));
    CHECK(refused);
    CHECK(board.starts == 0);
}

TEST_CASE("ReactorPool: next() goes round the reactors, and current() names the caller's", "[pool]") {
    ReactorPool pool(3, quiet());
    std::set<weft::Reactor*> seen;
    for (int i = 0; i < 3; ++i) seen.insert(&pool.next());
    CHECK(seen.size() == 3);
    CHECK_FALSE(pool.current());
    pool.start();
    std::atomic<int> right{0};
    std::atomic<int> ran{0};
    for (std::size_t i = 0; i < 3; ++i) {
        pool.at(i).call_from_thread([&, i] {
            if (pool.current() == i) ++right;
            if (++ran == 3) pool.stop();
        });
    }
    REQUIRE(join_bounded(pool));
    CHECK(right == 3);
}

TEST_CASE("ReactorPool: destroying a running pool stops and joins it", "[pool][shutdown]") {
    std::atomic<int> after{0};
    {
        ReactorPool pool(2, quiet());
        for (std::size_t i = 0; i < pool.size(); ++i) {
            pool.at(i).add_system_event_trigger(weft::TriggerPhase::after, weft::SystemEvent::shutdown, [&] { ++after; });
        }
        pool.start();
    }
    CHECK(after == 2);
}
