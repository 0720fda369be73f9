#pragma once
// EdgePoller: readiness for the stream sockets from an edge-triggered epoll instance of weft's own, so that a
// socket is registered once and never re-armed (docs/benchmarks.md, "Readiness without re-arming").

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

// io_context first: Asio's detail/reactor.hpp does not compile before it.
#include <boost/asio/io_context.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/system/error_code.hpp>

namespace weft::detail {

/// Why: Boost 1.81's `async_wait` on a socket re-arms the descriptor with `epoll_ctl(EPOLL_CTL_MOD)` on every
/// wait, one system call per message on the read path. Here each socket is added once, edge-triggered for
/// both directions, to an epoll instance whose descriptor the Asio io_context watches. That descriptor too is
/// registered with Asio once and never re-armed (edge_poller.cpp says how, and why that is sound): a batch of
/// ready sockets costs Asio's epoll_wait and the poller's.
///
/// Contract: one thread (the loop's) uses it and runs the io_context, whose reactor must be Asio's epoll
/// reactor (the default on Linux); shutdown() (or the destructor) comes before the io_context is destroyed.
/// A socket is add()ed once and remove()d before its descriptor is closed or handed elsewhere.
/// wait_read/wait_write take one handler per direction at a time, called once with no error when the socket
/// becomes ready (or had become ready while nobody waited: an edge seen without a waiter is kept, and the
/// next wait is answered on a later turn), or with operation_aborted when the socket is removed. A readiness
/// report is a hint: the caller tries, and waits again on EAGAIN. Handlers never run inside wait_read,
/// wait_write or remove (no re-entrant callbacks). While a handler waits, the io_context has work (its run()
/// does not return), as with an Asio wait; unlike one, the poller's own watch stays queued until its next
/// report after the last waiter is removed, so run() may go on until then (weft's Reactor holds a work
/// guard anyway). Soundness without re-arming rests on the kernel waking a watching epoll instance for
/// every event of a watched one (edge_poller.cpp; epoll(7) documents an epoll instance as pollable, readable
/// while it has events waiting); checked on this machine's kernel (6.18) under stress. It is the reactor's
/// default readiness; WEFT_POLLER=asio turns it off.
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
    /// The epoll instance's descriptor (diagnostics and tests: what Asio's reactor watches).
    [[nodiscard]] int descriptor() const noexcept { return epoll_fd_; }

private:
    class Watch;  // the operation waiting on the epoll descriptor in Asio's reactor (edge_poller.cpp)
    using Reactor = boost::asio::detail::epoll_reactor;
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
    void post_drain();
    void post(Handler handler, boost::system::error_code ec);

    boost::asio::io_context& io_;
    int epoll_fd_ = -1;
    Reactor* reactor_ = nullptr;
    Reactor::per_descriptor_data reactor_data_ = nullptr;  // the epoll descriptor's registration there
    // Owned here while idle; while armed_ it is also in Asio's hands, and shutdown() leaves it to Asio.
    std::unique_ptr<Watch> watch_;
    bool armed_ = false;  // watch_ is queued in Asio's reactor or its completion is queued
    // Whether the poller is alive, for a drain still queued in an io_context that outlives it.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    bool drain_posted_ = false;  // after a full batch: the next drain is queued, not waited for
    bool shut_down_ = false;
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_;
    std::size_t registered_ = 0;
    std::size_t waiting_ = 0;
    std::uint64_t batches_ = 0;
};

}  // namespace weft::detail
