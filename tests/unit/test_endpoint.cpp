// Endpoint description strings: parse_server_endpoint, parse_client_endpoint, to_string (docs/endpoints.md).
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "weft/endpoint.hpp"

using namespace std::chrono_literals;
using namespace std::string_literals;
using weft::ClientEndpoint;
using weft::EndpointError;
using weft::ServerEndpoint;

namespace {

template <class T>
T server(std::string_view s) {
    INFO("description: " << s);
    const ServerEndpoint e = weft::parse_server_endpoint(s);
    REQUIRE(std::holds_alternative<T>(e));
    return std::get<T>(e);
}

template <class T>
T client(std::string_view s) {
    INFO("description: " << s);
    const ClientEndpoint e = weft::parse_client_endpoint(s);
    REQUIRE(std::holds_alternative<T>(e));
    return std::get<T>(e);
}

EndpointError server_error(std::string_view s) {
    try {
        (void)weft::parse_server_endpoint(s);
    } catch (const EndpointError& e) {
        return e;
    }
    FAIL("no EndpointError for server description \"" << std::string(s) << "\"");
    throw std::logic_error("unreachable");
}

EndpointError client_error(std::string_view s) {
    try {
        (void)weft::parse_client_endpoint(s);
    } catch (const EndpointError& e) {
        return e;
    }
    FAIL("no EndpointError for client description \"" << std::string(s) << "\"");
    throw std::logic_error("unreachable");
}

// The error names `field` and its message contains every fragment.
void check_error(const EndpointError& e, const std::string& field, const std::vector<std::string>& fragments) {
    INFO("message: " << e.what());
    CHECK(e.field() == field);
    for (const std::string& f : fragments) CHECK_THAT(e.what(), Catch::Contains(f));
}

using weft::FdServerEndpoint;
using weft::SslServerEndpoint;
using weft::TlsClientEndpoint;
using weft::SystemdServerEndpoint;
using weft::TcpClientEndpoint;
using weft::TcpServerEndpoint;
using weft::UnixClientEndpoint;
using weft::UnixServerEndpoint;
using weft::UdpServerEndpoint;

}  // namespace

TEST_CASE("udp server: port, interface (IPv4 or IPv6) and max_packet_size; round trip; errors name the field", "[endpoint][udp]") {
    const auto plain = server<UdpServerEndpoint>("udp:9999");
    CHECK(plain.port == 9999);
    CHECK(plain.interface.empty());
    CHECK(plain.max_packet_size == 8192);
    const auto full = server<UdpServerEndpoint>("udp:0:interface=\\:\\:1:max_packet_size=65536");
    CHECK(full.port == 0);
    CHECK(full.interface == "::1");
    CHECK(full.max_packet_size == 65536);
    CHECK(server<UdpServerEndpoint>("udp:53:127.0.0.1:512") == UdpServerEndpoint{53, "127.0.0.1", 512});
    CHECK(weft::to_string(weft::parse_server_endpoint("udp:port=7:max_packet_size=8192")) == "udp:7");
    CHECK(weft::to_string(weft::parse_server_endpoint("udp:53:127.0.0.1:512")) ==
          "udp:53:interface=127.0.0.1:max_packet_size=512");
    for (const std::string s : {"udp:0", "udp:65535:interface=\\:\\:", "udp:1:interface=:max_packet_size=1",
                                "udp:2:interface=fe80\\:\\:1%lo:max_packet_size=100"}) {
        INFO(s);
        const ServerEndpoint e = weft::parse_server_endpoint(s);
        CHECK(weft::parse_server_endpoint(weft::to_string(e)) == e);
    }
    check_error(server_error("udp"), "port", {"udp endpoint \"udp\": missing port"});
    check_error(server_error("udp:70000"), "port", {"port 70000 is out of range (0-65535)"});
    check_error(server_error("udp:53:interface=localhost"), "interface",
                {"interface \"localhost\" is not a numeric IPv4 or IPv6 address"});
    check_error(server_error("udp:53:max_packet_size=0"), "max_packet_size", {"max_packet_size 0 is out of range (1-65536)"});
    check_error(server_error("udp:53:max_packet_size=65537"), "max_packet_size", {"out of range (1-65536)"});
    check_error(server_error("udp:53:max_packet_size=big"), "max_packet_size", {"max_packet_size \"big\" is not a number"});
    check_error(server_error("udp:53:backlog=5"), "backlog", {"unknown key \"backlog\" (expected port, interface, max_packet_size)"});
    check_error(client_error("udp:host=a:port=1"), "type", {"\"udp\" is a server endpoint type"});
}

TEST_CASE("tcp server: positional port, keyword port, interface and backlog", "[endpoint]") {
    CHECK(server<TcpServerEndpoint>("tcp:8000") == TcpServerEndpoint{8000, "", 511, false});
    CHECK(server<TcpServerEndpoint>("tcp:port=8000") == TcpServerEndpoint{8000, "", 511, false});
    CHECK(server<TcpServerEndpoint>("tcp:0").port == 0);
    CHECK(server<TcpServerEndpoint>("tcp:65535").port == 65535);
    CHECK(server<TcpServerEndpoint>("tcp:080").port == 80);
    CHECK(server<TcpServerEndpoint>("tcp:8000:interface=127.0.0.1:backlog=50") ==
          TcpServerEndpoint{8000, "127.0.0.1", 50, false});
    CHECK(server<TcpServerEndpoint>("tcp:backlog=50:interface=127.0.0.1:port=8000") ==
          TcpServerEndpoint{8000, "127.0.0.1", 50, false});
    // An empty interface is every IPv4 interface, as in ListenOptions; an IPv6 address is taken on tcp too.
    CHECK(server<TcpServerEndpoint>("tcp:8000:interface=").interface.empty());
    CHECK(server<TcpServerEndpoint>("tcp:8000:interface=\\:\\:1").interface == "::1");
    CHECK(server<TcpServerEndpoint>("tcp:1:backlog=1").backlog == 1);
    CHECK(server<TcpServerEndpoint>("tcp:1:backlog=65535").backlog == 65535);
}

TEST_CASE("tcp server: positional arguments follow Twisted's order (port, interface, backlog)", "[endpoint]") {
    CHECK(server<TcpServerEndpoint>("tcp:8000:127.0.0.1:50") == TcpServerEndpoint{8000, "127.0.0.1", 50, false});
    CHECK(server<TcpServerEndpoint>("tcp:8000:127.0.0.1") == TcpServerEndpoint{8000, "127.0.0.1", 511, false});
    CHECK(server<TcpServerEndpoint>("tcp:8000:127.0.0.1:backlog=7").backlog == 7);
}

TEST_CASE("tcp6 server: interface defaults to :: and positional order is port, backlog, interface", "[endpoint]") {
    CHECK(server<TcpServerEndpoint>("tcp6:8000") == TcpServerEndpoint{8000, "::", 511, true});
    CHECK(server<TcpServerEndpoint>("tcp6:port=8000:interface=\\:\\:1") == TcpServerEndpoint{8000, "::1", 511, true});
    CHECK(server<TcpServerEndpoint>("tcp6:8000:50:\\:\\:1") == TcpServerEndpoint{8000, "::1", 50, true});
    CHECK(server<TcpServerEndpoint>("tcp6:80:interface=fe80\\:\\:1%lo").interface == "fe80::1%lo");
}

TEST_CASE("unix server: path, octal mode, backlog, lockfile, address= and abstract names", "[endpoint]") {
    CHECK(server<UnixServerEndpoint>("unix:/var/run/finger") == UnixServerEndpoint{"/var/run/finger", 0666, 511, true});
    CHECK(server<UnixServerEndpoint>("unix:/tmp/s:mode=660").mode == 0660);
    CHECK(server<UnixServerEndpoint>("unix:/tmp/s:mode=0600").mode == 0600);
    CHECK(server<UnixServerEndpoint>("unix:/tmp/s:mode=0o640").mode == 0640);
    CHECK(server<UnixServerEndpoint>("unix:/tmp/s:mode=7777").mode == 07777);
    CHECK(server<UnixServerEndpoint>("unix:/tmp/s:mode=0").mode == 0);
    CHECK(server<UnixServerEndpoint>("unix:address=/tmp/s:backlog=5:lockfile=0") ==
          UnixServerEndpoint{"/tmp/s", 0666, 5, false});
    CHECK(server<UnixServerEndpoint>("unix:/tmp/s:lockfile=1").lockfile);
    // Twisted's _parseUNIX(address, mode, backlog, lockfile), positionally.
    CHECK(server<UnixServerEndpoint>("unix:/tmp/s:600:5:0") == UnixServerEndpoint{"/tmp/s", 0600, 5, false});
    CHECK(server<UnixServerEndpoint>("unix:@weft-test").path == "@weft-test");
    CHECK(server<UnixServerEndpoint>("unix:relative.sock").path == "relative.sock");
}

TEST_CASE("fd and systemd servers", "[endpoint]") {
    CHECK(server<FdServerEndpoint>("fd:3") == FdServerEndpoint{3, "INET"});
    CHECK(server<FdServerEndpoint>("fd:0") == FdServerEndpoint{0, "INET"});
    CHECK(server<FdServerEndpoint>("fd:fileno=4:domain=INET6") == FdServerEndpoint{4, "INET6"});
    CHECK(server<FdServerEndpoint>("fd:5:UNIX") == FdServerEndpoint{5, "UNIX"});
    CHECK(server<SystemdServerEndpoint>("systemd:domain=INET:index=0") == SystemdServerEndpoint{"INET", 0, ""});
    CHECK(server<SystemdServerEndpoint>("systemd:domain=UNIX:index=2") == SystemdServerEndpoint{"UNIX", 2, ""});
    CHECK(server<SystemdServerEndpoint>("systemd:INET6:1") == SystemdServerEndpoint{"INET6", 1, ""});
    CHECK(server<SystemdServerEndpoint>("systemd:domain=UNIX:name=web") == SystemdServerEndpoint{"UNIX", 0, "web"});
    CHECK(server<SystemdServerEndpoint>("systemd") == SystemdServerEndpoint{"INET", 0, ""});
}

TEST_CASE("tcp client: keyword and positional host and port, as Twisted's clientFromString", "[endpoint]") {
    const TcpClientEndpoint expected{"example.org", 80, 30s, "", false};
    CHECK(client<TcpClientEndpoint>("tcp:host=example.org:port=80") == expected);
    CHECK(client<TcpClientEndpoint>("tcp:example.org:80") == expected);
    CHECK(client<TcpClientEndpoint>("tcp:host=example.org:80") == expected);
    CHECK(client<TcpClientEndpoint>("tcp:80:host=example.org") == expected);
    CHECK(client<TcpClientEndpoint>("tcp:example.org:port=80") == expected);
    CHECK(client<TcpClientEndpoint>("tcp:port=80:host=example.org") == expected);
    CHECK(client<TcpClientEndpoint>("tcp:example.org:80:timeout=10").timeout == 10s);
    CHECK(client<TcpClientEndpoint>("tcp:example.org:80:timeout=2.5").timeout == 2500ms);
    CHECK(client<TcpClientEndpoint>("tcp:example.org:80:timeout=0.000000001").timeout == 1ns);
    // Digits past nanoseconds are dropped.
    CHECK(client<TcpClientEndpoint>("tcp:example.org:80:timeout=1.0000000019").timeout == 1s + 1ns);
    CHECK(client<TcpClientEndpoint>("tcp:example.org:80:timeout=31536000").timeout == 31536000s);
    CHECK(client<TcpClientEndpoint>("tcp:example.org:80:bind_address=192.0.2.100").bind_address == "192.0.2.100");
    CHECK(client<TcpClientEndpoint>("tcp:127.0.0.1:65535").port == 65535);
    CHECK(client<TcpClientEndpoint>("tcp6:host=\\:\\:1:port=80:bind_address=\\:\\:1") ==
          TcpClientEndpoint{"::1", 80, 30s, "::1", true});
    CHECK(client<TcpClientEndpoint>("tcp6:example.org:443").ipv6);
}

TEST_CASE("unix client: path= or positional, timeout, check_pid", "[endpoint]") {
    CHECK(client<UnixClientEndpoint>("unix:path=/var/foo/bar") == UnixClientEndpoint{"/var/foo/bar", 30s, false});
    CHECK(client<UnixClientEndpoint>("unix:/var/foo/bar") == UnixClientEndpoint{"/var/foo/bar", 30s, false});
    CHECK(client<UnixClientEndpoint>("unix:/var/foo/bar:check_pid=1:timeout=9") ==
          UnixClientEndpoint{"/var/foo/bar", 9s, true});
    CHECK(client<UnixClientEndpoint>("unix:path=@abstract:check_pid=0").path == "@abstract");
}

TEST_CASE("ssl server: Twisted's positional order (port, private_key, cert_key) and weft's keys", "[endpoint][tls]") {
    const auto e = server<SslServerEndpoint>("ssl:8443:private_key=key.pem:cert_key=cert.pem:extra_cert_chain=chain.pem");
    CHECK(e.tcp.port == 8443);
    CHECK(e.tcp.interface.empty());
    CHECK(e.private_key == "key.pem");
    CHECK(e.cert_key == "cert.pem");
    CHECK(e.extra_cert_chain == "chain.pem");
    CHECK(e.verify_client == "none");
    CHECK(e.handshake_timeout == 10s);
    const auto p = server<SslServerEndpoint>("ssl:443:k.pem:c.pem:interface=127.0.0.1:backlog=9:client_ca=ca.pem:"
                                             "verify_client=required:alpn=h2,http/1.1:handshake_timeout=2.5");
    CHECK(p.private_key == "k.pem");
    CHECK(p.cert_key == "c.pem");
    CHECK(p.tcp.interface == "127.0.0.1");
    CHECK(p.tcp.backlog == 9);
    CHECK(p.client_ca == "ca.pem");
    CHECK(p.verify_client == "required");
    CHECK(p.alpn == std::vector<std::string>{"h2", "http/1.1"});
    CHECK(p.handshake_timeout == 2500ms);
    CHECK(server<SslServerEndpoint>("ssl:1:private_key=k:client_ca=ca").verify_client == "optional");

    check_error(server_error("ssl:443"), "private_key", {"ssl endpoint", "missing private_key"});
    check_error(server_error("ssl:443:private_key="), "private_key", {"private_key is empty"});
    check_error(server_error("ssl:443:private_key=k:verify_client=always:client_ca=c"), "verify_client",
                {"verify_client \"always\" is not none, optional or required"});
    check_error(server_error("ssl:443:private_key=k:verify_client=required"), "verify_client", {"needs client_ca"});
    check_error(server_error("ssl:443:private_key=k:alpn=h2,,x"), "alpn", {"comma-separated list"});
    check_error(server_error("ssl:443:private_key=k:handshake_timeout=0"), "handshake_timeout", {"out of range"});
    check_error(server_error("ssl:99999:private_key=k"), "port", {"out of range"});
    check_error(server_error("tls:443"), "type", {"\"tls\" is a client endpoint type"});
}

TEST_CASE("tls client: host and port as tcp's, then CA, server name, client certificate, ALPN", "[endpoint][tls]") {
    const auto e = client<TlsClientEndpoint>("tls:example.org:443");
    CHECK(e.tcp.host == "example.org");
    CHECK(e.tcp.port == 443);
    CHECK(e.ca.empty());
    CHECK_FALSE(e.insecure_skip_certificate_verification);
    const auto k = client<TlsClientEndpoint>("tls:host=127.0.0.1:port=8443:ca=ca.pem:server_name=localhost:"
                                             "certificate=c.pem:private_key=k.pem:alpn=h2:timeout=3");
    CHECK(k.tcp.host == "127.0.0.1");
    CHECK(k.tcp.timeout == 3s);
    CHECK(k.ca == "ca.pem");
    CHECK(k.server_name == "localhost");
    CHECK(k.certificate == "c.pem");
    CHECK(k.private_key == "k.pem");
    CHECK(k.alpn == std::vector<std::string>{"h2"});
    CHECK(client<TlsClientEndpoint>("tls:h:1:insecure_skip_certificate_verification=1").insecure_skip_certificate_verification);
    check_error(client_error("tls:h:1:private_key=k.pem"), "private_key", {"needs certificate"});
    check_error(client_error("tls:h:1:insecure_skip_certificate_verification=yes"),
                "insecure_skip_certificate_verification", {"is not 0 or 1"});
    check_error(client_error("tls:h"), "port", {"missing port"});
}

TEST_CASE("escaping: a backslash makes the next character literal; '=' after the first is literal", "[endpoint]") {
    CHECK(server<UnixServerEndpoint>("unix:/tmp/a\\:b").path == "/tmp/a:b");
    CHECK(server<UnixServerEndpoint>("unix:/tmp/a\\\\b").path == "/tmp/a\\b");
    CHECK(server<UnixServerEndpoint>("unix:/tmp/a\\=b").path == "/tmp/a=b");
    CHECK(server<UnixServerEndpoint>("unix:/tmp/\\x").path == "/tmp/x");
    CHECK(server<UnixServerEndpoint>("unix:address=/tmp/a=b").path == "/tmp/a=b");
    CHECK(server<UnixServerEndpoint>("unix:address=/tmp/a\\:b\\\\:mode=600") == UnixServerEndpoint{"/tmp/a:b\\", 0600, 511, true});
    CHECK(server<TcpServerEndpoint>("t\\cp:8\\0").port == 80);
    CHECK(client<UnixClientEndpoint>("unix:path=C\\:/key.pem").path == "C:/key.pem");
    // An unescaped '=' makes a positional path a key: Twisted's quoteStringArgument would not protect it.
    check_error(server_error("unix:/tmp/a=b"), "/tmp/a", {"unknown key \"/tmp/a\""});
    // An escaped ':' in a key still names a key (Twisted's test_colonInKeywordName).
    check_error(server_error("tcp:80:\\:=hello"), ":", {"unknown key \":\""});
    CHECK(weft::quote_endpoint_argument("a:b\\c=d") == "a\\:b\\\\c\\=d");
}

TEST_CASE("to_string gives the canonical description, which parses back to an equal value", "[endpoint]") {
    CHECK(weft::to_string(weft::parse_server_endpoint("tcp:port=8000")) == "tcp:8000");
    CHECK(weft::to_string(weft::parse_server_endpoint("tcp:8000:127.0.0.1:50")) == "tcp:8000:interface=127.0.0.1:backlog=50");
    CHECK(weft::to_string(weft::parse_server_endpoint("tcp6:8000")) == "tcp6:8000");
    CHECK(weft::to_string(weft::parse_server_endpoint("tcp6:8000:interface=\\:\\:1")) == "tcp6:8000:interface=\\:\\:1");
    CHECK(weft::to_string(weft::parse_server_endpoint("unix:address=/tmp/a\\:b=c:mode=0660:lockfile=0")) ==
          "unix:/tmp/a\\:b\\=c:mode=660:lockfile=0");
    CHECK(weft::to_string(weft::parse_server_endpoint("fd:fileno=3")) == "fd:3");
    CHECK(weft::to_string(weft::parse_server_endpoint("fd:3:UNIX")) == "fd:3:domain=UNIX");
    CHECK(weft::to_string(weft::parse_server_endpoint("systemd")) == "systemd:domain=INET:index=0");
    CHECK(weft::to_string(weft::parse_server_endpoint("systemd:UNIX:name=a\\=b")) == "systemd:domain=UNIX:name=a\\=b");
    CHECK(weft::to_string(weft::parse_client_endpoint("tcp:example.org:80")) == "tcp:host=example.org:port=80");
    CHECK(weft::to_string(weft::parse_client_endpoint("tcp6:\\:\\:1:80:timeout=2.50")) == "tcp6:host=\\:\\:1:port=80:timeout=2.5");
    CHECK(weft::to_string(weft::parse_client_endpoint("unix:/p:timeout=0.001:check_pid=1")) ==
          "unix:path=/p:timeout=0.001:check_pid=1");

    const std::vector<std::string> servers = {
        "tcp:0", "tcp:65535:interface=\\:\\:1:backlog=1", "tcp:1:interface=", "tcp6:2:backlog=3",
        "tcp6:4:interface=fe80\\:\\:1%eth0", "unix:/tmp/x", "unix:/a\\:b\\\\c\\=d:mode=0:backlog=65535:lockfile=0",
        "unix:@abstract\\:name:mode=7777", "fd:0", "fd:2147483647:domain=INET6", "systemd:UNIX:4",
        "systemd:name=sock\\=1", "unix:" + std::string(107, 'p'), "unix:@" + std::string(106, 'a'),
        "ssl:443:private_key=k.pem", "ssl:0:interface=\\:\\:1:private_key=/a\\:b:cert_key=c:extra_cert_chain=x:client_ca=ca:"
        "verify_client=required:alpn=h2,http/1.1:handshake_timeout=0.5", "ssl:1:private_key=k:client_ca=c:verify_client=none"};
    for (const std::string& s : servers) {
        INFO(s);
        const ServerEndpoint e = weft::parse_server_endpoint(s);
        const std::string text = weft::to_string(e);
        CHECK(weft::parse_server_endpoint(text) == e);
        CHECK(weft::to_string(weft::parse_server_endpoint(text)) == text);
    }
    const std::vector<std::string> clients = {
        "tcp:a:1", "tcp:host=h\\:o\\=s\\\\t:port=2:timeout=0.5:bind_address=10.0.0.1", "tcp6:\\:\\:1:80",
        "tcp:h:3:timeout=31536000", "unix:/x", "unix:path=@a\\=b:timeout=1.000000001:check_pid=1", "tls:h:443",
        "tls:host=h:port=1:ca=c\\:a:server_name=n:certificate=c:private_key=k:alpn=x,y:timeout=2:"
        "insecure_skip_certificate_verification=1"};
    for (const std::string& s : clients) {
        INFO(s);
        const ClientEndpoint e = weft::parse_client_endpoint(s);
        const std::string text = weft::to_string(e);
        CHECK(weft::parse_client_endpoint(text) == e);
        CHECK(weft::to_string(weft::parse_client_endpoint(text)) == text);
    }
}

TEST_CASE("examples from Twisted's documentation, in weft's spelling", "[endpoint]") {
    // From serverFromString's and clientFromString's docstrings and docs/core/howto/endpoints.rst. Twisted's
    // camelCase keys become snake_case (bindAddress -> bind_address); a UNIX client's lockfile (Twisted's alias
    // of checkPID) is weft's check_pid.
    struct Row {
        const char* twisted;
        const char* weft;       // the same in weft's spelling
        const char* canonical;  // weft::to_string of the parse
    };
    const Row servers[] = {
        {"tcp:80", "tcp:80", "tcp:80"},
        {"tcp:80:interface=127.0.0.1", "tcp:80:interface=127.0.0.1", "tcp:80:interface=127.0.0.1"},
        {"tcp:port=80:interface=192.168.1.1", "tcp:port=80:interface=192.168.1.1", "tcp:80:interface=192.168.1.1"},
        {"tcp6:port=80:interface=2001\\:0DB8\\:f00e\\:eb00\\:\\:1", "tcp6:port=80:interface=2001\\:0DB8\\:f00e\\:eb00\\:\\:1",
         "tcp6:80:interface=2001\\:0DB8\\:f00e\\:eb00\\:\\:1"},
        {"unix:/var/run/finger", "unix:/var/run/finger", "unix:/var/run/finger"},
        {"unix:/var/run/finger:mode=660", "unix:/var/run/finger:mode=660", "unix:/var/run/finger:mode=660"},
        {"unix:address=/var/run/web.sock:lockfile=1", "unix:address=/var/run/web.sock:lockfile=1", "unix:/var/run/web.sock"},
        {"systemd:domain=INET6:name=my-web-server", "systemd:domain=INET6:name=my-web-server",
         "systemd:domain=INET6:name=my-web-server"},
    };
    for (const Row& row : servers) {
        INFO(row.twisted);
        CHECK(weft::to_string(weft::parse_server_endpoint(row.weft)) == row.canonical);
    }
    const Row clients[] = {
        {"tcp:host=www.example.com:port=80", "tcp:host=www.example.com:port=80", "tcp:host=www.example.com:port=80"},
        {"tcp:www.example.com:80", "tcp:www.example.com:80", "tcp:host=www.example.com:port=80"},
        {"tcp:host=www.example.com:80", "tcp:host=www.example.com:80", "tcp:host=www.example.com:port=80"},
        {"tcp:www.example.com:port=80", "tcp:www.example.com:port=80", "tcp:host=www.example.com:port=80"},
        {"tcp:www.example.com:80:bindAddress=192.0.2.100", "tcp:www.example.com:80:bind_address=192.0.2.100",
         "tcp:host=www.example.com:port=80:bind_address=192.0.2.100"},
        {"tcp:host=twistedmatrix.com:port=80:timeout=15", "tcp:host=twistedmatrix.com:port=80:timeout=15",
         "tcp:host=twistedmatrix.com:port=80:timeout=15"},
        {"unix:path=/var/run/web.sock", "unix:path=/var/run/web.sock", "unix:path=/var/run/web.sock"},
        {"unix:path=/var/foo/bar:lockfile=1:timeout=9", "unix:path=/var/foo/bar:check_pid=1:timeout=9",
         "unix:path=/var/foo/bar:timeout=9:check_pid=1"},
        {"unix:/var/foo/bar", "unix:/var/foo/bar", "unix:path=/var/foo/bar"},
        {"unix:/var/foo/bar:lockfile=1:timeout=9", "unix:/var/foo/bar:check_pid=1:timeout=9",
         "unix:path=/var/foo/bar:timeout=9:check_pid=1"},
    };
    for (const Row& row : clients) {
        INFO(row.twisted);
        CHECK(weft::to_string(weft::parse_client_endpoint(row.weft)) == row.canonical);
    }
    // Twisted's own spelling of a renamed key is refused, naming the key and the accepted ones.
    check_error(client_error("tcp:www.example.com:80:bindAddress=192.0.2.100"), "bindAddress",
                {"unknown key \"bindAddress\"", "bind_address"});
    check_error(client_error("unix:path=/var/foo/bar:lockfile=1"), "lockfile", {"unknown key \"lockfile\"", "check_pid"});
}

TEST_CASE("errors: the message names the type, the field and the value", "[endpoint]") {
    {
        const EndpointError e = server_error("tcp:99999");
        CHECK(std::string(e.what()) == "tcp endpoint \"tcp:99999\": port 99999 is out of range (0-65535)");
        CHECK(e.field() == "port");
        CHECK(dynamic_cast<const weft::Error*>(&e) != nullptr);
    }
    check_error(server_error("tpc:80"), "type",
                {"endpoint \"tpc:80\": unknown endpoint type \"tpc\" (expected tcp, tcp6, unix, fd, systemd, ssl, udp)"});
    check_error(server_error("TCP:80"), "type", {"unknown endpoint type \"TCP\""});
    check_error(server_error("tcp:80:bakclog=5"), "bakclog",
                {"tcp endpoint", "unknown key \"bakclog\" (expected port, interface, backlog)"});
    check_error(server_error("tcp:80:backlog=x"), "backlog", {"tcp endpoint", "backlog \"x\" is not a number"});
    check_error(server_error("tcp:80:backlog="), "backlog", {"backlog \"\" is not a number"});
    check_error(server_error("tcp:80:backlog= 5"), "backlog", {"backlog \" 5\" is not a number"});
    check_error(server_error("tcp:80:backlog=+5"), "backlog", {"is not a number"});
    check_error(server_error("tcp:interface=127.0.0.1"), "port", {"tcp endpoint", "missing port"});
    check_error(server_error("tcp"), "port", {"missing port"});
    check_error(server_error("tcp:"), "port", {"port \"\" is not a number"});
    check_error(server_error("tcp:80:backlog=5:backlog=6"), "backlog", {"duplicate key \"backlog\""});
    check_error(server_error("tcp:80:port=81"), "port", {"port given twice (as argument 1 and as port=)"});
    check_error(server_error(""), "type", {"endpoint \"\": empty description"});
    check_error(server_error(":80"), "type", {"missing endpoint type"});
    check_error(server_error("port=80"), "type", {"expected the endpoint type first, found \"port=80\""});
    check_error(server_error("unix:/tmp/a\\"), "", {"endpoint \"unix:/tmp/a\\\": trailing backslash"});
    check_error(server_error("tcp:80:127.0.0.1:50:extra"), "",
                {"too many positional arguments at \"extra\" (at most 3: port, interface, backlog)"});
    check_error(server_error("systemd:INET:0:name:more"), "", {"too many positional arguments"});
}

TEST_CASE("errors: negative, huge and out-of-range numbers", "[endpoint]") {
    check_error(server_error("tcp:-1"), "port", {"port -1 is out of range (0-65535)"});
    check_error(server_error("tcp:65536"), "port", {"port 65536 is out of range (0-65535)"});
    check_error(server_error("tcp:80:backlog=0"), "backlog", {"backlog 0 is out of range (1-65535)"});
    check_error(server_error("tcp:80:backlog=-5"), "backlog", {"backlog -5 is out of range (1-65535)"});
    check_error(server_error("tcp:80:backlog=99999999999999999999999999"), "backlog",
                {"backlog 99999999999999999999999999 is out of range"});
    check_error(server_error("tcp:" + std::string(1000, '9')), "port", {"is out of range", "..."});
    check_error(server_error("fd:-1"), "fileno", {"fd endpoint", "fileno -1 is out of range (0-2147483647)"});
    check_error(server_error("fd:2147483648"), "fileno", {"fileno 2147483648 is out of range"});
    check_error(server_error("fd:x"), "fileno", {"fileno \"x\" is not a number"});
    check_error(server_error("fd:domain=UNIX"), "fileno", {"missing fileno"});
    check_error(server_error("systemd:domain=INET:index=-1"), "index",
                {"systemd endpoint", "index -1 is out of range (0-2147483647)"});
    check_error(client_error("tcp:example.org:0"), "port", {"port 0 is out of range (1-65535)"});
    check_error(client_error("tcp:example.org:80:timeout=0"), "timeout", {"timeout 0 is out of range"});
    check_error(client_error("tcp:example.org:80:timeout=0.0"), "timeout", {"timeout 0.0 is out of range"});
    check_error(client_error("tcp:example.org:80:timeout=-1"), "timeout", {"timeout \"-1\" is not a number of seconds"});
    check_error(client_error("tcp:example.org:80:timeout=31536000.5"), "timeout", {"is out of range"});
    check_error(client_error("tcp:example.org:80:timeout=99999999999999999999999"), "timeout", {"is out of range"});
    check_error(client_error("tcp:example.org:80:timeout=abc"), "timeout", {"timeout \"abc\" is not a number of seconds"});
    check_error(client_error("tcp:example.org:80:timeout=1."), "timeout", {"is not a number of seconds"});
    check_error(client_error("tcp:example.org:80:timeout=.5"), "timeout", {"is not a number of seconds"});
    check_error(client_error("unix:/p:timeout=1e3"), "timeout", {"unix endpoint", "is not a number of seconds"});
}

TEST_CASE("errors: modes, flags, domains and addresses", "[endpoint]") {
    check_error(server_error("unix:/p:mode=999"), "mode", {"mode \"999\" is not an octal number"});
    check_error(server_error("unix:/p:mode=rw"), "mode", {"mode \"rw\" is not an octal number"});
    check_error(server_error("unix:/p:mode="), "mode", {"is not an octal number"});
    check_error(server_error("unix:/p:mode=17777"), "mode", {"mode 17777 is out of range (0-7777 octal)"});
    check_error(server_error("unix:/p:mode=-600"), "mode", {"mode -600 is out of range"});
    check_error(server_error("unix:/p:mode=" + std::string(100, '7')), "mode", {"is out of range"});
    check_error(server_error("unix:/p:lockfile=2"), "lockfile", {"lockfile \"2\" is not 0 or 1"});
    check_error(server_error("unix:/p:lockfile=true"), "lockfile", {"lockfile \"true\" is not 0 or 1"});
    check_error(client_error("unix:/p:check_pid=yes"), "check_pid", {"check_pid \"yes\" is not 0 or 1"});
    check_error(server_error("fd:3:domain=INET7"), "domain", {"domain \"INET7\" is not INET, INET6 or UNIX"});
    check_error(server_error("fd:3:domain=inet"), "domain", {"domain \"inet\" is not INET, INET6 or UNIX"});
    check_error(server_error("systemd:domain=FOO:index=0"), "domain", {"systemd endpoint", "domain \"FOO\""});
    check_error(server_error("systemd:domain=INET:index=0:name=web"), "name", {"give index or name, not both"});
    check_error(server_error("systemd:name="), "name", {"name is empty"});
    check_error(server_error("tcp:80:interface=localhost"), "interface",
                {"interface \"localhost\" is not a numeric IPv4 or IPv6 address"});
    check_error(server_error("tcp:80:interface=1.2.3.4.5"), "interface", {"is not a numeric"});
    check_error(server_error("tcp6:80:interface=127.0.0.1"), "interface",
                {"tcp6 endpoint", "interface \"127.0.0.1\" is not a numeric IPv6 address"});
    check_error(server_error("tcp6:80:interface="), "interface", {"is not a numeric IPv6 address"});
    check_error(server_error("tcp6:80:interface=fe80\\:\\:1%"), "interface", {"is not a numeric IPv6 address"});
    check_error(server_error("tcp:80:interface=1.2.3.4\\\x00x"s), "interface", {"\\x00"});
    check_error(client_error("tcp:h:80:bind_address=host.example"), "bind_address", {"bind_address \"host.example\""});
    check_error(client_error("tcp6:h:80:bind_address=10.0.0.1"), "bind_address", {"is not a numeric IPv6 address"});
}

TEST_CASE("errors: UNIX paths that are empty, hold a NUL byte or do not fit in sun_path", "[endpoint]") {
    check_error(server_error("unix:"), "address", {"unix endpoint", "address is empty"});
    check_error(server_error("unix:mode=600"), "address", {"missing address"});
    check_error(server_error("unix:/tmp/a\0b"s), "address", {"address contains a NUL byte", "\\x00"});
    check_error(client_error("unix:path=/tmp/a\0b"s), "path", {"path contains a NUL byte"});
    CHECK(server<UnixServerEndpoint>("unix:/" + std::string(106, 'p')).path.size() == 107);
    check_error(server_error("unix:/" + std::string(107, 'p')), "address",
                {"address is 108 bytes, longer than a UNIX socket address holds (107 bytes; sun_path is 108 with the "
                 "terminating NUL)"});
    check_error(client_error("unix:/" + std::string(200, 'p')), "path", {"path is 201 bytes"});
    // An abstract name: the '@' stands for sun_path's leading NUL; 107 bytes at most, as Boost.Asio takes.
    CHECK(client<UnixClientEndpoint>("unix:@" + std::string(106, 'a')).path.size() == 107);
    check_error(client_error("unix:@" + std::string(107, 'a')), "path", {"abstract name of 108 bytes"});
    check_error(client_error("unix:path="), "path", {"path is empty"});
}

TEST_CASE("errors: client descriptions", "[endpoint]") {
    check_error(client_error("tcp:example.org"), "port", {"tcp endpoint", "missing port"});
    check_error(client_error("tcp:port=80"), "host", {"missing host"});
    check_error(client_error("tcp::80"), "host", {"host is empty"});
    check_error(client_error("tcp:a\0b:80"s), "host", {"host contains a NUL byte"});
    check_error(client_error("tcp:a:80:host=b"), "host", {"host given twice"});
    check_error(client_error("tcp:a:80:extra"), "", {"too many positional arguments at \"extra\" (at most 2: host, port)"});
    check_error(client_error("unix:/a:/b"), "", {"too many positional arguments at \"/b\" (at most 1: path)"});
    check_error(client_error("fd:3"), "type", {"\"fd\" is a server endpoint type; a client takes tcp, tcp6, unix, tls"});
    check_error(client_error("systemd:domain=INET"), "type", {"is a server endpoint type"});
    check_error(client_error("ssl:example.org:443"), "type", {"\"ssl\" is a server endpoint type"});
    check_error(client_error("quic:example.org:443"), "type", {"unknown endpoint type \"quic\" (expected tcp, tcp6, unix, tls)"});
    check_error(client_error("unix:address=/p"), "address", {"unknown key \"address\" (expected path, timeout, check_pid)"});
    check_error(server_error("unix:path=/p"), "path", {"unknown key \"path\" (expected address, mode, backlog, lockfile)"});
    check_error(server_error("tcp:host=a:port=1"), "host", {"unknown key \"host\""});
}

TEST_CASE("error messages quote the description with control bytes escaped and cut long input", "[endpoint]") {
    const EndpointError nul = server_error("tpc\x01:80"s);
    CHECK_THAT(nul.what(), Catch::Contains("endpoint \"tpc\\x01:80\""));
    const std::string long_description = "tcp:80:interface=" + std::string(100000, 'x');
    const EndpointError e = server_error(long_description);
    CHECK(std::string(e.what()).size() < 400);
    CHECK_THAT(e.what(), Catch::Contains("..."));
}
