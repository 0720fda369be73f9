// Logging never blocks the loop and never kills the process (issue 10, item 1): the real weft-echo at
// debug level (a few records per connection) with its stderr a pipe that is never read, or whose reader
// has gone; and a program that never calls init_logging (the README example).
#include <catch2/catch.hpp>

#include <csignal>
#include <regex>

#include <boost/asio/read.hpp>

#include "log_test_helpers.hpp"

using namespace reliability;
using log_test::ServerWithStderrPipe;

#ifdef WEFT_ECHO_BINARY
TEST_CASE("weft-echo whose stderr pipe is never read keeps serving 3,000 connect/close cycles and exits promptly",
          "[reliability][logging][echo]") {
    constexpr int cycles = 3000;
    ServerWithStderrPipe echo({WEFT_ECHO_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "debug"});
    REQUIRE(echo.port() != 0);
    // About 5 debug records per cycle: the 64 KiB pipe is full after ~150 cycles. Before the asynchronous
    // sink the server then froze in write(2) on its loop thread and this loop failed its first deadline.
    const auto run = log_test::run_echo_cycles(echo.port(), cycles, 2s);
    const bool alive = echo.child().alive();

    // The test reads stderr now: the writer reports what it dropped before the next record it writes.
    echo.child().signal(SIGTERM);
    const auto t_term = steady::now();
    const auto dropped_line = echo.read_stderr_until("log records dropped", 10s);
    const auto status = echo.child().wait(10s);
    const double exit_seconds = seconds_since(t_term);
    std::uint64_t dropped = 0;
    std::smatch m;
    if (dropped_line && std::regex_search(*dropped_line, m, std::regex("(\\d+) log records dropped"))) {
        dropped = std::stoull(m[1]);
    }
    figure("log-stderr-never-read", std::to_string(run.done) + "/" + std::to_string(cycles) +
                                        " cycles at --log-level debug in " + std::to_string(run.total_seconds) +
                                        " s, max round trip " + std::to_string(run.max_seconds * 1000) +
                                        " ms; log records dropped (reported by the server) " + std::to_string(dropped) +
                                        "; exit " + std::to_string(exit_seconds) + " s after SIGTERM: " +
                                        echo.child().describe());
    CHECK(run.failed == 0);
    CHECK(run.done == cycles);
    CHECK(run.max_seconds < 1.0);
    CHECK(alive);
    CHECK(dropped > 0);  // the pipe really was full: records were dropped, counted and reported
    CHECK(exited_zero(status));
    CHECK(exit_seconds < 5.0);
}

TEST_CASE("weft-echo whose stderr pipe is never read exits promptly on SIGTERM with its log queue full",
          "[reliability][logging][echo]") {
    ServerWithStderrPipe echo({WEFT_ECHO_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "debug"});
    REQUIRE(echo.port() != 0);
    // Enough cycles to fill the pipe and the sink's queue (4,096 records), so that at exit the writer
    // thread is waiting on a pipe nobody will read: the exit must not wait for it.
    const auto run = log_test::run_echo_cycles(echo.port(), 1500, 2s);
    CHECK(run.failed == 0);
    echo.child().signal(SIGTERM);
    const auto t_term = steady::now();
    const auto status = echo.child().wait(10s);
    const double exit_seconds = seconds_since(t_term);
    figure("log-stderr-full-exit", "after " + std::to_string(run.done) + " cycles at debug, exit " +
                                       std::to_string(exit_seconds) + " s after SIGTERM: " + echo.child().describe());
    CHECK(exited_zero(status));
    CHECK(exit_seconds < 3.0);
}

TEST_CASE("weft-echo whose log reader has gone (stderr pipe closed) keeps serving and is not killed by SIGPIPE",
          "[reliability][logging][echo]") {
    constexpr int cycles = 1000;
    ServerWithStderrPipe echo({WEFT_ECHO_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "debug"});
    REQUIRE(echo.port() != 0);
    echo.close_stderr();  // `2>&1 | head` after head exited, a log shipper restarting
    // Before the fix the first record after this (a connection's first state change) killed the server
    // with SIGPIPE, and the cycle got a bare EOF.
    const auto run = log_test::run_echo_cycles(echo.port(), cycles, 2s);
    const std::string state = echo.child().describe();
    echo.child().signal(SIGTERM);
    const auto t_term = steady::now();
    const auto status = echo.child().wait(10s);
    const double exit_seconds = seconds_since(t_term);
    figure("log-reader-gone", std::to_string(run.done) + "/" + std::to_string(cycles) + " cycles at debug with stderr's reader gone, max round trip " +
                                  std::to_string(run.max_seconds * 1000) + " ms; server " + state + "; exit " +
                                  std::to_string(exit_seconds) + " s after SIGTERM: " + echo.child().describe());
    CHECK(run.failed == 0);
    CHECK(run.done == cycles);
    CHECK(run.max_seconds < 1.0);
    CHECK(state == "running");
    CHECK(exited_zero(status));
    CHECK(exit_seconds < 3.0);
}
#endif

#ifdef WEFT_README_EXAMPLE_BINARY
TEST_CASE("the README example (no init_logging) prints its own 'listening on' first and logs nothing to stdout",
          "[reliability][logging]") {
    // Without init_logging, weft logs warnings and above to stderr; before, Boost.Log's default sink put
    // every record, debug included, on stdout, ahead of the program's own first line.
    weft_test::ChildProcess example({WEFT_README_EXAMPLE_BINARY, "0"});
    const auto first = example.read_line(10s);
    REQUIRE(first);
    CHECK(first->rfind("listening on ", 0) == 0);
    const auto port = first->rfind("listening on ", 0) == 0
                          ? static_cast<std::uint16_t>(std::stoi(first->substr(first->rfind(':') + 1)))
                          : std::uint16_t{0};
    REQUIRE(port != 0);
    // A connection (info and debug records before) and the answer to one line.
    asio::io_context io;
    tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(s, asio::buffer(std::string("hello\r\n")));
    std::string got(3, '\0');
    asio::read(s, asio::buffer(got));
    CHECK(got == "5\r\n");
    s.close();
    example.signal(SIGTERM);
    const auto status = example.wait(10s);
    CHECK(exited_zero(status));
    // Nothing else reached stdout: no log record (the shutdown's records included).
    CHECK_FALSE(example.read_line(200ms));
}
#endif
