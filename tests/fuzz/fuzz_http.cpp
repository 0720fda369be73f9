// libFuzzer target: weft::web's HTTP/1.1 request path (Site's per-connection protocol: Beast's parser fed
// from data_received, the checks around it, pipelining, late answers, the response queue). See
// docs/fuzzing.md for the input format and invariants.
//
// Header: flags bits 0-1 max_requests_in_flight - 1, bit 2 small limits (request line 64, header 256,
// 8 fields, body 64), bit 3 resources under /late hold their requests until the input is fed, then
// finish them in reverse order. The stream is what a client sends.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"
#include "weft/testing/clock.hpp"
#include "weft/testing/string_transport.hpp"
#include "weft/web/resource.hpp"
#include "weft/web/site.hpp"

namespace {

using weft::web::Request;

struct Outcome {
    std::vector<std::string> statuses;  // status codes of the final responses, in order (100s left out)
    std::size_t rendered = 0;           // requests that reached a handler
    bool closed = false;                // write side shut or connection lost requested
};

// Splits the server's output into responses and checks each is well-formed: a status line, fields,
// a Content-Length that matches what follows (a HEAD response has none), nothing after a
// "Connection: close" response.
std::vector<std::string> check_output(std::string_view out) {
    std::vector<std::string> statuses;
    bool closed = false;
    while (!out.empty()) {
        WEFT_FUZZ_CHECK(!closed, "bytes after a Connection: close response: " + weft::fuzz::escape(out));
        WEFT_FUZZ_CHECK(out.starts_with("HTTP/1.1 ") && out.size() > 12, "not a status line: " + weft::fuzz::escape(out));
        const std::string status(out.substr(9, 3));
        auto end = out.find("\r\n\r\n");
        WEFT_FUZZ_CHECK(end != std::string_view::npos, "a response head without its end: " + weft::fuzz::escape(out));
        std::string_view head = out.substr(0, end + 2);
        std::size_t length = 0;
        bool has_length = false;
        for (auto at = head.find("\r\n") + 2; at < head.size();) {
            auto eol = head.find("\r\n", at);
            auto line = head.substr(at, eol - at);
            WEFT_FUZZ_CHECK(line.find('\r') == std::string_view::npos && line.find('\n') == std::string_view::npos,
                            "a bare CR or LF in a response field");
            if (line.starts_with("Content-Length: ")) {
                has_length = true;
                length = std::stoul(std::string(line.substr(16)));
            }
            if (line == "Connection: close") closed = true;
            at = eol + 2;
        }
        out.remove_prefix(end + 4);
        if (status == "100") {
            WEFT_FUZZ_CHECK(!has_length, "a 100 Continue with a length");
            continue;
        }
        WEFT_FUZZ_CHECK(has_length, "a final response without Content-Length");
        // A HEAD response carries the length of a body it does not send: the next response (or the end)
        // follows its head at once. No body here starts like a status line.
        if (!out.empty() && !out.starts_with("HTTP/1.1 ")) {
            WEFT_FUZZ_CHECK(out.size() >= length, "a body shorter than its Content-Length");
            out.remove_prefix(length);
        }
        statuses.push_back(status);
    }
    return statuses;
}

Outcome run(const weft::fuzz::Input& in, bool chunked) {
    weft::testing::Clock clock;
    auto root = std::make_shared<weft::web::Resource>();
    std::vector<std::shared_ptr<Request>> held;
    Outcome outcome;
    auto answer = [&outcome](Request& r) {
        ++outcome.rendered;
        // Rendered requests are whole: the body is within the limit and the target parsed.
        r.set_header("X-Path-Segments", std::to_string(r.segments().size()));
        r.finish(r.method() == "HEAD" ? std::string() : "body:" + std::to_string(r.body().size()));
    };
    root->on("GET", answer).on("POST", answer).on("PUT", answer);
    auto late = std::make_shared<weft::web::Resource>();
    late->on("GET", [&](Request& r) {
        ++outcome.rendered;
        held.push_back(r.shared_from_this());
    });
    root->put_child("late", late);
    root->put_child("a", root);  // a cycle: traversal must follow the path, not the tree

    weft::web::ServerOptions options;
    options.access_log = false;
    options.max_requests_in_flight = static_cast<std::size_t>(in.flags & 3) + 1;
    if ((in.flags & 4) != 0) {
        options.max_request_line = 64;
        options.max_header_bytes = 256;
        options.max_headers = 8;
        options.max_body_bytes = 64;
    }
    const bool hold_late = (in.flags & 8) != 0;
    if (!hold_late) {
        late->on("GET", answer);
    }
    weft::web::Site site(clock, root, options);
    weft::testing::StringTransport transport;
    auto protocol = site.build_protocol(transport.peer());
    protocol->make_connection(transport);
    weft::fuzz::feed(*protocol, in, chunked, [](std::size_t, weft::fuzz::Chunker&) {});
    // Finishing one may let the channel read (and hold) more: repeat on copies until none is left.
    for (bool more = true; more;) {
        more = false;
        const auto batch = held;
        for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
            if ((*it)->finished()) continue;
            (*it)->finish("late");
            more = true;
        }
    }
    clock.advance(std::chrono::minutes(1));  // header deadline, idle and linger timers
    outcome.closed = transport.disconnect_requested() || transport.write_closed();
    outcome.statuses = check_output(transport.value());
    protocol->connection_lost(weft::Reason::done());
    root->put_child("a", nullptr);  // break the cycle
    return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = weft::fuzz::Input::parse(data, size);
    const Outcome whole = run(in, false);
    const Outcome chunked = run(in, true);
    // However the bytes arrive, the same requests get the same answers (100 Continue aside: whether the
    // body came with its header depends on the chunks).
    std::string w, c;
    for (const auto& s : whole.statuses) w += s + " ";
    for (const auto& s : chunked.statuses) c += s + " ";
    // One exception: which refusal ends a connection may depend on how much had arrived. Beast parses a
    // request line at once when it comes whole, but once it has asked for more it waits for the end of
    // the header; the request-line length is checked before Beast sees the bytes, a bad method byte by
    // Beast as soon as it arrives. So the last status may differ if both are refusals (which close).
    auto same_but_last = [](const std::vector<std::string>& a, const std::vector<std::string>& b) {
        if (a.size() != b.size() || a.empty()) return false;
        if (!std::equal(a.begin(), a.end() - 1, b.begin())) return false;
        return a.back() >= "400" && b.back() >= "400";
    };
    WEFT_FUZZ_CHECK(whole.statuses == chunked.statuses || same_but_last(whole.statuses, chunked.statuses),
                    "statuses differ: whole " + w + "| chunked " + c);
    WEFT_FUZZ_CHECK(whole.rendered == chunked.rendered, "a different number of requests rendered");
    WEFT_FUZZ_CHECK(whole.rendered <= whole.statuses.size(), "a rendered request was not answered");
    return 0;
}
