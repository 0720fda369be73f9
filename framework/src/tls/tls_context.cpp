#include "tls/tls_context_impl.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

// OpenSSL's API is largely macros with C casts inside (SSL_set_tlsext_host_name, BIO_get_mem_data, ...).
#pragma GCC diagnostic ignored "-Wold-style-cast"

namespace weft {

namespace detail {

std::string openssl_errors(std::string_view fallback) {
    std::string out;
    while (const unsigned long code = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        // "error:0A000086:SSL routines::certificate verify failed": the reason is what a reader wants
        std::string_view text(buf);
        const auto cut = text.rfind(':');
        out += cut == std::string_view::npos ? text : text.substr(cut + 1);
    }
    return out.empty() ? std::string(fallback) : out;
}

bool is_ip_address(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace detail

namespace {

using detail::openssl_errors;
using detail::SslCtxPtr;

std::string lowercase(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

[[noreturn]] void fail(const std::string& what) {
    throw TlsError(what + ": " + openssl_errors("unknown OpenSSL error"));
}

/// ALPN's wire form: each name preceded by its length.
std::vector<unsigned char> alpn_wire(const std::vector<std::string>& names) {
    std::vector<unsigned char> wire;
    for (const auto& n : names) {
        if (n.empty() || n.size() > 255) {
            throw TlsError("ALPN protocol name \"" + n + "\" must be 1 to 255 bytes long");
        }
        wire.push_back(static_cast<unsigned char>(n.size()));
        wire.insert(wire.end(), n.begin(), n.end());
    }
    return wire;
}

void check_readable(const std::string& path, const char* what) {
    if (path.empty()) return;
    std::FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) {
        throw TlsError(std::string(what) + " \"" + path + "\" cannot be read: " + std::strerror(errno));
    }
    std::fclose(f);
}

void set_min_version(SSL_CTX* ctx, TlsVersion v) {
    SSL_CTX_set_min_proto_version(ctx, v == TlsVersion::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
}

void use_certificate(SSL_CTX* ctx, const TlsCertificateFiles& files) {
    check_readable(files.certificate_file, "certificate file");
    check_readable(files.private_key_file, "private key file");
    check_readable(files.chain_file, "certificate chain file");
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, files.certificate_file.c_str()) != 1) {
        fail("certificate file \"" + files.certificate_file + "\"");
    }
    if (!files.chain_file.empty()) {
        std::FILE* f = std::fopen(files.chain_file.c_str(), "r");
        int added = 0;
        while (X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
            if (SSL_CTX_add0_chain_cert(ctx, cert) != 1) {
                X509_free(cert);
                std::fclose(f);
                fail("certificate chain file \"" + files.chain_file + "\"");
            }
            ++added;
        }
        std::fclose(f);
        ERR_clear_error();  // the read loop ends with "no start line"
        if (added == 0) throw TlsError("certificate chain file \"" + files.chain_file + "\" holds no PEM certificate");
    }
    const std::string& key = files.private_key_file.empty() ? files.certificate_file : files.private_key_file;
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) fail("private key file \"" + key + "\"");
    if (SSL_CTX_check_private_key(ctx) != 1) {
        fail("private key \"" + key + "\" does not match certificate \"" + files.certificate_file + "\"");
    }
}

extern "C" int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                           unsigned int inlen, void* arg) {
    const auto* impl = static_cast<const TlsContext::Impl*>(arg);
    unsigned char* selected = nullptr;
    const auto& ours = impl->alpn;
    if (SSL_select_next_proto(&selected, outlen, ours.data(), static_cast<unsigned int>(ours.size()), in, inlen) !=
        OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;  // no protocol in common: go on without ALPN, as Twisted does
    }
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

extern "C" int select_certificate(SSL* ssl, int*, void* arg) {
    const auto* impl = static_cast<const TlsContext::Impl*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == nullptr) return SSL_TLSEXT_ERR_OK;
    const auto it = impl->sni_contexts.find(lowercase(name));
    if (it != impl->sni_contexts.end()) SSL_set_SSL_CTX(ssl, it->second.get());
    return SSL_TLSEXT_ERR_OK;
}

extern "C" int keep_client_session(SSL* ssl, SSL_SESSION* session) {
    auto* impl = static_cast<TlsContext::Impl*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    const auto* key = static_cast<const std::string*>(SSL_get_app_data(ssl));
    if (impl == nullptr || key == nullptr || key->empty()) return 0;
    impl->keep_session(*key, session);
    return 1;  // we hold the reference now
}

/// `impl` is the context the callbacks consult (the live one, also when a reload builds this aside).
SslCtxPtr server_ctx(TlsContext::Impl& impl, const TlsServerOptions& o, const TlsCertificateFiles& cert) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()), detail::SslCtxDeleter{});
    if (!ctx) fail("cannot create a TLS server context");
    set_min_version(ctx.get(), o.min_version);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Idle connections give their read/write buffers back (about 34 KiB each while they are held).
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
    static constexpr unsigned char session_id_context[] = "weft";
    SSL_CTX_set_session_id_context(ctx.get(), session_id_context, sizeof session_id_context - 1);
    use_certificate(ctx.get(), cert);
    if (o.client_certificates != ClientCertificates::none) {
        if (o.client_ca_file.empty()) {
            throw TlsError("client_ca_file is required when client certificates are asked for");
        }
        check_readable(o.client_ca_file, "client CA file");
        if (SSL_CTX_load_verify_locations(ctx.get(), o.client_ca_file.c_str(), nullptr) != 1) {
            fail("client CA file \"" + o.client_ca_file + "\"");
        }
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str());
        if (names == nullptr) fail("client CA file \"" + o.client_ca_file + "\"");
        SSL_CTX_set_client_CA_list(ctx.get(), names);
        int mode = SSL_VERIFY_PEER;
        if (o.client_certificates == ClientCertificates::required) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx.get(), mode, nullptr);
    }
    if (!impl.alpn.empty()) SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, &impl);
    SSL_CTX_set_tlsext_servername_callback(ctx.get(), select_certificate);
    SSL_CTX_set_tlsext_servername_arg(ctx.get(), &impl);
    return ctx;
}

SslCtxPtr client_ctx(TlsContext::Impl& impl, const TlsClientOptions& o) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()), detail::SslCtxDeleter{});
    if (!ctx) fail("cannot create a TLS client context");
    set_min_version(ctx.get(), o.min_version);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
    if (o.insecure_skip_certificate_verification) {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    } else {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
        if (o.ca_file.empty()) {
            if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) fail("the system's CA store");
        } else {
            check_readable(o.ca_file, "CA file");
            if (SSL_CTX_load_verify_locations(ctx.get(), o.ca_file.c_str(), nullptr) != 1) {
                fail("CA file \"" + o.ca_file + "\"");
            }
        }
    }
    if (!o.certificate.empty()) use_certificate(ctx.get(), o.certificate);
    if (!impl.alpn.empty() &&
        SSL_CTX_set_alpn_protos(ctx.get(), impl.alpn.data(), static_cast<unsigned int>(impl.alpn.size())) != 0) {
        fail("ALPN protocols");
    }
    if (o.resume_sessions) {
        SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx.get(), keep_client_session);
    } else {
        SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    }
    SSL_CTX_set_app_data(ctx.get(), &impl);
    return ctx;
}

}  // namespace

// ------------------------------------------------------------------------------------- TlsContext::Impl

void TlsContext::Impl::keep_session(const std::string& key, SSL_SESSION* session) {
    auto it = sessions.find(key);
    if (it != sessions.end()) {
        it->second.reset(session);
        return;
    }
    if (sessions.size() >= max_sessions) sessions.erase(sessions.begin());  // bounded: any one goes
    sessions.emplace(key, detail::SslSessionPtr(session));
}

SSL_SESSION* TlsContext::Impl::session_for(const std::string& key) const {
    const auto it = sessions.find(key);
    return it == sessions.end() ? nullptr : it->second.get();
}

void TlsContext::Impl::build(Impl& owner) {
    if (server) {
        if (server_options.certificate.empty()) throw TlsError("a TLS server needs a certificate file");
        alpn = alpn_wire(server_options.alpn);
        ctx = server_ctx(owner, server_options, server_options.certificate);
        for (const auto& [name, files] : server_options.sni) {
            if (files.empty()) throw TlsError("SNI name \"" + name + "\" has no certificate file");
            sni_contexts.emplace(lowercase(name), server_ctx(owner, server_options, files));
        }
    } else {
        alpn = alpn_wire(client_options.alpn);
        ctx = client_ctx(owner, client_options);
    }
}

// ------------------------------------------------------------------------------------------- TlsContext

TlsContext::TlsContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsContext::~TlsContext() = default;

std::shared_ptr<TlsContext> TlsContext::server(TlsServerOptions options) {
    auto impl = std::make_unique<Impl>();
    impl->server = true;
    impl->server_options = std::move(options);
    impl->build(*impl);
    return std::shared_ptr<TlsContext>(new TlsContext(std::move(impl)));  // NOLINT: private constructor
}

std::shared_ptr<TlsContext> TlsContext::client(TlsClientOptions options) {
    auto impl = std::make_unique<Impl>();
    impl->server = false;
    impl->client_options = std::move(options);
    impl->build(*impl);
    return std::shared_ptr<TlsContext>(new TlsContext(std::move(impl)));  // NOLINT: private constructor
}

bool TlsContext::is_server() const noexcept { return impl_->server; }

void TlsContext::reload() {
    // Built aside first: a file that fails leaves the context as it was. Live connections hold their own
    // reference to the SSL_CTX they started with.
    Impl fresh;
    fresh.server = impl_->server;
    fresh.server_options = impl_->server_options;
    fresh.client_options = impl_->client_options;
    fresh.build(*impl_);
    impl_->ctx = std::move(fresh.ctx);
    impl_->sni_contexts = std::move(fresh.sni_contexts);
    impl_->sessions.clear();  // a client resumes no session made under the old certificates
}

Duration TlsContext::handshake_timeout() const noexcept {
    return impl_->server ? impl_->server_options.handshake_timeout : impl_->client_options.handshake_timeout;
}

const std::string& TlsContext::server_name() const noexcept { return impl_->client_options.server_name; }

}  // namespace weft
