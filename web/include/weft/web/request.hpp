#pragma once
// Request: one HTTP request and the response being made for it (Twisted: twisted.web.server.Request).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "weft/address.hpp"
#include "weft/deferred.hpp"
#include "weft/error.hpp"
#include "weft/protocol.hpp"
#include "weft/producer.hpp"

namespace weft::web {

namespace detail {
class HttpChannel;
/// Only the channel makes requests (a passkey: Request's constructor is public for make_shared).
class RequestKey {
    friend class HttpChannel;
    RequestKey() = default;
};
}  // namespace detail

/// The client went away before the response was finished (the failure of notify_finish()).
class ConnectionLostError : public Error {
public:
    ConnectionLostError() : Error("the HTTP connection was lost before the response was finished") {}
};

/// One header field, as received or to be sent.
struct Header {
    /// The field name, spelled as received or given (compare it case-insensitively).
    std::string name;
    /// The field value (a response header's has no CR, LF or NUL: set_header checks).
    std::string value;
};

/// One request and its response, shared between the connection and whoever answers it.
///
/// Contract: the request side (method, target, path, query, headers, body, peer) is complete when a
/// resource renders it (the whole body has been read). The response is made with set_status/set_header/
/// write and sent by finish(); a handler that answers later keeps the shared_ptr (shared_from_this())
/// and calls finish() afterwards, on the reactor's thread. Responses leave in request order whatever
/// order they finish in. By default the body is gathered and sent with its Content-Length by finish();
/// after start_streaming() (or register_producer()) it leaves as it is written (see start_streaming). After the client disconnected, writes and finish() are ignored and
/// notify_finish()'s Deferreds fail with ConnectionLostError. finish() twice throws StateError.
class Request : public std::enable_shared_from_this<Request> {
public:
    /// What the connection parsed from the request head; only the connection fills one in.
    struct Init {
        /// The method as sent ("GET").
        std::string method;
        /// The request target as sent ("/a/b?x=1").
        std::string target;
        /// 10 for HTTP/1.0, 11 for HTTP/1.1.
        int version = 11;  // 10 or 11
        /// The header fields in order, as received.
        std::vector<Header> headers;
        /// The client's address.
        Address peer;
        /// Whether the request lets the connection stay open (see Request::keep_alive()).
        bool keep_alive = true;
        bool secure = false;  ///< the connection speaks TLS (Request::is_secure())
    };
    /// Made only by the connection (detail::RequestKey is its passkey) when the request line is parsed; its
    /// parser fills in the rest through init(). Handlers are given a Request&.
    Request(detail::RequestKey, std::string_view method, std::string_view target, int version);
    /// What was parsed, for the connection to fill in while it parses the head (its passkey again).
    Init& init(detail::RequestKey) noexcept { return init_; }
    ~Request();
    Request(const Request&) = delete;
    Request& operator=(const Request&) = delete;

    // --- what was asked ---------------------------------------------------------------------------------
    /// "GET", "POST", ... as sent (methods are case-sensitive).
    [[nodiscard]] const std::string& method() const noexcept { return init_.method; }
    /// The request target as sent ("/a/b?x=1").
    [[nodiscard]] const std::string& target() const noexcept { return init_.target; }
    /// 10 for HTTP/1.0, 11 for HTTP/1.1.
    [[nodiscard]] int version() const noexcept { return init_.version; }
    /// The percent-decoded path ("/a/b").
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    /// The decoded path segments ("/a/b/" gives "a", "b", "").
    [[nodiscard]] const std::vector<std::string>& segments() const noexcept { return segments_; }
    /// Segments consumed by resource traversal so far, and those left (Twisted: prepath, postpath).
    [[nodiscard]] const std::vector<std::string>& prepath() const noexcept { return prepath_; }
    /// The segments traversal has not consumed yet; a leaf resource handles them itself.
    [[nodiscard]] const std::vector<std::string>& postpath() const noexcept { return postpath_; }
    /// Decoded query parameters in order ("?a=1&b=2&a=3"); '+' is a space.
    [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& query() const noexcept { return query_; }
    /// The first value of query parameter `name`, if any (Twisted: args[name][0]).
    [[nodiscard]] std::optional<std::string_view> query_param(std::string_view name) const;
    /// The header fields in order, as received.
    [[nodiscard]] const std::vector<Header>& headers() const noexcept { return init_.headers; }
    /// The first value of header `name` (case-insensitive), if any (Twisted: getHeader).
    [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
    /// The whole body (de-chunked).
    [[nodiscard]] const std::string& body() const noexcept { return body_; }
    /// The client's address (Twisted: getClientAddress).
    [[nodiscard]] const Address& peer() const noexcept { return init_.peer; }
    /// True when the request came over TLS (an `ssl:` listener; Twisted: isSecure).
    [[nodiscard]] bool is_secure() const noexcept { return init_.secure; }

    // --- the response -----------------------------------------------------------------------------------
    /// The status code (default 200) and, optionally, a reason phrase (default: the standard one).
    void set_status(int code, std::string reason = {});
    /// The response's status code so far: 200 until set_status() changes it.
    [[nodiscard]] int status() const noexcept { return status_; }
    /// Replaces every response header named `name` (case-insensitive) with one (Twisted: setHeader).
    void set_header(std::string_view name, std::string_view value);
    /// Adds a response header, keeping any of the same name.
    void add_header(std::string_view name, std::string_view value);
    /// The first value of response header `name` (case-insensitive) set so far, if any.
    [[nodiscard]] std::optional<std::string_view> response_header(std::string_view name) const;
    /// The response headers set so far, in order. When sending, the connection writes Content-Length,
    /// Connection and Transfer-Encoding itself and adds Date and Server when they are missing.
    [[nodiscard]] const std::vector<Header>& response_headers() const noexcept { return response_headers_; }
    /// Drops the status, headers and body set so far (before an error answer).
    void clear_response();
    /// Appends to the response body (it is sent with its Content-Length when the response finishes).
    void write(std::string_view data);
    /// Ends the response, with `data` appended to the body first.
    void finish(std::string_view data = {});
    /// True once finish() was called.
    [[nodiscard]] bool finished() const noexcept { return finished_; }

    /// Makes this a streamed response: the status and headers are frozen (changing them afterwards throws
    /// StateError) and sent as soon as the responses before this one have left; from then on each write()
    /// goes out as it is made, finish() ends the body. The framing: identity when a Content-Length header
    /// was set (bytes beyond it are dropped; a body that ends short closes the connection), chunked for an
    /// HTTP/1.1 client otherwise, delimited by closing the connection for HTTP/1.0. Writes made while
    /// earlier responses are still in the way are buffered: give large bodies a producer, which is paused
    /// once 64 KiB wait. Calling it twice does nothing.
    void start_streaming();
    /// True once start_streaming() or register_producer() was called.
    [[nodiscard]] bool is_streaming() const noexcept { return streaming_; }
    /// Registers the producer of the body (Twisted: Request.registerProducer) and starts streaming. A
    /// streaming (push) producer writes on its own and is paused while the connection's write buffer is
    /// above its high watermark (or, before this response's turn, once 64 KiB wait), resumed when it
    /// drains. A pull producer's resume_producing() is called each time the buffer is empty, from this
    /// response's turn on. The producer is borrowed: unregister it (or finish) before it is destroyed. It
    /// gets stop_producing() if the client goes away first. Throws StateError if one is registered.
    void register_producer(Producer& producer, bool streaming);
    /// Forgets the producer (Twisted: Request.unregisterProducer); finish() does it too.
    void unregister_producer();
    /// True once the client went away (writes are ignored from then on).
    [[nodiscard]] bool disconnected() const noexcept { return lost_; }
    /// A Deferred fired when the response was handed to the connection, or failed with ConnectionLostError
    /// when the client disconnected first (Twisted: notifyFinish). Each call gives a new Deferred.
    Deferred<void> notify_finish();
    /// Hands the connection to `protocol` once this response (a 101 Switching Protocols) has been written:
    /// no more requests are read on it, and from then on its bytes go to `protocol`, whose transport is the
    /// connection's (Twisted: a WebSocket resource taking over the request's transport). Call it before
    /// finish(). The connection is not handed over if the response closes it or the client has gone.
    void switch_protocols(std::unique_ptr<Protocol> protocol) { switch_to_ = std::move(protocol); }

    // --- for the connection (detail) and resource traversal ----------------------------------------------
    /// Appends request body bytes as they arrive (the connection's call, not a handler's).
    void append_body(std::string_view data) { body_.append(data); }
    /// Parses the target into path, segments and query; false if it is not a valid request target.
    bool parse_target();
    /// Moves the next segment from postpath to prepath and returns it (Twisted: postpath.pop(0)).
    std::string consume_segment();
    /// Whether the request lets the connection stay open, as HTTP says: HTTP/1.1 unless it sent
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    [[nodiscard]] bool keep_alive() const noexcept { return init_.keep_alive; }
    /// The response body written so far (write() and finish()).
    [[nodiscard]] const std::string& response_body() const noexcept { return response_body_; }
    /// The reason phrase given to set_status(); empty: the standard one (reason_phrase()) is sent.
    [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
    /// Sets the connection that sends the response on finish() (the connection's call); nullptr detaches
    /// it, after which finish() only records.
    void attach(detail::HttpChannel* channel) noexcept { channel_ = channel; }
    /// The connection is gone: fail the pending notify_finish Deferreds.
    void connection_lost();
    /// The response was handed to the transport: fire the notify_finish Deferreds.
    void response_sent();
    /// The protocol given to switch_protocols, taken once.
    std::unique_ptr<Protocol> take_switch() noexcept { return std::move(switch_to_); }
    /// The producer given to register_producer, or nullptr (the connection paces it).
    [[nodiscard]] Producer* producer() const noexcept { return producer_; }
    /// Whether that producer is a streaming (push) one.
    [[nodiscard]] bool producer_streaming() const noexcept { return producer_streaming_; }
    /// Stops and forgets the producer, if any (the connection is gone).
    void stop_producer();
    /// Part of a streamed identity body straight from a file (Transport::send_file, sendfile(2)): the bytes
    /// the kernel took, or std::nullopt when the connection cannot (TLS, chunked framing, this response not
    /// yet on the wire, output waiting): write() them instead. StaticFiles uses it from its pull producer.
    std::optional<std::size_t> send_file(int fd, std::uint64_t offset, std::size_t count);

private:
    Init init_;
    std::string path_;
    std::vector<std::string> segments_;
    std::vector<std::string> prepath_;
    std::vector<std::string> postpath_;
    std::vector<std::pair<std::string, std::string>> query_;
    std::string body_;

    int status_ = 200;
    std::string reason_;
    std::vector<Header> response_headers_;
    std::string response_body_;
    bool finished_ = false;
    bool sent_ = false;
    bool lost_ = false;
    bool streaming_ = false;
    Producer* producer_ = nullptr;
    bool producer_streaming_ = false;
    std::vector<Deferred<void>> finish_waiters_;
    detail::HttpChannel* channel_ = nullptr;
    std::unique_ptr<Protocol> switch_to_;
};

/// The standard reason phrase of an HTTP status code ("Not Found"), or "Unknown".
[[nodiscard]] std::string_view reason_phrase(int status) noexcept;

}  // namespace weft::web
