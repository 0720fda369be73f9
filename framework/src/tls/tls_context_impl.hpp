#pragma once
// The OpenSSL side of a TlsContext, shared by the context and the TLS layer.

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>
#include <cstring>

#include <openssl/ssl.h>

#include "weft/tls_context.hpp"

namespace weft::detail {

struct SslCtxDeleter {
    void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslSessionDeleter {
    void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
};
using SslCtxPtr = std::shared_ptr<SSL_CTX>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, SslSessionDeleter>;

/// OpenSSL's error queue as one line of reasons ("certificate verify failed; ..."), emptied; `fallback`
/// when it holds nothing.
std::string openssl_errors(std::string_view fallback);
/// A numeric IPv4 or IPv6 address (verified as an IP SAN, and never sent as SNI).
bool is_ip_address(const std::string& host);

}  // namespace weft::detail

namespace weft {

struct TlsContext::Impl {
    static constexpr std::size_t max_sessions = 256;  // client sessions kept for resumption, one per server

    bool server = false;
    TlsServerOptions server_options;
    TlsClientOptions client_options;
    std::vector<unsigned char> alpn;  // wire form
    detail::SslCtxPtr ctx;
    std::map<std::string, detail::SslCtxPtr> sni_contexts;  // lowercase server name -> its certificate
    std::map<std::string, detail::SslSessionPtr> sessions;  // client: "server name|address" -> latest

    /// Builds the SSL_CTX (and the per-name ones) from the options, their callbacks consulting `owner`
    /// (this, or the live context when a reload builds aside); throws TlsError.
    void build(Impl& owner);
    void keep_session(const std::string& key, SSL_SESSION* session);
    [[nodiscard]] SSL_SESSION* session_for(const std::string& key) const;
    void forget_session(const std::string& key) { sessions.erase(key); }
};

}  // namespace weft
