// The client side of the WebSocket opening handshake, over TCP (ws://) or weft's TLS client (wss://). Beast's
// response parser reads the server's answer.

#include "weft/web/websocket_client.hpp"

#include <system_error>

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "weft/deferred_endpoints.hpp"
#include "weft/endpoint.hpp"
#include "weft/protocol.hpp"
#include "weft/tls_transport.hpp"
#include "websocket_connection.hpp"
#include "websocket_handshake.hpp"

namespace weft::web {

namespace {

namespace http = boost::beast::http;

std::string bracketed(const std::string& host) { return host.find(':') != std::string::npos ? "[" + host + "]" : host; }

}  // namespace

namespace detail {

std::string WebSocketUrl::host_header() const {
    return port == default_port() ? bracketed(host) : bracketed(host) + ":" + std::to_string(port);
}

std::string WebSocketUrl::destination() const { return bracketed(host) + ":" + std::to_string(port); }

WebSocketUrl parse_websocket_url(std::string_view url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) throw std::invalid_argument("connect_websocket: not a URL: " + std::string(url));
    const boost::urls::url_view& u = *parsed;
    // scheme_id() compares case-insensitively, as RFC 3986 wants of schemes.
    if (u.scheme_id() != boost::urls::scheme::ws && u.scheme_id() != boost::urls::scheme::wss) {
        throw std::invalid_argument("connect_websocket: only ws:// and wss:// URLs: " + std::string(url));
    }
    WebSocketUrl t;
    t.secure = u.scheme_id() == boost::urls::scheme::wss;
    t.port = t.default_port();
    t.host = u.encoded_host();
    if (t.host.empty()) throw std::invalid_argument("connect_websocket: no host in " + std::string(url));
    if (u.host_type() == boost::urls::host_type::ipv6) t.host = u.encoded_host_address();
    if (u.has_port()) {
        if (u.port().empty() || u.port_number() == 0) throw std::invalid_argument("connect_websocket: bad port in " + std::string(url));
        t.port = u.port_number();
    }
    t.resource = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
    if (u.has_query()) t.resource += "?" + std::string(u.encoded_query());
    return t;
}

}  // namespace detail

namespace {

using Target = detail::WebSocketUrl;

/// The endpoint to reach `t` through: TCP, or TLS on TCP for wss:// with the caller's trust settings.
ClientEndpoint endpoint_for(const Target& t, const WebSocketOptions& options) {
    TcpClientEndpoint tcp;
    tcp.host = t.host;
    tcp.port = t.port;
    if (!t.secure) return tcp;
    TlsClientEndpoint tls;
    tls.tcp = std::move(tcp);  // the URL's host is the name sent as SNI and checked in the certificate
    if (!options.tls_context) {  // else these are not used, and not named in errors
        tls.ca = options.ca_file;
        tls.insecure_skip_certificate_verification = options.insecure_skip_certificate_verification;
    }
    // ALPN "http/1.1", as the Agent and browsers offer for a WebSocket: the opening handshake is an HTTP/1.1
    // Upgrade (RFC 6455 section 4.1), so that is the protocol spoken on this connection, and a server that
    // also serves HTTP/2 on the port must not pick "h2" (WebSocket over HTTP/2 is RFC 8441's extended
    // CONNECT, which this client does not speak). Offering none would work as well (Python's websockets
    // offers none; a server then defaults to HTTP/1.1), but naming it keeps ALPN-routing servers right.
    tls.alpn = {"http/1.1"};
    tls.context = options.tls_context;
    return tls;
}

/// Sends the handshake, checks the answer and then becomes the WebSocket connection's carrier: the frames'
/// protocol is attached to the same transport and gets the bytes from then on. Over TLS it is connected
/// before the TLS handshake (the request waits in the TLS layer until then), so it listens for that
/// handshake to tell a TLS failure (ConnectError with the TLS layer's reason) from a WebSocket one.
class ClientHandshake final : public Protocol, public TlsHandshakeListener {
public:
    ClientHandshake(Reactor& reactor, Target target, std::unique_ptr<WebSocketProtocol> protocol,
                    WebSocketOptions options, Deferred<void> done)
        : reactor_(reactor),
          target_(std::move(target)),
          protocol_(std::move(protocol)),
          options_(std::move(options)),
          done_(std::move(done)),
          key_(detail::make_websocket_key()) {
        parser_.header_limit(max_header);
    }
    ~ClientHandshake() override {
        if (timer_.active()) timer_.cancel();
    }

    void connection_made() override {
        std::string request = "GET " + target_.resource + " HTTP/1.1\r\nHost: " + target_.host_header();
        request += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key_ +
                   "\r\nSec-WebSocket-Version: 13\r\n";
        if (!options_.subprotocols.empty()) {
            request += "Sec-WebSocket-Protocol: ";
            for (std::size_t i = 0; i < options_.subprotocols.size(); ++i) {
                request += (i ? ", " : "") + options_.subprotocols[i];
            }
            request += "\r\n";
        }
        request += "\r\n";
        transport().write(request);
        timer_ = reactor_.call_later(options_.handshake_timeout, [this] {
            // handshake_timeout covers wss://'s TLS handshake too: one that has not finished never reached
            // the server's HTTP, so it is no secure connection (ConnectError), as when it fails.
            if (target_.secure && !tls_done_) {
                refused_ = true;
                protocol_.reset();
                transport().abort_connection();
                if (!done_.called()) {
                    done_.errback(Failure(ConnectError(
                        target_.destination(), Reason::lost(std::make_error_code(std::errc::timed_out),
                                                            "TLS handshake not done within handshake_timeout"))));
                }
                return;
            }
            refuse("no answer in time");
        });
    }

    void data_received(std::string_view data) override {
        if (connection_) return connection_->data_received(data);
        if (refused_) return;
        // Beast takes nothing before a whole header: the bytes wait here until it can.
        pending_.append(data);
        boost::beast::error_code ec;
        const std::size_t n = parser_.put(boost::asio::const_buffer(pending_.data(), pending_.size()), ec);
        if (ec == http::error::need_more) {
            pending_.erase(0, n);
            if (pending_.size() > max_header) refuse("response header too long");
            return;
        }
        if (ec) return refuse(ec.message());
        std::string rest = pending_.substr(n);
        pending_.clear();
        accept(rest);
    }

    void handshake_completed() override { tls_done_ = true; }

    void connection_lost(const Reason& reason) override {
        if (timer_.active()) timer_.cancel();
        if (connection_) return connection_->connection_lost(reason);
        if (done_.called()) return;
        // Over TLS, a connection lost before the TLS handshake completed never reached the server's HTTP:
        // no secure connection was made (a certificate that does not verify, a wrong name, a TLS timeout).
        if (target_.secure && !tls_done_ && !refused_) {
            return done_.errback(Failure(ConnectError(target_.destination(), reason)));
        }
        done_.errback(Failure(WebSocketHandshakeError("connection closed: " + reason.message())));
    }

private:
    void refuse(const std::string& why, int status = 0) {
        if (refused_) return;
        refused_ = true;
        if (timer_.active()) timer_.cancel();
        protocol_.reset();
        transport().abort_connection();
        if (!done_.called()) done_.errback(Failure(WebSocketHandshakeError(why, status)));
    }

    void accept(std::string_view rest) {
        if (!parser_.is_header_done()) return refuse("incomplete response");
        const auto& response = parser_.get();
        const int status = static_cast<int>(response.result_int());
        if (status != 101) return refuse("status " + std::to_string(status), status);
        auto field = [&](http::field f) {
            auto it = response.find(f);
            return it == response.end() ? std::string_view{} : std::string_view(it->value().data(), it->value().size());
        };
        if (!detail::has_token(field(http::field::upgrade), "websocket")) return refuse("no Upgrade: websocket", status);
        if (!detail::has_token(field(http::field::connection), "upgrade")) return refuse("no Connection: upgrade", status);
        if (field(http::field::sec_websocket_accept) != detail::websocket_accept(key_)) {
            return refuse("wrong Sec-WebSocket-Accept", status);
        }
        std::string subprotocol(field(http::field::sec_websocket_protocol));
        if (!subprotocol.empty() &&
            std::find(options_.subprotocols.begin(), options_.subprotocols.end(), subprotocol) == options_.subprotocols.end()) {
            return refuse("subprotocol " + subprotocol + " was not offered", status);
        }
        if (timer_.active()) timer_.cancel();
        connection_ = std::make_unique<detail::WebSocketConnection>(reactor_, std::move(protocol_), options_,
                                                                    detail::WebSocketConnection::Role::client,
                                                                    std::move(subprotocol));
        connection_->make_connection(transport());
        done_.callback();
        if (!rest.empty()) connection_->data_received(rest);
    }

    static constexpr std::uint32_t max_header = 16 * 1024;
    Reactor& reactor_;
    Target target_;
    std::unique_ptr<WebSocketProtocol> protocol_;
    WebSocketOptions options_;
    Deferred<void> done_;
    std::string key_;
    http::response_parser<http::empty_body> parser_;
    std::string pending_;
    bool refused_ = false;
    bool tls_done_ = false;
    DelayedCall timer_;
    std::unique_ptr<detail::WebSocketConnection> connection_;
};

}  // namespace

Deferred<void> connect_websocket(Reactor& reactor, std::string_view url, std::unique_ptr<WebSocketProtocol> protocol) {
    return connect_websocket(reactor, url, std::move(protocol), WebSocketOptions{});
}

Deferred<void> connect_websocket(Reactor& reactor, std::string_view url, std::unique_ptr<WebSocketProtocol> protocol,
                                 WebSocketOptions options) {
    if (!protocol) throw std::invalid_argument("connect_websocket: no protocol");
    Target target = detail::parse_websocket_url(url);
    const ClientEndpoint endpoint = endpoint_for(target, options);
    Deferred<void> done;
    auto handshake = std::make_unique<ClientHandshake>(reactor, std::move(target), std::move(protocol),
                                                       std::move(options), done);
    connect_protocol(reactor, endpoint, std::move(handshake)).add_errback([done](const Failure& f) mutable {
        if (!done.called()) done.errback(f);
        return static_cast<ClientHandshake*>(nullptr);
    });
    return done;
}

}  // namespace weft::web
