#include "chat_roster.hpp"

#include <vector>

#include "chat_protocol.hpp"

namespace weft::chat {

ChatRoster::ChatRoster(std::size_t max_clients, std::size_t max_per_address)
    : max_clients_(max_clients), max_per_address_(max_per_address) {}

ChatRoster::Admission ChatRoster::join(std::string& name, const std::string& address, std::uint64_t& number) {
    std::string key = fold_nick(name);
    std::lock_guard lock(mutex_);
    if (names_.size() >= max_clients_) return Admission::full;
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
    names_.emplace(std::move(key), name);
    if (max_per_address_ != 0) ++per_address_[address];
    number = joins_.load(std::memory_order_relaxed) + 1;
    joins_.store(number, std::memory_order_release);
    return Admission::admitted;
}

void ChatRoster::leave(std::string_view name, const std::string& address) {
    const std::string key = fold_nick(name);
    std::lock_guard lock(mutex_);
    names_.erase(key);
    if (max_per_address_ == 0) return;
    if (auto it = per_address_.find(address); it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

bool ChatRoster::rename(std::string_view old_name, std::string_view new_name) {
    const std::string old_key = fold_nick(old_name);
    std::string new_key = fold_nick(new_name);
    std::lock_guard lock(mutex_);
    if (new_key != old_key && names_.contains(new_key)) return false;
    names_.erase(old_key);
    names_.insert_or_assign(std::move(new_key), std::string(new_name));
    return true;
}

std::size_t ChatRoster::size() const {
    std::lock_guard lock(mutex_);
    return names_.size();
}

std::string ChatRoster::who() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string_view> names;
    names.reserve(names_.size());
    for (const auto& entry : names_) names.emplace_back(entry.second);
    return who_line(std::move(names));
}

}  // namespace weft::chat
