#include "stream/edge_poller.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#if !defined(BOOST_ASIO_HAS_EPOLL) || defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#error "EdgePoller watches its epoll instance through Asio's epoll reactor"
#endif

namespace weft::detail {

namespace {
// Both directions at once, edge-triggered: registered once, never modified. EPOLLRDHUP reports the peer's
// EOF as readability (the read then returns 0).
constexpr std::uint32_t watched_events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
// Events read per epoll_wait; more ready sockets are read by another drain on a later turn.
constexpr int batch_size = 128;
}  // namespace

// How the epoll instance is watched without re-arming it. async_wait would cost one epoll_ctl per batch:
// Boost 1.81 starts a wait without trying it first, and a wait not tried is re-armed (EPOLL_CTL_MOD) so that
// the kernel re-checks the descriptor. Watch is a wait of weft's own on Asio's epoll reactor: it is started
// with speculation allowed, and its perform() (the "try", which Asio calls under the descriptor's lock) reads
// nothing and says done_and_exhausted. Asio then re-arms nothing:
// - When Asio's epoll_wait reports the descriptor, the queued Watch completes inline, outside that lock,
//   like an async_wait's handler: the drain (and the sockets' handlers) run there, with no extra turn of
//   Asio's loop. Asio records "exhausted", so the next start queues Watch without trying it and without
//   epoll_ctl.
// - If an event was reported while Watch was not queued (nobody waited), Asio has recorded "try first"
//   instead, so the next start tries it: perform() says done, it completes at once and drains. Asio's
//   own flag thus tells exactly when an edge may have gone unclaimed.
// Why no readiness is lost with nothing re-armed, from how an epoll instance behaves when another (Asio's,
// edge-triggered) watches it:
// - Every event of one of its sockets wakes its watchers, whether or not that socket was already on its
//   ready list: Asio's registration is queued again, and Asio's epoll_wait reports the descriptor again
//   after any event that followed its last report, including one during a drain, after the drain's
//   epoll_wait. Such a report may find the list emptied by that drain; the next drain reads nothing.
// - Its sockets are edge-triggered, so epoll_wait takes what it returns off the ready list. A drain that
//   returns fewer events than its buffer holds has emptied the list, and whatever comes later wakes Asio
//   again. A full buffer may leave sockets on the list that will raise no further event: that drain posts
//   the next one at once, without waiting.
// The poller is used from one thread, the one running the io_context, so Asio's epoll_wait never runs
// while a drain does.
class EdgePoller::Watch : public boost::asio::detail::reactor_op {
public:
    explicit Watch(EdgePoller& poller)
        : reactor_op({}, &Watch::do_perform, &Watch::do_complete), poller_(&poller) {}

    EdgePoller* poller_;  // null once the poller has shut down and left the operation to Asio

private:
    static status do_perform(reactor_op*) { return done_and_exhausted; }

    static void do_complete(void* owner, boost::asio::detail::scheduler_operation* base,
                            const boost::system::error_code&, std::size_t) {
        auto* watch = static_cast<Watch*>(base);
        if (owner == nullptr || watch->poller_ == nullptr) {
            // Destroyed unrun with the io_context, or completed (aborted) after the poller shut down.
            std::unique_ptr<Watch> orphan(watch);
            return;
        }
        EdgePoller& poller = *watch->poller_;
        poller.armed_ = false;
        poller.drain();
    }
};

EdgePoller::EdgePoller(boost::asio::io_context& io) : io_(io) {
    // What may throw first, so that a throw leaks no descriptor (the destructor does not run).
    reactor_ = &boost::asio::use_service<Reactor>(static_cast<boost::asio::execution_context&>(io_));
    reactor_->init_task();  // the scheduler runs the reactor (Asio's own objects do this when made)
    watch_ = std::make_unique<Watch>(*this);
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
    // Edge-triggered, like every descriptor Asio registers.
    if (const int error = reactor_->register_descriptor(epoll_fd_, reactor_data_); error != 0) {
        reactor_->cleanup_descriptor_data(reactor_data_);
        ::close(epoll_fd_);
        throw std::system_error(error, std::system_category(), "registering the epoll instance with Asio");
    }
}

EdgePoller::~EdgePoller() {
    shutdown();
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

EdgePoller::Slot* EdgePoller::find(Id id) noexcept {
    const auto index = static_cast<std::uint32_t>(id & 0xffffffffU);
    if (index >= slots_.size()) return nullptr;
    Slot& slot = slots_[index];
    if (slot.fd < 0 || slot.generation != static_cast<std::uint32_t>(id >> 32)) return nullptr;
    return &slot;
}

EdgePoller::Id EdgePoller::add(int fd) {
    std::uint32_t index = 0;
    if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
    } else {
        index = static_cast<std::uint32_t>(slots_.size());
        slots_.emplace_back();
    }
    Slot& slot = slots_[index];
    slot.fd = fd;
    slot.readable = slot.writable = slot.read_hangup = slot.write_hangup = false;
    const Id id = (Id{slot.generation} << 32) | index;
    ::epoll_event event{};
    event.events = watched_events;
    event.data.u64 = id;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
        slot.fd = -1;
        ++slot.generation;
        free_.push_back(index);
        return none;
    }
    ++registered_;
    return id;
}

void EdgePoller::remove(Id id, bool still_open) noexcept {
    Slot* slot = find(id);
    if (slot == nullptr) return;
    if (still_open && epoll_fd_ >= 0) {
        ::epoll_event event{};
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, slot->fd, &event);
    }
    Handler read = std::move(slot->on_read);
    Handler write = std::move(slot->on_write);
    slot->on_read = nullptr;
    slot->on_write = nullptr;
    slot->fd = -1;
    ++slot->generation;  // events already read for it, and any later ones, name a stale id
    free_.push_back(static_cast<std::uint32_t>(id & 0xffffffffU));
    --registered_;
    // Handed on, never destroyed here: the last reference to the caller may be inside one.
    if (read) {
        --waiting_;
        post(std::move(read), boost::asio::error::operation_aborted);
    }
    if (write) {
        --waiting_;
        post(std::move(write), boost::asio::error::operation_aborted);
    }
}

void EdgePoller::wait_read(Id id, Handler handler) { wait(id, std::move(handler), true); }
void EdgePoller::wait_write(Id id, Handler handler) { wait(id, std::move(handler), false); }

void EdgePoller::wait(Id id, Handler handler, bool read) {
    Slot* slot = find(id);
    if (slot == nullptr) return post(std::move(handler), boost::asio::error::bad_descriptor);
    bool& latched = read ? slot->readable : slot->writable;
    if (latched || (read ? slot->read_hangup : slot->write_hangup)) {
        // The edge came while nobody waited: answer on a later turn; the caller's read or write will tell.
        latched = false;
        return post(std::move(handler), {});
    }
    (read ? slot->on_read : slot->on_write) = std::move(handler);
    ++waiting_;
    arm();
}

void EdgePoller::arm() {
    if (armed_ || drain_posted_ || shut_down_ || waiting_ == 0) return;
    armed_ = true;
    // Speculation allowed: queued without epoll_ctl, or completed at once if an edge may be unclaimed (Watch).
    reactor_->start_op(Reactor::read_op, epoll_fd_, reactor_data_, watch_.get(), true, true);
}

void EdgePoller::post_drain() {
    drain_posted_ = true;
    boost::asio::post(io_, [this, alive = alive_] {
        if (!*alive) return;
        drain_posted_ = false;
        drain();
    });
}

void EdgePoller::drain() {
    if (shut_down_) return;
    ::epoll_event events[batch_size];
    int n = 0;
    do {
        n = ::epoll_wait(epoll_fd_, events, batch_size, 0);
    } while (n < 0 && errno == EINTR);
    ++batches_;
    if (n == batch_size) post_drain();  // the rest raise no new edge (see Watch): read them on the next turn
    for (int i = 0; i < n; ++i) {
        const Id id = events[i].data.u64;
        const std::uint32_t what = events[i].events;
        if ((what & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
            Slot* slot = find(id);
            if (slot == nullptr) continue;
            slot->read_hangup = true;
            if ((what & (EPOLLHUP | EPOLLERR)) != 0) slot->write_hangup = true;
        }
        // An error or hang-up wakes both directions: the read or the write then reports it.
        if ((what & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
            Slot* slot = find(id);
            if (slot == nullptr) continue;  // removed since the event was queued
            if (slot->on_read) {
                Handler handler = std::move(slot->on_read);
                slot->on_read = nullptr;
                --waiting_;
                handler({});  // may add or remove sockets: look the slot up again below
            } else {
                slot->readable = true;
            }
        }
        if ((what & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) {
            Slot* slot = find(id);
            if (slot == nullptr) continue;
            if (slot->on_write) {
                Handler handler = std::move(slot->on_write);
                slot->on_write = nullptr;
                --waiting_;
                handler({});
            } else {
                slot->writable = true;
            }
        }
    }
    arm();  // most often done already, by a handler that waited again
}

void EdgePoller::post(Handler handler, boost::system::error_code ec) {
    boost::asio::post(io_, [handler = std::move(handler), ec] { handler(ec); });
}

void EdgePoller::shutdown() noexcept {
    if (shut_down_) return;
    shut_down_ = true;
    *alive_ = false;  // a drain already posted does nothing
    if (armed_) {
        // Queued in the reactor (the deregistration below completes it, aborted) or its completion queued
        // in the context: it deletes itself when it completes, or when the io_context destroys it unrun.
        watch_->poller_ = nullptr;
        static_cast<void>(watch_.release());
        armed_ = false;
    }
    if (reactor_data_ != nullptr) {
        // Not closing: the epoll descriptor stays ours to close, in the destructor.
        reactor_->deregister_descriptor(epoll_fd_, reactor_data_, false);
        reactor_->cleanup_descriptor_data(reactor_data_);
    }
    std::vector<Handler> released;
    for (Slot& slot : slots_) {
        if (slot.on_read) released.push_back(std::move(slot.on_read));
        if (slot.on_write) released.push_back(std::move(slot.on_write));
        slot.on_read = nullptr;
        slot.on_write = nullptr;
    }
    waiting_ = 0;
    // `released` goes here, with what its handlers hold; their destructors may call remove().
}

}  // namespace weft::detail
