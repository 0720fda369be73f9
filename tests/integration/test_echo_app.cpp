// weft-echo end to end: the real binary on port 0, both modes, bad options, SIGTERM.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "support/child_process.hpp"
#include "support/pipe.hpp"

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

TEST_CASE("weft-echo --listen: one line per endpoint (TCP and UNIX), and it serves both", "[app][echo][endpoint]") {
    char dir_template[] = "/tmp/weft-echo-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    const std::string dir = dir_template;
    const std::string path = dir + "/echo.sock";
    ChildProcess echo({WEFT_ECHO_BINARY, "--listen", "tcp:0:interface=127.0.0.1", "--listen", "unix:" + path,
                       "--log-level", "warning"});
    const auto port = echo.read_listening_port();
    REQUIRE(port != 0);
    CHECK(echo.read_line() == "listening on unix:" + path);
    CHECK(round_trip(port, "over tcp", 8) == "over tcp");
    asio::io_context io;
    asio::local::stream_protocol::socket s(io);
    s.connect(asio::local::stream_protocol::endpoint(path));
    asio::write(s, asio::buffer(std::string("over unix")));
    std::string got(9, '\0');
    asio::read(s, asio::buffer(got));
    CHECK(got == "over unix");
    echo.signal(SIGTERM);
    auto status = echo.wait();
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 0);
    CHECK(::access(path.c_str(), F_OK) != 0);  // the socket file went with the port
    ::rmdir(dir.c_str());
}

TEST_CASE("weft-echo --listen udp: echoes datagrams to their senders, beside a TCP endpoint", "[app][echo][endpoint][udp]") {
    ChildProcess echo({WEFT_ECHO_BINARY, "--listen", "tcp:0:interface=127.0.0.1", "--listen", "udp:0:interface=127.0.0.1",
                       "--log-level", "warning"});
    const auto tcp_port = echo.read_listening_port();
    REQUIRE(tcp_port != 0);
    const auto line = echo.read_line();
    REQUIRE(line);
    CHECK_THAT(*line, Catch::StartsWith("listening on udp:127.0.0.1:"));
    const auto udp_port = static_cast<std::uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
    REQUIRE(udp_port != 0);
    asio::io_context io;
    asio::ip::udp::socket s(io, {asio::ip::make_address("127.0.0.1"), 0});
    const ::timeval bound{10, 0};  // a lost datagram fails the test instead of hanging it
    REQUIRE(::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound) == 0);
    const asio::ip::udp::endpoint server(asio::ip::make_address("127.0.0.1"), udp_port);
    for (const std::string& datagram : std::vector<std::string>{"one", "two, a little longer", std::string(8192, 'b')}) {
        s.send_to(asio::buffer(datagram), server);
        std::string got(9000, '\0');
        asio::ip::udp::endpoint from;
        got.resize(s.receive_from(asio::buffer(got), from));
        CHECK(got == datagram);
        CHECK(from == server);
    }
    CHECK(round_trip(tcp_port, "tcp too", 7) == "tcp too");
    echo.signal(SIGTERM);
    auto status = echo.wait();
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("weft-echo --listen refuses a bad endpoint naming the field, with exit status 2", "[app][echo][endpoint]") {
    auto err = weft_test::make_pipe();
    weft_test::ChildOptions options;
    options.stderr_fd = err.write;
    ChildProcess bad({WEFT_ECHO_BINARY, "--listen", "tcp:99999"}, options);
    ::close(err.write);
    auto status = bad.wait();
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 2);
    std::string message(4096, '\0');
    const ssize_t n = ::read(err.read, message.data(), message.size());  // the child has exited: no wait
    ::close(err.read);
    message.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    CHECK_THAT(message, Catch::Contains("--listen") && Catch::Contains("port 99999 is out of range"));
}
