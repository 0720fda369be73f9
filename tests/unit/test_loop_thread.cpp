// Debug builds abort when a transport is called from a thread that does not run the reactor (muduo's
// assertInLoopThread): such a call is a data race that would otherwise corrupt the connection quietly.

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "support/loop.hpp"
#include "support/pipe.hpp"
#include "weft/reactor.hpp"
#include "weft/standard_io.hpp"

#ifndef NDEBUG
// Not named "thread": the TSan pass runs those, and TSan refuses a new thread in a child forked from a threaded process.
TEST_CASE("debug builds: a write to a transport from outside the running loop aborts", "[loop][debug]") {
    auto in = weft_test::make_pipe();
    auto out = weft_test::make_pipe();
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // Only this child's own calls; its exit status is the test's result.
        weft::Reactor reactor;
        weft::StandardIO stdio(reactor, std::make_unique<weft_test::Recorder>(), in.read, out.write);
        reactor.call_when_running([&] {
            std::thread([&] { stdio.write("from the wrong thread"); }).join();
            ::_exit(0);  // not reached when the check works
        });
        reactor.run(false);
        ::_exit(1);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
    for (int fd : {in.read, in.write, out.read, out.write}) ::close(fd);
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
