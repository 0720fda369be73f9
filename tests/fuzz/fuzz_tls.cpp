// libFuzzer target: arbitrary bytes as a TLS client's, fed to weft's TLS server layer (framework/src/tls,
// TlsLayer) sitting on a testing::StringTransport with an echo protocol inside. See docs/fuzzing.md.
//
// A fuzzer cannot finish a handshake (the client's Finished depends on the server's fresh key share), so
// what this reaches is what a hostile client reaches before authenticating: record framing, ClientHello
// parsing (SNI, ALPN, versions, extensions), alerts, and the layer's failure, close and timeout paths.
//
// Header: flags bits 0-1 pick the context (0 plain; 1 ALPN h2,http/1.1 and an SNI name; 2 client
// certificates optional; 3 TLS 1.3 minimum, client certificates required), bit 2 the protocol writes at
// connection_made (held until a handshake that never comes), bit 3 the protocol loses the connection on
// its first data, bit 4 the transport below then reports EOF (read_connection_lost) before connection_lost,
// bit 5 the handshake timeout fires at the end. `seed` and `chunk_max` chunk the stream.
//
// Invariants: no plaintext reaches the protocol before the handshake is done; connection_made once, first;
// connection_lost exactly once, last, after the transport below has gone; the bytes written below stay
// bounded by the input (no amplification); a layer whose handshake failed has asked the transport below to
// close.

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "fuzz_common.hpp"
#include "tls/tls_layer.hpp"
#include "weft/reactor.hpp"
#include "weft/testing/clock.hpp"
#include "weft/testing/string_transport.hpp"
#include "weft/tls_context.hpp"
#include "weft/tls_transport.hpp"

namespace {

// The whole ClientHello space of one input is at most this much: the server's first flight (certificate
// included) and an alert, whatever the client sent.
constexpr std::size_t output_allowance = 16 * 1024;

/// A self-signed EC P-256 certificate and its key, made once with OpenSSL's API and written to a fresh
/// directory for TlsContext::server, which takes files.
struct ServerFiles {
    std::string dir;
    std::string cert;
    std::string key;

    ServerFiles() {
        char pattern[] = "/tmp/weft-fuzz-tls-XXXXXX";
        if (::mkdtemp(pattern) == nullptr) weft::fuzz::fail("mkdtemp", __FILE__, __LINE__, "");
        dir = pattern;
        cert = dir + "/cert.pem";
        key = dir + "/key.pem";
        EVP_PKEY* pkey = EVP_EC_gen("P-256");
        X509* x = X509_new();
        if (pkey == nullptr || x == nullptr) weft::fuzz::fail("EVP_EC_gen/X509_new", __FILE__, __LINE__, "");
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
        X509_set_pubkey(x, pkey);
        X509_NAME* name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
        X509_set_issuer_name(x, name);
        if (X509_sign(x, pkey, EVP_sha256()) == 0) weft::fuzz::fail("X509_sign", __FILE__, __LINE__, "");
        std::FILE* c = std::fopen(cert.c_str(), "w");
        std::FILE* k = std::fopen(key.c_str(), "w");
        if (c == nullptr || k == nullptr || PEM_write_X509(c, x) != 1 ||
            PEM_write_PrivateKey(k, pkey, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
            weft::fuzz::fail("writing the certificate", __FILE__, __LINE__, dir);
        }
        std::fclose(c);
        std::fclose(k);
        X509_free(x);
        EVP_PKEY_free(pkey);
    }
    ~ServerFiles() {
        ::unlink(cert.c_str());
        ::unlink(key.c_str());
        ::rmdir(dir.c_str());
    }
};

const ServerFiles& files() {
    static const ServerFiles f;
    return f;
}

/// The four server contexts the header picks from, built once (building one reads the files).
std::shared_ptr<weft::TlsContext> context(unsigned which) {
    static const std::shared_ptr<weft::TlsContext> contexts[4] = {
        [] {
            weft::TlsServerOptions o;
            o.certificate = {files().cert, files().key, ""};
            return weft::TlsContext::server(o);
        }(),
        [] {
            weft::TlsServerOptions o;
            o.certificate = {files().cert, files().key, ""};
            o.alpn = {"h2", "http/1.1"};
            o.sni["other.test"] = {files().cert, files().key, ""};
            return weft::TlsContext::server(o);
        }(),
        [] {
            weft::TlsServerOptions o;
            o.certificate = {files().cert, files().key, ""};
            o.client_certificates = weft::ClientCertificates::optional;
            o.client_ca_file = files().cert;
            return weft::TlsContext::server(o);
        }(),
        [] {
            weft::TlsServerOptions o;
            o.certificate = {files().cert, files().key, ""};
            o.min_version = weft::TlsVersion::tls1_3;
            o.client_certificates = weft::ClientCertificates::required;
            o.client_ca_file = files().cert;
            return weft::TlsContext::server(o);
        }(),
    };
    return contexts[which & 3];
}

/// The protocol inside: echoes, and checks the order of its callbacks.
class Inner final : public weft::Protocol, public weft::TlsHandshakeListener {
public:
    Inner(bool write_early, bool lose_on_data) : write_early_(write_early), lose_on_data_(lose_on_data) {}

    int made = 0;
    int lost = 0;
    bool handshake = false;
    std::size_t received = 0;

    void connection_made() override {
        WEFT_FUZZ_CHECK(made == 0 && lost == 0, "connection_made twice or after connection_lost");
        ++made;
        WEFT_FUZZ_CHECK(transport().as_tls() != nullptr, "the TLS layer's transport has no as_tls()");
        if (write_early_) transport().write("early words, held until a handshake that never comes\n");
    }
    void handshake_completed() override {
        WEFT_FUZZ_CHECK(made == 1 && lost == 0, "handshake_completed outside the connection");
        handshake = true;
    }
    void data_received(std::string_view data) override {
        WEFT_FUZZ_CHECK(made == 1 && lost == 0, "data_received outside the connection");
        // The fuzzer cannot complete a handshake; if it ever did, plaintext must still come after it.
        WEFT_FUZZ_CHECK(handshake && transport().as_tls()->handshake_done(), "plaintext before the handshake");
        received += data.size();
        transport().write(data);
        if (lose_on_data_) transport().lose_connection();
    }
    void connection_lost(const weft::Reason&) override {
        WEFT_FUZZ_CHECK(made == 1 && lost == 0, "connection_lost twice or before connection_made");
        ++lost;
    }

private:
    bool write_early_;
    bool lose_on_data_;
};

/// True if `out`, read as TLS records from its start, holds an unencrypted fatal alert.
bool has_plaintext_fatal_alert(std::string_view out) {
    while (out.size() >= 5) {
        const auto type = static_cast<unsigned char>(out[0]);
        const std::size_t length = (static_cast<std::size_t>(static_cast<unsigned char>(out[3])) << 8) |
                                   static_cast<unsigned char>(out[4]);
        if (out.size() < 5 + length) return false;
        if (type == 0x15 && length == 2 && static_cast<unsigned char>(out[5]) == 2) return true;
        out.remove_prefix(5 + length);
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = weft::fuzz::Input::parse(data, size);
    weft::Reactor reactor;  // not run: its core lends the layer its buffer and end-of-turn flush queue
    weft::testing::Clock clock;
    weft::testing::StringTransport below;
    auto owned = std::make_unique<Inner>((in.flags & 0x04) != 0, (in.flags & 0x08) != 0);
    Inner& inner = *owned;
    {
        weft::detail::TlsLayer layer(reactor.core(), context(in.flags & 3), weft::detail::TlsStart{});
        layer.wrap(std::move(owned));
        layer.set_call_later([&clock](weft::Duration d, std::function<void()> fn) { return clock.call_later(d, std::move(fn)); });
        layer.make_connection(below);
        WEFT_FUZZ_CHECK(inner.made == 1, "connection_made was not delivered at once");

        auto turn = [&] {
            // What a running reactor would do between reads: the end-of-turn flushes.
            reactor.context().poll();
            reactor.context().restart();
        };
        auto check_output = [&](std::size_t fed) {
            WEFT_FUZZ_CHECK(below.value().size() <= output_allowance + 2 * fed,
                            "wrote " + std::to_string(below.value().size()) + " bytes for " + std::to_string(fed) +
                                " bytes of input");
            WEFT_FUZZ_CHECK(layer.buffered_bytes() <= output_allowance + 2 * fed,
                            "holds " + std::to_string(layer.buffered_bytes()) + " bytes");
        };
        weft::fuzz::feed(layer, in, true, [&](std::size_t fed, weft::fuzz::Chunker&) {
            turn();
            check_output(fed);
            WEFT_FUZZ_CHECK(inner.lost == 0, "connection_lost before the transport below went");
        });
        turn();
        check_output(in.stream.size());
        if (!layer.handshake_done() && (below.disconnect_requested() || below.aborted())) {
            WEFT_FUZZ_CHECK(inner.received == 0, "data delivered on a connection whose handshake failed");
        }
        // A fatal alert in the clear (the ClientHello was refused) ends the connection: the layer must have
        // asked the transport below to close, not wait for more from a peer it has refused.
        if (has_plaintext_fatal_alert(below.value())) {
            WEFT_FUZZ_CHECK(below.disconnect_requested() || below.aborted(),
                            "a fatal alert was sent but the connection stays open");
        }
        if ((in.flags & 0x20) != 0) {
            clock.advance(std::chrono::seconds(11));  // past the 10 s handshake timeout
            turn();
            if (!layer.handshake_done()) {
                WEFT_FUZZ_CHECK(below.disconnect_requested() || below.aborted(),
                                "the handshake timeout did not close the connection");
            }
        }
        if ((in.flags & 0x10) != 0) {
            layer.read_connection_lost();
            turn();
        }
        // The transport below goes, as a real one would once it was asked to (or the peer left).
        layer.connection_lost(weft::Reason::done());
        turn();
        WEFT_FUZZ_CHECK(inner.lost == 1, "connection_lost was not delivered exactly once");
    }
    return 0;
}
