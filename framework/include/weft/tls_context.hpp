#pragma once
// TlsContext: the TLS settings and certificates that connections share (Twisted: CertificateOptions for a
// server, optionsForClientTLS for a client), on OpenSSL 3. docs/tls.md is the howto.

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "weft/error.hpp"
#include "weft/time.hpp"

namespace weft {

/// A TLS setting that cannot be used (a missing or unreadable PEM file, a key that does not match its
/// certificate, a bad ALPN name) or a TLS call misused. The message names the file or setting and carries
/// OpenSSL's own reason.
class TlsError : public Error {
public:
    using Error::Error;
};

/// The lowest protocol version a context accepts.
enum class TlsVersion { tls1_2, tls1_3 };

/// What a server asks of its clients' certificates.
enum class ClientCertificates {
    none,      ///< none is asked for
    optional,  ///< asked for; a client without one is let in, one that does not verify is refused
    required,  ///< a client without a certificate that verifies against client_ca_file is refused
};

/// One certificate with its key, as PEM files.
struct TlsCertificateFiles {
    std::string certificate_file{};  ///< the certificate (leaf first; may hold the chain and the key too)
    std::string private_key_file{};  ///< "" = the key is in certificate_file
    std::string chain_file{};        ///< intermediate certificates sent after the leaf ("" = none)
    /// True when no certificate is set (certificate_file is ""): no certificate is presented.
    [[nodiscard]] bool empty() const noexcept { return certificate_file.empty(); }
};

/// What TlsContext::server() builds a server context from; only `certificate` is required.
struct TlsServerOptions {
    /// The certificate of every handshake whose server name has no entry in `sni` (required).
    TlsCertificateFiles certificate{};
    /// Per server name (SNI, compared case-insensitively): the certificate a client asking for that name
    /// gets.
    std::map<std::string, TlsCertificateFiles> sni{};
    ClientCertificates client_certificates = ClientCertificates::none;  ///< whether clients must present one
    /// The CAs client certificates must chain to (PEM); required unless client_certificates is none.
    std::string client_ca_file{};
    /// ALPN protocols the server speaks, in its order of preference ("h2", "http/1.1"); empty = no ALPN.
    /// A client offering none of them goes on without an ALPN protocol.
    std::vector<std::string> alpn{};
    TlsVersion min_version = TlsVersion::tls1_2;  ///< older clients are refused in the handshake
    /// A client that has not completed its handshake this long after connecting is cut off.
    Duration handshake_timeout = std::chrono::seconds(10);
};

/// What TlsContext::client() builds a client context from; every field has a usable default (verify the
/// server against the system's CAs for the host connected to).
struct TlsClientOptions {
    /// Sent as SNI and checked against the server's certificate. "" = the host given to connect_ssl
    /// (or, for start_tls, the peer's address).
    std::string server_name{};
    /// The CAs to trust (PEM); "" = the system's store (/etc/ssl/certs).
    std::string ca_file{};
    /// A client certificate to present when the server asks (empty = none).
    TlsCertificateFiles certificate{};
    /// ALPN protocols to offer, in order of preference; empty = no ALPN.
    std::vector<std::string> alpn{};
    TlsVersion min_version = TlsVersion::tls1_2;  ///< a server offering only older versions is refused
    /// A handshake not complete this long after it began is aborted (the connection fails with an error
    /// Reason); zero or less: no limit.
    Duration handshake_timeout = std::chrono::seconds(10);
    /// Resume sessions with servers this context has talked to (each host name:port keeps its latest).
    bool resume_sessions = true;
    /// Accept any server certificate, unverified, for any name. Anyone on the path can then read and change
    /// the traffic: only for tests against throw-away certificates. Every connection logs a warning.
    bool insecure_skip_certificate_verification = false;
};

/// Settings and certificates for one side of TLS, shared by every connection made with it (they hold it
/// by shared_ptr, so it may be dropped while connections live). Building one reads and checks every file
/// at once and throws TlsError naming what is wrong. The cipher suites are OpenSSL's system policy
/// (/etc/ssl/openssl.cnf); renegotiation is refused; TLS 1.2 is the lowest version unless raised.
/// Use on the reactor thread only.
class TlsContext {
public:
    /// A server context (listen_ssl, `ssl:` endpoints, start_tls on a server).
    [[nodiscard]] static std::shared_ptr<TlsContext> server(TlsServerOptions options);
    /// A client context (connect_ssl, `tls:` endpoints, start_tls on a client).
    [[nodiscard]] static std::shared_ptr<TlsContext> client(TlsClientOptions options = {});

    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    /// True for a context made by server(), false for client().
    [[nodiscard]] bool is_server() const noexcept;
    /// Reads the certificate, key, chain and CA files again (certificate rotation without a restart): new
    /// handshakes use the new ones, live connections keep theirs. On error (TlsError) the old ones stay.
    void reload();
    /// The options' handshake_timeout: how long a connection using this context may take to complete its
    /// handshake.
    [[nodiscard]] Duration handshake_timeout() const noexcept;
    /// The client's server_name option ("" for a server context, or when none was set).
    [[nodiscard]] const std::string& server_name() const noexcept;

    struct Impl;
    /// For weft's own TLS code.
    [[nodiscard]] Impl& impl() noexcept { return *impl_; }

private:
    explicit TlsContext(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace weft
