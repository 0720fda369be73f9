#pragma once
// WriteScratch: what a connection writes from inside its own data_received, before it is sent.

#include <array>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include <sys/uio.h>

namespace weft::detail {

/// The common reply (an echo, a response) is written while the protocol handles input, and is handed to
/// the kernel right after data_received returns. Such output is collected here, one scratch for the
/// whole reactor (one connection at a time is inside data_received), so a reply costs no allocation and
/// an idle connection keeps no output buffer. Pieces are copied into the scratch's own bytes, except a
/// large view of the input being handled (an echo, a relayed slice), which is sent from the reactor's
/// read buffer without a copy: that buffer is not reused before the next read, and whatever the kernel
/// does not take is copied into the connection's WriteQueue before then.
class WriteScratch {
public:
    // Bytes copied per callback, at most: more than one full read buffer of short lines echoed with
    // their delimiters, so a line protocol answering a full read still takes this path.
    static constexpr std::size_t capacity = 256 * 1024;
    static constexpr std::size_t max_pieces = 32;
    /// Views of the input shorter than this are copied: a contiguous copy beats a separate iovec.
    static constexpr std::size_t zero_copy_min = 512;

    WriteScratch() : bytes_(std::make_unique<char[]>(capacity)) {}

    /// The input data_received is handling (views into it may be sent uncopied); empty outside it.
    void set_input(std::string_view input) noexcept { input_ = input; }

    /// Adds `data`; false if it does not fit (the caller then spills the scratch and queues the data).
    bool add(std::string_view data) noexcept {
        const std::less_equal<const char*> le;
        if (data.size() >= zero_copy_min && le(input_.data(), data.data()) &&
            le(data.data() + data.size(), input_.data() + input_.size())) {
            if (count_ + 3 > max_pieces) return false;  // room for the run of copies before, the view, a run after
            close_run();
            pieces_[count_++] = ::iovec{const_cast<char*>(data.data()), data.size()};
            return true;
        }
        // Copies accumulate in one run of bytes_, which becomes a piece only when a view follows or the
        // pieces are taken: the per-write cost stays one comparison and one memcpy.
        if (used_ + data.size() > capacity) return false;
        std::memcpy(bytes_.get() + used_, data.data(), data.size());
        used_ += data.size();
        return true;
    }

    [[nodiscard]] bool empty() const noexcept { return count_ == 0 && used_ == 0; }
    /// What was added, in order, as pieces for a gathered write.
    [[nodiscard]] std::span<const ::iovec> pieces() noexcept {
        close_run();
        return {pieces_.data(), count_};
    }
    void clear() noexcept { count_ = used_ = run_start_ = 0; }

private:
    void close_run() noexcept {
        if (used_ == run_start_) return;
        pieces_[count_++] = ::iovec{bytes_.get() + run_start_, used_ - run_start_};
        run_start_ = used_;
    }

    std::unique_ptr<char[]> bytes_;
    std::array<::iovec, max_pieces> pieces_{};
    std::size_t count_ = 0;
    std::size_t used_ = 0;       // bytes_ in use
    std::size_t run_start_ = 0;  // where the copies not yet in pieces_ begin
    std::string_view input_;
};

}  // namespace weft::detail
