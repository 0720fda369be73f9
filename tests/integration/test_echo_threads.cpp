// weft-echo --threads N (issue 15): the real binary on a ReactorPool, many clients at once, bad values.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "support/child_process.hpp"
#include "support/pipe.hpp"

namespace asio = boost::asio;
using weft_test::ChildProcess;

namespace {

/// Threads of process `pid` (its /proc/PID/task entries).
std::size_t thread_count(pid_t pid) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) ++n;
    return n;
}

/// Opens `n` connections at once, writes a distinct message on each, then reads every echo back.
template <class Socket, class Endpoint>
void many_clients(const Endpoint& endpoint, int n) {
    asio::io_context io;
    std::vector<std::unique_ptr<Socket>> sockets;
    for (int i = 0; i < n; ++i) {
        sockets.push_back(std::make_unique<Socket>(io));
        sockets.back()->connect(endpoint);
    }
    for (int i = 0; i < n; ++i) {
        const std::string message = "client " + std::to_string(i) + " " + std::string(1000 + i, 'x') + "\n";
        asio::write(*sockets[static_cast<std::size_t>(i)], asio::buffer(message));
    }
    for (int i = 0; i < n; ++i) {
        const std::string message = "client " + std::to_string(i) + " " + std::string(1000 + i, 'x') + "\n";
        std::string got(message.size(), '\0');
        asio::read(*sockets[static_cast<std::size_t>(i)], asio::buffer(got));
        CHECK(got == message);
    }
}

std::string stderr_of(std::vector<std::string> argv, int& exit_status) {
    auto err = weft_test::make_pipe();
    weft_test::ChildOptions options;
    options.stderr_fd = err.write;
    ChildProcess child(std::move(argv), options);
    ::close(err.write);
    auto status = child.wait();
    exit_status = status ? WEXITSTATUS(*status) : -1;
    std::string message(4096, '\0');
    const ssize_t got = ::read(err.read, message.data(), message.size());  // it has exited: no wait
    ::close(err.read);
    message.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    return message;
}

}  // namespace

TEST_CASE("weft-echo --threads 2 echoes from many clients at once, and exits 0 on SIGTERM", "[app][echo][threads]") {
    ChildProcess echo({WEFT_ECHO_BINARY, "--threads", "2", "--port", "0", "--mode", "line", "--log-level", "warning"});
    const auto port = echo.read_listening_port();
    REQUIRE(port != 0);
    many_clients<asio::ip::tcp::socket>(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), 50);
    CHECK(thread_count(echo.pid()) >= 3);  // the main thread, waiting, and a thread per reactor (serving by now)
    echo.signal(SIGTERM);
    auto status = echo.wait();
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("weft-echo --threads 3 serves a UNIX socket through one acceptor", "[app][echo][threads]") {
    const auto dir = std::filesystem::temp_directory_path() / ("weft-echo-threads-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "echo.sock").string();
    ChildProcess echo({WEFT_ECHO_BINARY, "--threads", "3", "--listen", "unix:" + path, "--log-level", "warning"});
    const auto line = echo.read_line();
    REQUIRE(line);
    CHECK(*line == "listening on unix:" + path);
    many_clients<asio::local::stream_protocol::socket>(asio::local::stream_protocol::endpoint(path), 30);
    echo.signal(SIGINT);
    auto status = echo.wait();
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("weft-echo refuses bad --threads values with exit status 2, naming the option", "[app][echo][threads]") {
    for (const char* bad : {"0", "-1", "abc", "257", "", "2.5", "99999999999999999999"}) {
        int status = -1;
        const auto message = stderr_of({WEFT_ECHO_BINARY, "--threads", bad, "--port", "0"}, status);
        INFO("--threads '" << bad << "'");
        CHECK(status == 2);
        CHECK_THAT(message, Catch::Contains("--threads") && Catch::Contains("from 1 to 256"));
    }
}
