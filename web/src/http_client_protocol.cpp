// The Agent's connection. Boost.Beast's response parser lives in this file only (heavy to compile, and
// no public header needs it).

#include "http_client_protocol.hpp"

#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "http_text.hpp"
#include "weft/transport.hpp"

namespace weft::web::detail {

namespace http = boost::beast::http;

/// Beast's response parser, collecting one Response.
class ResponseParser final : public http::basic_parser<false> {
public:
    ResponseParser(const ClientLimits& limits, bool head) {
        eager(true);
        // Beast's header_limit bounds what one put() has not parsed; the whole header is counted by the
        // protocol. The body limit is Beast's own: it is checked against a Content-Length before the body.
        header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limits.max_header_bytes, UINT32_MAX)));
        body_limit(limits.max_body_bytes);
        if (head) skip(true);  // a HEAD response's Content-Length announces a body that is not sent
    }

    Response response;

private:
    void on_request_impl(http::verb, boost::beast::string_view, boost::beast::string_view, int,
                         boost::beast::error_code&) override {}

    void on_response_impl(int code, boost::beast::string_view reason, int version, boost::beast::error_code&) override {
        response.status = code;
        response.reason.assign(reason.data(), reason.size());
        response.version = version;
    }

    void on_field_impl(http::field, boost::beast::string_view name, boost::beast::string_view value,
                       boost::beast::error_code&) override {
        response.headers.push_back({std::string(name.data(), name.size()), std::string(value.data(), value.size())});
    }

    void on_header_impl(boost::beast::error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>&, boost::beast::error_code&) override {}

    std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code&) override {
        response.body.append(body.data(), body.size());
        return body.size();
    }

    void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, boost::beast::error_code&) override {}

    std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body, boost::beast::error_code&) override {
        response.body.append(body.data(), body.size());
        return body.size();
    }

    void on_finish_impl(boost::beast::error_code&) override {}
};

/// One request in flight: the Deferred its caller holds, and the connection while it is alive.
struct HttpClientProtocol::Exchange {
    Deferred<Response> result;
    HttpClientProtocol* protocol = nullptr;
    bool head = false;
    bool close_after = false;
    bool reused = false;
    bool got_bytes = false;
    std::size_t header_bytes = 0;  // taken by the parser while the header was being read
};

HttpClientProtocol::HttpClientProtocol(std::weak_ptr<ConnectionPool> pool, std::string key, ClientLimits limits)
    : pool_(std::move(pool)), key_(std::move(key)), limits_(limits) {}

HttpClientProtocol::~HttpClientProtocol() {
    if (idle_timer_.active()) idle_timer_.cancel();
    if (current_) current_->protocol = nullptr;
    gone();
}

Deferred<Response> HttpClientProtocol::send(std::string request, bool head, bool close_after, bool reused) {
    auto exchange = std::make_shared<Exchange>();
    exchange->protocol = this;
    exchange->head = head;
    exchange->close_after = close_after;
    exchange->reused = reused;
    std::weak_ptr<Exchange> weak = exchange;
    Deferred<Response> result([weak](Deferred<Response>&) {
        // Cancelled (by the caller or the response timeout): the connection is in an unknown state, so it
        // goes, at once.
        auto e = weak.lock();
        if (!e || e->protocol == nullptr) return;
        HttpClientProtocol* p = e->protocol;
        e->protocol = nullptr;
        p->current_.reset();
        p->parser_.reset();
        p->closing_ = true;
        p->gone();
        if (!p->lost_) p->transport().abort_connection();
    });
    exchange->result = result;
    if (idle_timer_.active()) idle_timer_.cancel();
    if (lost_ || closing_) {
        exchange->protocol = nullptr;
        auto failure = reused ? Failure(StaleConnection("the connection was closed before the request was sent"))
                              : Failure(ResponseFailed("the connection was closed before the request was sent"));
        result.errback(failure);
        return result;
    }
    current_ = std::move(exchange);
    parser_ = std::make_unique<ResponseParser>(limits_, head);
    input_.clear();
    transport().write(request);
    return result;
}

void HttpClientProtocol::data_received(std::string_view data) {
    if (lost_ || closing_) return;
    if (!current_) {
        // Bytes nobody asked for on an idle connection: its framing is lost, it cannot be reused.
        close();
        return;
    }
    current_->got_bytes = true;
    input_.append(data);
    parse();
}

void HttpClientProtocol::parse() {
    while (current_ && parser_ && !input_.empty()) {
        const bool in_header = !parser_->is_header_done();
        boost::beast::error_code ec;
        std::size_t n = parser_->put(boost::asio::const_buffer(input_.data(), input_.size()), ec);
        if (in_header) current_->header_bytes += n;
        input_.erase(0, n);
        if (ec == http::error::need_more || (!ec && n == 0 && !parser_->is_done())) {
            if (!parser_->is_header_done() && current_->header_bytes + input_.size() > limits_.max_header_bytes) {
                return fail(Failure(ResponseFailed("the response header is larger than " +
                                                   std::to_string(limits_.max_header_bytes) + " bytes")));
            }
            if (chunk_framing_too_long(parser_->is_header_done(), input_.size(), limits_.max_header_bytes)) {
                return fail(Failure(ResponseFailed("a chunk header or the trailer is larger than " +
                                                   std::to_string(limits_.max_header_bytes) + " bytes")));
            }
            return;
        }
        if (ec == http::error::body_limit) {
            return fail(Failure(
                ResponseFailed("the response body is larger than " + std::to_string(limits_.max_body_bytes) + " bytes")));
        }
        if (ec == http::error::header_limit) {
            return fail(Failure(ResponseFailed("the response header is larger than " +
                                               std::to_string(limits_.max_header_bytes) + " bytes")));
        }
        if (ec) return fail(Failure(ResponseFailed("malformed response (" + ec.message() + ")")));
        if (!parser_->is_done()) continue;
        const int status = parser_->response.status;
        if (status == 101) return fail(Failure(ResponseFailed("unexpected 101 Switching Protocols")));
        if (status / 100 == 1) {
            // An interim response (100 Continue, 103 Early Hints): the real one follows.
            parser_ = std::make_unique<ResponseParser>(limits_, current_->head);
            current_->header_bytes = 0;
            continue;
        }
        return complete();
    }
}

void HttpClientProtocol::complete() {
    auto exchange = std::move(current_);
    exchange->protocol = nullptr;
    Response response = std::move(parser_->response);
    // Bytes after the response are none we asked for: the connection cannot be trusted with another.
    const bool reusable = parser_->keep_alive() && !exchange->close_after && input_.empty() && !lost_ && !closing_;
    parser_.reset();
    // Back to the pool before the caller hears of it, so that a next request made from the callback finds
    // this connection idle.
    auto pool = pool_.lock();
    if (reusable && pool) {
        pool->connection_idle(*this);
    } else {
        close();
    }
    if (!exchange->result.called()) exchange->result.callback(std::move(response));
}

void HttpClientProtocol::fail(Failure failure) {
    auto exchange = std::move(current_);
    parser_.reset();
    close();
    if (!exchange) return;
    exchange->protocol = nullptr;
    if (!exchange->result.called()) exchange->result.errback(std::move(failure));
}

void HttpClientProtocol::connection_lost(const Reason& reason) {
    lost_ = true;
    if (idle_timer_.active()) idle_timer_.cancel();
    gone();
    if (!current_) return;
    if (!current_->got_bytes) {
        const std::string what = "the connection was lost before the response began (" + reason.message() + ")";
        return fail(current_->reused ? Failure(StaleConnection(what)) : Failure(ResponseFailed(what)));
    }
    // A body delimited by the connection's end is complete when the server closed cleanly.
    if (parser_ && parser_->is_header_done() && !parser_->is_done() && reason.clean()) {
        boost::beast::error_code ec;
        parser_->put_eof(ec);
        if (!ec && parser_->is_done()) return complete();
    }
    fail(Failure(ResponseFailed("the connection was lost before the response was complete (" + reason.message() + ")")));
}

void HttpClientProtocol::start_idle_timer(ReactorTime& time, Duration timeout) {
    if (idle_timer_.active()) idle_timer_.cancel();
    idle_timer_ = time.call_later(timeout, [this] { close(); });
}

void HttpClientProtocol::close() {
    if (idle_timer_.active()) idle_timer_.cancel();
    gone();
    if (closing_ || lost_) return;
    closing_ = true;
    transport().lose_connection();
}

void HttpClientProtocol::gone() {
    if (gone_) return;
    gone_ = true;
    if (auto pool = pool_.lock()) pool->connection_gone(*this);
}

}  // namespace weft::web::detail
