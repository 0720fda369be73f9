// The edge poller alone (framework/src/stream/edge_poller.hpp, the default readiness): over UNIX socket pairs
// on a plain io_context. This binary replaces epoll_ctl (below) to count the calls on the poller's own
// descriptor: the point of the poller is that nothing re-arms it.
#include <catch2/catch.hpp>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "stream/edge_poller.hpp"

namespace {

// The descriptor whose epoll_ctl calls are counted (-1: none), and the count. The test is single-threaded.
int counted_fd = -1;
int counted_calls = 0;

}  // namespace

// Every epoll_ctl in this process, Asio's included (it is compiled into weft), comes here first.
extern "C" int epoll_ctl(int epfd, int op, int fd, epoll_event* event) noexcept {
    if (fd == counted_fd && fd >= 0) ++counted_calls;
    return static_cast<int>(::syscall(SYS_epoll_ctl, epfd, op, fd, event));
}

namespace {

using weft::detail::EdgePoller;
using namespace std::chrono_literals;

/// A connected, non-blocking UNIX stream pair; `near` is the end the poller watches.
struct Pair {
    int near = -1;
    int far = -1;
    Pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
        near = fds[0];
        far = fds[1];
    }
    ~Pair() {
        ::close(near);
        ::close(far);
    }
    Pair(const Pair&) = delete;
    Pair& operator=(const Pair&) = delete;
    void send_byte() const { REQUIRE(::write(far, "x", 1) == 1); }
    void drain_near() const {
        char buffer[256];
        while (::read(near, buffer, sizeof buffer) > 0) {
        }
    }
};

struct CountEpollCtl {
    explicit CountEpollCtl(int fd) {
        counted_fd = fd;
        counted_calls = 0;
    }
    ~CountEpollCtl() { counted_fd = -1; }
    CountEpollCtl(const CountEpollCtl&) = delete;
    CountEpollCtl& operator=(const CountEpollCtl&) = delete;
};

}  // namespace

TEST_CASE("edge poller: its own descriptor is never re-armed, whatever the number of batches", "[poller]") {
    boost::asio::io_context io;
    EdgePoller poller(io);
    Pair pair;
    const EdgePoller::Id id = poller.add(pair.near);
    REQUIRE(id != EdgePoller::none);
    CountEpollCtl count(poller.descriptor());

    // A ping-pong with itself: each readiness answers with the next byte, so each round is its own batch.
    constexpr int rounds = 50;
    int seen = 0;
    std::function<void(const boost::system::error_code&)> on_read = [&](const boost::system::error_code& ec) {
        REQUIRE(!ec);
        pair.drain_near();
        if (++seen == rounds) return;
        pair.send_byte();
        poller.wait_read(id, on_read);
    };
    poller.wait_read(id, on_read);
    pair.send_byte();
    io.run_for(10s);

    CHECK(seen == rounds);
    CHECK(poller.batches() >= rounds);
    // Asio's async_wait would re-arm the descriptor (epoll_ctl EPOLL_CTL_MOD) for each batch.
    CHECK(counted_calls == 0);
    poller.remove(id, true);
}

TEST_CASE("edge poller: sockets beyond a full batch are read without a new edge", "[poller]") {
    boost::asio::io_context io;
    EdgePoller poller(io);
    // More ready sockets than one epoll_wait takes (128): those left in the ready list raise no new edge.
    constexpr std::size_t sockets = 300;
    std::vector<Pair> pairs(sockets);
    std::vector<EdgePoller::Id> ids;
    std::size_t woken = 0;
    for (Pair& pair : pairs) {
        ids.push_back(poller.add(pair.near));
        REQUIRE(ids.back() != EdgePoller::none);
        poller.wait_read(ids.back(), [&woken](const boost::system::error_code& ec) {
            CHECK(!ec);
            ++woken;
        });
    }
    for (Pair& pair : pairs) pair.send_byte();
    io.run_for(10s);  // returns as soon as nobody waits

    CHECK(woken == sockets);
    CHECK(poller.waiting() == 0);
    CHECK(poller.batches() >= 3);
    CHECK(io.stopped());
    for (std::size_t i = 0; i < sockets; ++i) poller.remove(ids[i], true);
}

TEST_CASE("edge poller: a waiting handler keeps io_context::run() going, and only while it waits", "[poller]") {
    boost::asio::io_context io;
    EdgePoller poller(io);
    Pair pair;
    const EdgePoller::Id id = poller.add(pair.near);
    bool woken = false;
    poller.wait_read(id, [&woken](const boost::system::error_code& ec) {
        CHECK(!ec);
        woken = true;
    });
    // The byte comes after run() has nothing else to do but wait for the socket.
    boost::asio::post(io, [&pair] { pair.send_byte(); });
    io.run_for(10s);

    CHECK(woken);
    CHECK(io.stopped());  // ran out of work (a timeout leaves it running), so the wait no longer holds it
    poller.remove(id, true);
}

TEST_CASE("edge poller: a wait still queued in the io_context when the poller goes does nothing", "[poller]") {
    boost::asio::io_context io;
    Pair pair;
    int called = 0;
    {
        EdgePoller poller(io);
        const EdgePoller::Id id = poller.add(pair.near);
        // The first wait completes at once (nothing tells the poller yet that its instance is empty), so its
        // completion is queued in the context, not in the reactor, when the poller shuts down.
        poller.wait_read(id, [&called](const boost::system::error_code&) { ++called; });
        pair.send_byte();
        poller.shutdown();
        CHECK(poller.waiting() == 0);
    }
    io.run_for(1s);  // runs the orphaned completion, which must not reach the poller
    CHECK(called == 0);
    CHECK(io.stopped());
}

TEST_CASE("edge poller: the drain queued after a full batch does nothing once the poller is gone", "[poller]") {
    boost::asio::io_context io;
    constexpr std::size_t sockets = 200;
    std::vector<Pair> pairs(sockets);
    std::size_t called = 0;
    {
        EdgePoller poller(io);
        for (Pair& pair : pairs) {
            poller.wait_read(poller.add(pair.near), [&called](const boost::system::error_code&) { ++called; });
            pair.send_byte();
        }
        // One turn: one full batch, and the next drain queued behind it.
        REQUIRE(io.run_one_for(10s) == 1);
        CHECK(poller.batches() == 1);
        CHECK(called == 128);
        poller.shutdown();
    }
    io.run_for(1s);
    CHECK(called == 128);
    CHECK(io.stopped());
}
