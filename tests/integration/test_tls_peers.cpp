// weft's TLS against real peers (issue 12): openssl s_client and Python's ssl module against weft servers,
// weft clients against openssl s_server. Certificates come from a throw-away PKI made at test time
// (support/tls_certs.hpp). The weft servers run on a LoopThread (tls_peer_support.hpp) so that this thread
// can drive the blocking peers; every child process is bounded in time and killed by its destructor.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "support/loop.hpp"
#include "support/tls_certs.hpp"
#include "tls_peer_support.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/reactor.hpp"
#include "weft/tls_context.hpp"
#include "weft/tls_transport.hpp"

#ifndef WEFT_TLS_PEER_SCRIPT
#error "WEFT_TLS_PEER_SCRIPT must name tests/integration/tls_peer.py"
#endif

using namespace weft_test;
using namespace std::chrono_literals;

namespace {

bool ended(const TlsSeen& s) { return s.lost.has_value(); }

/// A raw TCP socket connected to 127.0.0.1:port (blocking), or -1.
int raw_connect(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// Reads from `fd` until EOF or an error (true), or false if it is still open after `limit`.
bool read_until_closed(int fd, std::chrono::milliseconds limit, std::string* got = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char buf[4096];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return true;
        if (got != nullptr) got->append(buf, static_cast<std::size_t>(n));
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// openssl s_client against weft servers

TEST_CASE("s_client: a weft TLS server echoes a line, verified against the CA", "[tls][peers][s_client]") {
    TlsEchoFixture server(localhost_server());
    TempDir dir;
    PeerProcess client(s_client(server.port, {"-quiet"}), dir);
    REQUIRE(client.write("hello over tls\n"));
    const auto line = client.read_line();
    INFO(client.describe());
    REQUIRE(line);
    CHECK(*line == "hello over tls");
    const auto seen = server.wait_connection(0, [](const TlsSeen& s) { return s.handshake && !s.received.empty(); });
    REQUIRE(seen);
    CHECK(seen->tls_at_made);
    CHECK(seen->version == "TLSv1.3");
    CHECK(!seen->cipher.empty());
    CHECK(seen->sni.empty());  // s_client sends no SNI for an IP address
    CHECK(seen->subject.empty());
    CHECK(seen->received == "hello over tls\n");
}

TEST_CASE("s_client: TLS 1.2 and TLS 1.3 both work, and a server with min_version 1.3 refuses 1.2",
          "[tls][peers][s_client]") {
    for (const std::string& version : {std::string("-tls1_2"), std::string("-tls1_3")}) {
        TlsEchoFixture server(localhost_server());
        TempDir dir;
        PeerProcess client(s_client(server.port, {"-brief", version}), dir);
        REQUIRE(client.write("versioned\n"));
        const auto line = client.read_line();
        INFO(client.describe());
        REQUIRE(line == std::string("versioned"));
        const auto seen = server.wait_connection(0, [](const TlsSeen& s) { return s.handshake; });
        REQUIRE(seen);
        CHECK(seen->version == (version == "-tls1_2" ? "TLSv1.2" : "TLSv1.3"));
        client.close_stdin();
        REQUIRE(client.wait());
        CHECK_THAT(client.err(), Catch::Contains(version == "-tls1_2" ? "Protocol version: TLSv1.2" : "Protocol version: TLSv1.3"));
    }

    auto options = localhost_server();
    options.min_version = weft::TlsVersion::tls1_3;
    TlsEchoFixture server(options);
    TempDir dir;
    PeerProcess client(s_client(server.port, {"-brief", "-tls1_2"}), dir);
    client.write("refused\n");
    CHECK_FALSE(client.read_line(5s));  // no echo: the handshake failed
    const auto status = client.wait();
    INFO(client.describe());
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) != 0);
    CHECK_THAT(client.err(), Catch::Contains("protocol version"));
    const auto seen = server.wait_connection(0, ended);
    REQUIRE(seen);  // the protocol is connected before the handshake, as in Twisted
    {
        CHECK_FALSE(seen->handshake);
        CHECK(seen->received.empty());
        CHECK_FALSE(seen->lost->clean());
        INFO("server reason: " << seen->lost->to_string());
        CHECK_THAT(seen->lost->message(), Catch::Contains("unsupported protocol"));
    }
}

TEST_CASE("s_client: renegotiation is refused (TLS 1.2 'R' command)", "[tls][peers][s_client][renegotiation]") {
    TlsEchoFixture server(localhost_server());
    TempDir dir;
    PeerProcess client(s_client(server.port, {"-tls1_2"}), dir);  // not -quiet: 'R' on a line renegotiates
    REQUIRE(client.write("before\n"));
    const auto before = client.read_until("before");
    REQUIRE(client.write("R\n"));
    const auto status = client.wait();
    INFO(client.describe());
    CHECK(before);
    REQUIRE(status);
    CHECK_THAT(client.err(), Catch::Contains("no renegotiation"));
    const auto seen = server.wait_connection(0, ended);
    REQUIRE(seen);
    CHECK(seen->received == "before\n");
    CHECK_FALSE(seen->lost->clean());
}

TEST_CASE("s_client: SNI picks the per-name certificate, case-insensitively, and other names get the default",
          "[tls][peers][s_client][sni]") {
    const auto& c = tls_certs();
    auto options = localhost_server();
    options.sni["other.test"] = {c.other, c.other_key, ""};
    TlsEchoFixture server(options);
    struct Case {
        std::string name;
        std::string subject;
    };
    for (const Case& k : {Case{"other.test", "CN = other.test"}, Case{"OTHER.Test", "CN = other.test"},
                          Case{"localhost", "CN = localhost"}}) {
        TempDir dir;
        PeerProcess client(s_client(server.port, {"-brief", "-servername", k.name, "-verify_hostname", k.name}), dir);
        REQUIRE(client.write("sni\n"));
        const auto line = client.read_line();
        INFO(k.name << "\n" << client.describe());
        REQUIRE(line == std::string("sni"));
        client.close_stdin();
        REQUIRE(client.wait());
        CHECK_THAT(client.err(), Catch::Contains("Peer certificate: " + k.subject));
        CHECK_THAT(client.err(), Catch::Contains("Verification: OK"));
    }
    const auto first = server.wait_connection(0, [](const TlsSeen& s) { return s.handshake; });
    REQUIRE(first);
    CHECK(first->sni == "other.test");
}

TEST_CASE("s_client: ALPN picks the server's protocol, and a client offering none of them goes on without one",
          "[tls][peers][s_client][alpn]") {
    auto options = localhost_server();
    options.alpn = {"h2", "http/1.1"};
    TlsEchoFixture server(options);
    struct Case {
        std::string offer;
        std::string line;  // what s_client prints
        std::string agreed;
    };
    std::size_t i = 0;
    for (const Case& k : {Case{"h2", "ALPN protocol: h2", "h2"}, Case{"http/1.1", "ALPN protocol: http/1.1", "http/1.1"},
                          Case{"spdy/1", "No ALPN negotiated", ""}}) {
        TempDir dir;
        PeerProcess client(s_client(server.port, {"-alpn", k.offer}), dir);  // full output: it names the ALPN result
        INFO(k.offer << "\n" << client.describe());
        CHECK(client.read_until(k.line));
        REQUIRE(client.write("alpn\n"));
        CHECK(client.read_until("alpn"));
        const auto seen = server.wait_connection(i++, [](const TlsSeen& s) { return s.handshake; });
        REQUIRE(seen);
        CHECK(seen->alpn == k.agreed);
    }
}

TEST_CASE("s_client: a server requiring client certificates refuses a client without one and admits one with it",
          "[tls][peers][s_client][client-cert]") {
    const auto& c = tls_certs();
    auto options = localhost_server();
    options.client_certificates = weft::ClientCertificates::required;
    options.client_ca_file = c.ca;
    TlsEchoFixture server(options);
    {
        TempDir dir;
        PeerProcess client(s_client(server.port, {"-quiet"}), dir);
        client.write("no certificate\n");
        CHECK_FALSE(client.read_line(5s));
        const auto status = client.wait();
        INFO(client.describe());
        REQUIRE(status);
        CHECK_THAT(client.err(), Catch::Contains("certificate required"));
        const auto seen = server.wait_connection(0, ended);
        REQUIRE(seen);
        {
            CHECK(seen->received.empty());
            CHECK_FALSE(seen->lost->clean());
            INFO("server reason: " << seen->lost->to_string());
            CHECK_THAT(seen->lost->message(), Catch::Contains("certificate"));
        }
    }
    const std::size_t before = server.connections();
    TempDir dir;
    PeerProcess client(s_client(server.port, {"-quiet", "-cert", c.client, "-key", c.client_key}), dir);
    REQUIRE(client.write("with certificate\n"));
    const auto line = client.read_line();
    INFO(client.describe());
    REQUIRE(line == std::string("with certificate"));
    const auto seen = server.wait_connection(before, [](const TlsSeen& s) { return s.handshake; });
    REQUIRE(seen);
    CHECK(seen->subject == "CN=alice,O=weft tests");
}

TEST_CASE("s_client: optional client certificates let a client without one in, with an empty subject",
          "[tls][peers][s_client][client-cert]") {
    auto options = localhost_server();
    options.client_certificates = weft::ClientCertificates::optional;
    options.client_ca_file = tls_certs().ca;
    TlsEchoFixture server(options);
    TempDir dir;
    PeerProcess client(s_client(server.port, {"-quiet"}), dir);
    REQUIRE(client.write("anonymous\n"));
    const auto line = client.read_line();
    INFO(client.describe());
    REQUIRE(line == std::string("anonymous"));
    const auto seen = server.wait_connection(0, [](const TlsSeen& s) { return s.handshake; });
    REQUIRE(seen);
    CHECK(seen->subject.empty());
    // One signed by a CA the server does not trust is refused.
    const auto& c = tls_certs();
    PeerProcess stranger(s_client(server.port, {"-quiet", "-cert", c.untrusted, "-key", c.untrusted_key}), dir);
    stranger.write("stranger\n");
    CHECK_FALSE(stranger.read_line(5s));
    INFO(stranger.describe());
    REQUIRE(stranger.wait());
}

TEST_CASE("s_client: chain_file sends the intermediate, without which the chain does not verify",
          "[tls][peers][s_client][chain]") {
    const auto& c = tls_certs();
    for (const bool with_chain : {true, false}) {
        weft::TlsServerOptions options;
        options.certificate = {c.chained, c.chained_key, with_chain ? c.intermediate : ""};
        TlsEchoFixture server(options);
        TempDir dir;
        PeerProcess client(s_client(server.port, {"-quiet"}), dir);
        client.write("chained\n");
        const auto line = client.read_line(5s);
        INFO("with chain " << with_chain << "\n" << client.describe());
        if (with_chain) {
            CHECK(line == std::string("chained"));
        } else {
            CHECK_FALSE(line);
            REQUIRE(client.wait());
            CHECK_THAT(client.err(), Catch::Contains("unable to get local issuer certificate"));
        }
    }
}

TEST_CASE("s_client over a UNIX socket: TLS on a UnixListenOptions::tls listener", "[tls][peers][s_client][unix]") {
    TlsLog log;
    LambdaFactory factory([&log](const weft::Address&) { return std::make_unique<TlsEchoServer>(log); });
    TempDir dir;
    const std::string path = dir.file("tls.sock");
    LoopThread loop;
    loop.call([&](weft::Reactor& reactor) {
        weft::UnixListenOptions o;
        o.tls = weft::TlsContext::server(localhost_server());
        loop.keep(reactor.listen_unix(path, factory, o));
    });
    PeerProcess client({openssl_binary(), "s_client", "-unix", path, "-CAfile", tls_certs().ca, "-verify_return_error",
                        "-quiet"},
                       dir);
    REQUIRE(client.write("over a unix socket\n"));
    const auto line = client.read_line();
    INFO(client.describe());
    CHECK(line == std::string("over a unix socket"));
    CHECK(log.wait_for([](const std::vector<TlsSeen>& all) { return !all.empty() && all[0].version == "TLSv1.3"; }));
}

namespace {

/// An SMTP-like STARTTLS server: greeting, EHLO answered with STARTTLS, then TLS on the same connection,
/// then each line echoed. Lines end with "\n" (s_client sends "\r\n" in the SMTP part, "\n" after).
class StartTlsServer final : public weft::protocols::LineReceiver, public weft::TlsHandshakeListener {
public:
    StartTlsServer(std::shared_ptr<weft::TlsContext> context, TlsLog& log) : context_(std::move(context)), log_(log) {
        set_delimiter("\n");
    }
    void connection_made() override {
        log_.update([](std::vector<TlsSeen>& all) { all.emplace_back().made = true; });
        transport().write("220 weft ESMTP test\r\n");
    }
    void line_received(std::string_view line) override {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (transport().as_tls() == nullptr) {
            if (line.starts_with("EHLO")) {
                transport().write("250-weft greets you\r\n250 STARTTLS\r\n");
            } else if (line == "STARTTLS") {
                transport().write("220 ready to start TLS\r\n");
                transport().start_tls(context_, clear_line_buffer());
            } else {
                transport().write("500 plaintext only knows EHLO and STARTTLS\r\n");
            }
            return;
        }
        log_.update([&](std::vector<TlsSeen>& all) { all.back().received.append(line).append("\n"); });
        send_line("tls: " + std::string(line));
    }
    void handshake_completed() override {
        log_.update([&](std::vector<TlsSeen>& all) { record_tls(all.back(), *transport().as_tls()); });
    }

private:
    std::shared_ptr<weft::TlsContext> context_;
    TlsLog& log_;
};

}  // namespace

namespace {
/// A plaintext TCP listener on 127.0.0.1:0 whose connections are StartTlsServer.
struct StartTlsFixture {
    TlsLog log;
    std::shared_ptr<weft::TlsContext> context;
    LambdaFactory factory{[this](const weft::Address&) { return std::make_unique<StartTlsServer>(context, log); }};
    LoopThread loop;
    std::uint16_t port = 0;

    StartTlsFixture() {
        port = loop.call([&](weft::Reactor& reactor) {
            context = weft::TlsContext::server(localhost_server());
            weft::ListenOptions o;
            o.interface = "127.0.0.1";
            auto p = reactor.listen_tcp(0, factory, o);
            loop.keep(p);
            return p->address().port;
        });
    }
};
}  // namespace

TEST_CASE("s_client -starttls smtp: start_tls on a live LineReceiver connection", "[tls][peers][s_client][starttls]") {
    StartTlsFixture server;
    TlsLog& log = server.log;
    TempDir dir;
    PeerProcess client(s_client(server.port, {"-quiet", "-starttls", "smtp"}), dir);
    REQUIRE(client.write("secret\n"));
    const auto line = client.read_until("tls: ");
    INFO(client.describe());
    REQUIRE(line);
    CHECK(*line == "tls: secret");
    CHECK(log.wait_for([](const std::vector<TlsSeen>& all) { return !all.empty() && all[0].handshake; }));
    const auto seen = log.snapshot();
    REQUIRE(!seen.empty());
    CHECK(seen[0].version == "TLSv1.3");
    CHECK(seen[0].received == "secret\n");
}

TEST_CASE("python ssl: STARTTLS with the ClientHello in the same write as the command (already_received)",
          "[tls][peers][python][starttls]") {
    StartTlsFixture server;
    TempDir dir;
    PeerProcess client({python_binary(), WEFT_TLS_PEER_SCRIPT, "starttls-pipelined", "127.0.0.1",
                        std::to_string(server.port), tls_certs().ca},
                       dir);
    const auto greeting = client.read_line();
    const auto the_switch = client.read_line();
    const auto version = client.read_line();
    const auto echo = client.read_line();
    INFO(client.describe());
    CHECK(greeting == std::string("greeting 220 weft ESMTP test"));
    CHECK(the_switch == std::string("switch 220 ready to start TLS"));
    CHECK(version == std::string("version TLSv1.3"));
    CHECK(echo == std::string("echo tls: pipelined"));
}

TEST_CASE("s_client: reload() rotates the certificate for new handshakes without a restart",
          "[tls][peers][s_client][reload]") {
    const auto& c = tls_certs();
    TempDir live;
    const std::string cert = live.file("cert.pem");
    const std::string key = live.file("key.pem");
    std::filesystem::copy_file(c.server, cert);
    std::filesystem::copy_file(c.server_key, key);
    weft::TlsServerOptions options;
    options.certificate = {cert, key, ""};
    TlsEchoFixture server(options);

    auto subject_seen = [&](const std::string& name) {
        TempDir dir;
        PeerProcess client(s_client(server.port, {"-brief", "-servername", name, "-verify_hostname", name}), dir);
        client.write("rotate\n");
        const auto line = client.read_line();
        client.close_stdin();
        client.wait();
        INFO(client.describe());
        CHECK(line == std::string("rotate"));
        const std::string err = client.err();
        const auto at = err.find("Peer certificate: ");
        return at == std::string::npos ? std::string("none") : err.substr(at + 18, err.find('\n', at) - at - 18);
    };
    CHECK(subject_seen("localhost") == "CN = localhost");
    std::filesystem::copy_file(c.other, cert, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(c.other_key, key, std::filesystem::copy_options::overwrite_existing);
    server.loop.call([&](weft::Reactor&) { server.context->reload(); });
    CHECK(subject_seen("other.test") == "CN = other.test");

    // A bad file keeps the old certificate (TlsError names the file).
    write_file(key, "not a key\n");
    CHECK_THROWS_AS(server.loop.call([&](weft::Reactor&) { server.context->reload(); }), weft::TlsError);
    CHECK(subject_seen("other.test") == "CN = other.test");
}

TEST_CASE("a TLS server cuts a client that never completes its handshake after handshake_timeout",
          "[tls][peers][timeout]") {
    auto options = localhost_server();
    options.handshake_timeout = 200ms;
    TlsEchoFixture server(options);
    const int fd = raw_connect(server.port);
    REQUIRE(fd >= 0);
    const auto start = std::chrono::steady_clock::now();
    const bool closed = read_until_closed(fd, 5s);
    const auto took = std::chrono::steady_clock::now() - start;
    ::close(fd);
    CHECK(closed);
    CHECK(took >= 150ms);
    const auto seen = server.wait_connection(0, ended);
    REQUIRE(seen);
    {
        CHECK_FALSE(seen->handshake);
        CHECK_FALSE(seen->lost->clean());
        INFO("server reason: " << seen->lost->to_string());
        CHECK_THAT(seen->lost->message(), Catch::Contains("handshake") && Catch::Contains("time"));
    }
}

TEST_CASE("a TLS server given plaintext HTTP closes the connection with the handshake error", "[tls][peers]") {
    TlsEchoFixture server(localhost_server());
    const int fd = raw_connect(server.port);
    REQUIRE(fd >= 0);
    const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    REQUIRE(::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
    std::string got;
    CHECK(read_until_closed(fd, 5s, &got));
    ::close(fd);
    CHECK(got.find("HTTP") == std::string::npos);  // nothing of ours is plaintext
    const auto seen = server.wait_connection(0, ended);
    REQUIRE(seen);
    {
        CHECK(seen->received.empty());
        CHECK_FALSE(seen->lost->clean());
        INFO("server reason: " << seen->lost->to_string());
        CHECK_THAT(seen->lost->message(), Catch::Contains("http request") || Catch::Contains("wrong version number"));
    }
}

// ---------------------------------------------------------------------------------------------------------
// Python's ssl module against weft servers

namespace {
std::vector<std::string> python_peer(std::vector<std::string> args) {
    std::vector<std::string> argv{python_binary(), WEFT_TLS_PEER_SCRIPT};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}
}  // namespace

TEST_CASE("python ssl: verifies the weft server, echoes, and ALPN follows the server's preference",
          "[tls][peers][python][alpn]") {
    auto options = localhost_server();
    options.alpn = {"h2", "http/1.1"};
    TlsEchoFixture server(options);
    struct Case {
        std::string offer;
        std::string agreed;
    };
    std::size_t i = 0;
    for (const Case& k : {Case{"http/1.1,h2", "h2"}, Case{"http/1.1", "http/1.1"}, Case{"", "-"}}) {
        TempDir dir;
        PeerProcess client(python_peer({"echo", "127.0.0.1", std::to_string(server.port), tls_certs().ca, k.offer}), dir);
        const auto version = client.read_line();
        const auto alpn = client.read_line();
        const auto echo = client.read_line();
        const auto status = client.wait();
        INFO("offer " << k.offer << "\n" << client.describe());
        CHECK(version == std::string("version TLSv1.3"));
        CHECK(alpn == "alpn " + k.agreed);
        CHECK(echo == std::string("echo hello from python"));
        REQUIRE(status);
        CHECK(WEXITSTATUS(*status) == 0);
        const auto seen = server.wait_connection(i++, [](const TlsSeen& s) { return s.handshake; });
        REQUIRE(seen);
        CHECK(seen->alpn == (k.agreed == "-" ? "" : k.agreed));
    }
}

TEST_CASE("python ssl: the client's close_notify is a half-close: read_connection_lost, and the server still replies",
          "[tls][peers][python][half-close]") {
    TlsEchoFixture server(localhost_server());
    TempDir dir;
    PeerProcess client(python_peer({"half-close", "127.0.0.1", std::to_string(server.port), tls_certs().ca}), dir);
    const auto version = client.read_line();
    const auto got = client.read_line();
    const auto closed = client.read_line();
    const auto status = client.wait();
    INFO(client.describe());
    CHECK(version == std::string("version TLSv1.3"));
    CHECK(got == std::string("got 'ping\\nbye after close_notify\\n'"));
    CHECK(closed == std::string("closed clean"));  // the server's close_notify came too
    REQUIRE(status);
    CHECK(WEXITSTATUS(*status) == 0);
    const auto seen = server.wait_connection(0, [](const TlsSeen& s) { return s.lost.has_value(); });
    REQUIRE(seen);
    CHECK(seen->read_lost);
    CHECK(seen->received == "ping\n");
    INFO("server reason: " << seen->lost->to_string());
    CHECK(seen->lost->clean());
}

// ---------------------------------------------------------------------------------------------------------
// weft clients against openssl s_server

namespace {

/// `openssl s_server -rev` (each line sent back reversed) on 127.0.0.1 with a port of its choosing.
struct SServer {
    TempDir dir;
    std::unique_ptr<PeerProcess> process;
    std::uint16_t port = 0;

    SServer(const std::string& cert, const std::string& key, std::vector<std::string> extra = {}, int accepts = 1) {
        std::vector<std::string> argv{openssl_binary(), "s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-key",
                                      key, "-naccept", std::to_string(accepts), "-rev"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        process = std::make_unique<PeerProcess>(argv, dir);
        // OpenSSL 3.0 prints the bound address: "ACCEPT 127.0.0.1:PORT".
        const auto line = process->read_until("ACCEPT ");
        INFO(process->describe());
        REQUIRE(line);
        port = static_cast<std::uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
    }
};

/// A weft TLS client: sends `send` (before the handshake completes: weft holds it), records what comes back
/// and the TLS facts, and closes once it has a whole line.
class TlsLineClient final : public weft::Protocol, public weft::TlsHandshakeListener {
public:
    struct Record {
        bool handshake = false;
        TlsSeen tls;
        std::string received;
        std::optional<weft::Reason> lost;
    };
    TlsLineClient(Record& record, std::string send) : record_(record), send_(std::move(send)) {}
    void connection_made() override { transport().write(send_); }
    void handshake_completed() override {
        record_.handshake = true;
        if (auto* tls = transport().as_tls()) record_tls(record_.tls, *tls);
    }
    void data_received(std::string_view data) override {
        record_.received.append(data);
        if (record_.received.find('\n') != std::string::npos) transport().lose_connection();
    }
    void connection_lost(const weft::Reason& reason) override { record_.lost = reason; }

private:
    Record& record_;
    std::string send_;
};

struct ClientOutcome {
    TlsLineClient::Record record;
    std::optional<weft::Reason> failed;  // client_connection_failed
    std::optional<weft::Reason> lost;    // client_connection_lost
    /// Why it ended, as the protocol and as the factory heard it.
    [[nodiscard]] std::string why() const {
        std::string out = "protocol: " + (record.lost ? record.lost->to_string() : std::string("not ended"));
        if (failed) out += "; factory failed: " + failed->to_string();
        if (lost) out += "; factory lost: " + lost->to_string();
        return out;
    }
};

/// Connects a weft TLS client to 127.0.0.1:port with `options`, sending "hello\n", until the attempt ends.
ClientOutcome run_client(std::uint16_t port, weft::TlsClientOptions options, const std::string& host = "127.0.0.1") {
    ClientOutcome out;
    weft::Reactor reactor;
    LambdaClientFactory factory([&](const weft::Address&) { return std::make_unique<TlsLineClient>(out.record, "hello\n"); });
    factory.on_end = [&] { reactor.stop(); };
    std::shared_ptr<weft::Connector> connector;
    reactor.call_when_running([&] { connector = reactor.connect_ssl(host, port, factory, weft::TlsContext::client(options)); });
    REQUIRE(run_bounded(reactor, 20s));
    connector.reset();
    out.failed = factory.failed;
    out.lost = factory.lost;
    return out;
}

weft::TlsClientOptions trusting_test_ca() {
    weft::TlsClientOptions o;
    o.ca_file = tls_certs().ca;
    return o;
}

/// The attempt ended without a handshake, with `text` in the protocol's reason; the factory heard of an
/// unclean end too (a ReconnectingClientFactory must not take a refused certificate for a clean close).
void check_refused(const ClientOutcome& out, const std::string& text) {
    INFO(out.why());
    CHECK_FALSE(out.record.handshake);
    CHECK(out.record.received.empty());
    REQUIRE(out.record.lost);
    CHECK_FALSE(out.record.lost->clean());
    CHECK_THAT(out.record.lost->message(), Catch::Contains(text));
    REQUIRE((out.failed || out.lost));
    const weft::Reason& factory_heard = out.failed ? *out.failed : *out.lost;
    CHECK_FALSE(factory_heard.clean());
    CHECK_THAT(factory_heard.message(), Catch::Contains(text));
}

}  // namespace

TEST_CASE("weft client vs s_server: verified with ca_file, echoes, reports version and cipher", "[tls][peers][s_server]") {
    const auto& c = tls_certs();
    SServer server(c.server, c.server_key);
    const auto out = run_client(server.port, trusting_test_ca());
    INFO(out.why() << "\n" << server.process->describe());
    CHECK(out.record.handshake);
    CHECK(out.record.tls.version == "TLSv1.3");
    CHECK(!out.record.tls.cipher.empty());
    CHECK(out.record.received == "olleh\n");
    REQUIRE(out.lost);
    CHECK(out.lost->clean());
}

TEST_CASE("weft client vs s_server: an untrusted certificate is refused with \"certificate verify failed\"",
          "[tls][peers][s_server][verify]") {
    const auto& c = tls_certs();
    SServer server(c.untrusted, c.untrusted_key);
    check_refused(run_client(server.port, trusting_test_ca()),
                  "certificate verify failed (unable to get local issuer certificate)");
}

TEST_CASE("weft client vs s_server: the system store does not trust the test CA by default", "[tls][peers][s_server][verify]") {
    const auto& c = tls_certs();
    SServer server(c.server, c.server_key);
    check_refused(run_client(server.port, weft::TlsClientOptions{}), "certificate verify failed");
}

TEST_CASE("weft client vs s_server: an expired certificate is refused", "[tls][peers][s_server][verify]") {
    const auto& c = tls_certs();
    SServer server(c.expired, c.expired_key);
    check_refused(run_client(server.port, trusting_test_ca()), "certificate verify failed (certificate has expired)");
}

TEST_CASE("weft client vs s_server: a certificate for another host name is refused, and server_name picks the name checked",
          "[tls][peers][s_server][verify]") {
    const auto& c = tls_certs();
    {
        SServer server(c.other, c.other_key);
        check_refused(run_client(server.port, trusting_test_ca()), "certificate verify failed (IP address mismatch)");
    }
    SServer server(c.other, c.other_key);
    auto options = trusting_test_ca();
    options.server_name = "other.test";
    const auto out = run_client(server.port, options);
    INFO(out.why());
    CHECK(out.record.handshake);
    CHECK(out.record.received == "olleh\n");
}

TEST_CASE("weft client vs s_server: insecure_skip_certificate_verification accepts an untrusted certificate",
          "[tls][peers][s_server][verify]") {
    const auto& c = tls_certs();
    SServer server(c.untrusted, c.untrusted_key);
    weft::TlsClientOptions options;
    options.insecure_skip_certificate_verification = true;
    const auto out = run_client(server.port, options);
    INFO(out.why());
    CHECK(out.record.handshake);
    CHECK(out.record.received == "olleh\n");
}

TEST_CASE("weft client vs s_server: a client certificate is presented when the server requires one",
          "[tls][peers][s_server][client-cert]") {
    const auto& c = tls_certs();
    {
        SServer server(c.server, c.server_key, {"-Verify", "1", "-CAfile", c.ca});
        auto options = trusting_test_ca();
        options.certificate = {c.client, c.client_key, ""};
        const auto out = run_client(server.port, options);
        INFO(out.why() << "\n" << server.process->describe());
        CHECK(out.record.handshake);
        CHECK(out.record.received == "olleh\n");
    }
    SServer server(c.server, c.server_key, {"-Verify", "1", "-CAfile", c.ca});
    const auto out = run_client(server.port, trusting_test_ca());
    // TLS 1.3: the client's side of the handshake completes before the server has checked its certificate;
    // the server's alert comes after, and nothing of ours is echoed.
    INFO(out.why());
    CHECK(out.record.received.empty());
    REQUIRE(out.record.lost);
    CHECK_FALSE(out.record.lost->clean());
    CHECK_THAT(out.record.lost->message(), Catch::Contains("certificate required"));
    REQUIRE((out.failed || out.lost));
    CHECK_FALSE((out.failed ? *out.failed : *out.lost).clean());
}

TEST_CASE("weft client vs s_server: ALPN is offered and the server's choice reported", "[tls][peers][s_server][alpn]") {
    const auto& c = tls_certs();
    SServer server(c.server, c.server_key, {"-alpn", "h2,http/1.1"});
    auto options = trusting_test_ca();
    options.alpn = {"http/1.1"};
    const auto out = run_client(server.port, options);
    INFO(out.why() << "\n" << server.process->describe());
    CHECK(out.record.handshake);
    CHECK(out.record.tls.alpn == "http/1.1");
    CHECK(out.record.received == "olleh\n");
}

TEST_CASE("weft client vs s_server: server_name is sent as SNI", "[tls][peers][s_server][sni]") {
    const auto& c = tls_certs();
    // s_server answers SNI "other.test" with the other.test certificate and anything else with localhost's:
    // verifying other.test proves the name was sent. (s_server's second context does no ALPN: apart.)
    SServer server(c.server, c.server_key, {"-servername", "other.test", "-cert2", c.other, "-key2", c.other_key});
    auto options = trusting_test_ca();
    options.server_name = "other.test";
    const auto out = run_client(server.port, options);
    INFO(out.why() << "\n" << server.process->describe());
    CHECK(out.record.handshake);
    CHECK(out.record.received == "olleh\n");
    // s_server names the SNI it got once the connection is over (-naccept 1: it exits and flushes).
    CHECK(server.process->read_until("Hostname in TLS extension: \"other.test\""));
}

TEST_CASE("weft client vs s_server: a second connection with the same context resumes the session",
          "[tls][peers][s_server][resumption]") {
    const auto& c = tls_certs();
    SServer server(c.server, c.server_key, {}, 2);
    auto context = weft::TlsContext::client(trusting_test_ca());
    std::vector<TlsLineClient::Record> records(2);
    weft::Reactor reactor;
    std::size_t next = 0;
    LambdaClientFactory factory([&](const weft::Address&) { return std::make_unique<TlsLineClient>(records[next++], "hello\n"); });
    std::vector<std::shared_ptr<weft::Connector>> connectors;
    factory.on_end = [&] {
        if (next == 2) return reactor.stop();
        reactor.call_soon([&] { connectors.push_back(reactor.connect_ssl("127.0.0.1", server.port, factory, context)); });
    };
    reactor.call_when_running([&] { connectors.push_back(reactor.connect_ssl("127.0.0.1", server.port, factory, context)); });
    REQUIRE(run_bounded(reactor, 20s));
    connectors.clear();
    REQUIRE(next == 2);
    CHECK(records[0].received == "olleh\n");
    CHECK(records[1].received == "olleh\n");
    CHECK_FALSE(records[0].tls.resumed);
    CHECK(records[1].tls.resumed);
}

TEST_CASE("weft client: a server that never answers the handshake is cut after handshake_timeout",
          "[tls][peers][timeout]") {
    weft::Reactor reactor;
    // A plain TCP server that reads the ClientHello and says nothing.
    LambdaFactory silent([](const weft::Address&) { return std::make_unique<Recorder>(); });
    weft::ListenOptions listen;
    listen.interface = "127.0.0.1";
    auto port = reactor.listen_tcp(0, silent, listen);
    auto options = trusting_test_ca();
    options.handshake_timeout = 200ms;
    TlsLineClient::Record record;
    LambdaClientFactory factory([&](const weft::Address&) { return std::make_unique<TlsLineClient>(record, "hello\n"); });
    factory.on_end = [&] { reactor.stop(); };
    std::shared_ptr<weft::Connector> connector;
    const auto start = std::chrono::steady_clock::now();
    reactor.call_when_running(
        [&] { connector = reactor.connect_ssl("127.0.0.1", port->address().port, factory, weft::TlsContext::client(options)); });
    REQUIRE(run_bounded(reactor, 20s));
    const auto took = std::chrono::steady_clock::now() - start;
    connector.reset();
    port.reset();
    CHECK(took >= 150ms);
    CHECK(took < 5s);
    ClientOutcome out;
    out.record = record;
    out.failed = factory.failed;
    out.lost = factory.lost;
    check_refused(out, "TLS handshake timed out after 200 ms");
}

// ---------------------------------------------------------------------------------------------------------
// Records and backpressure, seen from a Python client

namespace {

/// Answers "burst N\n" with N lines, one write() each, all inside one data_received.
class Burst final : public weft::Protocol {
public:
    void data_received(std::string_view data) override {
        buffer_.append(data);
        if (buffer_.find('\n') == std::string::npos || buffer_.rfind("burst ", 0) != 0) return;
        const int n = std::stoi(buffer_.substr(6));
        buffer_.clear();
        for (int i = 0; i < n; ++i) transport().write("line " + std::to_string(i) + "\n");
    }

private:
    std::string buffer_;
};

struct FirehoseState {
    std::size_t sent = 0;
    std::size_t max_buffered = 0;
    int pauses = 0;
    bool paused = false;
    bool done = false;
};

/// Once the handshake is done, streams `total` bytes in 16 KiB writes as a streaming producer: it writes
/// while it is not paused, so what the transport holds is what backpressure lets it hold.
class Firehose final : public weft::Protocol, public weft::TlsHandshakeListener, public weft::Producer {
public:
    Firehose(Shared<FirehoseState>& state, std::size_t total) : state_(state), total_(total) {}
    void handshake_completed() override {
        transport().register_producer(*this, true);
        pump();
    }
    void pause_producing() override {
        paused_ = true;
        state_.update([](FirehoseState& s) {
            ++s.pauses;
            s.paused = true;
        });
    }
    void resume_producing() override {
        paused_ = false;
        state_.update([](FirehoseState& s) { s.paused = false; });
        pump();
    }
    void stop_producing() override { paused_ = true; }

private:
    void pump() {
        const std::string chunk(16 * 1024, 'f');
        while (!paused_ && sent_ < total_) {
            transport().write(chunk);
            sent_ += chunk.size();
            const std::size_t buffered = transport().buffered_bytes();
            state_.update([&](FirehoseState& s) {
                s.sent = sent_;
                s.max_buffered = std::max(s.max_buffered, buffered);
            });
        }
        if (sent_ >= total_ && !finished_) {
            finished_ = true;
            transport().unregister_producer();
            transport().lose_connection();
            state_.update([](FirehoseState& s) { s.done = true; });
        }
    }

    Shared<FirehoseState>& state_;
    std::size_t total_;
    std::size_t sent_ = 0;
    bool paused_ = false;
    bool finished_ = false;
};

}  // namespace

TEST_CASE("python ssl: a hundred small writes in one callback leave in one TLS record", "[tls][peers][python][records]") {
    LambdaFactory factory([](const weft::Address&) { return std::make_unique<Burst>(); });
    LoopThread loop;
    const auto port = loop.call([&](weft::Reactor& reactor) {
        weft::ListenOptions o;
        o.interface = "127.0.0.1";
        auto p = reactor.listen_ssl(0, factory, weft::TlsContext::server(localhost_server()), o);
        loop.keep(p);
        return p->address().port;
    });
    TempDir dir;
    PeerProcess client(python_peer({"records", "127.0.0.1", std::to_string(port), tls_certs().ca, "100"}), dir);
    const auto lines = client.read_line();
    const auto records = client.read_line();
    INFO(client.describe());
    CHECK(lines == std::string("lines 100"));
    CHECK(records == std::string("records 1"));  // Twisted sends 100 (one per write: its #11989)
}

TEST_CASE("python ssl: a client that stops reading pauses the server's producer, and it resumes when it reads",
          "[tls][peers][python][backpressure]") {
    constexpr std::size_t total = 32 * 1024 * 1024;  // far beyond what the socket buffers take
    Shared<FirehoseState> state;
    LambdaFactory factory([&](const weft::Address&) { return std::make_unique<Firehose>(state, total); });
    LoopThread loop;
    const auto port = loop.call([&](weft::Reactor& reactor) {
        weft::ListenOptions o;
        o.interface = "127.0.0.1";
        auto p = reactor.listen_ssl(0, factory, weft::TlsContext::server(localhost_server()), o);
        loop.keep(p);
        return p->address().port;
    });
    TempDir dir;
    PeerProcess client(python_peer({"stall", "127.0.0.1", std::to_string(port), tls_certs().ca}), dir);
    const auto ready = client.read_line();
    INFO(client.describe());
    REQUIRE(ready == std::string("ready"));
    // The client reads nothing: the server fills the socket buffers, then is paused and stays paused.
    REQUIRE(state.wait_for([&](const FirehoseState& s) { return s.paused && s.sent < total; }));
    const auto stalled = state.snapshot();
    INFO("sent " << stalled.sent << ", max buffered " << stalled.max_buffered << ", pauses " << stalled.pauses);
    CHECK(stalled.sent < total);
    // Held by weft at most the high watermark (64 KiB) plus what one write and one read add.
    CHECK(stalled.max_buffered <= 256 * 1024);
    REQUIRE(client.write("read\n"));
    const auto got = client.read_line(30s);
    CHECK(got == "total " + std::to_string(total));
    CHECK(state.wait_for([](const FirehoseState& s) { return s.done; }));
    CHECK(state.snapshot().max_buffered <= 256 * 1024);
}
