// server_from_string / client_from_string: each description reaches the right reactor call with its
// options (checked on a MemoryReactor), and a real reactor serves a UNIX endpoint from a string.

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include "weft/endpoint.hpp"
#include "weft/string_endpoints.hpp"
#include "weft/systemd.hpp"
#include "weft/testing/memory_reactor.hpp"

namespace {
struct NullFactory : weft::Factory {
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override { return nullptr; }
};
struct NullClientFactory : weft::ClientFactory {
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override { return nullptr; }
};
}  // namespace

TEST_CASE("server_from_string: tcp, tcp6, unix and fd reach listen_tcp / listen_unix / adopt_stream_port",
          "[endpoint][string]") {
    weft::testing::MemoryReactor reactor;
    NullFactory factory;
    weft::server_from_string(reactor, "tcp:8000:interface=127.0.0.1:backlog=50", factory);
    REQUIRE(reactor.tcp_servers.size() == 1);
    CHECK(reactor.tcp_servers[0].port == 8000);
    CHECK(reactor.tcp_servers[0].options.interface == "127.0.0.1");
    CHECK(reactor.tcp_servers[0].options.backlog == 50);
    CHECK(&reactor.tcp_servers[0].factory == &factory);

    weft::server_from_string(reactor, "tcp6:8001", factory);
    REQUIRE(reactor.tcp_servers.size() == 2);
    CHECK(reactor.tcp_servers[1].options.interface == "::");

    weft::server_from_string(reactor, "unix:/run/a\\:b.sock:mode=660:lockfile=0:backlog=7", factory);
    REQUIRE(reactor.unix_servers.size() == 1);
    CHECK(reactor.unix_servers[0].path == "/run/a:b.sock");
    CHECK(reactor.unix_servers[0].options.mode == 0660);
    CHECK_FALSE(reactor.unix_servers[0].options.lock);
    CHECK(reactor.unix_servers[0].options.backlog == 7);

    weft::server_from_string(reactor, "fd:fileno=5:domain=UNIX", factory);
    REQUIRE(reactor.adopted.size() == 1);
    CHECK(reactor.adopted[0].fd == 5);
    CHECK(reactor.adopted[0].family == weft::SocketFamily::unix_socket);

    CHECK_THROWS_AS(weft::server_from_string(reactor, "tpc:80", factory), weft::EndpointError);
    CHECK(reactor.tcp_servers.size() == 2);  // nothing was called for the bad one
}

TEST_CASE("server_from_string: a udp endpoint is refused by a stream listener, naming it", "[endpoint][string]") {
    weft::testing::MemoryReactor reactor;
    NullFactory factory;
    try {
        weft::server_from_string(reactor, "udp:9999:interface=127.0.0.1", factory);
        FAIL("no EndpointError");
    } catch (const weft::EndpointError& e) {
        CHECK_THAT(e.what(), Catch::StartsWith("udp:9999:interface=127.0.0.1: udp: is a datagram endpoint;"));
        CHECK(e.field() == "type");
    }
    CHECK(reactor.tcp_servers.empty());
}

TEST_CASE("server_from_string: systemd: adopts the descriptor LISTEN_FDS passed to this process", "[endpoint][string]") {
    weft::testing::MemoryReactor reactor;
    NullFactory factory;
    const std::string pid = std::to_string(::getpid());
    ::setenv("LISTEN_PID", pid.c_str(), 1);
    ::setenv("LISTEN_FDS", "2", 1);
    ::setenv("LISTEN_FDNAMES", "web:admin", 1);
    weft::server_from_string(reactor, "systemd:domain=INET6:index=1", factory);
    weft::server_from_string(reactor, "systemd:domain=UNIX:name=web", factory);
    CHECK_THROWS_AS(weft::server_from_string(reactor, "systemd:domain=INET:index=2", factory), weft::SystemdError);
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    REQUIRE(reactor.adopted.size() == 2);
    CHECK(reactor.adopted[0].fd == 4);  // fds start at 3
    CHECK(reactor.adopted[0].family == weft::SocketFamily::inet6);
    CHECK(reactor.adopted[1].fd == 3);
    CHECK(reactor.adopted[1].family == weft::SocketFamily::unix_socket);
}

TEST_CASE("client_from_string: tcp and unix reach connect_tcp / connect_unix with their options", "[endpoint][string]") {
    weft::testing::MemoryReactor reactor;
    NullClientFactory factory;
    weft::client_from_string(reactor, "tcp:host=example.org:port=80:timeout=5:bind_address=127.0.0.1", factory);
    REQUIRE(reactor.tcp_clients.size() == 1);
    CHECK(reactor.tcp_clients[0].host == "example.org");
    CHECK(reactor.tcp_clients[0].port == 80);
    CHECK(reactor.tcp_clients[0].options.timeout == std::chrono::seconds(5));
    CHECK(reactor.tcp_clients[0].options.bind_address == "127.0.0.1");
    weft::client_from_string(reactor, "unix:path=/run/app.sock:timeout=2:check_pid=1", factory);
    REQUIRE(reactor.unix_clients.size() == 1);
    CHECK(reactor.unix_clients[0].path == "/run/app.sock");
    CHECK(reactor.unix_clients[0].options.timeout == std::chrono::seconds(2));
    CHECK(reactor.unix_clients[0].options.check_pid);
    CHECK_THROWS_AS(weft::client_from_string(reactor, "unix:", factory), weft::EndpointError);
}
