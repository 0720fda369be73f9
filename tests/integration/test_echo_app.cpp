// weft-echo end to end: the real binary on port 0, both modes, bad options, SIGTERM.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <poll.h>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <utility>

#include "support/child_process.hpp"
#include "support/pipe.hpp"
#include "support/test_pki.hpp"

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

namespace {
/// Reads `fd` until `needle` shows up (true) or `limit` passes (false).
bool read_until(int fd, const std::string& needle, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::string seen;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (seen.find(needle) == std::string::npos) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        char buf[4096];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return false;
        seen.append(buf, static_cast<std::size_t>(n));
    }
    return true;
}

/// A TLS round trip with asio::ssl; returns the server certificate's CN and the echo.
std::pair<std::string, std::string> tls_round_trip(std::uint16_t port, const std::string& ca, const std::string& name,
                                                   const std::string& send) {
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.load_verify_file(ca);
    ctx.set_verify_mode(asio::ssl::verify_peer);
    asio::ssl::stream<asio::ip::tcp::socket> s(io, ctx);
    SSL_ctrl(s.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(name.c_str()));
    s.set_verify_callback(asio::ssl::host_name_verification(name));
    s.lowest_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    s.handshake(asio::ssl::stream_base::client);
    X509* cert = SSL_get1_peer_certificate(s.native_handle());
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    asio::write(s, asio::buffer(send));
    std::string got(send.size(), '\0');
    asio::read(s, asio::buffer(got));
    return {cn, got};
}
}  // namespace

TEST_CASE("weft-echo --listen ssl: echoes over TLS, and SIGUSR2 rotates its certificate", "[app][echo][tls]") {
    const auto& pki = weft_test::test_pki();
    const std::string dir = pki.dir + "/echo-rotation";
    std::filesystem::create_directories(dir);
    const auto cert = dir + "/cert.pem";
    const auto key = dir + "/key.pem";
    const auto over = std::filesystem::copy_options::overwrite_existing;
    std::filesystem::copy_file(pki.server_cert, cert, over);
    std::filesystem::copy_file(pki.server_key, key, over);
    const auto log = weft_test::make_pipe();
    weft_test::ChildOptions options;
    options.stderr_fd = log.write;
    ChildProcess echo({WEFT_ECHO_BINARY, "--listen", "ssl:0:interface=127.0.0.1:private_key=" + key + ":cert_key=" + cert,
                       "--log-level", "info"},
                      options);
    ::close(log.write);
    const auto line = echo.read_line();
    REQUIRE(line);
    CHECK(line->rfind("listening on ssl:127.0.0.1:", 0) == 0);
    const auto port = static_cast<std::uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
    const std::string data(50000, 't');
    CHECK(tls_round_trip(port, pki.ca, "localhost", data) == std::make_pair(std::string("localhost"), data));

    std::filesystem::copy_file(pki.other_cert, cert, over);
    std::filesystem::copy_file(pki.other_key, key, over);
    echo.signal(SIGUSR2);
    REQUIRE(read_until(log.read, "TLS certificates reloaded"));
    CHECK(tls_round_trip(port, pki.ca, "other.test", "after") == std::make_pair(std::string("other.test"), std::string("after")));

    std::ofstream(cert, std::ios::trunc) << "garbage\n";
    echo.signal(SIGUSR2);
    REQUIRE(read_until(log.read, "not reloaded, the old ones stay"));
    CHECK(tls_round_trip(port, pki.ca, "other.test", "still").second == "still");
    echo.signal(SIGTERM);
    auto status = echo.wait();
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 0);
    ::close(log.read);
}

TEST_CASE("weft-echo --listen ssl: with an unusable key exits 1 naming the file", "[app][echo][tls]") {
    const auto& pki = weft_test::test_pki();
    ChildProcess echo({WEFT_ECHO_BINARY, "--listen", "ssl:0:private_key=" + pki.other_key + ":cert_key=" + pki.server_cert});
    auto status = echo.wait();
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 1);
}
