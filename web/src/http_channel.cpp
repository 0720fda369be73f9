// The per-connection HTTP/1.1 protocol. Boost.Beast's parser lives in this file only: it is heavy to
// compile, and no public header needs it.

#include "http_channel.hpp"
#include "http_date.hpp"
#include "http_text.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <exception>
#include <type_traits>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "weft/log.hpp"
#include "weft/web/resource.hpp"
#include "weft/web/site.hpp"

namespace weft::web::detail {

namespace http = boost::beast::http;
using namespace std::string_view_literals;

namespace {

// Decimal digits onto `out` (no temporary string).
template <class Out>
void append_number(Out& out, std::uint64_t n) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
    (void)ec;  // 24 digits hold any 64-bit number
    out.append(digits, end);
}

// A response head's buffer kept for the next one up to this size.
constexpr std::size_t max_spare = 4096;

// A response head built on the stack when it is sent at once (the usual case): no allocation, and nothing
// kept by the connection afterwards. A head too long for it goes on in a string.
class StackHead {
public:
    // Inlined, so that a literal's copy is a few moves rather than a call to memcpy.
    [[gnu::always_inline]] StackHead& operator+=(std::string_view s) {
        if (!spilled_ && size_ + s.size() <= sizeof fixed_) [[likely]] {
            std::memcpy(fixed_ + size_, s.data(), s.size());
            size_ += s.size();
        } else {
            spill(s);
        }
        return *this;
    }
    StackHead& operator+=(char c) { return *this += std::string_view(&c, 1); }
    void append(const char* data, const char* end) { *this += std::string_view(data, static_cast<std::size_t>(end - data)); }
    [[nodiscard]] std::string_view view() const noexcept {
        return spilled_ ? std::string_view(heap_) : std::string_view(fixed_, size_);
    }

private:
    [[gnu::noinline]] void spill(std::string_view s) {
        if (!spilled_) {
            heap_.assign(fixed_, size_);
            spilled_ = true;
        }
        heap_.append(s);
    }

    char fixed_[1024];
    std::size_t size_ = 0;
    bool spilled_ = false;
    std::string heap_;
};

// Control characters, quotes and backslashes of a request line escaped, so that a log line is one line
// and cannot be forged by a client.
std::string escape_for_log(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

/// Beast's request parser, reporting to the channel; it adds the checks Beast leaves to its user.
class RequestParser final : public http::basic_parser<true> {
public:
    RequestParser(HttpChannel& channel, const ServerOptions& options) : channel_(channel) {
        eager(true);
        header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(options.max_header_bytes, UINT32_MAX)));
        body_limit(options.max_body_bytes);
    }

    /// The status to answer an error with, when it is not the parser's own.
    int status = 0;

private:
    void on_request_impl(http::verb, boost::beast::string_view method, boost::beast::string_view target,
                         int version, boost::beast::error_code&) override {
        // The request is made here and filled in as the head is parsed: nothing is moved from the parser.
        request_ = channel_.request_started({method.data(), method.size()}, {target.data(), target.size()}, version);
        init_ = &HttpChannel::init_of(*request_);
    }

    void on_field_impl(http::field name, boost::beast::string_view name_string, boost::beast::string_view value,
                       boost::beast::error_code& ec) override {
        // After the header (init_ is then null), fields are a chunked body's trailer: checked, not kept.
        if ((init_ != nullptr ? init_->headers.size() : trailer_fields_) >= channel_.max_headers()) {
            status = 431;
            ec = http::error::header_limit;
            return;
        }
        std::string_view v(value.data(), value.size());
        if (name == http::field::content_length) {
            // Beast accepts a repeated Content-Length with the same value, and lists ("5, 5"): two
            // parsers in a chain may disagree on those, so only one plain number is taken.
            if (seen_content_length_ || v.find(',') != std::string_view::npos) {
                ec = http::error::bad_content_length;
                return;
            }
            seen_content_length_ = true;
        } else if (name == http::field::transfer_encoding) {
            // Only "chunked" alone frames a request body: anything else leaves its length unknown.
            if (!iequals(trim(v), "chunked")) {
                status = 400;
                ec = http::error::bad_transfer_encoding;
                return;
            }
        } else if (name == http::field::expect) {
            expect_ = std::string(trim(v));
        }
        if (init_ == nullptr) {
            ++trailer_fields_;
            return;
        }
        init_->headers.push_back({std::string(name_string.data(), name_string.size()), std::string(v)});
    }

    void on_header_impl(boost::beast::error_code& ec) override {
        if (init_->version == 10 && chunked()) {  // HTTP/1.0 has no chunked coding: a smuggling vector
            ec = http::error::bad_transfer_encoding;
            return;
        }
        bool expect_continue = false;
        if (!expect_.empty()) {
            if (!iequals(expect_, "100-continue")) {
                status = 417;
                ec = http::error::bad_value;
                return;
            }
            expect_continue = init_->version == 11;
        }
        init_->keep_alive = keep_alive();
        init_ = nullptr;
        channel_.header_parsed(std::move(request_), expect_continue);
    }

    void on_body_init_impl(const boost::optional<std::uint64_t>&, boost::beast::error_code&) override {}

    std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code&) override {
        channel_.body_received({body.data(), body.size()});
        return body.size();
    }

    void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, boost::beast::error_code&) override {}

    std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                   boost::beast::error_code&) override {
        channel_.body_received({body.data(), body.size()});
        return body.size();
    }

    void on_finish_impl(boost::beast::error_code&) override {}

    void on_response_impl(int, boost::beast::string_view, int, boost::beast::error_code&) override {}

    HttpChannel& channel_;
    std::shared_ptr<Request> request_;  // the request whose head is being parsed
    Request::Init* init_ = nullptr;     // its Init, until the header is done
    std::size_t trailer_fields_ = 0;
    std::string expect_;
    bool seen_content_length_ = false;
};

HttpChannel::HttpChannel(Site& site) : site_(site) {}

HttpChannel::~HttpChannel() {
    cancel_timers();
    if (linger_timer_.active()) linger_timer_.cancel();
    for (auto& slot : slots_) {
        if (slot.request) slot.request->attach(nullptr);
    }
}

std::size_t HttpChannel::max_headers() const noexcept { return site_.options().max_headers; }

void HttpChannel::connection_made() { update_timers(); }

void HttpChannel::data_received(std::string_view data) {
    if (switched_) return switched_->data_received(data);
    if (closing_ || lost_) return;  // lingering after the last response: input is dropped
    idle_ = false;  // the idle timer, if it runs out before the next idle spell, finds the connection busy
    input_.append(data);
    process();
}

void HttpChannel::connection_lost(const Reason& reason) {
    lost_ = true;
    relayed_ = nullptr;  // the transport forgot its producer
    if (switched_) switched_->connection_lost(reason);
    cancel_timers();
    auto slots = std::move(slots_);
    slots_.clear();
    for (auto& slot : slots) {
        if (!slot.request) continue;
        slot.request->attach(nullptr);
        slot.request->connection_lost();
    }
    parsing_.reset();
}

void HttpChannel::process() {
    if (processing_) {
        again_ = true;
        return;
    }
    processing_ = true;
    do {
        again_ = false;
        parse();
    } while (again_ && !closing_ && !lost_ && !switched_);
    processing_ = false;
    update_timers();
}

void HttpChannel::parse() {
    const auto& options = site_.options();
    while (!closing_ && !lost_ && !paused_ && !upgrade_pending_ && !switched_ && consumed_ < input_.size()) {
        if (!parser_) {
            if (in_flight() >= std::max<std::size_t>(options.max_requests_in_flight, 1)) {
                // Enough answers are owed: let the peer's bytes wait in its socket, not in our memory.
                paused_ = true;
                transport().pause_producing();
                break;
            }
            parser_ = std::make_unique<RequestParser>(*this, options);
            header_scan_ = consumed_;
            line_consumed_ = false;
            header_consumed_ = 0;
        }
        const bool in_header = !parser_->is_header_done();
        if (in_header && !check_header_bytes()) return;
        boost::beast::error_code ec;
        std::size_t n = parser_->put(boost::asio::const_buffer(input_.data() + consumed_, input_.size() - consumed_), ec);
        consumed_ += n;
        if (n > 0) line_consumed_ = true;  // Beast takes nothing before the whole request line
        if (in_header) header_consumed_ += n;
        if (ec == http::error::need_more) {
            if (chunk_framing_too_long(parser_->is_header_done(), input_.size() - consumed_, options.max_header_bytes)) {
                return fail(400, "a chunk header or the trailer is longer than " +
                                     std::to_string(options.max_header_bytes) + " bytes");
            }
            if (want_flush_) {
                want_flush_ = false;
                flush();
            }
            break;
        }
        if (ec) {
            int status = parser_->status;
            if (status == 0) {
                status = ec == http::error::header_limit ? 431
                         : ec == http::error::body_limit ? 413
                         : ec == http::error::bad_version && well_formed_version() ? 505
                                                                               : 400;
            }
            return fail(status, ec.message());
        }
        if (parser_->is_done()) message_done();
        if (want_flush_) {
            want_flush_ = false;
            flush();
        }
    }
    // Beast keeps no view of what it consumed (it consumes a start line before the fields arrive, and
    // body pieces as they come), so only the unconsumed tail is kept.
    if (consumed_ == input_.size()) {
        input_.clear();
    } else if (consumed_ > 0) {
        input_.erase(0, consumed_);
    }
    header_scan_ -= std::min(header_scan_, consumed_);
    consumed_ = 0;
}

// Beast refuses every version but 1.0 and 1.1 alike: a well-formed other one ("HTTP/1.2", "HTTP/2.0")
// is 505, anything else 400.
bool HttpChannel::well_formed_version() const {
    std::string_view line(input_.data() + consumed_, input_.size() - consumed_);
    auto eol = line.find("\r\n");
    if (eol == std::string_view::npos) return false;
    line = line.substr(0, eol);
    if (line.find('\n') != std::string_view::npos) return false;
    auto space = line.rfind(' ');
    if (space == std::string_view::npos) return false;
    auto v = line.substr(space + 1);
    return v.size() == 8 && v.starts_with("HTTP/") && std::isdigit(static_cast<unsigned char>(v[5])) && v[6] == '.' &&
           std::isdigit(static_cast<unsigned char>(v[7]));
}

// What Beast does not check in a header: the request line's length (414) and obs-fold (a folded field
// value, which other parsers may unfold differently: 400). Scans each byte once however the header
// arrives.
bool HttpChannel::check_header_bytes() {
    if (!line_consumed_) {  // Beast consumes the request line once it is whole
        std::string_view rest(input_.data() + consumed_, input_.size() - consumed_);
        auto eol = rest.find("\r\n");
        // Without its CRLF yet, the line is what arrived, less a CR that may be the start of the CRLF.
        const std::size_t length = eol != std::string_view::npos ? eol
                                   : rest.ends_with('\r')      ? rest.size() - 1
                                                                : rest.size();
        if (length > site_.options().max_request_line) {
            fail(414, "request line too long");
            return false;
        }
    }
    // Beast's header_limit bounds what one put() has not parsed yet, not the header: it takes the request
    // line and whole fields as they come. So the header's size is counted here, from what Beast took and
    // what is left up to the blank line, whatever the reads were.
    std::string_view rest(input_.data() + consumed_, input_.size() - consumed_);
    std::size_t header_end = std::string_view::npos;
    if (line_consumed_ && rest.starts_with("\r\n")) {
        header_end = 2;  // the request line and any fields are taken: this is the blank line
    } else if (auto e = rest.find("\r\n\r\n"); e != std::string_view::npos) {
        header_end = e + 4;
    }
    if (header_consumed_ + (header_end == std::string_view::npos ? rest.size() : header_end) >
        site_.options().max_header_bytes) {
        fail(431, "header limit exceeded");
        return false;
    }
    std::string_view all(input_);
    // With the request line taken, a CRLF at the start is the blank line that ends a header without
    // fields: what follows is the next request, not a folded line.
    if (header_end == 2) return true;
    std::size_t from = std::max(header_scan_, consumed_);
    const std::size_t search_from = from > consumed_ + 3 ? from - 3 : consumed_;
    // From consumed_, the search above found it already.
    const std::size_t end = search_from != consumed_               ? all.find("\r\n\r\n", search_from)
                            : header_end == std::string_view::npos ? std::string_view::npos
                                                                   : consumed_ + header_end - 4;
    std::size_t stop = end == std::string_view::npos ? all.size() : end + 2;
    for (std::size_t i = all.find('\n', from); i != std::string_view::npos && i + 1 < stop; i = all.find('\n', i + 1)) {
        if (all[i + 1] == ' ' || all[i + 1] == '\t') {
            fail(400, "obsolete line folding");
            return false;
        }
    }
    header_scan_ = stop > 0 ? stop - 1 : 0;
    return true;
}

std::shared_ptr<Request> HttpChannel::request_started(std::string_view method, std::string_view target, int version) {
    return std::make_shared<Request>(RequestKey{}, method, target, version);
}

void HttpChannel::header_parsed(std::shared_ptr<Request> request, bool expect_continue) {
    // Asked once per connection: the transport formats the address on every call.
    if (!peer_) peer_ = transport().peer();
    Request::Init& init = request->init(RequestKey{});
    init.peer = *peer_;
    init.secure = transport().as_tls() != nullptr;
    request->attach(this);
    Slot& slot = slots_.emplace_back();  // made in place: a Slot is large
    slot.request = request;
    slot.send_continue = expect_continue;
    if (site_.options().access_log) {
        slot.request_line = request->method() + " " + request->target() + (request->version() == 10 ? " HTTP/1.0" : " HTTP/1.1");
    }
    parsing_ = std::move(request);
    if (expect_continue) want_flush_ = true;
}

void HttpChannel::body_received(std::string_view data) {
    if (parsing_) parsing_->append_body(data);
}

void HttpChannel::message_done() {
    auto request = std::move(parsing_);
    // Bytes after an upgrade request belong to the protocol it may switch to: they wait for its answer.
    // Reading pauses meanwhile, so that those bytes stay in the client's socket, not in our memory.
    if (request && parser_->upgrade()) {
        upgrade_pending_ = true;
        if (!paused_) {
            paused_ = true;
            transport().pause_producing();
        }
    }
    parser_.reset();
    if (!request) return;
    Slot& slot = slots_.back();
    slot.send_continue = false;  // the body is here already: no need to invite it
    if (!request->keep_alive()) {
        slot.close_after = true;
        closing_ = true;
        transport().pause_producing();
    }
    render(request);
}

void HttpChannel::render(const std::shared_ptr<Request>& request) {
    if (!request->parse_target()) {
        // A client that cannot write a target is not trusted with the rest of the connection either.
        request->set_status(400);
        request->set_header("Content-Type", "text/plain; charset=utf-8");
        request->set_header("Connection", "close");
        request->finish("Bad Request: bad request target\n");
        return;
    }
    try {
        auto resource = site_.resource_for(*request);
        resource->render(*request);
    } catch (const std::exception& e) {
        WEFT_LOG(error) << "http: " << request->method() << " " << escape_for_log(request->target())
                        << " failed: " << e.what();
        if (request->finished() || request->disconnected()) return;
        if (request->is_streaming()) {
            transport().abort_connection();  // its head is out: a 500 cannot follow, a cut body must show
        } else {
            send_error(*request, 500);
        }
    }
}

void HttpChannel::request_finished(Request& request) {
    for (auto& slot : slots_) {
        if (slot.request.get() != &request) continue;
        if (&request == parsing_.get()) return;  // cannot happen: a request renders once its body is in
        if (slot.streaming) {
            slot.ready = true;  // its head was serialised by start_streaming
        } else if (&slot == &slots_.front() && !flushing_) {
            // Its turn: the head is built on the stack and leaves now, in the flush below.
            StackHead head;
            build_head(slot, head);
            return flush(head.view());
        } else {
            serialise(slot);
        }
        break;
    }
    flush();
}

void HttpChannel::serialise(Slot& slot) {
    std::string& out = slot.response;
    if (out.capacity() < spare_.capacity()) {
        out = std::move(spare_);  // the buffer of the last head sent: no allocation per response
        out.clear();
    }
    out.reserve(160 + slot.request->response_headers().size() * 32);
    build_head(slot, out);
}

template <class Out>
void HttpChannel::build_head(Slot& slot, Out& out) {
    const Request& r = *slot.request;
    const int status = r.status();
    const bool head = r.method() == "HEAD";
    const bool bodiless_status = status / 100 == 1 || status == 204 || status == 304;
    if (status == 200 && r.reason().empty()) {
        out += "HTTP/1.1 200 OK\r\n"sv;
    } else {
        out += "HTTP/1.1 "sv;
        append_number(out, static_cast<std::uint64_t>(status));
        out += ' ';
        out += r.reason().empty() ? reason_phrase(status) : std::string_view(r.reason());
        out += "\r\n"sv;
    }
    bool has_date = false;
    bool has_server = false;
    std::optional<std::string_view> declared_length;
    bool seen_connection = false;
    for (const auto& h : r.response_headers()) {
        // Only names starting with c, d, s or t need a closer look (one test for most headers).
        switch (h.name.empty() ? 0 : h.name.front() | 0x20) {
            case 'c':
                if (iequals(h.name, "Content-Length")) {
                    declared_length = h.value;  // a HEAD handler may state the length of the body it does not send
                    continue;
                }
                if (iequals(h.name, "Connection")) {
                    // The first one decides, as response_header("Connection") would.
                    if (!std::exchange(seen_connection, true) && iequals(trim(h.value), "close")) slot.close_after = true;
                    if (status != 101) continue;
                }
                break;
            case 'd': has_date = has_date || iequals(h.name, "Date"); break;
            case 's': has_server = has_server || iequals(h.name, "Server"); break;
            case 't':
                if (iequals(h.name, "Transfer-Encoding")) continue;
                break;
            default: break;
        }
        out += h.name;
        out += ": "sv;
        out += h.value;
        out += "\r\n"sv;
    }
    if (!has_date) out += date_line();
    if (!has_server && !site_.options().server_name.empty()) {
        out += "Server: "sv;
        out += site_.options().server_name;
        out += "\r\n"sv;
    }
    if (!bodiless_status && slot.streaming) {
        if constexpr (std::is_same_v<Out, std::string>) streamed_framing(slot, declared_length, out);
    } else if (!bodiless_status) {
        out += "Content-Length: "sv;
        if (head && r.response_body().empty() && declared_length) {
            out += *declared_length;
        } else {
            append_number(out, r.response_body().size());
        }
        out += "\r\n"sv;
    }
    if (slot.close_after) {
        out += "Connection: close\r\n"sv;
    } else if (r.version() == 10) {
        out += "Connection: keep-alive\r\n"sv;
    }
    out += "\r\n"sv;
    slot.with_body = !head && !bodiless_status;
    slot.status = status;
    slot.body_bytes = slot.with_body ? r.response_body().size() : 0;
    slot.ready = !slot.streaming;
}

std::string_view HttpChannel::date_line() {
    // Formatted once a second per connection: gmtime costs more than the rest of a small response.
    const std::time_t now = std::time(nullptr);
    if (now != date_second_) {
        date_second_ = now;
        constexpr std::string_view name = "Date: ";
        name.copy(date_, name.size());
        detail::format_imf_date(now, date_ + name.size());
        date_[name.size() + detail::imf_date_length] = '\r';
        date_[name.size() + detail::imf_date_length + 1] = '\n';
        date_length_ = name.size() + detail::imf_date_length + 2;
    }
    return {date_, date_length_};
}

void HttpChannel::fail(int status, std::string_view message) {
    if (failed_) return;
    failed_ = true;
    closing_ = true;
    std::string request_line = "-";
    if (parsing_) {
        // The request whose header was read has a slot already: the error takes its place.
        slots_.back().request->attach(nullptr);
        request_line = std::move(slots_.back().request_line);
        slots_.pop_back();
        parsing_.reset();
    }
    parser_.reset();
    input_.clear();
    consumed_ = 0;
    transport().pause_producing();

    std::string body = std::string(reason_phrase(status)) + ": " + std::string(message) + "\n";
    Slot& slot = slots_.emplace_back();
    slot.request_line = std::move(request_line);
    slot.status = status;
    slot.close_after = true;
    slot.ready = true;
    slot.with_body = true;
    slot.body_bytes = body.size();
    slot.response = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n";
    slot.response += date_line();
    if (!site_.options().server_name.empty()) slot.response += "Server: " + site_.options().server_name + "\r\n";
    slot.response += "Content-Type: text/plain; charset=utf-8\r\nContent-Length: " + std::to_string(body.size()) +
                     "\r\nConnection: close\r\n\r\n" + body;
    flush();
}

void HttpChannel::flush(std::string_view front_head) {
    if (flushing_) {
        flush_again_ = true;
        return;
    }
    flushing_ = true;
    bool again = false;
    do {
        flush_again_ = false;
        while (!slots_.empty() && !lost_) {
            Slot& slot = slots_.front();
            if (slot.streaming) {
                if (!send_streamed(slot)) break;  // the rest of its body comes later
            } else if (!slot.ready) {
                if (slot.send_continue) {
                    slot.send_continue = false;
                    transport().write("HTTP/1.1 100 Continue\r\n\r\n");
                }
                break;
            } else {
                // The front slot's head was built on the caller's stack (request_finished), or is stored.
                const std::string_view head = front_head.empty() ? std::string_view(slot.response) : front_head;
                front_head = {};
                if (slot.request && slot.with_body) {
                    std::string_view pieces[] = {head, slot.request->response_body()};
                    transport().write_sequence(pieces);
                } else {
                    transport().write(head);
                }
            }
            if (site_.options().access_log) log_access(slot);
            if (!slot.streaming && slot.response.capacity() > spare_.capacity() && slot.response.capacity() <= max_spare) {
                spare_ = std::move(slot.response);
            }
            auto request = std::move(slot.request);
            bool close = slot.close_after;
            const int slot_status = slot.status;
            slots_.pop_front();
            if (close) {
                linger();
                // Requests read after this one will not be answered.
                auto rest = std::move(slots_);
                slots_.clear();
                parsing_.reset();
                parser_.reset();
                for (auto& s : rest) {
                    if (!s.request) continue;
                    s.request->attach(nullptr);
                    s.request->connection_lost();
                }
            }
            if (request && upgrade_pending_ && slots_.empty() && !close) {
                upgrade_pending_ = false;
                if (auto protocol = request->take_switch(); protocol && slot_status == 101) {
                    request->attach(nullptr);
                    request->response_sent();
                    switch_protocols(std::move(protocol));
                    break;
                }
                again = true;  // answered as plain HTTP: read the requests that followed it
            }
            if (request) {
                request->attach(nullptr);
                request->response_sent();  // runs the handler's callbacks: may finish other requests
            }
        }
    } while (flush_again_ && !lost_);
    flushing_ = false;
    if (switched_) return;
    if (again && !closing_ && !lost_) process();
    if (paused_ && !closing_ && !lost_ && !upgrade_pending_ &&
        in_flight() < std::max<std::size_t>(site_.options().max_requests_in_flight, 1)) {
        paused_ = false;
        transport().resume_producing();
        process();  // what was read before the pause
    }
    if (!processing_) update_timers();  // inside process(), which updates them when it is done
}

// Closes after the last response without losing it: closing a socket with unread input makes the kernel
// send a reset, which can destroy the response before the client reads it. So the write side is shut
// (the response, then FIN), input is read and dropped until the client closes, for at most
// linger_timeout.
void HttpChannel::linger() {
    closing_ = true;
    cancel_timers();
    transport().lose_write_connection();
    transport().resume_producing();
    linger_timer_ = site_.time().call_later(site_.options().linger_timeout, [this] { transport().lose_connection(); });
}

void HttpChannel::update_timers() {
    if (lost_ || !has_transport() || switched_) return;
    const auto& options = site_.options();
    const bool idle = !closing_ && slots_.empty() && !parser_ && consumed_ == input_.size();
    if (idle && !idle_) {
        idle_ = true;
        // The spare head buffer serves a burst (pipelined requests, a busy keep-alive client); an idle
        // connection must not keep it (up to max_spare bytes each, thousands of idle browsers).
        std::string().swap(spare_);
        // Each idle spell moves the pending call later rather than cancelling it and making a new one: a
        // call moved later keeps its timer-heap entry, where a cancelled one would stay in the heap until
        // its deadline (one entry per request, 15 s of them under load).
        if (idle_timer_.active()) {
            idle_timer_.reset(options.keep_alive_timeout);
        } else {
            idle_timer_ = site_.time().call_later(options.keep_alive_timeout, [this] {
                if (!idle_) return;  // busy since: the next idle spell arms it again
                closing_ = true;
                cancel_timers();
                transport().lose_connection();
            });
        }
    } else if (!idle) {
        idle_ = false;
    }
    const bool reading_header = !closing_ && !paused_ && !upgrade_pending_ && (parser_ ? !parser_->is_header_done() : consumed_ < input_.size());
    if (reading_header && !header_timer_.active()) {
        header_timer_ = site_.time().call_later(options.header_timeout, [this] {
            fail(408, "the request header took too long");
        });
    } else if (!reading_header && header_timer_.active()) {
        header_timer_.cancel();
    }
    update_body_timer();
}

// A client that sends a header and then trickles or withholds the body would hold the connection and
// its request for ever: the body has body_timeout from the end of the header.
void HttpChannel::update_body_timer() {
    const bool reading_body = !closing_ && parser_ && parser_->is_header_done() && !parser_->is_done();
    if (reading_body && !body_timer_.active()) {
        body_timer_ = site_.time().call_later(site_.options().body_timeout, [this] {
            fail(408, "the request body took too long");
        });
    } else if (!reading_body && body_timer_.active()) {
        body_timer_.cancel();
    }
}

void HttpChannel::cancel_timers() {
    idle_ = false;
    if (idle_timer_.active()) idle_timer_.cancel();
    if (header_timer_.active()) header_timer_.cancel();
    if (body_timer_.active()) body_timer_.cancel();
    if (linger_timer_.active() && lost_) linger_timer_.cancel();
}

// The connection becomes `protocol`'s: what the client sent after the upgrade request is its first input.
void HttpChannel::switch_protocols(std::unique_ptr<Protocol> protocol) {
    cancel_timers();
    parser_.reset();
    parsing_.reset();
    std::string rest = input_.substr(consumed_);
    input_.clear();
    consumed_ = 0;
    header_scan_ = 0;
    switched_ = std::move(protocol);
    if (paused_) {
        paused_ = false;
        transport().resume_producing();
    }
    // This may run inside a resource's render(), whose error handling is for HTTP answers: a protocol
    // that fails to start ends its connection here instead.
    try {
        switched_->make_connection(transport());
    } catch (const std::exception& e) {
        WEFT_LOG(error) << "http: the protocol switched to failed to start: " << e.what();
        transport().abort_connection();
        return;
    }
    if (!rest.empty() && !lost_) switched_->data_received(rest);
}

void HttpChannel::log_access(const Slot& slot) {
    // The common log format: host ident authuser [date] "request line" status bytes.
    if (!peer_) peer_ = transport().peer();
    const Address& peer = *peer_;
    WEFT_LOG(info) << (peer.is_unix() ? std::string("-") : peer.host) << " - - ["
                   << detail::log_time(std::time(nullptr)) << "] \""
                   << escape_for_log(slot.request_line) << "\" " << slot.status << ' '
                   << (slot.body_bytes == 0 ? std::string("-") : std::to_string(slot.body_bytes));
}

}  // namespace weft::web::detail
