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

// Why the epoll instance is watched by an operation that never completes, rather than by async_wait:
// Boost 1.81 starts every async_wait on a descriptor with an empty queue with epoll_ctl(EPOLL_CTL_MOD), one
// system call per batch. Asio's signal_set_service watches its self-pipe instead with an operation
// registered once (register_internal_descriptor: edge-triggered, as Asio registers every descriptor) whose
// perform() says not_done, so that it stays queued and nothing ever re-arms it. Watch does the same for the
// epoll instance. perform() runs inside Asio's reactor, under the descriptor's lock, so it runs no handler:
// it only posts one drain, and the sockets' handlers run from that drain like any other handler.
//
// Why no readiness is lost with nothing re-armed, from how an epoll instance behaves when watched by
// another (Asio's):
// - It reports readable while its ready list holds a socket with events, and every event of one of its
//   sockets wakes its watchers, whether or not that socket was already on the list: Asio's edge-triggered
//   registration is queued again, and Asio's epoll_wait reports it again after any event that followed its
//   last report, including one that comes during a drain after the drain's epoll_wait.
// - Its sockets are edge-triggered, so epoll_wait takes what it returns off the ready list. A drain that
//   returns fewer events than its buffer holds has emptied the list, and whatever comes later wakes Asio
//   again. A full buffer may leave sockets on the list that will raise no further event: that drain posts
//   the next one at once, without waiting.
// - A report while a drain is already posted needs no second one: that drain has not read yet (the flag
//   is cleared before its epoll_wait) and takes everything. A report may find the list emptied by an
//   earlier drain (the event came after Asio's report but before that drain read); that drain reads nothing.
class EdgePoller::Watch : public boost::asio::detail::reactor_op {
public:
    explicit Watch(EdgePoller& poller) : reactor_op({}, &Watch::do_perform, &Watch::do_complete), poller_(poller) {}

private:
    static status do_perform(reactor_op* base) {
        static_cast<Watch*>(base)->poller_.on_ready();
        return not_done;
    }
    // Never completes (perform says not_done): called only to destroy it, when Asio drops its queue
    // (deregister_internal_descriptor, or the reactor's shutdown).
    static void do_complete(void*, boost::asio::detail::scheduler_operation* base, const boost::system::error_code&,
                            std::size_t) {
        std::unique_ptr<Watch> owned(static_cast<Watch*>(base));
    }

    EdgePoller& poller_;
};

EdgePoller::EdgePoller(boost::asio::io_context& io) : io_(io) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
    reactor_ = &boost::asio::use_service<Reactor>(static_cast<boost::asio::execution_context&>(io_));
    reactor_->init_task();  // the scheduler runs the reactor (Asio's own objects do this when made)
    // Asio owns the operation from here, even if the registration fails: it is queued first, and destroyed
    // when the descriptor is deregistered.
    auto watch = std::make_unique<Watch>(*this);
    const int error =
        reactor_->register_internal_descriptor(Reactor::read_op, epoll_fd_, reactor_data_, watch.release());
    if (error != 0) {
        reactor_->deregister_internal_descriptor(epoll_fd_, reactor_data_);
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
    hold_work();
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
    hold_work();
}

void EdgePoller::hold_work() noexcept {
    if (waiting_ > 0 && !work_ && !shut_down_) {
        work_.emplace(io_.get_executor());
    } else if (waiting_ == 0 && work_) {
        work_.reset();
    }
}

void EdgePoller::on_ready() {
    if (drain_posted_ || shut_down_) return;
    boost::asio::post(io_, [this, alive = alive_] {
        if (*alive) drain();
    });
    drain_posted_ = true;
}

void EdgePoller::drain() {
    drain_posted_ = false;
    if (shut_down_) return;
    ::epoll_event events[batch_size];
    int n = 0;
    do {
        n = ::epoll_wait(epoll_fd_, events, batch_size, 0);
    } while (n < 0 && errno == EINTR);
    ++batches_;
    if (n == batch_size) on_ready();  // the rest raise no new edge (see Watch): read them on the next turn
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
    hold_work();  // once per batch, not per handler: most handlers wait again at once
}

void EdgePoller::post(Handler handler, boost::system::error_code ec) {
    boost::asio::post(io_, [handler = std::move(handler), ec] { handler(ec); });
}

void EdgePoller::shutdown() noexcept {
    if (shut_down_) return;
    shut_down_ = true;
    *alive_ = false;  // a drain already posted does nothing
    if (reactor_data_ != nullptr) {
        // Destroys the Watch; no perform() runs after this. The epoll descriptor stays ours to close.
        reactor_->deregister_internal_descriptor(epoll_fd_, reactor_data_);
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
    work_.reset();
    // `released` goes here, with what its handlers hold; their destructors may call remove().
}

}  // namespace weft::detail
