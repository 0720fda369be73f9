// One chat room over a ReactorPool (weft-chat --threads N, ChatPool): clients on different reactors, the
// test thread driving blocking clients (sync_chat_client.hpp, every read bounded) while the pool's threads
// serve them. Connections are handed round-robin by one acceptor, so consecutive clients land on
// different reactors; each test checks where they landed. Names start with "ChatPool": tests/run-all
// runs them under TSan.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "chat_pool.hpp"
#include "sync_chat_client.hpp"
#include "weft/reactor_pool.hpp"

using chat_test::SyncClient;
using weft::chat::ChatOptions;
using namespace std::chrono_literals;

namespace {

/// A ChatPool on `n` reactors listening on 127.0.0.1:0 (one acceptor, round-robin), running.
struct PoolRoom {
    weft::ReactorPool pool;
    weft::chat::ChatPool room;
    std::shared_ptr<weft::PoolPort> port;

    static weft::ReactorPoolOptions quiet() {
        weft::ReactorPoolOptions options;
        options.handle_signals = false;
        return options;
    }
    explicit PoolRoom(std::size_t n, ChatOptions options = {}) : pool(n, quiet()), room(pool, options) {
        port = pool.listen("tcp:0:interface=127.0.0.1", room, weft::PoolListenStrategy::acceptor);
        pool.start();
    }
    ~PoolRoom() { stop(); }
    void stop() {
        if (pool.running()) {
            pool.stop();
            pool.join();
        }
        port.reset();
    }
    [[nodiscard]] std::uint16_t port_number() const { return port->port(); }

    /// fn() run on reactor i's thread; its result, waited for (bounded).
    template <class F>
    auto on(std::size_t i, F fn) -> decltype(fn()) {
        auto promise = std::make_shared<std::promise<decltype(fn())>>();
        auto future = promise->get_future();
        pool.at(i).call_from_thread([promise, fn] { promise->set_value(fn()); });
        REQUIRE(future.wait_for(10s) == std::future_status::ready);
        return future.get();
    }
    /// Clients in each shard, each read on its own thread.
    std::vector<std::size_t> counts() {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < pool.size(); ++i) out.push_back(on(i, [this, i] { return room.shard(i).client_count(); }));
        return out;
    }
    /// The reactor whose shard holds the client called `name`.
    std::size_t shard_of(const std::string& name) {
        std::optional<std::size_t> found;
        for (std::size_t i = 0; i < pool.size(); ++i) {
            if (on(i, [this, i, name] { return room.shard(i).find(name) != nullptr; })) found = i;
        }
        REQUIRE(found);
        return *found;
    }
    /// Every shard's counters summed, gathered through the pool (collect_stats).
    std::pair<weft::chat::ChatStats, std::size_t> stats() {
        auto promise = std::make_shared<std::promise<std::pair<weft::chat::ChatStats, std::size_t>>>();
        auto future = promise->get_future();
        room.collect_stats([promise](const weft::chat::ChatStats& s, std::size_t online) { promise->set_value({s, online}); });
        REQUIRE(future.wait_for(10s) == std::future_status::ready);
        return future.get();
    }
};

/// Connects `count` clients one after the other; each waits for its welcome and every earlier one sees
/// it join, so they land on the reactors in turn.
std::vector<std::unique_ptr<SyncClient>> join(PoolRoom& room, std::size_t count,
                                              std::vector<std::unique_ptr<SyncClient>> clients = {}) {
    for (std::size_t i = 0; i < count; ++i) {
        auto client = std::make_unique<SyncClient>(room.port_number());
        REQUIRE_FALSE(client->name.empty());
        for (auto& earlier : clients) REQUIRE(earlier->expect("* " + client->name + " joined"));
        clients.push_back(std::move(client));
    }
    return clients;
}

std::string numbered(std::size_t i) {
    std::string s = std::to_string(i) + " ";
    s.resize(40, 'x');
    return s;
}

}  // namespace

TEST_CASE("ChatPool: clients on every reactor see each other's lines, nick changes, /me, /who and departures",
          "[chat][pool]") {
    const std::size_t n = GENERATE(2, 3);
    PoolRoom room(n);
    auto clients = join(room, 2 * n);
    CHECK(room.counts() == std::vector<std::size_t>(n, 2));  // two on every reactor

    SyncClient& a = *clients[0];
    const std::string old_a = a.name;
    a.send("/nick alice\n");
    for (auto& c : clients) REQUIRE(c->expect("* " + old_a + " is now known as alice"));
    a.name = "alice";

    // A client on another reactor: the name is taken there too, in any case.
    const std::size_t a_shard = room.shard_of("alice");
    SyncClient* other = nullptr;
    for (auto& c : clients) {
        if (room.shard_of(c->name) != a_shard) other = c.get();
    }
    REQUIRE(other != nullptr);
    other->send("/nick ALICE\n");
    REQUIRE(other->expect("! name taken: ALICE"));
    other->send("/me waves\nhello from the other reactor\n");
    for (auto& c : clients) {
        REQUIRE(c->expect(other->name + " * waves"));
        REQUIRE(c->expect(other->name + ": hello from the other reactor"));
    }
    CHECK(a.seen.back() == other->name + ": hello from the other reactor");  // the refusal went to no one else

    other->send("/who\n");
    std::vector<std::string_view> names;
    for (auto& c : clients) names.emplace_back(c->name);
    REQUIRE(other->expect(weft::chat::who_line(names)));

    SyncClient& last = *clients.back();
    last.send("/quit\n");
    REQUIRE(last.expect("* bye"));
    REQUIRE(last.expect_eof());
    for (std::size_t i = 0; i + 1 < clients.size(); ++i) REQUIRE(clients[i]->expect("* " + last.name + " left"));
    CHECK(room.room.client_count() == 2 * n - 1);

    const auto [stats, online] = room.stats();
    CHECK(online == 2 * n - 1);
    CHECK(stats.joined == 2 * n);
    CHECK(stats.lines_relayed == 2);  // "/me waves" and the line
}

TEST_CASE("ChatPool: clients joining at once on different reactors: of any two, exactly one sees the other join",
          "[chat][pool]") {
    // A join notice travelling to another reactor must not reach a client that joined there meanwhile
    // (in one room, the later of two clients never hears the earlier one join).
    const std::size_t n = GENERATE(2, 3);
    constexpr std::size_t count = 30;
    PoolRoom room(n, ChatOptions{.flood_limit = 0});
    std::vector<std::unique_ptr<SyncClient>> clients;
    for (std::size_t i = 0; i < count; ++i) clients.push_back(std::make_unique<SyncClient>(room.port_number(), false));
    for (auto& c : clients) {
        c->read_welcome();
        REQUIRE_FALSE(c->name.empty());
    }
    for (std::size_t s : room.counts()) CHECK(s == count / n);
    // Every client's "done" comes after its reactor's join notices (one reactor's lines arrive in order),
    // and every reactor has a client: once a client has every "done", it has every notice meant for it.
    for (auto& c : clients) c->send("done\n");
    for (auto& c : clients) {
        std::set<std::string> done;
        while (done.size() < count) {
            const auto l = c->line();
            REQUIRE(l);
            if (l->ends_with(": done")) done.insert(l->substr(0, l->size() - 6));
        }
    }
    for (std::size_t i = 0; i < count; ++i) {
        for (std::size_t j = i + 1; j < count; ++j) {
            const bool i_saw_j = std::count(clients[i]->seen.begin(), clients[i]->seen.end(), "* " + clients[j]->name + " joined") != 0;
            const bool j_saw_i = std::count(clients[j]->seen.begin(), clients[j]->seen.end(), "* " + clients[i]->name + " joined") != 0;
            INFO(clients[i]->name << " and " << clients[j]->name);
            CHECK(i_saw_j != j_saw_i);
        }
    }
}

TEST_CASE("ChatPool: departures on every reactor at once, batched by each, reach everyone who stays",
          "[chat][pool]") {
    const std::size_t n = GENERATE(2, 3);
    PoolRoom room(n);
    auto clients = join(room, 4 * n);
    CHECK(room.counts() == std::vector<std::size_t>(n, 4));
    // Every other client quits (two on each reactor): the first departure of a burst goes out at once, the
    // ones after it in the reactor's next batch, and every batch to every reactor.
    for (std::size_t i = 0; i < clients.size(); i += 2) clients[i]->send("/quit\n");
    for (std::size_t i = 0; i < clients.size(); i += 2) CHECK(clients[i]->expect_eof());
    for (std::size_t j = 1; j < clients.size(); j += 2) {
        for (std::size_t i = 0; i < clients.size(); i += 2) {
            const std::string left = "* " + clients[i]->name + " left";
            if (std::count(clients[j]->seen.begin(), clients[j]->seen.end(), left) == 0) REQUIRE(clients[j]->expect(left));
        }
    }
    CHECK(room.room.client_count() == 2 * n);
    CHECK(room.stats().first.departure_flushes >= n);  // at least one per reactor
}

TEST_CASE("ChatPool: max-clients and max-per-address count the whole room", "[chat][pool]") {
    const std::size_t n = GENERATE(2, 3);
    SECTION("max-clients") {
        PoolRoom room(n, ChatOptions{.max_clients = n + 1});
        auto clients = join(room, n + 1);
        CHECK(room.counts().size() == n);
        for (std::size_t i = 0; i < n; ++i) {  // whichever reactor it lands on, the room is full
            SyncClient refused(room.port_number());
            CHECK(refused.first_line == "! server full");
            CHECK(refused.expect_eof());
        }
        clients.front()->send("/quit\n");
        for (std::size_t i = 1; i < clients.size(); ++i) REQUIRE(clients[i]->expect("* " + clients.front()->name + " left"));
        SyncClient admitted(room.port_number());
        CHECK_FALSE(admitted.name.empty());
        CHECK(room.stats().first.refused_full == n);
    }
    SECTION("max-per-address") {
        PoolRoom room(n, ChatOptions{.max_per_address = 2});
        auto clients = join(room, 2);
        for (std::size_t i = 0; i < n; ++i) {
            SyncClient refused(room.port_number());
            CHECK(refused.first_line == "! too many connections from your address (max 2)");
        }
        CHECK(room.stats().first.refused_address == n);
    }
}

TEST_CASE("ChatPool: no loss across reactors, every sender's lines in order at every receiver", "[chat][pool]") {
    const std::size_t n = GENERATE(2, 3);
    constexpr std::size_t per_client = 400;
    PoolRoom room(n, ChatOptions{.flood_limit = 0});
    auto clients = join(room, 2 * n);
    CHECK(room.counts() == std::vector<std::size_t>(n, 2));
    for (auto& c : clients) {
        std::string burst;
        for (std::size_t i = 0; i < per_client; ++i) burst += numbered(i) + "\n";
        c->send(burst);
    }
    for (auto& receiver : clients) {
        std::map<std::string, std::size_t> next;  // per sender: the number of its next line
        std::size_t got = 0;
        while (got < clients.size() * per_client) {
            const auto line = receiver->line();
            REQUIRE(line);
            const auto colon = line->find(": ");
            if (colon == std::string::npos || line->starts_with("* ")) continue;
            const std::string sender = line->substr(0, colon);
            REQUIRE(line->substr(colon + 2) == numbered(next[sender]++));
            ++got;
        }
        CHECK(next.size() == clients.size());
        for (const auto& [sender, count] : next) CHECK(count == per_client);
    }
    CHECK(room.stats().first.lines_relayed == clients.size() * per_client);
}

TEST_CASE("ChatPool: a client that does not read is cut on its reactor, the others carry on", "[chat][pool]") {
    constexpr std::size_t limit = 64 * 1024;
    PoolRoom room(2, ChatOptions{.send_buffer_limit = limit, .flood_limit = 0});
    auto clients = join(room, 2);
    SyncClient& slow = *clients[0];
    SyncClient& talker = *clients[1];
    REQUIRE(room.shard_of(slow.name) != room.shard_of(talker.name));
    const std::string line = std::string(1000, 'f') + "\n";
    constexpr std::size_t window = 50;
    constexpr std::size_t most = 40000;  // 40 MB: far beyond what the kernel's buffers and the limit hold
    bool cut = false;
    for (std::size_t sent = 0; sent < most && !cut; sent += window) {
        std::string burst;
        for (std::size_t i = 0; i < window; ++i) burst += line;
        talker.send(burst);
        for (std::size_t echoed = 0; echoed < window;) {
            const auto l = talker.line();
            REQUIRE(l);
            if (*l == "* " + slow.name + " left (too slow)") cut = true;
            if (l->starts_with(talker.name + ": ")) ++echoed;
        }
    }
    REQUIRE(cut);
    talker.send("still here\n");
    REQUIRE(talker.expect(talker.name + ": still here"));
    const auto stats = room.stats().first;
    CHECK(stats.cut_slow == 1);
    CHECK(stats.peak_buffered <= ChatOptions{.send_buffer_limit = limit}.hard_send_limit());
    CHECK(room.room.client_count() == 1);
}

TEST_CASE("ChatPool: stopping the pool tells every client on every reactor, then closes", "[chat][pool]") {
    const std::size_t n = GENERATE(2, 3);
    PoolRoom room(n);
    auto clients = join(room, n);
    CHECK(room.counts() == std::vector<std::size_t>(n, 1));
    clients.front()->send("last words\n");
    for (auto& c : clients) REQUIRE(c->expect(clients.front()->name + ": last words"));
    room.pool.stop();
    for (auto& c : clients) {
        REQUIRE(c->expect("* server shutting down"));
        CHECK(c->expect_eof());
        for (const auto& l : c->seen) CHECK_FALSE(l.ends_with(" left"));  // departures at shutdown are not announced
    }
    clients.clear();  // the reactors' lingering closes see our end close: join() returns at once
    room.stop();
}
