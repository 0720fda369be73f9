#pragma once
// weft-chat --threads N: one chat room over the reactors of a ReactorPool. docs/chat.md, "One room on N
// reactors".

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "chat_protocol.hpp"
#include "chat_roster.hpp"
#include "weft/factory.hpp"
#include "weft/reactor_pool.hpp"

namespace weft::chat {

/// One room over every reactor of a ReactorPool: a ChatFactory (a shard) per reactor holds the clients
/// that reactor serves, and the pool, passed to ReactorPool::listen, builds each connection's protocol in
/// the shard of the reactor that serves it.
///
/// Contract:
/// - A shard applies every rule of ChatFactory (the slow-client cut, the hard limit, the input budget,
///   the idle timeouts, the batching of departures) to its own clients, on its reactor's thread, with no
///   lock on the way of a chat line.
/// - A broadcast is formatted once into one shared buffer, written to the shard's clients, and at the end of
///   the loop turn the turn's broadcasts go to each other shard in one call_from_thread (one buffer, one post
///   per other reactor and turn), which writes them to its clients. The posts of one reactor to another run
///   in order, so each sender's lines (and its joins, nick changes and departures) arrive in order on every
///   reactor; lines of different senders on different reactors may interleave differently per reactor.
///   A line reaches the clients that had joined (ChatRoster::joins()) when it was said, on every reactor:
///   a client that joins on one reactor while a line from another travels does not get it.
/// - Bounded: the bytes in flight from one reactor to another (posted, not yet written to the receiver's
///   clients) are counted; past ChatOptions::forward_cap() the sender pauses reading its clients until the
///   receiver, back under half of it, posts a resume. A receiver lets its clients' output flush before a
///   batch that would put one over hard_send_limit(). So a reactor that lags costs the talkers elsewhere
///   speed, not memory, and its clients that read lose nothing.
/// - A departed client's name stays taken until every reactor has announced the departure.
/// - Names (unique in any case), max_clients, max_per_address and /who hold for the whole room: the
///   ChatRoster, under a mutex taken only on a join, a leave, a /nick and a /who.
/// - Shutdown: a "before shutdown" trigger on each reactor tells that reactor's clients "* server shutting
///   down" (set up by the constructor); the reactor then flushes and closes them.
/// - Make it before pool.start(), destroy it after pool.join(); the pool must outlive it.
class ChatPool final : public Factory {
public:
    /// A shard per reactor of `pool` (not running), with `options` for each.
    ChatPool(ReactorPool& pool, ChatOptions options = {});
    ~ChatPool() override;
    ChatPool(const ChatPool&) = delete;
    ChatPool& operator=(const ChatPool&) = delete;

    /// The protocol for a connection, built by the shard of the calling pool thread's reactor. StateError
    /// from a thread that runs no reactor of the pool.
    std::unique_ptr<Protocol> build_protocol(const Address& peer) override;

    /// Shards: shard(i) is reactor i's. Use it on that reactor's thread only while the pool runs.
    [[nodiscard]] ChatFactory& shard(std::size_t i) { return *shards_.at(i); }
    /// The number of shards (the pool's reactors).
    [[nodiscard]] std::size_t size() const noexcept { return shards_.size(); }
    /// Clients in the room, on every reactor. Thread-safe.
    [[nodiscard]] std::size_t client_count() const { return roster_.size(); }

    /// Gathers every shard's counters, each read on its own reactor's thread, and calls `done` on reactor
    /// 0's thread with their sum (peak_buffered: the largest) and the clients online. The pool must be
    /// running; callable from any thread.
    void collect_stats(std::function<void(const ChatStats&, std::size_t online)> done);
    /// The shards' counters summed, read from the calling thread: only while the pool is not running.
    [[nodiscard]] ChatStats stats() const;

private:
    friend class ChatFactory;
    /// Posts `lines` (a shard's turn of broadcasts) to every shard but `from`, each on its own thread;
    /// returns the most bytes now in flight from `from` to one of them.
    std::size_t hand_to_others(std::size_t from, const std::shared_ptr<const ChatFactory::Forwarded>& lines);
    /// Called by shard `to` once it has written `lines` from `from` (or dropped them at shutdown).
    void delivered(std::size_t from, std::size_t to, const ChatFactory::Forwarded& lines);
    /// The most bytes in flight from shard `from` to another.
    [[nodiscard]] std::size_t most_in_flight(std::size_t from) const noexcept;

    ReactorPool& pool_;
    ChatRoster roster_;
    std::vector<std::unique_ptr<ChatFactory>> shards_;
    std::vector<std::atomic<std::size_t>> in_flight_;  // [from * size() + to]: bytes posted, not yet written
};

/// Adds `from` into `into`: counters summed, peak_buffered the larger.
void add_stats(ChatStats& into, const ChatStats& from) noexcept;

}  // namespace weft::chat
