// One chat room over a ReactorPool (weft-chat --threads N, ChatPool): clients on different reactors, the
// test thread driving blocking clients (sync_chat_client.hpp, every read bounded) while the pool's threads
// serve them. Connections are handed round-robin by one acceptor, so consecutive clients land on
// different reactors; each test checks where they landed. Names start with "ChatPool": tests/run-all
// runs them under TSan.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <boost/json/value_to.hpp>

#include "chat_pool.hpp"
#include "sync_chat_client.hpp"
#include "web_chat.hpp"
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

/// Reactor `i` of the pool blocked on a latch (a reactor that lags) from construction until release(),
/// or the end of the scope.
class Stall {
public:
    Stall(weft::ReactorPool& pool, std::size_t i) {
        auto stalled = std::make_shared<std::promise<void>>();
        auto seen = stalled->get_future();
        pool.at(i).call_from_thread([stalled, released = released_] {
            stalled->set_value();
            released.wait_for(60s);  // bounded: released long before (a promise destroyed unset releases too)
        });
        REQUIRE(seen.wait_for(10s) == std::future_status::ready);
    }
    Stall(const Stall&) = delete;
    Stall& operator=(const Stall&) = delete;
    ~Stall() { release(); }
    void release() {
        if (!std::exchange(done_, true)) release_.set_value();
    }

private:
    std::promise<void> release_;
    std::shared_future<void> released_ = release_.get_future().share();
    bool done_ = false;
};

/// Waits `length` on reactor i's clock (a timer there): a stretch of the scenario, not a synchronisation.
void wait_on(PoolRoom& room, std::size_t i, weft::Duration length) {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    weft::Reactor& reactor = room.pool.at(i);
    reactor.call_from_thread([&reactor, done, length] { reactor.call_later(length, [done] { done->set_value(); }); });
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
}

/// One hold of shard 1's clients as the test saw it, on reactor 1's clock: it began within
/// [stalled, confirmed] and ended within [released, resumed_by].
struct HoldSeen {
    weft::TimePoint stalled, confirmed, released, resumed_by;
};

/// Stalls reactor 0 (which has no clients) while `talker`, on reactor 1, sends past forward_cap(): shard
/// 1 holds its clients. Keeps the hold `length` past its start (reactor 1's timer), runs `during` while
/// still held, then releases reactor 0 and returns once the talker's last line, read after the resume,
/// has come back.
HoldSeen hold_once(PoolRoom& room, SyncClient& talker, std::size_t cap, weft::Duration length,
                   const std::function<void()>& during = {}) {
    weft::Reactor& reactor = room.pool.at(1);
    const auto observe = [&room, &reactor] {
        return room.on(1, [&room, &reactor] { return std::pair{room.room.shard(1).stats().forward_holds, reactor.now()}; });
    };
    const std::uint64_t holds_before = observe().first;
    HoldSeen seen;
    const std::string line = std::string(999, 'x') + "\n";
    const std::size_t lines = cap / line.size() + 40;
    // Blocks while held: declared before the stall, so that on a failure reactor 0 is released (and reactor
    // 1 reads again) before the sender is joined.
    std::jthread sender;
    seen.stalled = reactor.now();
    Stall stall(room.pool, 0);
    sender = std::jthread([&talker, &line, lines] {
        std::string all;
        for (std::size_t i = 0; i < lines; ++i) all += line;
        talker.send(all);
    });
    // Its own lines echoed past the cap: reactor 1 has forwarded more than the cap to reactor 0, which
    // takes nothing, so it holds.
    std::size_t own = 0;
    std::size_t own_bytes = 0;
    const auto read_own = [&](auto done) {
        while (!done()) {
            const auto l = talker.line(30s);
            if (!l) return;
            if (!l->starts_with(talker.name + ": ")) continue;
            ++own;
            own_bytes += l->size() + 2;
        }
    };
    read_own([&] { return own_bytes > cap; });
    REQUIRE(own_bytes > cap);
    // Run after the turn that forwarded them: the hold has begun.
    std::uint64_t holds = 0;
    std::tie(holds, seen.confirmed) = observe();
    REQUIRE(holds == holds_before + 1);
    wait_on(room, 1, length);
    if (during) during();
    seen.released = reactor.now();
    stall.release();
    // The rest of its lines are read only after the resume.
    read_own([&] { return own == lines; });
    REQUIRE(own == lines);
    std::tie(holds, seen.resumed_by) = observe();
    // One hold, over: past the resume reactor 0 (no clients) takes what it is sent at once, far below the cap.
    REQUIRE(holds == holds_before + 1);
    return seen;
}

/// A client's silence outside the holds, bounded from the test's side (reactor 1's clock): it connected
/// within [connected_lo, connected_hi] and sent nothing since; each hold covered at least
/// [confirmed, released] and at most [stalled, resumed_by].
struct UnheldSilence {
    weft::TimePoint connected_lo, connected_hi;
    std::vector<HoldSeen> holds;

    static weft::Duration overlap(weft::TimePoint from, weft::TimePoint to, weft::TimePoint t) {
        return std::max(weft::Duration::zero(), std::min(to, t) - from);
    }
    /// Its silence outside the holds at `t` is at most this...
    [[nodiscard]] weft::Duration most(weft::TimePoint t) const {
        weft::Duration held{};
        for (const HoldSeen& h : holds) held += overlap(h.confirmed, h.released, t);
        return t - connected_lo - held;
    }
    /// ...and at least this.
    [[nodiscard]] weft::Duration least(weft::TimePoint t) const {
        weft::Duration held{};
        for (const HoldSeen& h : holds) held += overlap(h.stalled, h.resumed_by, t);
        return t - connected_hi - held;
    }
};

double seconds(weft::Duration d) { return std::chrono::duration<double>(d).count(); }

/// Reads everything `client` is sent, on a thread of its own (a client that did not read would be cut as
/// slow), until `notice`, whose arrival it times with `reactor`'s clock, or the end (nullopt).
class NoticeWatch {
public:
    NoticeWatch(SyncClient& client, weft::Reactor& reactor, std::string notice)
        : thread_([&client, &reactor, notice = std::move(notice), this] {
              for (;;) {
                  const auto l = client.line(30s);
                  if (!l) return seen_.set_value(std::nullopt);
                  if (*l == notice) return seen_.set_value(reactor.now());
              }
          }) {}
    /// When the notice came (bounded), or nullopt if the client was closed or went quiet without it.
    std::optional<weft::TimePoint> wait() {
        REQUIRE(future_.wait_for(30s) == std::future_status::ready);
        return future_.get();
    }

private:
    std::promise<std::optional<weft::TimePoint>> seen_;
    std::future<std::optional<weft::TimePoint>> future_ = seen_.get_future();
    std::jthread thread_;  // last: started once the rest is ready, joined first
};

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
    // The refusal went to no one else.
    for (auto& c : clients) {
        if (c.get() == other) continue;
        CHECK(std::count(c->seen.begin(), c->seen.end(), "! name taken: ALICE") == 0);
    }

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
        const auto counts = room.counts();  // round-robin: two on the first reactor, one on each other
        for (std::size_t c : counts) CHECK(c >= 1);
        CHECK(std::accumulate(counts.begin(), counts.end(), std::size_t{0}) == n + 1);
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
        REQUIRE(room.shard_of(clients[0]->name) != room.shard_of(clients[1]->name));
        for (std::size_t i = 0; i < n; ++i) {
            SyncClient refused(room.port_number());
            CHECK(refused.first_line == "! too many connections from your address (max 2)");
        }
        CHECK(room.stats().first.refused_address == n);
        // A leave on one reactor frees the address on every one: the next connection, on whichever
        // reactor, is admitted.
        clients.front()->send("/quit\n");
        REQUIRE(clients.front()->expect_eof());
        REQUIRE(clients[1]->expect("* " + clients.front()->name + " left"));
        for (std::size_t i = 0; i < n; ++i) {
            SyncClient admitted(room.port_number());
            CHECK_FALSE(admitted.name.empty());
            admitted.send("/quit\n");
            CHECK(admitted.expect_eof());
            REQUIRE(clients[1]->expect("* " + admitted.name + " left"));
        }
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

TEST_CASE("ChatPool: a reactor that lags holds the talkers on the others and once it catches up its clients "
          "that read get every line and none is cut",
          "[chat][pool]") {
    // Reactor 0 serves the reader and stops (blocked on a latch the test holds) while the talkers, one per
    // other reactor, send more than forward_cap() each. Their reactors must pause reading them at the cap
    // (memory in flight bounded), and once reactor 0 runs again it must not cut the reader for the
    // backlog: with five talkers it is more than hard_send_limit() in all (5 x forward_cap() is exactly
    // hard_send_limit() with this send_buffer_limit), so the batches have to wait for the reader's output
    // to flush.
    const std::size_t talkers = GENERATE(1, 5);
    const ChatOptions options{.send_buffer_limit = 256 * 1024, .flood_limit = 0};
    REQUIRE(5 * options.forward_cap() == options.hard_send_limit());
    PoolRoom room(talkers + 1, options);
    auto clients = join(room, talkers + 1);
    SyncClient& reader = *clients[0];
    REQUIRE(room.shard_of(reader.name) == 0);
    const std::size_t cap = options.forward_cap();
    constexpr std::size_t line_size = 1000;
    const std::size_t per_talker = cap / line_size + 40;  // past the cap, with the names and "\r\n"s
    const auto padded = [](std::size_t i) {
        std::string s = std::to_string(i) + " ";
        s.resize(line_size, 'x');
        return s;
    };

    std::promise<void> stalled;
    std::promise<void> release;
    auto released = release.get_future().share();
    room.pool.at(0).call_from_thread([&stalled, released] {
        stalled.set_value();
        released.wait_for(60s);  // bounded: the test releases it long before
    });
    REQUIRE(stalled.get_future().wait_for(10s) == std::future_status::ready);

    // Per talker: one thread sends (it blocks while its reactor does not read it), one reads everything
    // the talkers say and tells, once its own lines echoed pass the cap, that its reactor must be holding.
    std::vector<std::promise<void>> past_cap(talkers);
    std::vector<std::future<void>> past_cap_seen;
    for (auto& p : past_cap) past_cap_seen.push_back(p.get_future());
    std::vector<std::size_t> talker_got(talkers, 0);
    std::vector<std::size_t> talker_own_bytes(talkers, 0);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < talkers; ++t) {
        SyncClient& talker = *clients[t + 1];
        threads.emplace_back([&talker, &padded, per_talker] {
            std::string all;
            for (std::size_t i = 0; i < per_talker; ++i) all.append(padded(i)).append("\n");
            talker.send(all);
        });
        threads.emplace_back([&, t] {
            SyncClient& me = *clients[t + 1];
            std::size_t own_bytes = 0;  // what its reactor forwarded of its lines, "\r\n" included
            bool told = false;
            while (talker_got[t] < talkers * per_talker) {
                const auto l = me.line(30s);
                if (!l) return;
                if (l->starts_with("* ")) continue;
                ++talker_got[t];
                if (l->starts_with(me.name + ": ")) talker_own_bytes[t] = own_bytes += l->size() + 2;
                if (own_bytes > cap && !told) {
                    told = true;
                    past_cap[t].set_value();
                }
            }
        });
    }
    bool all_past_cap = true;
    for (auto& f : past_cap_seen) all_past_cap = all_past_cap && f.wait_for(30s) == std::future_status::ready;
    // Each holding shard's counters, with the statistics line (SIGUSR1) and /stats' JSON made from them at
    // the same moment: both must show the holds and the bytes in flight.
    struct Held {
        weft::chat::ChatStats stats;
        std::string line;
        boost::json::object json;
    };
    std::vector<weft::chat::ChatStats> held;
    std::vector<Held> shown;
    for (std::size_t t = 1; t <= talkers; ++t) {
        shown.push_back(room.on(t, [&room, t] {
            const auto& shard = room.room.shard(t);
            return Held{shard.stats(), weft::chat::stats_summary(shard.stats()), weft::chat::stats_json(shard)};
        }));
        held.push_back(shown.back().stats);
    }
    release.set_value();

    std::map<std::string, std::size_t> next;  // per talker: the number of its next line
    std::size_t got = 0;
    while (got < talkers * per_talker) {
        const auto l = reader.line(30s);
        if (!l) break;
        const auto colon = l->find(": ");
        if (l->starts_with("* ") || colon == std::string::npos) continue;
        REQUIRE(l->substr(colon + 2) == padded(next[l->substr(0, colon)]++));
        ++got;
    }
    for (auto& thread : threads) thread.join();
    INFO("talkers " << talkers << ", own bytes echoed: " << [&] {
        std::string s;
        for (std::size_t b : talker_own_bytes) s += std::to_string(b) + " ";
        return s;
    }() << "forward_holds: " << [&] {
        std::string s;
        for (const auto& h : held) s += std::to_string(h.forward_holds) + "/" + std::to_string(h.peak_in_flight) + " ";
        return s;
    }());
    REQUIRE(all_past_cap);
    for (const auto& stats : held) CHECK(stats.forward_holds >= 1);  // paused by the time it passed the cap
    for (const auto& [stats, line, json] : shown) {
        REQUIRE(stats.peak_in_flight > 0);
        CHECK(line.ends_with(", " + std::to_string(stats.forward_holds) + " forward holds, " +
                             std::to_string(stats.peak_in_flight) + " bytes peak in flight"));
        REQUIRE(json.contains("forward_holds"));
        REQUIRE(json.contains("peak_in_flight"));
        CHECK(boost::json::value_to<std::uint64_t>(json.at("forward_holds")) == stats.forward_holds);
        CHECK(boost::json::value_to<std::uint64_t>(json.at("peak_in_flight")) == stats.peak_in_flight);
    }
    CHECK(got == talkers * per_talker);
    for (std::size_t t = 0; t < talkers; ++t) CHECK(talker_got[t] == talkers * per_talker);
    const auto stats = room.stats().first;
    CHECK(stats.cut_slow == 0);
    CHECK(stats.peak_buffered <= options.hard_send_limit());
    CHECK(stats.peak_in_flight <= cap + 2 * line_size);  // a line past the cap at most
}

/// The held-client cases' room: two reactors, one timeout (the first-line one if `first_line`, else the
/// idle one) of `timeout`, a talker and a quiet client on reactor 1, and reactor 0 without clients (their
/// departure notices need not have arrived: the second is batched), so that it can stall on a latch with
/// no timer of its own that matters. `silence` knows when the quiet client connected.
struct QuietOnReactor1 {
    ChatOptions options;
    std::string cut_notice;
    PoolRoom room;
    std::vector<std::unique_ptr<SyncClient>> clients;
    UnheldSilence silence;

    QuietOnReactor1(bool first_line, weft::Duration timeout)
        : options(timeouts(first_line, timeout)),
          cut_notice(first_line ? "! no line within 1 s of connecting, disconnecting" : "! idle for 1 s, disconnecting"),
          room(2, options) {
        REQUIRE(timeout == 1s);  // the notices above say so
        weft::Reactor& reactor = room.pool.at(1);
        clients = join(room, 3);  // round-robin: 0 and 2 on reactor 0, 1 (and 3, next) on reactor 1
        silence.connected_lo = reactor.now();
        clients = join(room, 1, std::move(clients));
        silence.connected_hi = reactor.now();
        REQUIRE(room.shard_of(talker().name) == 1);
        REQUIRE(room.shard_of(quiet().name) == 1);
        for (std::size_t i : {0, 2}) {
            clients[i]->send("/quit\n");
            REQUIRE(clients[i]->expect_eof());
        }
    }
    SyncClient& talker() { return *clients[1]; }
    SyncClient& quiet() { return *clients[3]; }

    static ChatOptions timeouts(bool first_line, weft::Duration timeout) {
        ChatOptions o{.idle_timeout = weft::Duration::zero(), .first_line_timeout = weft::Duration::zero(),
                      .flood_limit = 0};
        (first_line ? o.first_line_timeout : o.idle_timeout) = timeout;
        return o;
    }
};

TEST_CASE("ChatPool: a client held for a lagging reactor is not cut as idle; after the resume only its "
          "silence outside the hold counts",
          "[chat][pool]") {
    // The shards time their clients with their reactors' clocks (a pool has no testing::Clock), so the
    // timeout is real, and short. The quiet client on reactor 1 is silent for a while (`before`), then
    // reactor 0 stalls on a latch (it has no clients: no timer of its own matters) while the talker on
    // reactor 1 passes forward_cap(): reactor 1 holds its clients, the quiet one included, a whole timeout
    // more, past the quiet client's deadline, and it is still in. After the resume only the rest of the
    // timeout (the timeout less its silence before the hold) is left: it is cut by the time its silence
    // outside the hold surely reached the timeout (plus `slack`, the idle timer's latency), not a whole
    // timeout after the resume (`before` > `slack` tells the two apart), and not before that silence
    // can have reached the timeout.
    const bool first_line = GENERATE(false, true);
    constexpr auto timeout = 1s;
    constexpr auto before = 400ms;
    constexpr auto slack = 200ms;
    INFO("idle or first-line: " << (first_line ? "first-line" : "idle"));
    QuietOnReactor1 q(first_line, timeout);
    const ChatOptions& options = q.options;
    PoolRoom& room = q.room;
    weft::Reactor& reactor = room.pool.at(1);
    UnheldSilence& silence = q.silence;
    SyncClient& talker = q.talker();
    SyncClient& quiet = q.quiet();
    NoticeWatch watch(quiet, reactor, q.cut_notice);
    wait_on(room, 1, before);
    // Held a whole timeout: by its end the quiet client's deadline has passed (it connected before the
    // hold began), and reactor 1's timers run in time order, so its idle check ran, during the hold.
    const HoldSeen hold = hold_once(room, talker, options.forward_cap(), timeout, [&] {
        const auto [still_in, stats] = room.on(1, [&room, name = quiet.name] {
            return std::pair{room.room.shard(1).find(name) != nullptr, room.room.shard(1).stats()};
        });
        CHECK(still_in);
        CHECK(stats.cut_idle == 0);
    });
    silence.holds.push_back(hold);
    // Its deadline came after the hold began only if the setup took less than the timeout.
    REQUIRE(hold.confirmed - silence.connected_lo < timeout);

    // Wait until its silence outside the hold is surely past the timeout (and the slack): it is cut by then.
    const weft::Duration left = timeout + slack - silence.least(reactor.now());
    if (left > weft::Duration::zero()) wait_on(room, 1, left);
    const auto [in_after, checked_at] = room.on(1, [&room, &reactor, name = quiet.name] {
        return std::pair{room.room.shard(1).find(name) != nullptr, reactor.now()};
    });
    INFO("checked " << seconds(checked_at - hold.resumed_by) << " s after the resume, its silence outside the hold "
                    << seconds(silence.least(checked_at)) << " s at least");
    CHECK_FALSE(in_after);
    const auto seen_at = watch.wait();
    REQUIRE(seen_at);
    INFO("its silence outside the hold when the cut was seen: " << seconds(silence.most(*seen_at)) << " s at most");
    CHECK(silence.most(*seen_at) >= timeout);
    CHECK(quiet.expect_eof());
    CHECK(room.stats().first.cut_idle >= 1);
}

TEST_CASE("ChatPool: a silent client held again and again, each hold shorter than the timeout, is cut once its "
          "silence outside the holds reaches the timeout",
          "[chat][pool]") {
    // Reactor 0 lags briefly, again and again (as under load): each time, reactor 1 holds its clients for
    // `hold_length` (less than the timeout), then runs unheld for `gap` (less than the timeout too). The
    // quiet client's silence outside the holds adds up: it must be cut once that reaches the timeout,
    // while the holds still recur, and not before. Checked on reactor 1 before each round: still in only
    // while its silence outside the holds may be short of the timeout plus `slack` (the idle timer's
    // latency); when the cut is seen, that silence may have reached the timeout. Restarting the clocks on
    // each resume would keep it in for ever.
    const bool first_line = GENERATE(false, true);
    constexpr auto timeout = 1s;
    constexpr auto hold_length = 400ms;
    constexpr auto gap = 300ms;
    constexpr auto slack = 200ms;
    constexpr std::size_t most_rounds = 8;  // ~2.4 s of silence outside the holds: cut by the fifth
    INFO("idle or first-line: " << (first_line ? "first-line" : "idle"));
    QuietOnReactor1 q(first_line, timeout);
    const ChatOptions& options = q.options;
    PoolRoom& room = q.room;
    weft::Reactor& reactor = room.pool.at(1);
    UnheldSilence& silence = q.silence;
    SyncClient& talker = q.talker();
    SyncClient& quiet = q.quiet();
    NoticeWatch watch(quiet, reactor, q.cut_notice);

    std::optional<weft::TimePoint> out_at;
    for (std::size_t round = 0; round < most_rounds && !out_at; ++round) {
        const auto [in, now] = room.on(1, [&room, &reactor, name = quiet.name] {
            return std::pair{room.room.shard(1).find(name) != nullptr, reactor.now()};
        });
        if (!in) {
            out_at = now;
            break;
        }
        INFO("round " << round << ": still in, its silence outside the holds " << seconds(silence.least(now))
                      << " s at least");
        CHECK(silence.least(now) < timeout + slack);
        wait_on(room, 1, gap);
        silence.holds.push_back(hold_once(room, talker, options.forward_cap(), hold_length));
    }
    INFO(silence.holds.size() << " holds");
    REQUIRE(out_at);  // cut while the holds still recurred
    CHECK(silence.holds.size() >= 2);  // and after more than one: the silence added up across holds
    const auto seen_at = watch.wait();
    REQUIRE(seen_at);
    INFO("its silence outside the holds when the cut was seen: " << seconds(silence.most(*seen_at)) << " s at most");
    CHECK(silence.most(*seen_at) >= timeout);
    CHECK(quiet.expect_eof());
    CHECK(room.stats().first.cut_idle >= 1);
}

TEST_CASE("ChatPool: a departed client's name stays taken until every reactor has announced the departure",
          "[chat][pool]") {
    PoolRoom room(2, ChatOptions{.flood_limit = 0});
    auto c = join(room, 4);  // c0 and c2 on reactor 0, c1 and c3 on reactor 1
    REQUIRE(room.shard_of(c[0]->name) == 0);
    REQUIRE(room.shard_of(c[1]->name) == 1);
    REQUIRE(room.shard_of(c[3]->name) == 1);
    const std::string old0 = c[0]->name;
    c[0]->send("/nick alice\n");
    for (auto& x : c) REQUIRE(x->expect("* " + old0 + " is now known as alice"));
    c[2]->send("/quit\n");  // the first departure goes out at once and opens a batch window
    REQUIRE(c[2]->expect_eof());
    c[0]->send("/quit\n");  // waits in reactor 0's batch
    REQUIRE(c[0]->expect_eof());
    // Asked for on reactor 1 at once: refused until reactor 1 has told its clients "* alice left".
    const std::string old1 = c[1]->name;
    bool renamed = false;
    std::size_t refused = 0;
    for (int tries = 0; tries < 10000 && !renamed; ++tries) {
        c[1]->send("/nick alice\n");
        REQUIRE(c[1]->expect_if([&](std::string_view l) {
            renamed = l == "* " + old1 + " is now known as alice";
            refused += l == "! name taken: alice" ? 1 : 0;
            return renamed || l == "! name taken: alice";
        }));
    }
    REQUIRE(renamed);
    CHECK(refused >= 1);  // asked for before reactor 0's batch left: still taken
    REQUIRE(c[3]->expect("* " + old1 + " is now known as alice"));
    for (SyncClient* x : {c[1].get(), c[3].get()}) {
        const auto left = std::find(x->seen.begin(), x->seen.end(), "* alice left");
        const auto renamed_at = std::find(x->seen.begin(), x->seen.end(), "* " + old1 + " is now known as alice");
        CHECK(left < renamed_at);  // "alice left" was seen, and before the new alice
    }
}

TEST_CASE("ChatPool: a client that joins after a departure on another reactor does not hear it", "[chat][pool]") {
    PoolRoom room(2, ChatOptions{.flood_limit = 0});
    auto c = join(room, 3);  // c0 and c2 on reactor 0, c1 on reactor 1
    c[2]->send("/quit\n");   // goes out at once, opens a batch window on reactor 0
    REQUIRE(c[2]->expect_eof());
    const std::string gone = c[0]->name;
    c[0]->send("/quit\n");  // batched: announced up to 100 ms later
    REQUIRE(c[0]->expect_eof());
    SyncClient late(room.port_number());  // the fourth connection: reactor 1, within the batch window
    REQUIRE(room.shard_of(late.name) == 1);
    // Reactor 1 has written the batch once c1 has it; late's own line comes after whatever it was given.
    REQUIRE(c[1]->expect("* " + gone + " left"));
    late.send("marker\n");
    REQUIRE(late.expect(late.name + ": marker"));
    CHECK(std::count(late.seen.begin(), late.seen.end(), "* " + gone + " left") == 0);
}

TEST_CASE("ChatPool's roster: a name kept on leaving is taken but no longer counted nor listed", "[chat][pool]") {
    weft::chat::ChatRoster roster(10, 1);
    std::string alice = "alice";
    std::string bob = "bob";
    std::uint64_t number = 0;
    REQUIRE(roster.join(alice, "10.0.0.1", number) == weft::chat::ChatRoster::Admission::admitted);
    REQUIRE(roster.join(bob, "10.0.0.2", number) == weft::chat::ChatRoster::Admission::admitted);
    roster.leave("alice", "10.0.0.1", true);
    CHECK(roster.size() == 1);
    CHECK(roster.who() == "* online (1): bob");
    std::string again = "Alice";  // its address is free at once, its name is not
    REQUIRE(roster.join(again, "10.0.0.1", number) == weft::chat::ChatRoster::Admission::admitted);
    CHECK(again == "Alice_");
    CHECK_FALSE(roster.rename("bob", "ALICE"));
    roster.release({"alice"});
    CHECK(roster.rename("bob", "ALICE", true));
    CHECK(roster.who() == "* online (2): ALICE, Alice_");
    // Renamed away from with keep_old: the old name is taken until released (a change of case keeps none).
    CHECK_FALSE(roster.rename("Alice_", "bob"));
    roster.release({"bob"});
    CHECK(roster.rename("Alice_", "bob"));
    CHECK(roster.rename("ALICE", "alice", true));
    CHECK(roster.rename("bob", "Alice2"));
    CHECK(roster.rename("Alice2", "bob"));  // without keep_old: free at once
    CHECK(roster.who() == "* online (2): alice, bob");
}
