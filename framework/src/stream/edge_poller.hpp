#pragma once
// EdgePoller: readiness for the stream sockets from an edge-triggered epoll instance of weft's own, so that a
// socket is registered once and never re-armed (docs/benchmarks.md, "Readiness without re-arming").

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

namespace weft::detail {

/// Why: Boost 1.81's `async_wait` on a socket re-arms the descriptor with `epoll_ctl(EPOLL_CTL_MOD)` on every
/// wait, one system call per message on the read path. Here each socket is added once, edge-triggered for
/// both directions, to an epoll instance whose descriptor the Asio io_context watches: one wait on that
/// descriptor (one re-arm) serves every socket that became ready in a batch.
///
/// Contract: one thread (the loop's) uses it. A socket is add()ed once and remove()d before its descriptor
/// is closed or handed elsewhere. wait_read/wait_write take one handler per direction at a time, called
/// once with no error when the socket becomes ready (or had become ready while nobody waited: an edge seen
/// without a waiter is kept, and the next wait is answered on a later turn), or with operation_aborted when
/// the socket is removed. A readiness report is a hint: the caller tries, and waits again on EAGAIN. Handlers
/// never run inside wait_read, wait_write or remove (no re-entrant callbacks).
class EdgePoller {
public:
    using Handler = std::function<void(const boost::system::error_code&)>;
    /// Names a registration; stale ones (a slot reused since) are told apart by their generation.
    using Id = std::uint64_t;
    static constexpr Id none = ~Id{0};

    /// Throws std::system_error if the epoll instance cannot be made.
    explicit EdgePoller(boost::asio::io_context& io);
    ~EdgePoller();
    EdgePoller(const EdgePoller&) = delete;
    EdgePoller& operator=(const EdgePoller&) = delete;

    /// Registers `fd` for both directions, edge-triggered; none if the kernel refuses (ENOMEM, ENOSPC for
    /// max_user_watches): the caller then uses Asio's readiness for this socket.
    Id add(int fd);
    /// Forgets a registration, passing its waiting handlers operation_aborted on a later turn. With
    /// `still_open` (the descriptor lives on elsewhere) it is taken out of the epoll set; a descriptor about
    /// to be closed leaves it by itself.
    void remove(Id id, bool still_open) noexcept;
    void wait_read(Id id, Handler handler);
    void wait_write(Id id, Handler handler);

    /// Before the io_context goes: stops watching and releases the waiting handlers (what they hold, the
    /// transports, may be destroyed here and call remove(), which stays valid until the destructor).
    void shutdown() noexcept;

    /// Sockets registered now, handlers waiting now, batches read from the epoll instance so far.
    [[nodiscard]] std::size_t registered() const noexcept { return registered_; }
    [[nodiscard]] std::size_t waiting() const noexcept { return waiting_; }
    [[nodiscard]] std::uint64_t batches() const noexcept { return batches_; }

private:
    struct Slot {
        int fd = -1;
        std::uint32_t generation = 0;
        bool readable = false;  // an edge came while no reader waited
        bool writable = false;
        // Sticky: the peer's EOF (or an error) arrives with the last data in one edge, and no edge follows
        // it; a reader that stopped at a short read must still be woken for it, every time it waits.
        bool read_hangup = false;
        bool write_hangup = false;  // an error or a full hang-up: writes fail from now on
        Handler on_read;
        Handler on_write;
    };
    Slot* find(Id id) noexcept;
    void wait(Id id, Handler handler, bool read);
    void arm();
    void drain();
    void post(Handler handler, boost::system::error_code ec);

    boost::asio::io_context& io_;
    int epoll_fd_ = -1;
    std::optional<boost::asio::posix::stream_descriptor> watch_;  // the epoll descriptor, on Asio's reactor
    bool armed_ = false;
    bool shut_down_ = false;
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_;
    std::size_t registered_ = 0;
    std::size_t waiting_ = 0;
    std::uint64_t batches_ = 0;
};

}  // namespace weft::detail
