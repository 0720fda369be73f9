#include "chat_pool.hpp"

#include <algorithm>
#include <utility>

#include "weft/error.hpp"

namespace weft::chat {

ChatPool::ChatPool(ReactorPool& pool, ChatOptions options)
    : pool_(pool), roster_(options.max_clients, options.max_per_address), in_flight_(pool.size() * pool.size()) {
    shards_.reserve(pool.size());
    for (std::size_t i = 0; i < pool.size(); ++i) {
        shards_.push_back(std::make_unique<ChatFactory>(pool.at(i), options, *this, i));
        // Each reactor runs its own shutdown: its shard tells its own clients, then they are flushed.
        pool.at(i).add_system_event_trigger(TriggerPhase::before, SystemEvent::shutdown,
                                            [shard = shards_.back().get()] { shard->shutting_down(); });
    }
}

ChatPool::~ChatPool() = default;

std::unique_ptr<Protocol> ChatPool::build_protocol(const Address& peer) {
    const auto current = pool_.current();
    if (!current) throw StateError("ChatPool::build_protocol: not on a thread of the pool");
    return shards_[*current]->build_protocol(peer);
}

std::size_t ChatPool::hand_to_others(std::size_t from, const std::shared_ptr<const ChatFactory::Forwarded>& lines) {
    const std::size_t size = lines->all->size();
    std::size_t most = 0;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        if (i == from) continue;
        most = std::max(most, in_flight_[from * shards_.size() + i].fetch_add(size) + size);
        pool_.at(i).call_from_thread([shard = shards_[i].get(), lines, from] { shard->receive(lines, from); });
    }
    return most;
}

void ChatPool::delivered(std::size_t from, std::size_t to, const ChatFactory::Forwarded& lines) {
    const std::size_t size = lines.all->size();
    const std::size_t before = in_flight_[from * shards_.size() + to].fetch_sub(size);
    // The sender holds only after seeing more than the cap in flight (or the cap's worth in its outbox, then
    // more than half of it in flight): going below half of it comes after, and the resume finds it holding.
    const std::size_t low = shards_[from]->options().forward_cap() / 2;
    if (before >= low && before - size < low) {
        pool_.at(from).call_from_thread([shard = shards_[from].get()] { shard->forward_resume(); });
    }
    if (!lines.released.empty() && lines.countdown.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        roster_.release(lines.released);
    }
}

std::size_t ChatPool::most_in_flight(std::size_t from) const noexcept {
    std::size_t most = 0;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        if (i != from) most = std::max(most, in_flight_[from * shards_.size() + i].load(std::memory_order_relaxed));
    }
    return most;
}

void add_stats(ChatStats& into, const ChatStats& from) noexcept {
    into.joined += from.joined;
    into.refused_full += from.refused_full;
    into.cut_slow += from.cut_slow;
    into.cut_idle += from.cut_idle;
    into.refused_address += from.refused_address;
    into.flood_paused += from.flood_paused;
    into.cut_flood += from.cut_flood;
    into.departure_flushes += from.departure_flushes;
    into.lines_relayed += from.lines_relayed;
    into.peak_buffered = std::max(into.peak_buffered, from.peak_buffered);
    into.forward_holds += from.forward_holds;
    into.peak_in_flight = std::max(into.peak_in_flight, from.peak_in_flight);
}

ChatStats ChatPool::stats() const {
    ChatStats sum;
    for (const auto& shard : shards_) add_stats(sum, shard->stats());
    return sum;
}

void ChatPool::collect_stats(std::function<void(const ChatStats&, std::size_t online)> done) {
    // Touched on reactor 0's thread only: each shard's snapshot travels there by call_from_thread.
    struct Gathering {
        ChatStats sum;
        std::size_t remaining;
        std::function<void(const ChatStats&, std::size_t)> done;
    };
    auto gathering = std::make_shared<Gathering>(Gathering{{}, shards_.size(), std::move(done)});
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        pool_.at(i).call_from_thread([this, i, gathering] {
            pool_.at(0).call_from_thread([this, gathering, snapshot = shards_[i]->stats()] {
                add_stats(gathering->sum, snapshot);
                if (--gathering->remaining == 0) gathering->done(gathering->sum, roster_.size());
            });
        });
    }
}

}  // namespace weft::chat
