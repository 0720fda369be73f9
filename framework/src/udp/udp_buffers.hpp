#pragma once
// UdpBuffers: the reactor's arrays for batched datagram system calls (recvmmsg, sendmmsg), shared by all
// its UDP ports: one port reads or sends at a time, so an idle port owns none of them.

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>

#include <sys/socket.h>
#include <sys/uio.h>

#include "udp/datagram_address.hpp"

namespace weft::detail {

struct UdpBuffers {
    /// Datagrams per recvmmsg/sendmmsg call at most.
    static constexpr std::size_t max_batch = 64;
    /// The receive area's bound: a port whose max_packet_size is large reads fewer datagrams per call
    /// (64 x 8 KiB = 512 KiB by default; 16 x 64 KiB).
    static constexpr std::size_t max_receive_bytes = 1024 * 1024;

    /// How many datagrams of `slot_size` bytes one recvmmsg may take.
    [[nodiscard]] static std::size_t batch_for(std::size_t slot_size) noexcept {
        return std::clamp<std::size_t>(max_receive_bytes / std::max<std::size_t>(slot_size, 1), 1, max_batch);
    }

    /// `bytes` of receive area, grown on first use by a port that needs more (never shrunk).
    char* receive_area(std::size_t bytes) {
        if (bytes > capacity_) {
            area_ = std::make_unique<char[]>(bytes);
            capacity_ = bytes;
        }
        return area_.get();
    }

    std::array<::mmsghdr, max_batch> receive_messages{};
    std::array<::iovec, max_batch> receive_iov{};
    std::array<DatagramAddress, max_batch> receive_names{};
    std::array<::mmsghdr, max_batch> send_messages{};
    std::array<::iovec, max_batch> send_iov{};

private:
    std::unique_ptr<char[]> area_;
    std::size_t capacity_ = 0;
};

}  // namespace weft::detail
