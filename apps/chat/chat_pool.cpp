#include "chat_pool.hpp"

#include <algorithm>
#include <utility>

#include "weft/error.hpp"

namespace weft::chat {

ChatPool::ChatPool(ReactorPool& pool, ChatOptions options)
    : pool_(pool), roster_(options.max_clients, options.max_per_address) {
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

void ChatPool::hand_to_others(std::size_t from, const std::shared_ptr<const ChatFactory::Forwarded>& lines) {
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        if (i == from) continue;
        pool_.at(i).call_from_thread([shard = shards_[i].get(), lines] { shard->receive(*lines); });
    }
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
