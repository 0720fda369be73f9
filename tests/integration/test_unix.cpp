// UNIX sockets: listen_unix (modes, locks, stale files, abstract names), connect_unix, peer credentials,
// and adopting inherited listening sockets (Twisted: listenUNIX, connectUNIX, adoptStreamPort).

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "support/log_capture.hpp"
#include "support/loop.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"
#include "weft/reactor.hpp"

using namespace weft_test;
namespace fs = std::filesystem;

namespace {

/// A fresh directory for socket files, removed afterwards.
struct TempDir {
    fs::path path;
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "weft-unix-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }
};

/// A blocking client socket connected to `path` ("@name": abstract). Connecting to a listening UNIX socket
/// completes at once (the backlog takes it), so this never waits on the reactor.
int raw_connect(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    ::sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.data(), path.size());
    if (path.front() == '@') sa.sun_path[0] = '\0';
    const auto len = static_cast<socklen_t>(offsetof(::sockaddr_un, sun_path) + path.size() + (path.front() == '@' ? 0 : 1));
    REQUIRE(::connect(fd, reinterpret_cast<const ::sockaddr*>(&sa), len) == 0);
    return fd;
}

std::string read_all(int fd) {
    std::string out;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
}

/// A server that echoes one read and closes; the reactor stops when that connection is lost.
struct EchoOnce {
    explicit EchoOnce(weft::Reactor& r) : reactor(r) {}
    weft::Reactor& reactor;
    std::optional<weft::Address> peer, host;
    std::optional<weft::PeerCredentials> credentials;
    bool tcp_null = false;
    LambdaFactory factory{[this](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [this](Recorder& r) {
            peer = r.transport().peer();
            host = r.transport().host();
            tcp_null = r.transport().as_tcp() == nullptr;
            if (auto* u = r.transport().as_unix()) credentials = u->peer_credentials();
        };
        p->on_data = [](Recorder& r, std::string_view data) {
            r.transport().write(data);
            r.transport().lose_connection();
        };
        p->on_lost = [this](Recorder&, const weft::Reason&) { reactor.stop(); };
        return p;
    }};
};

}  // namespace

TEST_CASE("unix: a client's bytes are echoed; the peer's credentials are the kernel's", "[unix]") {
    TempDir dir;
    weft::Reactor reactor;
    EchoOnce server(reactor);
    const std::string path = dir.file("echo.sock");
    auto port = reactor.listen_unix(path, server.factory);
    CHECK(port->address() == weft::Address::unix_socket(path));
    CHECK(port->address().to_string() == "unix:" + path);
    CHECK(port->port() == 0);
    const int client = raw_connect(path);
    REQUIRE(::write(client, "hello", 5) == 5);
    REQUIRE(run_bounded(reactor));
    CHECK(read_all(client) == "hello");
    ::close(client);
    REQUIRE(server.credentials);
    CHECK(*server.credentials == weft::PeerCredentials{::getpid(), ::getuid(), ::getgid()});
    CHECK(server.tcp_null);
    CHECK(server.host == weft::Address::unix_socket(path));
    CHECK(server.peer == weft::Address::unix_socket(""));  // an unnamed client socket
    CHECK(server.peer->is_unix());
}

TEST_CASE("unix: the socket file gets the mode asked for; stop_listening removes it and its lock", "[unix]") {
    TempDir dir;
    weft::Reactor reactor;
    EchoOnce server(reactor);
    const std::string path = dir.file("mode.sock");
    weft::UnixListenOptions options;
    options.mode = 0600;
    auto port = reactor.listen_unix(path, server.factory, options);
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(fs::exists(path + ".lock"));
    port->stop_listening();
    CHECK_FALSE(port->listening());
    CHECK_FALSE(fs::exists(path));
    CHECK_FALSE(fs::exists(path + ".lock"));
}

TEST_CASE("unix: a stale socket file left by a dead server is replaced", "[unix]") {
    TempDir dir;
    const std::string path = dir.file("stale.sock");
    {
        // A server that died: its socket file stays, its lock (a flock) died with it.
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        ::sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::strcpy(sa.sun_path, path.c_str());
        REQUIRE(::bind(fd, reinterpret_cast<const ::sockaddr*>(&sa), sizeof sa) == 0);
        ::close(fd);
        REQUIRE(fs::exists(path));
    }
    weft::Reactor reactor;
    EchoOnce server(reactor);
    weft::init_logging(weft::LogLevel::info);
    LogCapture log;
    auto port = reactor.listen_unix(path, server.factory);
    weft::init_logging(weft::LogLevel::warning);
    CHECK(log.any_contains("removing the stale socket file " + path));
    const int client = raw_connect(path);
    REQUIRE(::write(client, "x", 1) == 1);
    REQUIRE(run_bounded(reactor));
    CHECK(read_all(client) == "x");
    ::close(client);
}

TEST_CASE("unix: a path served by a live process is never taken over", "[unix]") {
    TempDir dir;
    const std::string path = dir.file("live.sock");
    weft::Reactor reactor;
    EchoOnce first(reactor), second(reactor);
    auto port = reactor.listen_unix(path, first.factory);
    try {
        reactor.listen_unix(path, second.factory);
        FAIL("the second listen_unix succeeded");
    } catch (const weft::BindError& e) {
        CHECK(e.code() == std::errc::address_in_use);
        CHECK_THAT(e.what(), Catch::Contains("live process " + std::to_string(::getpid())));
        CHECK_THAT(e.what(), Catch::Contains(path + ".lock"));
    }
    // The first server still serves the path.
    const int client = raw_connect(path);
    REQUIRE(::write(client, "still mine", 10) == 10);
    REQUIRE(run_bounded(reactor));
    CHECK(read_all(client) == "still mine");
    ::close(client);
}

TEST_CASE("unix: without the lock an existing file is an error, and nothing that is not a socket is removed",
          "[unix]") {
    TempDir dir;
    weft::Reactor reactor;
    EchoOnce server(reactor);
    const std::string plain = dir.file("not-a-socket");
    { std::FILE* f = std::fopen(plain.c_str(), "w"); std::fputs("precious", f); std::fclose(f); }
    // With the lock: a regular file where the socket should be is refused, never unlinked.
    CHECK_THROWS_WITH(reactor.listen_unix(plain, server.factory), Catch::Contains("not a socket"));
    CHECK(fs::file_size(plain) == 8);
    CHECK_FALSE(fs::exists(plain + ".lock"));  // the lock was let go
    // Without it: the kernel's EADDRINUSE.
    weft::UnixListenOptions no_lock;
    no_lock.lock = false;
    try {
        reactor.listen_unix(plain, server.factory, no_lock);
        FAIL("listen_unix over an existing file succeeded");
    } catch (const weft::BindError& e) {
        CHECK(e.code() == std::errc::address_in_use);
    }
    CHECK(fs::file_size(plain) == 8);
}

TEST_CASE("unix: bad paths are refused with the reason", "[unix]") {
    weft::Reactor reactor;
    EchoOnce server(reactor);
    CHECK_THROWS_WITH(reactor.listen_unix("", server.factory), Catch::Contains("empty"));
    CHECK_THROWS_WITH(reactor.listen_unix("/tmp/" + std::string(200, 'a'), server.factory),
                      Catch::Contains("at most 107"));
    CHECK_THROWS_WITH(reactor.listen_unix(std::string("/tmp/a\0b", 8), server.factory), Catch::Contains("NUL"));
    CHECK_THROWS_WITH(reactor.listen_unix("/nonexistent-dir/x.sock", server.factory),
                      Catch::Contains("unix:/nonexistent-dir/x.sock"));
    weft::UnixListenOptions bad_mode;
    bad_mode.mode = 010000;
    CHECK_THROWS_WITH(reactor.listen_unix("/tmp/x.sock", server.factory, bad_mode), Catch::Contains("mode"));
}

TEST_CASE("unix: an abstract name ('@name') leaves no file", "[unix]") {
    TempDir dir;
    weft::Reactor reactor;
    EchoOnce server(reactor);
    const std::string name = "@weft-test-" + std::to_string(::getpid()) + "-" + dir.path.filename().string();
    auto port = reactor.listen_unix(name, server.factory);
    CHECK(port->address().to_string() == "unix:" + name);
    CHECK(fs::is_empty(dir.path));
    const int client = raw_connect(name);
    REQUIRE(::write(client, "abstract", 8) == 8);
    REQUIRE(run_bounded(reactor));
    CHECK(read_all(client) == "abstract");
    CHECK(server.host == weft::Address::unix_socket(name));
    ::close(client);
}

TEST_CASE("unix: reactor shutdown loses live UNIX connections like TCP ones", "[unix][shutdown]") {
    TempDir dir;
    weft::Reactor reactor;
    std::optional<weft::Reason> lost;
    LambdaFactory factory([&](const weft::Address&) {
        auto p = std::make_unique<Recorder>();
        p->on_made = [&](Recorder& r) {
            r.transport().write("bye\n");
            reactor.stop();  // the connection is live when shutdown begins
        };
        p->on_lost = [&](Recorder&, const weft::Reason& reason) { lost = reason; };
        return p;
    });
    const std::string path = dir.file("shutdown.sock");
    auto port = reactor.listen_unix(path, factory);
    const int client = raw_connect(path);
    REQUIRE(run_bounded(reactor));
    REQUIRE(lost);
    CHECK(lost->clean());
    CHECK(read_all(client) == "bye\n");  // flushed before the close
    CHECK(reactor.connection_count() == 0);
    CHECK_FALSE(fs::exists(path));  // shutdown stopped the port
    ::close(client);
}

TEST_CASE("adopt_stream_port serves an inherited listening socket (UNIX and TCP) and refuses anything else",
          "[unix][adopt]") {
    TempDir dir;
    weft::Reactor reactor;
    EchoOnce server(reactor);
    // A UNIX socket made and bound by "systemd".
    const std::string path = dir.file("adopted.sock");
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ::sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, path.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<const ::sockaddr*>(&sa), sizeof sa) == 0);
    // Not listening yet: refused, and the descriptor is still ours.
    CHECK_THROWS_AS(reactor.adopt_stream_port(fd, weft::SocketFamily::unix_socket, server.factory), weft::BindError);
    REQUIRE(::listen(fd, 16) == 0);
    CHECK_THROWS_WITH(reactor.adopt_stream_port(fd, weft::SocketFamily::inet, server.factory),
                      Catch::Contains("not a listening stream socket"));
    auto port = reactor.adopt_stream_port(fd, weft::SocketFamily::unix_socket, server.factory);
    CHECK(port->address() == weft::Address::unix_socket(path));
    const int client = raw_connect(path);
    REQUIRE(::write(client, "adopted", 7) == 7);
    REQUIRE(run_bounded(reactor));
    CHECK(read_all(client) == "adopted");
    ::close(client);
    port->stop_listening();
    CHECK(fs::exists(path));  // the socket file is its maker's, not ours

    // A TCP listener on 127.0.0.1.
    weft::Reactor reactor2;
    EchoOnce server2(reactor2);
    const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ::sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(tcp, reinterpret_cast<const ::sockaddr*>(&in), sizeof in) == 0);
    REQUIRE(::listen(tcp, 16) == 0);
    auto tcp_port = reactor2.adopt_stream_port(tcp, weft::SocketFamily::inet, server2.factory);
    CHECK(tcp_port->address().host == "127.0.0.1");
    CHECK(tcp_port->port() != 0);
    CHECK_THROWS_AS(reactor2.adopt_stream_port(-1, weft::SocketFamily::inet, server2.factory), weft::BindError);
}
