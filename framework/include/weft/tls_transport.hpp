#pragma once
// TlsTransport: what a TLS connection tells beyond Transport (Twisted: ISSLTransport, IHandshakeListener).

#include <string>

namespace weft {

/// The TLS side of a connection: `transport().as_tls()` gives it (nullptr on a connection without TLS).
/// Before the handshake completes the answers are empty (handshake_done() is false).
class TlsTransport {
public:
    virtual ~TlsTransport() = default;
    /// True once the TLS handshake completed (the peer verified as the context asks); the other answers are
    /// meaningful only from then on.
    [[nodiscard]] virtual bool handshake_done() const noexcept = 0;
    /// "TLSv1.3", "TLSv1.2".
    [[nodiscard]] virtual std::string protocol_version() const = 0;
    /// The cipher suite, in OpenSSL's naming ("TLS_AES_256_GCM_SHA384").
    [[nodiscard]] virtual std::string cipher() const = 0;
    /// The protocol agreed by ALPN ("h2", "http/1.1"), or "".
    [[nodiscard]] virtual std::string negotiated_protocol() const = 0;
    /// The server name (SNI) the client sent, or "".
    [[nodiscard]] virtual std::string server_name() const = 0;
    /// True when this connection resumed an earlier session (no full handshake).
    [[nodiscard]] virtual bool session_reused() const noexcept = 0;
    /// The peer's certificate subject, RFC 2253 ("CN=alice,O=Example"), or "" when it sent none.
    [[nodiscard]] virtual std::string peer_certificate_subject() const = 0;

protected:
    TlsTransport() = default;
    /// For implementations only; users reach it through `transport().as_tls()`.
    /// @{
    TlsTransport(const TlsTransport&) = default;
    TlsTransport& operator=(const TlsTransport&) = default;
    /// @}
};

/// Mixed into a Protocol that wants to hear when its TLS handshake completes (Twisted: IHandshakeListener).
/// Writes made before then are held and sent encrypted once it completes.
class TlsHandshakeListener {
public:
    virtual ~TlsHandshakeListener() = default;
    /// The handshake completed: TlsTransport's answers (ALPN, peer certificate) are now known. Called once,
    /// on the reactor thread, before any data_received of application data.
    virtual void handshake_completed() = 0;

protected:
    TlsHandshakeListener() = default;
    /// For the protocol class that mixes this in; the mix-in has no state of its own.
    /// @{
    TlsHandshakeListener(const TlsHandshakeListener&) = default;
    TlsHandshakeListener& operator=(const TlsHandshakeListener&) = default;
    /// @}
};

}  // namespace weft
