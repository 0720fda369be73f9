#pragma once
// A raw OpenSSL peer on memory BIOs, for driving weft's TLS layer byte by byte in unit tests: the test moves
// ciphertext between it and the layer's StringTransport, so every step is deterministic.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace weft_test {

struct TlsMemoryPeerOptions {
    std::string ca_file;           // verify the server against it ("" = no verification)
    std::string server_name;       // SNI and the name verified
    std::string certificate_file;  // a client certificate (with its key in key_file)
    std::string key_file;
    std::vector<std::string> alpn;
    int max_version = 0;  // e.g. TLS1_2_VERSION; 0 = the highest
};

/// A TLS client on memory BIOs (OpenSSL only, none of weft).
class TlsMemoryPeer {
public:
    explicit TlsMemoryPeer(const TlsMemoryPeerOptions& o) {
        ctx_ = SSL_CTX_new(TLS_client_method());
        if (o.max_version != 0) SSL_CTX_set_max_proto_version(ctx_, o.max_version);
        if (!o.ca_file.empty()) {
            SSL_CTX_load_verify_locations(ctx_, o.ca_file.c_str(), nullptr);
            SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        }
        if (!o.certificate_file.empty()) {
            SSL_CTX_use_certificate_chain_file(ctx_, o.certificate_file.c_str());
            SSL_CTX_use_PrivateKey_file(ctx_, o.key_file.c_str(), SSL_FILETYPE_PEM);
        }
        if (!o.alpn.empty()) {
            std::string wire;
            for (const auto& n : o.alpn) wire += static_cast<char>(n.size()) + n;
            SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char*>(wire.data()),
                                    static_cast<unsigned>(wire.size()));
        }
        ssl_ = SSL_new(ctx_);
        in_ = BIO_new(BIO_s_mem());
        out_ = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(in_, -1);
        SSL_set_bio(ssl_, in_, out_);
        SSL_set_connect_state(ssl_);
        if (!o.server_name.empty()) {
            SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(o.server_name.c_str()));
            if (!o.ca_file.empty()) SSL_set1_host(ssl_, o.server_name.c_str());
        }
    }
    ~TlsMemoryPeer() {
        SSL_free(ssl_);
        SSL_CTX_free(ctx_);
    }
    TlsMemoryPeer(const TlsMemoryPeer&) = delete;
    TlsMemoryPeer& operator=(const TlsMemoryPeer&) = delete;

    /// Runs the handshake as far as the input allows; 1 when done.
    int handshake() { return SSL_do_handshake(ssl_); }
    [[nodiscard]] bool done() const { return SSL_is_init_finished(ssl_) == 1; }
    /// Ciphertext for the server.
    std::string take_output() {
        std::string out;
        char buf[16384];
        int n = 0;
        while ((n = BIO_read(out_, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
        return out;
    }
    /// Ciphertext from the server.
    void give(std::string_view ciphertext) {
        if (!ciphertext.empty()) BIO_write(in_, ciphertext.data(), static_cast<int>(ciphertext.size()));
    }
    /// Plaintext sent by the server so far; `closed` turns true at its close_notify.
    std::string read() {
        std::string got;
        char buf[16384];
        for (;;) {
            const int n = SSL_read(ssl_, buf, sizeof buf);
            if (n > 0) {
                got.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            const int err = SSL_get_error(ssl_, n);
            if (err == SSL_ERROR_ZERO_RETURN) closed = true;
            if (err == SSL_ERROR_SSL) failed = true;
            ERR_clear_error();
            return got;
        }
    }
    void write(std::string_view plaintext) {
        if (SSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size())) <= 0) {
            throw std::runtime_error("TlsMemoryPeer: SSL_write failed");
        }
    }
    void close_notify() { SSL_shutdown(ssl_); }
    SSL* ssl() { return ssl_; }

    bool closed = false;
    bool failed = false;

private:
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    BIO* in_ = nullptr;
    BIO* out_ = nullptr;
};

/// The TLS records in `ciphertext` by content type (23 = application data, 21 = alert, 22 = handshake).
inline std::vector<int> tls_record_types(std::string_view ciphertext) {
    std::vector<int> types;
    while (ciphertext.size() >= 5) {
        const auto len = (static_cast<std::size_t>(static_cast<unsigned char>(ciphertext[3])) << 8) |
                         static_cast<unsigned char>(ciphertext[4]);
        types.push_back(static_cast<unsigned char>(ciphertext[0]));
        if (ciphertext.size() < 5 + len) break;
        ciphertext.remove_prefix(5 + len);
    }
    return types;
}

}  // namespace weft_test
