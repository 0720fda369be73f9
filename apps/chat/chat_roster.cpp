#include "chat_roster.hpp"

#include <vector>

#include "chat_protocol.hpp"

namespace weft::chat {

ChatRoster::ChatRoster(std::size_t max_clients, std::size_t max_per_address)
    : max_clients_(max_clients), max_per_address_(max_per_address) {}

ChatRoster::Admission ChatRoster::join(std::string& name, const std::string& address, std::uint64_t& number) {
    std::string key = fold_nick(name);
    std::lock_guard lock(mutex_);
    if (clients_ >= max_clients_) return Admission::full;
    if (max_per_address_ != 0) {
        auto it = per_address_.find(address);
        if (it != per_address_.end() && it->second >= max_per_address_) return Admission::address_full;
    }
    // ip:port is unique among live connections; the loop only guards against a peer address reused
    // while its old connection is still in the room.
    while (names_.contains(key)) {
        name += '_';
        key += '_';
    }
    names_.emplace(std::move(key), Holder{name, false});
    ++clients_;
    if (max_per_address_ != 0) ++per_address_[address];
    number = joins_.load(std::memory_order_relaxed) + 1;
    joins_.store(number, std::memory_order_release);
    return Admission::admitted;
}

void ChatRoster::leave(std::string_view name, const std::string& address, bool keep_name) {
    const std::string key = fold_nick(name);
    std::lock_guard lock(mutex_);
    if (auto it = names_.find(key); it != names_.end()) {
        if (keep_name) {
            it->second.left = true;
        } else {
            names_.erase(it);
        }
    }
    --clients_;
    if (max_per_address_ == 0) return;
    if (auto it = per_address_.find(address); it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

void ChatRoster::release(const std::vector<std::string>& names) {
    std::lock_guard lock(mutex_);
    for (const std::string& name : names) {
        if (auto it = names_.find(fold_nick(name)); it != names_.end() && it->second.left) names_.erase(it);
    }
}

bool ChatRoster::rename(std::string_view old_name, std::string_view new_name, bool keep_old) {
    const std::string old_key = fold_nick(old_name);
    std::string new_key = fold_nick(new_name);
    std::lock_guard lock(mutex_);
    if (new_key != old_key && names_.contains(new_key)) return false;
    if (auto it = names_.find(old_key); it != names_.end()) {
        if (keep_old && new_key != old_key) {
            it->second.left = true;
        } else {
            names_.erase(it);
        }
    }
    names_.insert_or_assign(std::move(new_key), Holder{std::string(new_name), false});
    return true;
}

std::size_t ChatRoster::size() const {
    std::lock_guard lock(mutex_);
    return clients_;
}

std::string ChatRoster::who() const {
    // Copied under the lock, sorted outside it: a /who in a big room does not hold up the joins and
    // leaves of every reactor while it sorts.
    std::vector<std::string> copy;
    {
        std::lock_guard lock(mutex_);
        copy.reserve(clients_);
        for (const auto& [key, holder] : names_) {
            if (!holder.left) copy.push_back(holder.shown);
        }
    }
    return who_line({copy.begin(), copy.end()});
}

}  // namespace weft::chat
