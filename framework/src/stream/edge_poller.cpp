#include "stream/edge_poller.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

namespace weft::detail {

namespace {
// Both directions at once, edge-triggered: registered once, never modified. EPOLLRDHUP reports the peer's
// EOF as readability (the read then returns 0).
constexpr std::uint32_t watched_events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
// Events read per epoll_wait; more ready sockets are read on the next turn.
constexpr int batch_size = 128;
}  // namespace

EdgePoller::EdgePoller(boost::asio::io_context& io) : io_(io) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
    watch_.emplace(io_, epoll_fd_);
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
    if (armed_ || shut_down_ || waiting_ == 0) return;
    armed_ = true;
    watch_->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
        if (ec == boost::asio::error::operation_aborted) return;  // shut down: `this` may be gone
        armed_ = false;
        drain();
    });
}

void EdgePoller::drain() {
    ::epoll_event events[batch_size];
    int n = 0;
    do {
        n = ::epoll_wait(epoll_fd_, events, batch_size, 0);
    } while (n < 0 && errno == EINTR);
    ++batches_;
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
    arm();  // a full batch leaves the rest ready in the epoll set: the re-armed wait fires again at once
}

void EdgePoller::post(Handler handler, boost::system::error_code ec) {
    boost::asio::post(io_, [handler = std::move(handler), ec] { handler(ec); });
}

void EdgePoller::shutdown() noexcept {
    if (shut_down_) return;
    shut_down_ = true;
    if (watch_) {
        boost::system::error_code ec;
        watch_->cancel(ec);
        watch_->release();  // the epoll descriptor is ours to close, in the destructor
        watch_.reset();
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
