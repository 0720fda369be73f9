#pragma once
// ServerOptions: the HTTP server's limits and timeouts (Twisted: the attributes of Site and HTTPChannel).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "weft/time.hpp"

namespace weft::web {

/// Limits and timeouts of one Site. Every default is safe to face the Internet with; each can be raised or
/// lowered. A request that breaks a limit is answered with the status named here and its connection is
/// closed once the answers before it have been sent.
struct ServerOptions {
    /// Longest request line ("GET /path?query HTTP/1.1"), in bytes: 414 beyond it.
    std::size_t max_request_line = 8 * 1024;
    /// Largest header block (request line and fields, up to the blank line), in bytes: 431 beyond it.
    std::size_t max_header_bytes = 16 * 1024;
    /// Most header fields in one request: 431 beyond it.
    std::size_t max_headers = 100;
    /// Largest request body (after de-chunking), in bytes: 413 beyond it (before the body is read when
    /// Content-Length says so).
    std::uint64_t max_body_bytes = 1024 * 1024;
    /// Requests read but not yet answered (pipelining): once this many wait, the connection stops reading
    /// until one is answered. At least 1.
    std::size_t max_requests_in_flight = 16;
    /// From the first byte of a request (or from the connection's start) to the end of its header: 408
    /// when it runs out (slow-header attacks).
    Duration header_timeout = std::chrono::seconds(10);
    /// From the end of a request's header to the end of its body, however it trickles: 408 when it runs
    /// out (slow-body attacks). A whole deadline, not an idle one, so a byte now and then does not extend it.
    Duration body_timeout = std::chrono::seconds(60);
    /// A connection idle between requests (nothing pending, nothing unanswered) is closed after this.
    Duration keep_alive_timeout = std::chrono::seconds(15);
    /// After the last response of a connection the server closes, the client's input is read and dropped
    /// for at most this long, until the client closes: closing at once with unread input would send a
    /// reset that can destroy the response in flight.
    Duration linger_timeout = std::chrono::seconds(2);
    /// One common-log-format line per response at info level (WEFT_LOG).
    bool access_log = true;
    /// The Server header's value; empty leaves the header out.
    std::string server_name = "weft";
};

}  // namespace weft::web
