// weft's TLS layer (framework/src/tls/): in memory against a raw OpenSSL peer (support/tls_memory_peer.hpp),
// where every byte's move is the test's, and over loopback sockets, UNIX sockets and pipes with weft on both
// ends. Real foreign peers (openssl s_client/s_server, Python's ssl) are in tests/integration/test_tls_peers.cpp.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "support/loop.hpp"
#include "support/tls_certs.hpp"
#include "support/tls_memory_peer.hpp"
#include "tls/tls_layer.hpp"
#include "weft/error.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/reactor.hpp"
#include "weft/standard_io.hpp"
#include "weft/testing/clock.hpp"
#include "weft/testing/string_transport.hpp"
#include "weft/tls_context.hpp"
#include "weft/tls_transport.hpp"

using namespace std::chrono_literals;
using weft::Reason;
using weft::TlsContext;
using weft_test::tls_certs;
using weft_test::TlsMemoryPeer;
using weft_test::TlsMemoryPeerOptions;

namespace {

std::shared_ptr<TlsContext> server_context(weft::TlsServerOptions o = {}) {
    if (o.certificate.empty()) o.certificate = {tls_certs().server, tls_certs().server_key, ""};
    return TlsContext::server(std::move(o));
}

std::shared_ptr<TlsContext> client_context(weft::TlsClientOptions o = {}) {
    if (o.ca_file.empty() && !o.insecure_skip_certificate_verification) o.ca_file = tls_certs().ca;
    return TlsContext::client(std::move(o));
}

/// What the protocol inside the TLS layer saw; outlives it.
struct Seen {
    std::string received;
    int data_calls = 0;
    bool read_lost = false;
    bool handshake_completed = false;
    std::optional<Reason> lost;
};

struct Inner : weft::Protocol, weft::HalfCloseable, weft::TlsHandshakeListener {
    explicit Inner(Seen& s, bool half = false) : seen(s), half_closeable(half) {}
    void data_received(std::string_view data) override {
        seen.received.append(data);
        ++seen.data_calls;
        if (on_data) on_data(*this, data);
    }
    void connection_lost(const Reason& r) override { seen.lost = r; }
    void read_connection_lost() override {
        seen.read_lost = true;
        if (!half_closeable) transport().lose_connection();
        if (on_read_lost) on_read_lost(*this);
    }
    void handshake_completed() override { seen.handshake_completed = true; }
    Seen& seen;
    bool half_closeable;
    std::function<void(Inner&, std::string_view)> on_data;
    std::function<void(Inner&)> on_read_lost;
};

/// A server TLS layer over a StringTransport, and a raw OpenSSL client: pump() moves the bytes both ways
/// and runs the reactor's posted work (the end-of-turn flush) until nothing moves.
struct MemoryServer {
    weft::Reactor reactor;
    weft::testing::StringTransport below;
    Seen seen;
    Inner* inner = nullptr;
    std::unique_ptr<weft::detail::TlsLayer> layer;
    std::string to_client;  // everything the layer sent, kept for record counting

    explicit MemoryServer(std::shared_ptr<TlsContext> ctx = server_context(), bool half = false,
                          std::function<void(weft::detail::TlsLayer&)> before_start = {}) {
        auto p = std::make_unique<Inner>(seen, half);
        inner = p.get();
        layer = std::make_unique<weft::detail::TlsLayer>(reactor.core(), std::move(ctx), weft::detail::TlsStart{});
        layer->wrap(std::move(p));
        if (before_start) before_start(*layer);
        layer->make_connection(below);
    }
    void turn() {
        reactor.context().restart();
        reactor.context().poll();
    }
    std::string from_layer() {
        std::string out = below.clear();
        to_client += out;
        return out;
    }
    void pump(TlsMemoryPeer& client) {
        for (int i = 0; i < 20; ++i) {
            if (!client.done()) client.handshake();
            std::string up = client.take_output();
            if (!up.empty()) layer->data_received(up);
            turn();
            std::string down = from_layer();
            client.give(down);
            if (up.empty() && down.empty()) return;
        }
    }
    /// The transport below delivers connection_lost, as a real one would on a later turn.
    void lose(Reason r = Reason::done()) {
        below.set_state(weft::ConnectionState::disconnected);
        layer->connection_lost(r);
    }
};

TlsMemoryPeerOptions verifying(std::string name = "localhost") {
    TlsMemoryPeerOptions o;
    o.ca_file = tls_certs().ca;
    o.server_name = std::move(name);
    return o;
}

std::string subject_of_peer(TlsMemoryPeer& c) {
    X509* cert = SSL_get1_peer_certificate(c.ssl());
    if (cert == nullptr) return "";
    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
    X509_free(cert);
    return buf;
}

}  // namespace

TEST_CASE("TLS layer: handshake with a raw OpenSSL client, echo, and what as_tls() tells", "[tls]") {
    weft::TlsServerOptions o;
    o.alpn = {"h2", "http/1.1"};
    MemoryServer s(server_context(o));
    s.inner->on_data = [](Inner& in, std::string_view d) { in.transport().write(d); };
    auto opts = verifying();
    opts.alpn = {"http/1.1"};
    TlsMemoryPeer client(opts);
    s.pump(client);
    REQUIRE(client.done());
    REQUIRE(SSL_get_verify_result(client.ssl()) == X509_V_OK);
    REQUIRE(s.seen.handshake_completed);
    weft::TlsTransport* tls = s.inner->transport().as_tls();
    REQUIRE(tls != nullptr);
    CHECK(tls->handshake_done());
    CHECK(tls->protocol_version() == "TLSv1.3");
    CHECK_FALSE(tls->cipher().empty());
    CHECK(tls->negotiated_protocol() == "http/1.1");
    CHECK(tls->server_name() == "localhost");
    CHECK(tls->peer_certificate_subject().empty());  // no client certificate asked for
    CHECK(s.inner->transport().as_tcp() == &s.below);  // the TCP options are the transport below's

    client.write("hello over TLS");
    s.pump(client);
    CHECK(s.seen.received == "hello over TLS");
    CHECK(client.read() == "hello over TLS");
}

TEST_CASE("TLS layer: a turn's small writes leave in one record, not one per write", "[tls][records]") {
    MemoryServer s;
    s.inner->on_data = [](Inner& in, std::string_view) {
        for (int i = 0; i < 100; ++i) in.transport().write("0123456789");
    };
    TlsMemoryPeer client(verifying());
    s.pump(client);
    REQUIRE(client.done());
    client.read();  // the session tickets
    s.to_client.clear();
    client.write("go");
    s.pump(client);
    CHECK(weft_test::tls_record_types(s.to_client) == std::vector<int>{23});
    CHECK(client.read().size() == 1000);

    SECTION("writes made outside a callback (a timer, another connection) are encrypted at the end of the turn") {
        s.to_client.clear();
        for (int i = 0; i < 50; ++i) s.inner->transport().write("abcdefghij");
        CHECK(s.below.value().empty());  // held: nothing encrypted yet
        CHECK(s.inner->transport().buffered_bytes() == 500);
        s.turn();
        s.from_layer();
        CHECK(weft_test::tls_record_types(s.to_client) == std::vector<int>{23});
        client.give(s.to_client);
        CHECK(client.read().size() == 500);
    }
}

TEST_CASE("TLS layer: writes before the handshake wait for it, and a close waits for them", "[tls]") {
    MemoryServer s;
    s.inner->transport().write("greeting\n");
    s.inner->transport().lose_connection();
    CHECK(s.inner->transport().disconnecting());
    CHECK_FALSE(s.below.disconnect_requested());  // the greeting must go out first, encrypted
    TlsMemoryPeer client(verifying());
    s.pump(client);
    REQUIRE(client.done());
    CHECK(client.read() == "greeting\n");
    CHECK(client.closed);  // close_notify followed it
    CHECK(s.below.disconnect_requested());
}

TEST_CASE("TLS layer: close_notify is the peer's half-close", "[tls][half-close]") {
    SECTION("a HalfCloseable protocol hears read_connection_lost and may still write") {
        MemoryServer s(server_context(), true);
        s.inner->on_read_lost = [](Inner& in) {
            in.transport().write("bye\n");
            in.transport().lose_connection();
        };
        TlsMemoryPeer client(verifying());
        s.pump(client);
        client.write("last words");
        client.close_notify();
        s.pump(client);
        CHECK(s.seen.received == "last words");
        CHECK(s.seen.read_lost);
        CHECK(client.read() == "bye\n");
        CHECK(client.closed);
        CHECK(s.below.disconnect_requested());
        s.lose();
        REQUIRE(s.seen.lost);
        CHECK(s.seen.lost->clean());
    }
    SECTION("any other protocol is closed cleanly, with our close_notify") {
        MemoryServer s;
        TlsMemoryPeer client(verifying());
        s.pump(client);
        client.close_notify();
        s.pump(client);
        client.read();
        CHECK(client.closed);
        CHECK(s.below.disconnect_requested());
        s.lose();
        REQUIRE(s.seen.lost);
        CHECK(s.seen.lost->clean());
    }
    SECTION("lose_write_connection sends close_notify, then shuts the transport's write side; reading goes on") {
        MemoryServer s(server_context(), true);
        TlsMemoryPeer client(verifying());
        s.pump(client);
        s.inner->transport().write("all of it");
        s.inner->transport().lose_write_connection();
        s.pump(client);
        CHECK(client.read() == "all of it");
        CHECK(client.closed);
        CHECK(s.below.write_closed());
        client.write("still reading");
        s.pump(client);
        CHECK(s.seen.received == "still reading");
    }
}

TEST_CASE("TLS layer: EOF without close_notify is not a clean end", "[tls]") {
    MemoryServer s;
    TlsMemoryPeer client(verifying());
    s.pump(client);
    s.layer->read_connection_lost();  // the transport's EOF
    CHECK(s.below.disconnect_requested());
    s.lose();
    REQUIRE(s.seen.lost);
    CHECK_FALSE(s.seen.lost->clean());
    CHECK_THAT(s.seen.lost->message(), Catch::Contains("close_notify"));
}

TEST_CASE("TLS layer: bytes that are not TLS fail the handshake with OpenSSL's reason", "[tls]") {
    SECTION("a malformed handshake message is answered with an alert") {
        MemoryServer s;
        s.layer->data_received(std::string("\x16\x03\x01\x00\x05\xff\xff\xff\xff\xff", 10));
        CHECK(s.below.disconnect_requested());
        const std::string out = s.from_layer();
        CHECK(weft_test::tls_record_types(out) == std::vector<int>{21});  // the alert
        s.inner->transport().write("ignored");  // writes after a failure go nowhere
        s.turn();
        CHECK(s.below.value().empty());
        s.lose();
        REQUIRE(s.seen.lost);
        CHECK_FALSE(s.seen.lost->clean());
        CHECK_THAT(s.seen.lost->message(), Catch::StartsWith("TLS handshake failed: "));
    }
    SECTION("plain HTTP on a TLS port is named as such") {
        MemoryServer s;
        s.layer->data_received("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        CHECK(s.below.disconnect_requested());
        s.lose();
        REQUIRE(s.seen.lost);
        CHECK(s.seen.lost->message() == "TLS handshake failed: http request");
    }
}

TEST_CASE("TLS layer: a client certificate that does not verify is refused; a good one is seen", "[tls][client-cert]") {
    weft::TlsServerOptions o;
    o.client_certificates = weft::ClientCertificates::required;
    o.client_ca_file = tls_certs().ca;
    SECTION("none") {
        MemoryServer s(server_context(o));
        TlsMemoryPeer client(verifying());
        s.pump(client);
        client.read();
        CHECK(s.below.disconnect_requested());
        s.lose();
        REQUIRE(s.seen.lost);
        CHECK_THAT(s.seen.lost->message(), Catch::Contains("peer did not return a certificate"));
    }
    SECTION("a good one") {
        MemoryServer s(server_context(o));
        auto opts = verifying();
        opts.certificate_file = tls_certs().client;
        opts.key_file = tls_certs().client_key;
        TlsMemoryPeer client(opts);
        s.pump(client);
        client.write("x");
        s.pump(client);
        REQUIRE(s.seen.received == "x");
        CHECK(s.inner->transport().as_tls()->peer_certificate_subject() == "CN=alice,O=weft tests");
    }
    SECTION("one from a CA we do not trust") {
        MemoryServer s(server_context(o));
        auto opts = verifying();
        opts.certificate_file = tls_certs().untrusted;
        opts.key_file = tls_certs().untrusted_key;
        TlsMemoryPeer client(opts);
        s.pump(client);
        client.read();
        s.lose();
        REQUIRE(s.seen.lost);
        CHECK_THAT(s.seen.lost->message(), Catch::Contains("certificate verify failed"));
    }
}

TEST_CASE("TLS layer: SNI picks the certificate of the name asked for", "[tls][sni]") {
    weft::TlsServerOptions o;
    o.sni["Other.Test"] = {tls_certs().other, tls_certs().other_key, ""};
    auto ctx = server_context(o);
    for (const std::string name : {"other.test", "localhost"}) {
        MemoryServer s(ctx);
        TlsMemoryPeer client(verifying(name));
        s.pump(client);
        REQUIRE(client.done());
        CHECK(SSL_get_verify_result(client.ssl()) == X509_V_OK);
        CHECK(subject_of_peer(client) == "/CN=" + name);
    }
}

TEST_CASE("TLS layer: the handshake timeout cuts a client that never finishes", "[tls][timeout]") {
    weft::testing::Clock clock;
    weft::TlsServerOptions o;
    o.handshake_timeout = 5s;
    MemoryServer s(server_context(o), false, [&](weft::detail::TlsLayer& layer) {
        layer.set_call_later([&](weft::Duration d, std::function<void()> fn) { return clock.call_later(d, std::move(fn)); });
    });
    TlsMemoryPeer client(verifying());
    s.layer->data_received(client.take_output().substr(0, 10));  // the start of a ClientHello, then nothing
    clock.advance(4s);
    CHECK_FALSE(s.below.aborted());
    clock.advance(1s);
    CHECK(s.below.aborted());
    s.lose(Reason::aborted());
    REQUIRE(s.seen.lost);
    CHECK(s.seen.lost->message() == "TLS handshake timed out after 5000 ms");

    SECTION("and not one that finished") {
        MemoryServer done(server_context(o), false, [&](weft::detail::TlsLayer& layer) {
            layer.set_call_later([&](weft::Duration d, std::function<void()> fn) { return clock.call_later(d, std::move(fn)); });
        });
        TlsMemoryPeer c2(verifying());
        done.pump(c2);
        clock.advance(10s);
        CHECK_FALSE(done.below.aborted());
    }
}

TEST_CASE("TLS layer: renegotiation is refused", "[tls]") {
    MemoryServer s;
    auto opts = verifying();
    opts.max_version = TLS1_2_VERSION;
    TlsMemoryPeer client(opts);
    s.pump(client);
    REQUIRE(client.done());
    REQUIRE(std::string(SSL_get_version(client.ssl())) == "TLSv1.2");
    REQUIRE(SSL_renegotiate(client.ssl()) == 1);
    client.handshake();
    s.pump(client);
    client.read();
    // The server answered with its no_renegotiation alert: no second handshake happened.
    CHECK(SSL_renegotiate_pending(client.ssl()) == 1);
    CHECK(SSL_num_renegotiations(client.ssl()) == 1);  // the one the client asked for, never completed
}

TEST_CASE("TlsContext: files are checked when the context is made, with clear errors", "[tls][context]") {
    using Catch::Contains;
    weft::TlsServerOptions o;
    CHECK_THROWS_WITH(TlsContext::server(o), Contains("needs a certificate"));
    o.certificate = {"/nonexistent/cert.pem", "", ""};
    CHECK_THROWS_WITH(TlsContext::server(o), Contains("/nonexistent/cert.pem") && Contains("cannot be read"));
    o.certificate = {tls_certs().server, tls_certs().other_key, ""};
    CHECK_THROWS_WITH(TlsContext::server(o), Contains("other.key") && Contains("mismatch"));
    o.certificate = {tls_certs().ca, tls_certs().server_key, tls_certs().client_key};  // a key is no chain
    CHECK_THROWS_AS(TlsContext::server(o), weft::TlsError);
    o.certificate = {tls_certs().server, tls_certs().server_key, ""};
    o.client_certificates = weft::ClientCertificates::required;
    CHECK_THROWS_WITH(TlsContext::server(o), Contains("client_ca_file"));
    o.client_certificates = weft::ClientCertificates::none;
    o.alpn = {""};
    CHECK_THROWS_WITH(TlsContext::server(o), Contains("ALPN"));
    weft::TlsClientOptions c;
    c.ca_file = "/nonexistent/ca.pem";
    CHECK_THROWS_WITH(TlsContext::client(c), Contains("/nonexistent/ca.pem"));

    weft::Reactor reactor;
    weft_test::LambdaFactory factory([](const weft::Address&) { return std::make_unique<weft_test::Echo>(); });
    CHECK_THROWS_WITH(reactor.listen_ssl(0, factory, client_context()), Contains("server TlsContext"));
    weft_test::LambdaClientFactory cf([](const weft::Address&) { return std::make_unique<weft_test::Echo>(); });
    CHECK_THROWS_WITH(reactor.connect_ssl("127.0.0.1", 1, cf, server_context()), Contains("client TlsContext"));
}

TEST_CASE("TlsContext::reload: new handshakes use the new certificate, a bad file keeps the old one", "[tls][context]") {
    const auto dir = std::filesystem::path(tls_certs().dir) / "reload";
    std::filesystem::create_directories(dir);
    const auto cert = (dir / "cert.pem").string();
    const auto key = (dir / "key.pem").string();
    std::filesystem::copy_file(tls_certs().server, cert, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(tls_certs().server_key, key, std::filesystem::copy_options::overwrite_existing);
    weft::TlsServerOptions o;
    o.certificate = {cert, key, ""};
    auto ctx = TlsContext::server(o);
    {
        MemoryServer s(ctx);
        TlsMemoryPeer c(verifying("localhost"));
        s.pump(c);
        CHECK(subject_of_peer(c) == "/CN=localhost");
    }
    std::filesystem::copy_file(tls_certs().other, cert, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(tls_certs().other_key, key, std::filesystem::copy_options::overwrite_existing);
    ctx->reload();
    {
        MemoryServer s(ctx);
        TlsMemoryPeer c(verifying("other.test"));
        s.pump(c);
        CHECK(subject_of_peer(c) == "/CN=other.test");
    }
    std::ofstream(cert, std::ios::trunc) << "not a certificate\n";
    CHECK_THROWS_AS(ctx->reload(), weft::TlsError);
    {
        MemoryServer s(ctx);
        TlsMemoryPeer c(verifying("other.test"));
        s.pump(c);
        CHECK(subject_of_peer(c) == "/CN=other.test");  // still the last good one
    }
}

// -- loopback: weft on both ends -----------------------------------------------------------------------

TEST_CASE("TLS over loopback: connect_ssl verifies the server, resumes the session the second time", "[tls][loopback]") {
    weft::Reactor reactor;
    weft_test::LambdaFactory factory([](const weft::Address&) { return std::make_unique<weft_test::Echo>(); });
    auto port = reactor.listen_ssl(0, factory, server_context(), {.interface = "127.0.0.1"});
    auto client_ctx = client_context();
    std::vector<bool> resumed;
    std::vector<std::string> answers;
    std::optional<Reason> failure;
    std::function<void()> connect_once;
    weft_test::LambdaClientFactory cf([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_made = [](weft_test::Recorder& r) { r.transport().write("ping"); };
        p->on_data = [&](weft_test::Recorder& r, std::string_view) {
            if (r.received != "ping") return;
            answers.push_back(r.received);
            resumed.push_back(r.transport().as_tls()->session_reused());
            r.transport().lose_connection();
        };
        return p;
    });
    cf.on_end = [&] {
        if (cf.failed) failure = cf.failed;
        if (answers.size() == 1 && !cf.failed) {
            cf.lost.reset();
            reactor.connect_ssl("localhost", port->port(), cf, client_ctx);
        } else {
            reactor.stop();
        }
    };
    reactor.connect_ssl("localhost", port->port(), cf, client_ctx);
    REQUIRE(weft_test::run_bounded(reactor));
    REQUIRE_FALSE(failure);
    CHECK(answers == std::vector<std::string>{"ping", "ping"});
    CHECK(resumed == std::vector<bool>{false, true});
}

TEST_CASE("TLS over loopback: a TLS 1.3 ticket is used by one connection only: of two connecting at once, "
          "one resumes", "[tls][loopback]") {
    weft::Reactor reactor;
    weft_test::LambdaFactory factory([](const weft::Address&) { return std::make_unique<weft_test::Echo>(); });
    auto port = reactor.listen_ssl(0, factory, server_context(), {.interface = "127.0.0.1"});
    auto client_ctx = client_context();
    std::vector<bool> resumed;
    int ended = 0;
    std::optional<Reason> failure;
    weft_test::LambdaClientFactory cf([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_made = [](weft_test::Recorder& r) { r.transport().write("ping"); };
        p->on_data = [&](weft_test::Recorder& r, std::string_view) {
            if (r.received != "ping") return;
            resumed.push_back(r.transport().as_tls()->session_reused());
            r.transport().lose_connection();
        };
        return p;
    });
    cf.on_end = [&] {
        if (cf.failed) failure = cf.failed;
        // The first left a ticket: two connect in the same turn. A numeric address, so that neither waits
        // for a name lookup (the second must not start its handshake after the first got new tickets).
        if (++ended == 1 && !failure) {
            reactor.connect_ssl("127.0.0.1", port->port(), cf, client_ctx);
            reactor.connect_ssl("127.0.0.1", port->port(), cf, client_ctx);
        } else if (ended == 3 || failure) {
            reactor.stop();
        }
    };
    reactor.connect_ssl("127.0.0.1", port->port(), cf, client_ctx);
    REQUIRE(weft_test::run_bounded(reactor));
    REQUIRE_FALSE(failure);
    REQUIRE(resumed.size() == 3);
    CHECK_FALSE(resumed[0]);
    CHECK(std::count(resumed.begin(), resumed.end(), true) == 1);  // RFC 8446 C.4: a ticket is not reused
}

TEST_CASE("TLS over loopback: a wrong host name or an untrusted server is refused, unless verification is off",
          "[tls][loopback]") {
    weft::Reactor reactor;
    weft_test::LambdaFactory factory([](const weft::Address&) { return std::make_unique<weft_test::Echo>(); });
    auto port = reactor.listen_ssl(0, factory, server_context(), {.interface = "127.0.0.1"});
    auto attempt = [&](std::shared_ptr<TlsContext> ctx, std::string host) {
        std::optional<Reason> lost;
        bool handshake = false;
        weft_test::LambdaClientFactory cf([&](const weft::Address&) {
            auto p = std::make_unique<weft_test::Recorder>();
            p->on_made = [](weft_test::Recorder& r) { r.transport().write("x"); };
            p->on_data = [&](weft_test::Recorder& r, std::string_view) {
                handshake = true;
                r.transport().lose_connection();
            };
            p->on_lost = [&](weft_test::Recorder&, const Reason& r) {
                lost = r;
                reactor.stop();
            };
            return p;
        });
        reactor.connect_ssl(host, port->port(), cf, std::move(ctx));
        REQUIRE(weft_test::run_bounded(reactor));
        return std::make_pair(handshake, lost);
    };
    SECTION("the name does not match the certificate") {
        weft::TlsClientOptions o;
        o.server_name = "not-localhost.test";
        auto [ok, lost] = attempt(client_context(o), "127.0.0.1");
        CHECK_FALSE(ok);
        REQUIRE(lost);
        CHECK_THAT(lost->message(), Catch::Contains("certificate verify failed") && Catch::Contains("mismatch"));
    }
    SECTION("the server's CA is not trusted") {
        weft::TlsClientOptions o;
        o.ca_file = tls_certs().untrusted_ca;
        auto [ok, lost] = attempt(client_context(o), "127.0.0.1");
        CHECK_FALSE(ok);
        REQUIRE(lost);
        CHECK_THAT(lost->message(), Catch::Contains("certificate verify failed"));
    }
    SECTION("an IP address is verified against the certificate's IP names") {
        auto [ok, lost] = attempt(client_context(), "127.0.0.1");
        CHECK(ok);
    }
    SECTION("insecure_skip_certificate_verification lets anything through") {
        weft::TlsClientOptions o;
        o.insecure_skip_certificate_verification = true;
        o.server_name = "whatever.test";
        auto [ok, lost] = attempt(client_context(o), "127.0.0.1");
        CHECK(ok);
    }
}

TEST_CASE("TLS over loopback: a peer that stops reading pauses the producer, as with TCP", "[tls][loopback][backpressure]") {
    weft::Reactor reactor;
    struct Streamer : weft::Protocol, weft::Producer {
        bool paused = false;
        int pauses = 0;
        std::size_t sent = 0;
        std::size_t limit = 4u << 20;
        std::function<void()> on_pause;
        void connection_made() override {
            transport().register_producer(*this, true);
            resume_producing();
        }
        void pause_producing() override {
            paused = true;
            ++pauses;
            on_pause();
        }
        void resume_producing() override {
            paused = false;
            const std::string block(16384, 'x');
            while (!paused && sent < limit) {
                transport().write(block);
                sent += block.size();
            }
            if (sent >= limit && !transport().disconnecting()) {
                transport().unregister_producer();
                transport().lose_connection();
            }
        }
        void stop_producing() override {}
    };
    weft::Transport* client_transport = nullptr;
    int pauses = 0;
    std::size_t buffered_at_pause = 0;
    weft_test::LambdaFactory factory([&](const weft::Address&) {
        auto p = std::make_unique<Streamer>();
        p->on_pause = [&, raw = p.get()] {
            // The pauses that count are those the stopped reader causes (before the handshake, the
            // plaintext held for it pauses the producer too).
            if (client_transport == nullptr || buffered_at_pause != 0) return;
            ++pauses;
            buffered_at_pause = raw->transport().buffered_bytes();
            client_transport->resume_producing();  // the reader comes back
        };
        return p;
    });
    auto port = reactor.listen_ssl(0, factory, server_context(), {.interface = "127.0.0.1"});
    std::size_t received = 0;
    std::optional<Reason> lost;
    weft_test::LambdaClientFactory cf([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_data = [&](weft_test::Recorder& r, std::string_view d) {
            if (received == 0) {
                client_transport = &r.transport();
                r.transport().pause_producing();  // stop reading after the first bytes
            }
            received += d.size();
            r.received.clear();
        };
        p->on_lost = [&](weft_test::Recorder&, const Reason& r) {
            lost = r;
            reactor.stop();
        };
        return p;
    });
    reactor.connect_ssl("127.0.0.1", port->port(), cf, client_context());
    REQUIRE(weft_test::run_bounded(reactor, 30s));
    CHECK(pauses == 1);
    // Paused within write(): what it holds is the high watermark plus about one block, not the whole stream.
    CHECK(buffered_at_pause > 64u * 1024);
    CHECK(buffered_at_pause < 160u * 1024);
    CHECK(received == 4u << 20);
    REQUIRE(lost);
    CHECK(lost->clean());
}

TEST_CASE("start_tls: plaintext before, TLS after, nothing lost or reordered at the switch", "[tls][starttls]") {
    weft::Reactor reactor;
    auto server_ctx = server_context();
    auto client_ctx = client_context({.server_name = "localhost"});
    // The server: a line protocol; "STARTTLS" is answered in plaintext, then TLS begins.
    struct StartTlsServer : weft::protocols::LineReceiver {
        std::shared_ptr<TlsContext> ctx;
        std::vector<std::string> lines;
        void line_received(std::string_view line) override {
            lines.emplace_back(line);
            if (line == "STARTTLS") {
                send_line("GO AHEAD");
                // A start_tls that fails leaves the connection and the protocol as they were.
                CHECK_THROWS_AS(transport().start_tls(nullptr), weft::StateError);
                CHECK(transport().as_tls() == nullptr);
                transport().start_tls(ctx, clear_line_buffer());
                CHECK_THROWS_AS(transport().start_tls(ctx), weft::StateError);
                return;
            }
            send_line(std::string("echo ") + std::string(line) + (transport().as_tls() ? " (tls)" : " (plain)"));
        }
    };
    StartTlsServer* server = nullptr;
    weft_test::LambdaFactory factory([&](const weft::Address&) {
        auto p = std::make_unique<StartTlsServer>();
        p->ctx = server_ctx;
        server = p.get();
        return p;
    });
    auto port = reactor.listen_tcp(0, factory, {.interface = "127.0.0.1"});
    struct StartTlsClient : weft::protocols::LineReceiver {
        std::shared_ptr<TlsContext> ctx;
        std::vector<std::string> lines;
        std::function<void()> done;
        void connection_made() override {
            send_line("one");
            send_line("STARTTLS");
        }
        void line_received(std::string_view line) override {
            lines.emplace_back(line);
            if (line == "GO AHEAD") {
                transport().start_tls(ctx);
                send_line("two");  // encrypted, after the ClientHello
                return;
            }
            if (lines.size() == 3) {
                CHECK(transport().as_tls()->handshake_done());
                transport().lose_connection();
            }
        }
        void connection_lost(const Reason& r) override {
            CHECK(r.clean());
            done();
        }
    };
    std::vector<std::string> client_lines;
    weft_test::LambdaClientFactory cf([&](const weft::Address&) {
        auto p = std::make_unique<StartTlsClient>();
        p->ctx = client_ctx;
        p->done = [&, raw = p.get()] {
            client_lines = raw->lines;
            reactor.stop();
        };
        return p;
    });
    reactor.connect_tcp("127.0.0.1", port->port(), cf);
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(client_lines == std::vector<std::string>{"echo one (plain)", "GO AHEAD", "echo two (tls)"});
}

TEST_CASE("TLS over a UNIX socket", "[tls][unix]") {
    weft::Reactor reactor;
    const std::string path = tls_certs().dir + "/tls.sock";
    weft_test::LambdaFactory factory([](const weft::Address&) { return std::make_unique<weft_test::Echo>(); });
    weft::UnixListenOptions lo;
    lo.tls = server_context();
    auto port = reactor.listen_unix(path, factory, lo);
    std::string got;
    std::string version;
    weft_test::LambdaClientFactory cf([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_made = [](weft_test::Recorder& r) { r.transport().write("over unix"); };
        p->on_data = [&](weft_test::Recorder& r, std::string_view) {
            if (r.received.size() < 9) return;
            got = r.received;
            version = r.transport().as_tls()->protocol_version();
            CHECK(r.transport().as_unix() != nullptr);
            r.transport().lose_connection();
        };
        p->on_lost = [&](weft_test::Recorder&, const Reason&) { reactor.stop(); };
        return p;
    });
    weft::UnixConnectOptions co;
    co.tls = client_context({.server_name = "localhost"});
    reactor.connect_unix(path, cf, co);
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(got == "over unix");
    CHECK(version == "TLSv1.3");
}

TEST_CASE("TLS over pipes: start_tls on two StandardIO transports facing each other", "[tls][pipes]") {
    int a[2];  // client -> server
    int b[2];  // server -> client
    REQUIRE(::pipe(a) == 0);
    REQUIRE(::pipe(b) == 0);
    weft::Reactor reactor;
    struct Side : weft::Protocol {
        std::shared_ptr<TlsContext> ctx;
        std::string received;
        std::string send;
        std::function<void(Side&)> on_data;
        void connection_made() override {
            transport().start_tls(ctx);
            if (!send.empty()) transport().write(send);
        }
        void data_received(std::string_view d) override {
            received.append(d);
            if (on_data) on_data(*this);
        }
    };
    auto server = std::make_unique<Side>();
    server->ctx = server_context();
    server->on_data = [](Side& s) {
        if (s.received == "through pipes") s.transport().write("THROUGH PIPES");
    };
    auto client = std::make_unique<Side>();
    client->ctx = client_context({.server_name = "localhost"});
    client->send = "through pipes";
    client->on_data = [&](Side& s) {
        if (s.received.size() == 13) reactor.stop();
    };
    Side* client_raw = client.get();
    weft::StandardIO server_io(reactor, std::move(server), a[0], b[1]);
    weft::StandardIO client_io(reactor, std::move(client), b[0], a[1]);
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(client_raw->received == "THROUGH PIPES");
    CHECK(client_io.protocol().transport().as_tls() != nullptr);
    CHECK(client_io.as_tls() == client_io.protocol().transport().as_tls());  // StandardIO speaks through TLS now
}

TEST_CASE("TLS half-close over loopback: close_notify then EOF, the reply still goes out; closing from "
          "write_connection_lost takes effect", "[tls][half-close][loopback]") {
    weft::Reactor reactor;
    struct Half : weft::Protocol, weft::HalfCloseable {
        std::string received;
        std::optional<Reason> lost;
        std::function<void(Half&)> on_read_lost;
        std::function<void(Half&)> on_write_lost;
        std::function<void(Half&)> on_made;
        std::function<void()> on_gone;
        void connection_made() override {
            if (on_made) on_made(*this);
        }
        void data_received(std::string_view d) override { received.append(d); }
        void read_connection_lost() override {
            if (on_read_lost) on_read_lost(*this);
        }
        void write_connection_lost() override {
            if (on_write_lost) on_write_lost(*this);
        }
        void connection_lost(const Reason& r) override {
            lost = r;
            if (on_gone) on_gone();
        }
    };
    std::string server_got;
    std::optional<Reason> server_lost;
    std::string client_got;
    std::optional<Reason> client_lost;
    int gone = 0;
    auto done = [&] {
        if (++gone == 2) reactor.stop();
    };
    SECTION("the client half-closes; the server replies a little later, then closes") {
        weft_test::LambdaFactory factory([&](const weft::Address&) {
            auto p = std::make_unique<Half>();
            p->on_read_lost = [&](Half& h) {
                // The peer's FIN follows its close_notify at once; the reply comes on a later turn.
                reactor.call_later(20ms, [&h] {
                    h.transport().write("reply to " + h.received);
                    h.transport().lose_connection();
                });
            };
            p->on_gone = [&, raw = p.get()] {
                server_got = raw->received;
                server_lost = raw->lost;
                done();
            };
            return p;
        });
        auto port = reactor.listen_ssl(0, factory, server_context(), {.interface = "127.0.0.1"});
        weft_test::LambdaClientFactory cf([&](const weft::Address&) {
            auto p = std::make_unique<Half>();
            p->on_made = [](Half& h) {
                h.transport().write("question");
                h.transport().lose_write_connection();
            };
            p->on_read_lost = [](Half& h) { h.transport().lose_connection(); };
            p->on_gone = [&, raw = p.get()] {
                client_got = raw->received;
                client_lost = raw->lost;
                done();
            };
            return p;
        });
        reactor.connect_ssl("127.0.0.1", port->port(), cf, client_context());
        REQUIRE(weft_test::run_bounded(reactor));
        CHECK(server_got == "question");
        CHECK(client_got == "reply to question");
        REQUIRE(server_lost);
        CHECK(server_lost->clean());
        REQUIRE(client_lost);
        CHECK(client_lost->clean());
    }
    SECTION("the server shuts its write side and closes from write_connection_lost; the client waits") {
        // The client hears read_connection_lost and does not close: the server's own close must end it.
        Half* client = nullptr;
        auto check = [&] {
            if (server_lost && client != nullptr && client->received == "all I have" && client->lost.has_value() == false) {
                client_got = client->received;
                reactor.stop();
            }
        };
        weft_test::LambdaFactory factory([&](const weft::Address&) {
            auto p = std::make_unique<Half>();
            p->on_made = [](Half& h) {
                h.transport().write("all I have");
                h.transport().lose_write_connection();
            };
            p->on_write_lost = [](Half& h) { h.transport().lose_connection(); };
            p->on_gone = [&, raw = p.get()] {
                server_lost = raw->lost;
                check();
            };
            return p;
        });
        auto port = reactor.listen_ssl(0, factory, server_context(), {.interface = "127.0.0.1"});
        weft_test::LambdaClientFactory cf([&](const weft::Address&) {
            auto p = std::make_unique<Half>();
            client = p.get();
            p->on_read_lost = [&](Half&) { check(); };
            return p;
        });
        reactor.connect_ssl("127.0.0.1", port->port(), cf, client_context());
        REQUIRE(weft_test::run_bounded(reactor, 10s));
        CHECK(client_got == "all I have");
        REQUIRE(server_lost);
        CHECK(server_lost->clean());
    }
}

TEST_CASE("start_tls carries a registered producer over to the TLS transport", "[tls][starttls]") {
    weft::Reactor reactor;
    struct Idle : weft::Producer {
        void pause_producing() override {}
        void resume_producing() override {}
        void stop_producing() override { ++stopped; }
        int stopped = 0;
    };
    Idle first;
    Idle second;
    bool second_registered = false;
    struct Server : weft::protocols::LineReceiver {
        std::shared_ptr<TlsContext> ctx;
        Idle* first = nullptr;
        Idle* second = nullptr;
        bool* second_registered = nullptr;
        void connection_made() override { transport().register_producer(*first, true); }
        void line_received(std::string_view line) override {
            if (line != "STARTTLS") return;
            transport().start_tls(ctx, clear_line_buffer());
            // The producer is the TLS transport's now: it can be unregistered there, and another registered.
            transport().unregister_producer();
            transport().register_producer(*second, true);
            *second_registered = true;
            transport().lose_connection();
        }
    };
    weft_test::LambdaFactory factory([&](const weft::Address&) {
        auto p = std::make_unique<Server>();
        p->ctx = server_context();
        p->first = &first;
        p->second = &second;
        p->second_registered = &second_registered;
        return p;
    });
    auto port = reactor.listen_tcp(0, factory, {.interface = "127.0.0.1"});
    auto client_ctx = client_context({.server_name = "localhost"});
    weft_test::LambdaClientFactory cf([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_made = [&](weft_test::Recorder& r) {
            r.transport().write("STARTTLS\r\n");  // LineReceiver's delimiter, as Twisted's
            r.transport().start_tls(client_ctx);
        };
        p->on_lost = [&](weft_test::Recorder&, const Reason&) { reactor.stop(); };
        return p;
    });
    reactor.connect_tcp("127.0.0.1", port->port(), cf);
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(second_registered);
    CHECK(first.stopped == 0);   // unregistered: not stopped at the end
    CHECK(second.stopped == 1);  // still registered when the connection ended
}

TEST_CASE("TLS over a UNIX socket needs a server name to verify: without one the client fails", "[tls][unix]") {
    weft::Reactor reactor;
    const std::string path = tls_certs().dir + "/noname.sock";
    weft_test::LambdaFactory factory([](const weft::Address&) { return std::make_unique<weft_test::Echo>(); });
    weft::UnixListenOptions lo;
    lo.tls = server_context();
    auto port = reactor.listen_unix(path, factory, lo);
    std::optional<Reason> lost;
    weft_test::LambdaClientFactory cf([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_lost = [&](weft_test::Recorder&, const Reason& r) {
            lost = r;
            reactor.stop();
        };
        return p;
    });
    weft::UnixConnectOptions co;
    co.tls = client_context();  // no server_name: a UNIX peer has no host name to check
    reactor.connect_unix(path, cf, co);
    REQUIRE(weft_test::run_bounded(reactor));
    REQUIRE(lost);
    CHECK_THAT(lost->message(), Catch::Contains("no server name to verify"));
}

TEST_CASE("TLS layer: abort_connection drops what is held and sends no close_notify; lose_connection sends it",
          "[tls]") {
    MemoryServer s;
    TlsMemoryPeer client(verifying());
    s.pump(client);
    client.read();
    SECTION("abort") {
        s.inner->transport().write("never sent");
        s.inner->transport().abort_connection();
        CHECK(s.below.aborted());
        s.turn();
        CHECK(s.from_layer().empty());  // neither the held bytes nor a close_notify
        s.lose(Reason::aborted());
        REQUIRE(s.seen.lost);
        CHECK(s.seen.lost->kind() == Reason::Kind::aborted);
    }
    SECTION("lose") {
        s.inner->transport().write("sent first");
        s.inner->transport().lose_connection();
        CHECK_FALSE(s.below.disconnect_requested());  // at the end of the turn, not inside the call
        s.turn();
        CHECK(s.below.disconnect_requested());
        client.give(s.from_layer());
        CHECK(client.read() == "sent first");
        CHECK(client.closed);
    }
}
