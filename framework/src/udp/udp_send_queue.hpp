#pragma once
// UdpSendQueue: a UDP port's datagrams written and not yet taken by the kernel, bounded in count and
// bytes, laid out for sendmmsg.

#include <cstddef>
#include <cstring>
#include <string_view>
#include <vector>

#include <sys/socket.h>
#include <sys/uio.h>

#include "udp/datagram_address.hpp"

namespace weft::detail {

/// Datagrams are copied into one byte area and described by entries (offset, size, destination), so
/// that a steady stream of small datagrams costs no allocation: both vectors keep their capacity once
/// emptied (up to `keep_capacity` bytes; a burst's larger area is released when it drains).
class UdpSendQueue {
public:
    static constexpr std::size_t keep_capacity = 256 * 1024;

    UdpSendQueue(std::size_t max_datagrams, std::size_t max_bytes) : max_datagrams_(max_datagrams), max_bytes_(max_bytes) {}

    /// Whether a datagram of `size` bytes fits within both bounds.
    [[nodiscard]] bool fits(std::size_t size) const noexcept {
        return this->size() < max_datagrams_ && bytes_ + size <= max_bytes_;
    }
    /// Queues a copy of `data` for `to` (nullptr: the connected peer). The caller checked fits().
    void push(std::string_view data, const DatagramAddress* to) {
        const std::size_t offset = area_.size();
        area_.resize(offset + data.size());
        if (!data.empty()) std::memcpy(area_.data() + offset, data.data(), data.size());
        entries_.push_back(Entry{offset, data.size(), to != nullptr ? *to : DatagramAddress{}, to != nullptr});
        bytes_ += data.size();
    }

    [[nodiscard]] bool empty() const noexcept { return head_ == entries_.size(); }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size() - head_; }
    [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

    /// Describes up to `max` datagrams from the head in `messages` (each with its own iovec in `iov`);
    /// returns how many. Valid until the next push or pop.
    std::size_t fill(::mmsghdr* messages, ::iovec* iov, std::size_t max) noexcept {
        std::size_t n = 0;
        for (; n < max && head_ + n < entries_.size(); ++n) {
            Entry& e = entries_[head_ + n];
            iov[n].iov_base = area_.data() + e.offset;
            iov[n].iov_len = e.size;
            ::msghdr& h = messages[n].msg_hdr;
            h = ::msghdr{};
            if (e.has_to) {
                h.msg_name = e.to.get();
                h.msg_namelen = e.to.length;
            }
            h.msg_iov = &iov[n];
            h.msg_iovlen = 1;
            messages[n].msg_len = 0;
        }
        return n;
    }

    /// The head datagram's destination (nullptr: the connected peer); the queue is not empty.
    [[nodiscard]] const DatagramAddress* head_destination() const noexcept {
        const Entry& e = entries_[head_];
        return e.has_to ? &e.to : nullptr;
    }

    /// Removes `n` datagrams from the head (sent, or dropped).
    void pop(std::size_t n) noexcept {
        for (std::size_t i = 0; i < n && !empty(); ++i) bytes_ -= entries_[head_++].size;
        if (empty()) {
            entries_.clear();
            area_.clear();
            head_ = 0;
            if (area_.capacity() > keep_capacity) std::vector<char>().swap(area_);
            return;
        }
        // A queue that never drains (the socket stays blocked while writes go on) would otherwise grow at
        // the front: move the live part down once half of it is dead.
        if (head_ >= 64 && head_ * 2 >= entries_.size()) compact();
    }

    void clear() noexcept { pop(size()); }

private:
    struct Entry {
        std::size_t offset;
        std::size_t size;
        DatagramAddress to;
        bool has_to;
    };

    void compact() noexcept {
        const std::size_t base = entries_[head_].offset;
        area_.erase(area_.begin(), area_.begin() + static_cast<std::ptrdiff_t>(base));
        entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
        for (Entry& e : entries_) e.offset -= base;
    }

    std::size_t max_datagrams_;
    std::size_t max_bytes_;
    std::vector<char> area_;
    std::vector<Entry> entries_;
    std::size_t head_ = 0;
    std::size_t bytes_ = 0;
};

}  // namespace weft::detail
