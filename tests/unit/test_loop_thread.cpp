// Debug builds abort when a transport is called from a thread that does not run the reactor (muduo's
// assertInLoopThread): such a call is a data race that would otherwise corrupt the connection quietly.

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "support/child_process.hpp"
#include "support/loop.hpp"
#include "support/pipe.hpp"
#include "weft/reactor.hpp"
#include "weft/standard_io.hpp"

#ifndef NDEBUG
// Run in a process of its own (below): it must abort.
TEST_CASE("debug-only child: write to a transport from another thread while the loop runs", "[.][loop]") {
    auto in = weft_test::make_pipe();
    auto out = weft_test::make_pipe();
    weft::Reactor reactor;
    weft::StandardIO stdio(reactor, std::make_unique<weft_test::Recorder>(), in.read, out.write);
    reactor.call_when_running([&] {
        std::thread([&] { stdio.write("from the wrong thread"); }).join();
        std::exit(0);  // not reached when the check works
    });
    reactor.run(false);
    std::exit(1);
}

// Not named "thread": the TSan pass runs those. The child is this test binary itself, started afresh
// (a fork of a process with threads, Boost.Log's writer among them, could deadlock in the child).
TEST_CASE("debug builds: a write to a transport from outside the running loop aborts", "[loop][debug]") {
    char self[4096] = {};
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    REQUIRE(n > 0);
    weft_test::ChildProcess child({std::string(self, static_cast<std::size_t>(n)),
                                   "debug-only child: write to a transport from another thread while the loop runs"});
    const auto status = child.wait(std::chrono::seconds(20));
    REQUIRE(status);
    CHECK(WIFSIGNALED(*status));
    CHECK(WTERMSIG(*status) == SIGABRT);
}
#endif

TEST_CASE("calls from the thread that owns the reactor are fine before run() and after it returns", "[thread]") {
    auto in = weft_test::make_pipe();
    auto out = weft_test::make_pipe();
    weft::Reactor reactor;
    weft::StandardIO stdio(reactor, std::make_unique<weft_test::Recorder>(), in.read, out.write);
    stdio.write("before run\n");  // the loop is not running: the owner may call in
    reactor.call_soon([&] { reactor.stop(); });
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(stdio.lost());
    char buffer[32] = {};
    CHECK(::read(out.read, buffer, sizeof buffer) == 11);
    ::close(in.write);
    ::close(out.read);
}
