#pragma once
// Endpoint description strings (Twisted: serverFromString / clientFromString's mini-language), parsed into
// plain values. docs/endpoints.md has the full syntax, every key and its default.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "weft/error.hpp"
#include "weft/time.hpp"

namespace weft {

class TlsContext;

/// A description string that does not parse. The message quotes the description (control bytes as `\xNN`,
/// cut after 120 characters), names the endpoint type and the bad field and value, e.g.
/// `tcp endpoint "tcp:99999": port 99999 is out of range (0-65535)`. field() is that field's key ("port",
/// "mode", ...), "type" for a bad or unknown type, or "" for a syntax error of the whole string.
class EndpointError : public Error {
public:
    /// `message` is what what() returns; `field` as field() returns it.
    EndpointError(const std::string& message, std::string field) : Error(message), field_(std::move(field)) {}
    /// The key of the bad field ("port", "mode", ...), "type" for the type, "" for a syntax error.
    [[nodiscard]] const std::string& field() const noexcept { return field_; }

private:
    std::string field_;
};

/// The most bytes a UNIX socket path may have: sun_path holds 108 bytes with the terminating NUL. An abstract
/// name ("@name") has no terminator, but Boost.Asio refuses 108 bytes for it too: the same limit, '@' counted.
inline constexpr std::size_t max_unix_path_length = 107;

/// `tcp:PORT[:interface=ADDR][:backlog=N]` and `tcp6:...`: listen on a TCP port. interface is a numeric
/// address ("" = every IPv4 interface for tcp; tcp6 defaults to "::" and takes IPv6 addresses only).
struct TcpServerEndpoint {
    std::uint16_t port = 0;  ///< 0 lets the system pick a free port
    std::string interface;   ///< numeric address to bind; "" = every IPv4 interface ("::" for tcp6)
    int backlog = 511;  ///< 1-65535
    bool ipv6 = false;  ///< written tcp6
    /// Field by field; a value and its to_string() parsed back compare equal.
    friend bool operator==(const TcpServerEndpoint&, const TcpServerEndpoint&) = default;
};

/// `ssl:PORT[:interface=ADDR][:backlog=N]:private_key=KEY.pem[:cert_key=CERT.pem][:extra_cert_chain=CHAIN.pem]
/// [:client_ca=CA.pem][:verify_client=optional|required][:alpn=h2,http/1.1][:handshake_timeout=SECONDS]`:
/// a TCP port whose connections speak TLS (Twisted's ssl: endpoint; positional: port, private_key, cert_key).
/// cert_key "" means the certificate is in the private_key file. client_ca without verify_client asks for
/// client certificates optionally.
struct SslServerEndpoint {
    TcpServerEndpoint tcp;         ///< the port, interface and backlog, as for tcp:
    std::string private_key;       ///< path of the PEM private key (required; may hold the certificate too)
    std::string cert_key;          ///< path of the PEM certificate, leaf first; "" = in the private_key file
    std::string extra_cert_chain;  ///< path of PEM intermediates sent after the leaf; "" = none
    std::string client_ca;         ///< path of PEM CAs client certificates must chain to; "" = none
    std::string verify_client = "none";  ///< none, optional or required
    std::vector<std::string> alpn;  ///< ALPN protocols in the server's order of preference; empty = no ALPN
    Duration handshake_timeout = std::chrono::seconds(10);  ///< a client not through its handshake by then is cut
    /// Field by field; a value and its to_string() parsed back compare equal.
    friend bool operator==(const SslServerEndpoint&, const SslServerEndpoint&) = default;
};

/// `unix:PATH[:mode=660][:backlog=N][:lockfile=0|1]`: listen on a UNIX socket. A path starting with '@' is a
/// name in Linux's abstract namespace (kept as given, '@' included; the listener turns it into the leading NUL).
struct UnixServerEndpoint {
    std::string path;     ///< the socket's path (the `address` key); at most max_unix_path_length bytes
    int mode = 0666;      ///< permissions of the socket file; written in octal ("660")
    int backlog = 511;    ///< 1-65535
    bool lockfile = true; ///< Twisted's wantPID: a PATH.lock file so a live listener is never replaced
    /// Field by field; a value and its to_string() parsed back compare equal.
    friend bool operator==(const UnixServerEndpoint&, const UnixServerEndpoint&) = default;
};

/// `fd:N` or `fd:fileno=N[:domain=INET|INET6|UNIX]`: adopt an inherited, already listening socket.
struct FdServerEndpoint {
    int fd = 0;                   ///< the inherited listening socket (the `fileno` key), 0-2147483647
    std::string domain = "INET";  ///< its address family: INET, INET6 or UNIX
    /// Field by field; a value and its to_string() parsed back compare equal.
    friend bool operator==(const FdServerEndpoint&, const FdServerEndpoint&) = default;
};

/// `systemd:domain=INET:index=0` or `systemd:domain=UNIX:name=NAME`: a socket passed by systemd's socket
/// activation (LISTEN_FDS; weft/systemd.hpp reads it). index counts from the first passed descriptor (fd 3);
/// name, when not empty, picks the descriptor by its FileDescriptorName= (LISTEN_FDNAMES) instead.
struct SystemdServerEndpoint {
    std::string domain = "INET";  ///< the socket's address family: INET, INET6 or UNIX
    int index = 0;                ///< which passed socket: 0 is fd 3 (ignored when name is set)
    std::string name;             ///< its FileDescriptorName=; "" = pick by index
    /// Field by field; a value and its to_string() parsed back compare equal.
    friend bool operator==(const SystemdServerEndpoint&, const SystemdServerEndpoint&) = default;
};

/// `udp:PORT[:interface=ADDR][:max_packet_size=N]`: a UDP port (Reactor::listen_udp), a datagram endpoint:
/// stream listeners (listen_on) refuse it. interface as for tcp ("" = every IPv4 interface; an IPv6 address
/// makes an IPv6 socket); max_packet_size 1-65536, default 8192 (UdpOptions).
struct UdpServerEndpoint {
    std::uint16_t port = 0;              ///< 0 lets the system pick a free port
    std::string interface;               ///< numeric address to bind; "" = every IPv4 interface
    std::size_t max_packet_size = 8192;  ///< bytes, 1-65536: longer datagrams are reported as truncated
    /// Field by field; a value and its to_string() parsed back compare equal.
    friend bool operator==(const UdpServerEndpoint&, const UdpServerEndpoint&) = default;
};

/// `tcp:host=HOST:port=PORT[:timeout=SECONDS][:bind_address=ADDR]`, positional `tcp:HOST:PORT`, and `tcp6:`
/// the same (then only IPv6 addresses are wanted). host is a name or a numeric address; it is not resolved here.
struct TcpClientEndpoint {
    std::string host;        ///< a name or a numeric address, resolved when connecting
    std::uint16_t port = 0;  ///< 1-65535
    Duration timeout = std::chrono::seconds(30);  ///< the connect timeout; more than 0, at most a year
    std::string bind_address;  ///< local numeric address to bind first ("" = any)
    bool ipv6 = false;         ///< written tcp6
    /// Field by field; a value and its to_string() parsed back compare equal.
    friend bool operator==(const TcpClientEndpoint&, const TcpClientEndpoint&) = default;
};

/// `unix:path=PATH[:timeout=SECONDS][:check_pid=0|1]` or positional `unix:PATH`. '@' as for the server.
struct UnixClientEndpoint {
    std::string path;  ///< the socket's path, or "@name" in the abstract namespace
    Duration timeout = std::chrono::seconds(30);  ///< the connect timeout; more than 0, at most a year
    bool check_pid = false;  ///< refuse to connect unless PATH.lock names a live process (Twisted's checkPID)
    /// Field by field; a value and its to_string() parsed back compare equal.
    friend bool operator==(const UnixClientEndpoint&, const UnixClientEndpoint&) = default;
};

/// `tls:host=HOST:port=PORT[:ca=CA.pem][:server_name=NAME][:certificate=CERT.pem[:private_key=KEY.pem]]
/// [:alpn=h2,http/1.1][:timeout=SECONDS][:bind_address=ADDR][:insecure_skip_certificate_verification=1]`, or
/// positional `tls:HOST:PORT`: a TCP connection speaking TLS. The server's certificate is verified against
/// `ca` (default: the system's CAs) for `server_name` (default: host).
struct TlsClientEndpoint {
    TcpClientEndpoint tcp;    ///< host, port, timeout and bind address, as for tcp:
    std::string ca;           ///< path of the PEM CAs the server's certificate must chain to; "" = the system's
    std::string server_name;  ///< the name sent as SNI and checked against the certificate; "" = tcp.host
    std::string certificate;  ///< path of a PEM client certificate; "" = none
    std::string private_key;  ///< path of its PEM key; "" = in the certificate file
    std::vector<std::string> alpn;  ///< ALPN protocols to offer; empty = no ALPN
    bool insecure_skip_certificate_verification = false;  ///< accept any certificate for any name (tests only)
    /// A client context to connect with instead of one built from the fields above (which are then not
    /// used, except tcp). Not part of the description string (parse never sets it, to_string ignores it).
    /// Why: building a context reads the CA store (tens of milliseconds for the system's), and sessions
    /// resume only with the context that made them. When it is empty connect_to builds one per call and
    /// ClientService one for all its attempts.
    std::shared_ptr<TlsContext> context{};
    /// Field by field (context by pointer); a value without a context and its to_string() parsed back
    /// compare equal.
    friend bool operator==(const TlsClientEndpoint&, const TlsClientEndpoint&) = default;
};

/// Any parsed server description: what listen_on / endpoint_listen take.
using ServerEndpoint =
    std::variant<TcpServerEndpoint, UnixServerEndpoint, FdServerEndpoint, SystemdServerEndpoint, SslServerEndpoint,
                 UdpServerEndpoint>;
/// Any parsed client description: what connect_on / endpoint_connect take.
using ClientEndpoint = std::variant<TcpClientEndpoint, UnixClientEndpoint, TlsClientEndpoint>;

/// Parses a server description (Twisted: serverFromString without the listening). The syntax is Twisted's:
/// `TYPE:ARG:ARG...`, each argument either positional (in the type's order, e.g. tcp: port, interface,
/// backlog) or `key=value`; a backslash makes the next character literal (`unix:/tmp/a\:b` is "/tmp/a:b").
/// Types: tcp, tcp6, unix, fd, systemd, ssl, udp; keys are weft's snake_case names and nothing else.
///
/// Pure: it reads only its argument, never the network, the file system or the environment (a systemd
/// endpoint is only an index or name here). Every value is checked (ranges, octal modes, numeric addresses,
/// UNIX path length, NUL bytes); anything else throws EndpointError naming the field. Linear in the input.
[[nodiscard]] ServerEndpoint parse_server_endpoint(std::string_view description);

/// Parses a client description (Twisted: clientFromString without the connecting): tcp, tcp6, unix, tls. Same
/// syntax and guarantees as parse_server_endpoint.
[[nodiscard]] ClientEndpoint parse_client_endpoint(std::string_view description);

/// The canonical description of `endpoint`: the type, the positional port or path, then only the keys that
/// differ from their defaults, each value escaped. For any value a parse returned, parsing the result gives
/// an equal value.
/// @{
[[nodiscard]] std::string to_string(const ServerEndpoint& endpoint);
[[nodiscard]] std::string to_string(const ClientEndpoint& endpoint);
/// @}

/// Escapes `argument` so that it reads back as one literal value (Twisted: quoteStringArgument, which also
/// escapes '=' here so that a positional value containing one is not taken for a key).
[[nodiscard]] std::string quote_endpoint_argument(std::string_view argument);

}  // namespace weft
