// weft-echo end to end: the real binary on port 0, both modes, bad options, SIGTERM.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "support/child_process.hpp"

namespace asio = boost::asio;
using weft_test::ChildProcess;

namespace {
std::string round_trip(std::uint16_t port, const std::string& send, std::size_t expect) {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(s, asio::buffer(send));
    std::string got(expect, '\0');
    asio::read(s, asio::buffer(got));
    return got;
}
}  // namespace

TEST_CASE("weft-echo raw mode: prints its port, echoes, exits 0 on SIGTERM", "[app][echo]") {
    ChildProcess echo({WEFT_ECHO_BINARY, "--host", "127.0.0.1", "--port", "0", "--log-level", "warning"});
    const auto port = echo.read_listening_port();
    REQUIRE(port != 0);
    const std::string data = std::string(100000, 'r') + "no newline needed";
    CHECK(round_trip(port, data, data.size()) == data);
    echo.signal(SIGTERM);
    auto status = echo.wait();
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("weft-echo line mode echoes whole lines only", "[app][echo]") {
    ChildProcess echo({WEFT_ECHO_BINARY, "--port", "0", "--mode", "line", "--log-level", "error"});
    const auto port = echo.read_listening_port();
    REQUIRE(port != 0);
    CHECK(round_trip(port, "one\ntwo\npartial", 8) == "one\ntwo\n");
    echo.signal(SIGINT);
    auto status = echo.wait();
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("weft-echo rejects bad options with exit status 2", "[app][echo]") {
    ChildProcess bad({WEFT_ECHO_BINARY, "--mode", "sideways"});
    auto status = bad.wait();
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 2);
    ChildProcess bad_level({WEFT_ECHO_BINARY, "--log-level", "loud"});
    status = bad_level.wait();
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 2);
}

TEST_CASE("weft-echo exits 1 naming the address when the port is taken", "[app][echo]") {
    asio::io_context io;
    asio::ip::tcp::acceptor taken(io, {asio::ip::make_address("127.0.0.1"), 0});
    const auto port = std::to_string(taken.local_endpoint().port());
    ChildProcess echo({WEFT_ECHO_BINARY, "--port", port});
    auto status = echo.wait();
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 1);
}
