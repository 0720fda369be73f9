#include "weft/web/request.hpp"
#include "http_text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "http_channel.hpp"

namespace weft::web {

using namespace std::string_view_literals;

namespace {

using detail::iequals;

// A header that could end the header block early (CR, LF, NUL) would let a handler's input forge headers.
// (A table lookup and one branch per character: this runs for every header a handler sets.)
constexpr unsigned char line_break = 1;  // CR, LF, NUL: refused in names and values
constexpr unsigned char name_only = 2;   // ':', space, tab: refused in names
constexpr auto header_char_class = [] {
    std::array<unsigned char, 256> table{};
    for (unsigned char c : {'\r', '\n', '\0'}) table[c] = line_break | name_only;
    for (unsigned char c : {':', ' ', '\t'}) table[c] = name_only;
    return table;
}();

bool any_of_class(std::string_view s, unsigned char cls) noexcept {
    for (char c : s) {
        if ((header_char_class[static_cast<unsigned char>(c)] & cls) != 0) return true;
    }
    return false;
}

void check_header(std::string_view name, std::string_view value) {
    if (name.empty() || any_of_class(name, name_only)) {
        throw std::invalid_argument("invalid HTTP header name: " + std::string(name));
    }
    if (any_of_class(value, line_break)) {
        throw std::invalid_argument("HTTP header value with CR, LF or NUL for " + std::string(name));
    }
}

}  // namespace

Request::Request(detail::RequestKey, std::string_view method, std::string_view target, int version)
    : init_{.method = std::string(method), .target = std::string(target), .version = version, .headers = {}, .peer = {}} {}

Request::~Request() = default;

std::optional<std::string_view> Request::header(std::string_view name) const {
    for (const auto& h : init_.headers) {
        if (iequals(h.name, name)) return std::string_view(h.value);
    }
    return std::nullopt;
}

std::optional<std::string_view> Request::query_param(std::string_view name) const {
    for (const auto& [k, v] : query_) {
        if (k == name) return std::string_view(v);
    }
    return std::nullopt;
}

namespace {

// RFC 3986's pchar without pct-encoded (which needs decoding), and '/' (a table: a search of the set
// per character was a memchr call each).
constexpr auto plain_path_chars = [] {
    std::array<bool, 256> table{};
    for (int c = 'a'; c <= 'z'; ++c) table[static_cast<unsigned char>(c)] = true;
    for (int c = 'A'; c <= 'Z'; ++c) table[static_cast<unsigned char>(c)] = true;
    for (int c = '0'; c <= '9'; ++c) table[static_cast<unsigned char>(c)] = true;
    for (char c : std::string_view("/-._~!$&'()*+,;=:@")) table[static_cast<unsigned char>(c)] = true;
    return table;
}();

// An origin-form target that is a path alone and needs no decoding ("/", "/a/b.html"): its path and
// segments are its text split at '/', as Boost.URL would give them. Without "//" and "/." (empty and dot
// segments, which Boost.URL treats specially) so that nothing else is to know. One pass.
bool plain_path(std::string_view target) noexcept {
    if (target.empty() || target.front() != '/') return false;
    char previous = 0;
    for (char c : target) {
        if (!plain_path_chars[static_cast<unsigned char>(c)]) return false;
        if (previous == '/' && (c == '/' || c == '.')) return false;
        previous = c;
    }
    return true;
}

}  // namespace

bool Request::parse_target() {
    segments_.clear();
    prepath_.clear();
    query_.clear();
    if (plain_path(init_.target)) {
        // Most requests: no Boost.URL parse (which costs more than the rest of a small response).
        path_ = init_.target;
        std::string_view rest = std::string_view(init_.target).substr(1);
        while (!rest.empty()) {
            auto slash = rest.find('/');
            segments_.emplace_back(rest.substr(0, slash));
            if (slash == std::string_view::npos) break;
            rest.remove_prefix(slash + 1);
            if (rest.empty()) segments_.emplace_back();  // "/a/": a last, empty segment
        }
        postpath_ = segments_;
        return true;
    }
    // origin-form ("/a?b") from clients, absolute-form ("http://h/a") from proxies; "*" has no path.
    boost::urls::url_view url;
    if (auto origin = boost::urls::parse_origin_form(init_.target)) {
        url = *origin;
    } else if (auto absolute = boost::urls::parse_absolute_uri(init_.target)) {
        url = *absolute;
    } else if (init_.target == "*" && init_.method == "OPTIONS") {
        return true;
    } else {
        return false;
    }
    path_ = url.path();  // decoded
    if (path_.find('\0') != std::string::npos) return false;
    if (path_.empty()) path_ = "/";
    for (auto segment : url.segments()) segments_.emplace_back(segment);
    postpath_ = segments_;
    for (auto param : url.params()) {
        query_.emplace_back(param.key, param.has_value ? param.value : std::string());
    }
    return true;
}

std::string Request::consume_segment() {
    if (postpath_.empty()) return {};
    std::string segment = std::move(postpath_.front());
    postpath_.erase(postpath_.begin());
    prepath_.push_back(segment);
    return segment;
}

void Request::set_status(int code, std::string reason) {
    if (streaming_) throw StateError("Request::set_status after start_streaming: the status is sent");
    if (code < 100 || code > 999) throw std::invalid_argument("HTTP status out of range: " + std::to_string(code));
    if (reason.find_first_of("\r\n\0"sv) != std::string::npos) {
        throw std::invalid_argument("HTTP reason phrase with CR, LF or NUL");
    }
    status_ = code;
    reason_ = std::move(reason);
}

void Request::set_header(std::string_view name, std::string_view value) {
    if (streaming_) throw StateError("Request::set_header after start_streaming: the headers are sent");
    check_header(name, value);
    std::erase_if(response_headers_, [&](const Header& h) { return iequals(h.name, name); });
    response_headers_.push_back({std::string(name), std::string(value)});
}

void Request::add_header(std::string_view name, std::string_view value) {
    if (streaming_) throw StateError("Request::add_header after start_streaming: the headers are sent");
    check_header(name, value);
    response_headers_.push_back({std::string(name), std::string(value)});
}

std::optional<std::string_view> Request::response_header(std::string_view name) const {
    for (const auto& h : response_headers_) {
        if (iequals(h.name, name)) return std::string_view(h.value);
    }
    return std::nullopt;
}

void Request::clear_response() {
    if (streaming_) throw StateError("Request::clear_response after start_streaming: the response is on its way");
    status_ = 200;
    reason_.clear();
    response_headers_.clear();
    response_body_.clear();
}

void Request::write(std::string_view data) {
    if (finished_) throw StateError("Request::write after finish");
    if (lost_) return;
    if (streaming_) {
        if (channel_ != nullptr) channel_->response_data(*this, data);
        return;
    }
    response_body_.append(data);
}

void Request::finish(std::string_view data) {
    if (finished_) throw StateError("Request::finish called twice");
    if (!lost_) write(data);
    unregister_producer();
    finished_ = true;
    if (channel_ != nullptr) channel_->request_finished(*this);
}

Deferred<void> Request::notify_finish() {
    Deferred<void> d;
    if (sent_) {
        d.callback();
    } else if (lost_) {
        d.errback(Failure(ConnectionLostError()));
    } else {
        finish_waiters_.push_back(d);
    }
    return d;
}

void Request::start_streaming() {
    if (streaming_) return;
    if (finished_) throw StateError("Request::start_streaming after finish");
    streaming_ = true;
    if (channel_ != nullptr) channel_->start_streaming(*this);
}

void Request::register_producer(Producer& producer, bool streaming) {
    if (producer_ != nullptr) throw StateError("Request::register_producer: a producer is registered already");
    if (finished_) throw StateError("Request::register_producer after finish");
    start_streaming();
    if (lost_ || channel_ == nullptr) {
        producer.stop_producing();
        return;
    }
    producer_ = &producer;
    producer_streaming_ = streaming;
    channel_->producer_registered(*this);
}

void Request::unregister_producer() {
    if (producer_ == nullptr) return;
    if (channel_ != nullptr) channel_->producer_unregistered(*this);
    producer_ = nullptr;
}

std::optional<std::size_t> Request::send_file(int fd, std::uint64_t offset, std::size_t count) {
    if (finished_) throw StateError("Request::send_file after finish");
    if (!streaming_ || lost_ || channel_ == nullptr) return std::nullopt;
    return channel_->send_file(*this, fd, offset, count);
}

void Request::stop_producer() {
    if (Producer* p = std::exchange(producer_, nullptr)) p->stop_producing();
}

void Request::connection_lost() {
    stop_producer();
    if (sent_ || lost_) return;
    lost_ = true;
    auto waiters = std::move(finish_waiters_);
    finish_waiters_.clear();
    for (auto& d : waiters) d.errback(Failure(ConnectionLostError()));
}

void Request::response_sent() {
    if (sent_ || lost_) return;
    sent_ = true;
    auto waiters = std::move(finish_waiters_);
    finish_waiters_.clear();
    for (auto& d : waiters) d.callback();
}

std::string_view reason_phrase(int status) noexcept {
    switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 206: return "Partial Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 411: return "Length Required";
        case 412: return "Precondition Failed";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 416: return "Range Not Satisfiable";
        case 417: return "Expectation Failed";
        case 422: return "Unprocessable Content";
        case 426: return "Upgrade Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
    }
}

}  // namespace weft::web
