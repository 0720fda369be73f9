#pragma once
// Agent: the HTTP/1.1 client (Twisted: twisted.web.client.Agent with an HTTPConnectionPool, readBody and
// BrowserLikeRedirectAgent in one object). docs/web.md's client section is the howto.

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/deferred.hpp"
#include "weft/error.hpp"
#include "weft/reactor_network.hpp"
#include "weft/reactor_time.hpp"
#include "weft/time.hpp"
#include "weft/tls_context.hpp"
#include "weft/web/request.hpp"

namespace weft::web {

/// A response that could not be read (Twisted: ResponseFailed): the connection was lost before the
/// response was complete, the response was malformed, or it broke a limit (its body larger than
/// AgentOptions::max_body_bytes). what() says "HTTP response failed: REASON".
class ResponseFailed : public Error {
public:
    /// `reason` says what went wrong ("connection lost before the body ended", "body over 16777216 bytes").
    explicit ResponseFailed(const std::string& reason) : Error("HTTP response failed: " + reason), reason_(reason) {}
    /// The reason alone, without what()'s prefix.
    [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

private:
    std::string reason_;
};

/// One whole response (Twisted: IResponse with its body already read, as readBody gives it).
struct Response {
    int status = 0;            ///< the status code (200, 404, ...)
    std::string reason;        ///< the reason phrase as sent ("OK")
    int version = 11;          ///< 10 or 11
    std::vector<Header> headers;  ///< in order, as received
    std::string body;          ///< de-chunked; empty for HEAD, 204 and 304
    std::string url;           ///< the URL this response answers (the last one after redirects)

    /// The first value of header `name` (case-insensitive), if any.
    [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
};

/// The client's settings. Every default is safe against a hostile server: bounded time, bounded memory.
struct AgentOptions {
    /// Giving up on a connection attempt (resolution and connect): ConnectError.
    Duration connect_timeout = std::chrono::seconds(30);
    /// From the call to the whole response read (connecting included, each redirect anew): TimeoutError.
    Duration response_timeout = std::chrono::seconds(60);
    /// Largest response body (after de-chunking): ResponseFailed beyond it.
    std::uint64_t max_body_bytes = 16 * 1024 * 1024;
    /// Largest status line and header block: ResponseFailed beyond it.
    std::size_t max_header_bytes = 64 * 1024;
    /// Keep connections open for later requests to the same scheme, host and port (Twisted's
    /// persistent HTTPConnectionPool). false: one connection per request, sent with `Connection: close`.
    bool persistent = true;
    /// Idle connections kept per scheme, host and port; more are closed (Twisted: maxPersistentPerHost).
    std::size_t max_idle_per_host = 2;
    /// An idle connection is closed after this (Twisted: cachedConnectionTimeout).
    Duration idle_timeout = std::chrono::seconds(240);
    /// Redirects (301, 302, 303, 307, 308 with a Location) followed, at most; 0: a 3xx is returned as it
    /// is. 303, and 301/302 after a POST, are followed with a GET without body (as browsers do); 307 and 308
    /// repeat the method and body. The last response is returned when the limit is reached.
    int max_redirects = 0;
    /// https: the CAs to trust (PEM); "" = the system's store. Certificates are always verified unless
    /// insecure_skip_certificate_verification (tests against throw-away certificates only).
    std::string ca_file;
    bool insecure_skip_certificate_verification = false;  ///< accept any certificate for any name (tests only)
    /// https: a client context used for every https connection instead of one built from ca_file and
    /// insecure_skip_certificate_verification (for a client certificate, or one context shared by the
    /// Agents of one reactor: a TlsContext is single-threaded). Its server_name must be empty (each
    /// connection names its URL's host; the constructor throws std::invalid_argument otherwise, and for a
    /// server context), and it should offer ALPN "http/1.1" or none ("h2" first would get HTTP/2 from a
    /// server that speaks it). Without it the Agent builds one on its first https request and keeps it, so
    /// the CA store is read once and a new connection to a host resumes that host's TLS session.
    std::shared_ptr<TlsContext> tls_context{};
    /// The User-Agent header sent when the request has none; "" sends none.
    std::string user_agent = "weft";
};

/// An HTTP/1.1 client for http: and https: URLs.
///
/// Contract: request() sends one request and fires with the whole Response, whatever its status (a 404
/// is a Response, not an error). It fails with std::invalid_argument for a URL or header that cannot be
/// sent, ConnectError when no connection could be made (refused, unresolvable, connect_timeout),
/// ResponseFailed when the response could not be read, TimeoutError after response_timeout, and
/// CancelledError when cancelled: cancelling stops the attempt or aborts the connection. https verifies
/// the server's certificate for the URL's host (SNI with it too). Connections are reused per scheme,
/// host and port when both sides keep them alive; a request that fails on a reused connection before
/// any byte of its response came is sent once more on a new one if its method is idempotent (the server
/// may have closed the idle connection as we wrote). Use on the reactor thread; the Agent may be
/// destroyed with requests in flight (they finish; its idle connections are closed).
class Agent {
public:
    /// Connects through `network` and times out on `time`; both must outlive the Agent and its requests.
    Agent(ReactorNetwork& network, ReactorTime& time, AgentOptions options = {});
    /// With a reactor that is both (weft::Reactor).
    template <class R>
        requires std::derived_from<R, ReactorNetwork> && std::derived_from<R, ReactorTime>
    explicit Agent(R& reactor, AgentOptions options = {})
        : Agent(static_cast<ReactorNetwork&>(reactor), static_cast<ReactorTime&>(reactor), std::move(options)) {}
    ~Agent();
    Agent(const Agent&) = delete;
    Agent& operator=(const Agent&) = delete;

    /// Sends `method` to `url` with `headers` (Host, Content-Length and User-Agent are added unless
    /// given) and `body` (Twisted: Agent.request + readBody).
    Deferred<Response> request(std::string method, std::string url, std::vector<Header> headers = {},
                               std::string body = {});
    /// request("GET", url) (Twisted: treq.get).
    Deferred<Response> get(std::string url) { return request("GET", std::move(url)); }

    /// Idle connections in the pool now, over every host.
    [[nodiscard]] std::size_t idle_connections() const noexcept;
    /// Closes every idle connection (Twisted: HTTPConnectionPool.closeCachedConnections).
    void close_idle_connections();

    /// The settings it was made with.
    [[nodiscard]] const AgentOptions& options() const noexcept;

    struct Core;

private:
    std::shared_ptr<Core> core_;
};

}  // namespace weft::web
