// The HTTP client: URLs, request serialisation, the per-host pool and redirects. The connection itself
// is HttpClientProtocol.

#include "weft/web/agent.hpp"
#include "http_text.hpp"

#include <algorithm>
#include <cctype>
#include <deque>
#include <exception>
#include <map>
#include <stdexcept>
#include <utility>
#include <variant>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "http_client_protocol.hpp"
#include "weft/coroutine.hpp"
#include "weft/deferred_endpoints.hpp"
#include "weft/endpoint.hpp"
#include "weft/string_endpoints.hpp"

namespace weft::web {

namespace {

using detail::iequals;

// RFC 9110's token: a method or a field name.
bool is_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return std::isalnum(u) != 0 || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

/// Where a URL sends a request.
struct Target {
    std::string url;          // as given, less its fragment
    bool https = false;
    std::string host;         // to connect to (an IPv6 address without brackets)
    std::uint16_t port = 0;
    std::string host_header;  // "example.org", "example.org:8080", "[::1]:8080"
    std::string target;       // "/path?query"
    std::string key;          // the pool's key: "https://example.org:443"
};

Target parse_target(std::string_view text) {
    auto parsed = boost::urls::parse_uri(text);
    if (!parsed) throw std::invalid_argument("not a URL: \"" + std::string(text) + "\" (" + parsed.error().message() + ")");
    boost::urls::url url(*parsed);
    url.remove_fragment();
    Target t;
    t.url = std::string(url.buffer());
    const std::string scheme(url.scheme());
    if (iequals(scheme, "https")) {
        t.https = true;
    } else if (!iequals(scheme, "http")) {
        throw std::invalid_argument("not an http: or https: URL: \"" + std::string(text) + "\"");
    }
    if (!url.has_authority() || url.encoded_host().empty()) {
        throw std::invalid_argument("a URL without a host: \"" + std::string(text) + "\"");
    }
    const bool ipv6 = url.host_type() == boost::urls::host_type::ipv6;
    t.host = ipv6 ? std::string(url.encoded_host_address()) : std::string(url.host());
    // url.host() is percent-decoded: "%0d%0a" would put a raw CR LF in the Host line.
    for (const char c : t.host) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
            throw std::invalid_argument("a host name with a control character or a space: \"" + std::string(text) + "\"");
        }
    }
    const std::uint16_t default_port = t.https ? 443 : 80;
    t.port = default_port;
    if (url.has_port() && !url.port().empty()) {
        const auto port = url.port_number();
        if (port == 0) throw std::invalid_argument("a URL with a bad port: \"" + std::string(text) + "\"");
        t.port = port;
    }
    const std::string bracketed = ipv6 ? "[" + t.host + "]" : t.host;
    t.host_header = t.port == default_port ? bracketed : bracketed + ":" + std::to_string(t.port);
    t.target = url.encoded_path().empty() ? "/" : std::string(url.encoded_path());
    if (url.has_query()) t.target += "?" + std::string(url.encoded_query());
    t.key = (t.https ? "https://" : "http://") + bracketed + ":" + std::to_string(t.port);
    return t;
}

bool has_header(const std::vector<Header>& headers, std::string_view name) {
    return std::any_of(headers.begin(), headers.end(), [&](const Header& h) { return iequals(h.name, name); });
}

void remove_header(std::vector<Header>& headers, std::string_view name) {
    std::erase_if(headers, [&](const Header& h) { return iequals(h.name, name); });
}

std::string serialise(const std::string& method, const Target& t, const std::vector<Header>& headers,
                      const std::string& body, const AgentOptions& options) {
    if (!is_token(method)) throw std::invalid_argument("not an HTTP method: \"" + method + "\"");
    std::string out = method + " " + t.target + " HTTP/1.1\r\n";
    if (!has_header(headers, "Host")) out += "Host: " + t.host_header + "\r\n";
    for (const auto& h : headers) {
        if (!is_token(h.name)) throw std::invalid_argument("not a header name: \"" + h.name + "\"");
        if (h.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
            throw std::invalid_argument("header " + h.name + " has a CR, LF or NUL in its value");
        }
        if (iequals(h.name, "Content-Length") || iequals(h.name, "Transfer-Encoding")) {
            throw std::invalid_argument("the Agent frames the body itself: no " + h.name + " header");
        }
        out += h.name + ": " + h.value + "\r\n";
    }
    if (!options.user_agent.empty() && !has_header(headers, "User-Agent")) {
        out += "User-Agent: " + options.user_agent + "\r\n";
    }
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    if (!options.persistent) out += "Connection: close\r\n";
    out += "\r\n";
    out += body;
    return out;
}

bool idempotent(std::string_view method) {
    for (std::string_view m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) {
        if (method == m) return true;
    }
    return false;
}

bool is_redirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

ClientEndpoint endpoint_for(const Target& t, const AgentOptions& options) {
    TcpClientEndpoint tcp;
    tcp.host = t.host;
    tcp.port = t.port;
    tcp.timeout = options.connect_timeout;
    if (!t.https) return tcp;
    TlsClientEndpoint tls;
    tls.tcp = std::move(tcp);
    if (!options.tls_context) {  // else these are not used, and not named in errors
        tls.ca = options.ca_file;
        tls.insecure_skip_certificate_verification = options.insecure_skip_certificate_verification;
    }
    tls.alpn = {"http/1.1"};
    return tls;  // the context is the Agent's (Core::share_tls_context)
}

}  // namespace

std::optional<std::string_view> Response::header(std::string_view name) const {
    for (const auto& h : headers) {
        if (iequals(h.name, name)) return std::string_view(h.value);
    }
    return std::nullopt;
}

/// The Agent's state, shared with its requests in flight so that the Agent may go first: the options and
/// the pool of idle connections (Twisted: HTTPConnectionPool).
struct Agent::Core final : detail::ConnectionPool, std::enable_shared_from_this<Agent::Core> {
    Core(ReactorNetwork& n, ReactorTime& t, AgentOptions o) : network(n), time(t), options(std::move(o)) {}

    void connection_idle(detail::HttpClientProtocol& connection) override {
        if (closed || !options.persistent || options.max_idle_per_host == 0) return connection.close();
        auto& queue = idle[connection.key()];
        queue.push_back(&connection);
        connection.start_idle_timer(time, options.idle_timeout);
        while (queue.size() > options.max_idle_per_host) {
            auto* oldest = queue.front();
            queue.pop_front();
            oldest->close();
        }
    }

    void connection_gone(detail::HttpClientProtocol& connection) override {
        auto it = idle.find(connection.key());
        if (it == idle.end()) return;
        std::erase(it->second, &connection);
        if (it->second.empty()) idle.erase(it);
    }

    /// The most recently used idle connection to `key`, taken out of the pool.
    detail::HttpClientProtocol* take_idle(const std::string& key) {
        auto it = idle.find(key);
        if (it == idle.end()) return nullptr;
        auto* connection = it->second.back();
        it->second.pop_back();
        if (it->second.empty()) idle.erase(it);
        return connection;
    }

    /// Gives `endpoint` the context of every https connection: built from the first one's fields and kept
    /// (or AgentOptions::tls_context). While it cannot be built the endpoint keeps none, and the attempt
    /// builds it again and fails with ConnectError naming the file.
    void share_tls_context(TlsClientEndpoint& endpoint) {
        if (!tls) {
            try {
                tls = tls_context_for(endpoint);
            } catch (const TlsError&) {
                return;
            }
        }
        endpoint.context = tls;
    }

    void close_idle() {
        auto all = std::move(idle);
        idle.clear();
        for (auto& [key, queue] : all) {
            for (auto* connection : queue) connection->close();
        }
    }

    ReactorNetwork& network;
    ReactorTime& time;
    AgentOptions options;
    std::shared_ptr<TlsContext> tls = options.tls_context;
    bool closed = false;
    std::map<std::string, std::deque<detail::HttpClientProtocol*>> idle;
};

namespace {

// One request and its response on a pooled connection, or on a new one.
Deferred<Response> exchange(std::shared_ptr<Agent::Core> core, Target target, std::string wire, bool head,
                            bool may_retry) {
    const bool close_after = !core->options.persistent;
    if (auto* idle = core->take_idle(target.key)) {
        std::exception_ptr stale;
        try {
            co_return co_await idle->send(wire, head, close_after, true);
        } catch (const detail::StaleConnection&) {
            stale = std::current_exception();
        }
        if (!may_retry) std::rethrow_exception(stale);
    }
    const detail::ClientLimits limits{core->options.max_body_bytes, core->options.max_header_bytes};
    // Built before the co_await, not inside it: with a conditional inside the co_await expression, g++ 12
    // released a shared_ptr temporary once too often (the Agent's context was freed while it held it).
    ClientEndpoint endpoint = endpoint_for(target, core->options);
    if (auto* tls = std::get_if<TlsClientEndpoint>(&endpoint)) core->share_tls_context(*tls);
    auto* connection = co_await connect_protocol(
        core->network, endpoint,
        std::make_unique<detail::HttpClientProtocol>(std::weak_ptr<detail::ConnectionPool>(core), target.key, limits));
    co_return co_await connection->send(std::move(wire), head, close_after, false);
}

Deferred<Response> run_request(std::shared_ptr<Agent::Core> core, std::string method, std::string url,
                               std::vector<Header> headers, std::string body) {
    int redirects = 0;
    Target target = parse_target(url);
    while (true) {
        std::string wire = serialise(method, target, headers, body, core->options);
        Response response = co_await add_timeout(exchange(core, target, std::move(wire), method == "HEAD", idempotent(method)),
                                                 core->options.response_timeout, core->time);
        response.url = target.url;
        auto location = response.header("Location");
        if (redirects >= core->options.max_redirects || !is_redirect(response.status) || !location) co_return response;
        auto reference = boost::urls::parse_uri_reference(*location);
        if (!reference) co_return response;  // a Location that is not a URL: the 3xx is the answer
        boost::urls::url next;
        auto resolved = boost::urls::resolve(boost::urls::url_view(target.url), *reference, next);
        if (!resolved) co_return response;
        Target next_target;
        try {
            next_target = parse_target(next.buffer());
        } catch (const std::invalid_argument&) {
            co_return response;  // e.g. to ftp: the caller decides
        }
        ++redirects;
        if ((response.status == 303 && method != "HEAD") ||
            ((response.status == 301 || response.status == 302) && method == "POST")) {
            method = "GET";
            body.clear();
            remove_header(headers, "Content-Type");
        }
        if (next_target.key != target.key) {
            // Credentials are for the origin they were given for (as Twisted's RedirectAgent and browsers).
            for (std::string_view name : {"Authorization", "Cookie", "Proxy-Authorization", "Host"}) {
                remove_header(headers, name);
            }
        }
        target = std::move(next_target);
    }
}

}  // namespace

Agent::Agent(ReactorNetwork& network, ReactorTime& time, AgentOptions options) {
    if (const auto& tls = options.tls_context; tls && (tls->is_server() || !tls->server_name().empty())) {
        throw std::invalid_argument(tls->is_server() ? "AgentOptions::tls_context: a server context"
                                                     : "AgentOptions::tls_context: its server_name is set ("
                                                       "each connection must name its URL's host)");
    }
    core_ = std::make_shared<Core>(network, time, std::move(options));
}

Agent::~Agent() {
    core_->closed = true;
    core_->close_idle();
}

Deferred<Response> Agent::request(std::string method, std::string url, std::vector<Header> headers, std::string body) {
    return run_request(core_, std::move(method), std::move(url), std::move(headers), std::move(body));
}

std::size_t Agent::idle_connections() const noexcept {
    std::size_t n = 0;
    for (const auto& [key, queue] : core_->idle) n += queue.size();
    return n;
}

void Agent::close_idle_connections() { core_->close_idle(); }

const AgentOptions& Agent::options() const noexcept { return core_->options; }

}  // namespace weft::web
