#pragma once
// weft-chat --threads N: who is in the room, across the reactors. docs/chat.md, "One room on N reactors".

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace weft::chat {

/// The part of a room spread over several reactors (ChatPool) that must be seen whole: the names (unique
/// in any case), the number of clients (max_clients) and the connections per address (max_per_address).
///
/// Contract: thread-safe; every call takes one mutex for a short time (a /who copies the names under it and
/// sorts them outside). Only the rare events take it (a join, a leave, a /nick, a /who): a chat line never
/// does, so the per-message path stays free of locks while the room's rules hold across every reactor at
/// once (a name taken on one reactor is refused on all the others).
class ChatRoster {
public:
    /// Limits as ChatOptions::max_clients and max_per_address (0: no per-address limit).
    ChatRoster(std::size_t max_clients, std::size_t max_per_address);

    /// What join() decided.
    enum class Admission {
        admitted,      ///< counted, `name` reserved
        full,          ///< max_clients reached: nothing changed
        address_full,  ///< max_per_address connections from that address already: nothing changed
    };
    /// Admits a client: counts it and its address, and reserves `name`, appending '_' until no one holds it
    /// in any case (`name` is updated); `number` becomes its place in the order of joins (1, 2, ...).
    Admission join(std::string& name, const std::string& address, std::uint64_t& number);
    /// Forgets a client that join() admitted as `name` (its current name) from `address`: it no longer
    /// counts (max_clients, max_per_address, /who). With `keep_name` the name stays taken until release()
    /// (ChatPool: until every reactor has announced the departure).
    void leave(std::string_view name, const std::string& address, bool keep_name = false);
    /// Frees names that leave() kept.
    void release(const std::vector<std::string>& names);
    /// Moves a client from `old_name` to `new_name`: false (nothing changed) if someone else holds
    /// `new_name` in any case; a change of case of one's own name is allowed. With `keep_old` (and more
    /// than a change of case) `old_name` stays taken until release(), as after leave().
    bool rename(std::string_view old_name, std::string_view new_name, bool keep_old = false);
    /// Clients in the room, on every reactor.
    [[nodiscard]] std::size_t size() const;
    /// The number of the latest join (0 before any). Lock-free: read for every broadcast, so that a line
    /// reaches the clients that joined before it was said and no later one (ChatPool's contract).
    [[nodiscard]] std::uint64_t joins() const noexcept { return joins_.load(std::memory_order_acquire); }
    /// The /who reply for the whole room ("* online (N): a, b, ... and K more").
    [[nodiscard]] std::string who() const;

private:
    const std::size_t max_clients_;
    const std::size_t max_per_address_;
    mutable std::mutex mutex_;
    struct Holder {
        std::string shown;  // the name as shown
        bool left = false;  // kept by leave(): taken, but no longer in the room
    };
    std::unordered_map<std::string, Holder> names_;  // fold_nick(name) -> its holder
    std::size_t clients_ = 0;
    std::unordered_map<std::string, std::size_t> per_address_;  // only with a per-address limit
    std::atomic<std::uint64_t> joins_{0};  // written under mutex_
};

}  // namespace weft::chat
