#pragma once
// WriteQueue: a stream transport's output that waits for the kernel, and the gathered writes that send it.

#include <algorithm>
#include <array>
#include <cerrno>
#include <bit>
#include <cstdint>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/types.h>
#include <sys/uio.h>

namespace weft::detail {

/// Unsent output, in order: chunks of copied bytes and shared immutable buffers (broadcasts).
///
/// Limits are built on size() (Transport::buffered_bytes: the chat server's send limit, the producer
/// watermarks), so the memory the queue holds must follow size() whatever the write sizes; an entry per
/// write would cost 40 bytes of queue, plus allocator overhead, for a 6-byte line. Hence:
/// - copies are packed into chunks of at most chunk_size bytes whose capacity grows by doubling from 64
///   up to exactly chunk_size: every chunk but the tail is full (a chunk that a shared buffer follows is
///   shrunk to its size), and the tail's spare room is at most its own size (or 64 bytes). A large
///   write is cut into chunks, which are freed as they are sent.
/// - a shared buffer shorter than copy_shared_below is copied into the tail like a write: the copy costs
///   less than its own entry, and the shared block that this queue may be the last to hold.
/// - entries sent are released at once; the vector of entries is compacted once a quarter of it is
///   spent, and freed when the queue empties after holding many.
/// What is held beyond size() is then at most the sent part of the head chunk, the tail's spare room
/// and, per shared buffer of at least copy_shared_below bytes, its entry and allocation overhead.
class WriteQueue {
public:
    /// Copies are coalesced into chunks of up to this many bytes.
    static constexpr std::size_t chunk_size = 64 * 1024;
    /// Shared buffers shorter than this are copied rather than referenced.
    static constexpr std::size_t copy_shared_below = 512;

    WriteQueue() = default;
    WriteQueue(const WriteQueue&) = delete;
    WriteQueue& operator=(const WriteQueue&) = delete;

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

    /// Copies `data` onto the end.
    void append(std::string_view data) {
        size_ += data.size();
        while (!data.empty()) {
            if (chunks_.size() > head_ && !chunks_.back().shared && chunks_.back().size < chunk_size) {
                Chunk& tail = chunks_.back();
                const std::size_t n = std::min(chunk_size - tail.size, data.size());
                if (tail.size + n > tail.capacity) grow(tail, tail.size + n);
                std::memcpy(tail.bytes.get() + tail.size, data.data(), n);
                tail.size += n;
                data.remove_prefix(n);
                continue;
            }
            const std::size_t n = std::min(chunk_size, data.size());
            Chunk c;
            c.capacity = std::bit_ceil(std::max(n, min_capacity));
            c.bytes = std::make_unique_for_overwrite<char[]>(c.capacity);
            std::memcpy(c.bytes.get(), data.data(), n);
            c.size = n;
            chunks_.push_back(std::move(c));
            data.remove_prefix(n);
        }
    }

    /// Copies `pieces` from piece `first`, byte `offset` of it, on.
    void append(std::span<const ::iovec> pieces, std::size_t first = 0, std::size_t offset = 0) {
        for (std::size_t i = first; i < pieces.size(); ++i) {
            const std::size_t skip = i == first ? offset : 0;
            append(std::string_view(static_cast<const char*>(pieces[i].iov_base) + skip, pieces[i].iov_len - skip));
        }
    }

    /// Queues a shared buffer (kept alive until sent). `data` is not empty. The caller copies one shorter
    /// than copy_shared_below with append() instead (TcpConnection through its write scratch).
    void append_shared(std::shared_ptr<const std::string> data) {
        size_ += data->size();
        // The copy chunk before it stops being the tail: its spare room (up to its own size, after
        // doubling) would otherwise stay allocated behind every shared buffer.
        if (chunks_.size() > head_ && !chunks_.back().shared) shrink_to_fit(chunks_.back());
        Chunk c;
        c.shared = std::move(data);
        chunks_.push_back(std::move(c));
    }

    /// Points `iov` at the unsent bytes, front first; returns how many entries it filled.
    std::size_t gather(std::span<::iovec> iov) const noexcept {
        std::size_t count = 0;
        for (std::size_t i = head_; i < chunks_.size() && count < iov.size(); ++i) {
            std::string_view v = chunks_[i].view();
            if (i == head_) v.remove_prefix(head_offset_);
            iov[count++] = ::iovec{const_cast<char*>(v.data()), v.size()};
        }
        return count;
    }

    /// Drops the first `n` bytes (they were sent); n <= size().
    void consume(std::size_t n) noexcept {
        size_ -= n;
        while (n > 0) {
            const std::size_t left = chunks_[head_].view().size() - head_offset_;
            if (n < left) {
                head_offset_ += n;
                return;
            }
            n -= left;
            chunks_[head_] = Chunk{};  // frees the copy, or releases the shared buffer, as soon as it is sent
            ++head_;
            head_offset_ = 0;
        }
        if (head_ == chunks_.size()) {
            release_entries();
        } else if (head_ >= compact_min && head_ * 4 >= chunks_.size()) {
            // Spent entries at the front: moving the live ones down costs at most 3 moves per spent one.
            chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }

    /// Pieces per gathered write (Linux allows 1024; 64 is plenty).
    static constexpr std::size_t max_iov = 64;

    /// What one flush() did.
    struct Flushed {
        std::size_t bytes = 0;  ///< handed to the kernel
        bool blocked = false;   ///< the writer would block: wait for writability
        int error = 0;          ///< errno of a failed write (nothing more was tried)
    };

    /// Sends the queue and then `tail` (pieces that are not in the queue yet: a connection's replies in the
    /// write scratch) in gathered writes through `write(const iovec*, std::size_t count) -> ssize_t` (a
    /// system call's result, errno set on failure; EINTR is retried). Stops when everything is sent, the
    /// writer would block, a write fails, or at least `budget` bytes went out (the caller then yields the
    /// turn). What the kernel did not take of `tail` is copied onto the queue before returning, since the
    /// tail's memory is reused by the next callback: afterwards size() is everything still unsent.
    template <class Write>
    Flushed flush(Write&& write, std::span<const ::iovec> tail = {}, std::size_t budget = SIZE_MAX) {
        Flushed result;
        std::size_t tail_index = 0, tail_offset = 0;  // the tail's first unsent byte
        while (!empty() || tail_index < tail.size()) {
            std::array<::iovec, max_iov> iov;  // left uninitialised: only the first `count` are used
            std::size_t count = gather(iov);
            for (std::size_t i = tail_index; i < tail.size() && count < max_iov; ++i) {
                iov[count] = tail[i];
                if (i == tail_index) {
                    iov[count].iov_base = static_cast<char*>(iov[count].iov_base) + tail_offset;
                    iov[count].iov_len -= tail_offset;
                }
                ++count;
            }
            ssize_t got = 0;
            do {
                got = write(static_cast<const ::iovec*>(iov.data()), count);
            } while (got < 0 && errno == EINTR);
            if (got < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    result.blocked = true;
                } else {
                    result.error = errno;
                }
                break;
            }
            auto n = static_cast<std::size_t>(got);
            result.bytes += n;
            // The queue's pieces came first; only when it was gathered whole can the tail have been sent.
            const std::size_t from_queue = std::min(n, size());
            if (from_queue > 0) consume(from_queue);  // a reply from data_received has no queue (0)
            n -= from_queue;
            while (n > 0 && tail_index < tail.size()) {
                const std::size_t left = tail[tail_index].iov_len - tail_offset;
                if (n < left) {
                    tail_offset += n;
                    break;
                }
                n -= left;
                ++tail_index;
                tail_offset = 0;
            }
            if (result.bytes >= budget) break;
        }
        if (tail_index < tail.size()) append(tail, tail_index, tail_offset);
        return result;
    }

    /// Drops everything and frees it.
    void clear() noexcept {
        size_ = 0;
        chunks_.clear();
        release_entries();
    }

private:
    struct Chunk {
        std::unique_ptr<char[]> bytes;  // a copy: `size` bytes used of `capacity`
        std::size_t size = 0;
        std::size_t capacity = 0;
        std::shared_ptr<const std::string> shared;  // or a shared buffer
        [[nodiscard]] std::string_view view() const noexcept {
            return shared ? std::string_view(*shared) : std::string_view(bytes.get(), size);
        }
    };

    static constexpr std::size_t min_capacity = 64;
    static constexpr std::size_t compact_min = 16;
    static constexpr std::size_t keep_entries = 16;  // entries kept allocated when the queue empties

    /// Doubles the chunk's capacity until `needed` fits; capacities are powers of two up to chunk_size.
    static void grow(Chunk& c, std::size_t needed) {
        const std::size_t capacity = std::min(chunk_size, std::bit_ceil(needed));
        auto bytes = std::make_unique_for_overwrite<char[]>(capacity);
        std::memcpy(bytes.get(), c.bytes.get(), c.size);
        c.bytes = std::move(bytes);
        c.capacity = capacity;
    }

    /// Gives back a chunk's spare room (one copy of its bytes; a chunk is shrunk once, when it stops
    /// being the tail, so each byte is copied at most twice).
    static void shrink_to_fit(Chunk& c) {
        if (c.capacity == c.size) return;
        auto bytes = std::make_unique_for_overwrite<char[]>(c.size);
        std::memcpy(bytes.get(), c.bytes.get(), c.size);
        c.bytes = std::move(bytes);
        c.capacity = c.size;
    }

    void release_entries() noexcept {
        if (chunks_.capacity() > keep_entries) {
            std::vector<Chunk>().swap(chunks_);
        } else {
            chunks_.clear();
        }
        head_ = head_offset_ = 0;
    }

    std::vector<Chunk> chunks_;  // chunks_[head_..] unsent; chunks_[head_] from head_offset_
    std::size_t head_ = 0;
    std::size_t head_offset_ = 0;
    std::size_t size_ = 0;
};

}  // namespace weft::detail
