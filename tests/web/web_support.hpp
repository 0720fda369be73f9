#pragma once
// Helpers for weft::web's tests: a Site on loopback, a raw client that sends exact bytes and keeps what
// comes back, and a small splitter of HTTP responses (by Content-Length) to check them.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/loop.hpp"
#include "weft/listening_port.hpp"
#include "weft/web/resource.hpp"
#include "weft/web/site.hpp"

namespace web_test {

using namespace std::chrono_literals;

/// What a raw client saw: every byte, and whether the server closed the connection (rather than the
/// client, once `done` held).
struct Seen {
    std::string bytes;
    bool closed_by_server = false;
    bool in_time = true;
};

/// One parsed response (test-side, simple: Content-Length framing only).
struct Response {
    std::string status_line;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    [[nodiscard]] std::string header(std::string_view name) const {
        for (const auto& [k, v] : headers) {
            if (k.size() == name.size() &&
                std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
                return v;
            }
        }
        return "<none>";
    }
};

/// Splits `bytes` into complete responses; 1xx responses are kept as their own entries. A HEAD
/// response's body is not expected when `head` says so for its index.
inline std::vector<Response> split_responses(std::string_view bytes, const std::vector<bool>& head = {}) {
    std::vector<Response> out;
    while (true) {
        auto end = bytes.find("\r\n\r\n");
        if (end == std::string_view::npos) break;
        Response r;
        std::string_view block = bytes.substr(0, end + 2);
        auto eol = block.find("\r\n");
        r.status_line = std::string(block.substr(0, eol));
        block.remove_prefix(eol + 2);
        std::size_t length = 0;
        while (!block.empty()) {
            auto e = block.find("\r\n");
            auto line = block.substr(0, e);
            auto colon = line.find(':');
            std::string name(line.substr(0, colon));
            std::string value(line.substr(colon + 2));
            if (name == "Content-Length") length = std::stoul(value);
            r.headers.emplace_back(name, value);
            block.remove_prefix(e + 2);
        }
        bool interim = r.status_line.starts_with("HTTP/1.1 1");
        std::size_t index = out.size();
        if (interim || (index < head.size() && head[index])) length = 0;
        if (bytes.size() < end + 4 + length) break;
        r.body = std::string(bytes.substr(end + 4, length));
        bytes.remove_prefix(end + 4 + length);
        out.push_back(std::move(r));
    }
    return out;
}

/// `bytes` without its Date header lines (they change every second).
inline std::string without_date(std::string bytes) {
    for (auto at = bytes.find("Date: "); at != std::string::npos; at = bytes.find("Date: ")) {
        bytes.erase(at, bytes.find("\r\n", at) + 2 - at);
    }
    return bytes;
}

/// A Site on 127.0.0.1, port 0, with its own reactor. Fill `root` before start().
struct WebServer {
    weft::Reactor reactor;
    std::shared_ptr<weft::web::Resource> root = std::make_shared<weft::web::Resource>();
    std::unique_ptr<weft::web::Site> site;
    std::shared_ptr<weft::ListeningPort> port;

    void start(weft::web::ServerOptions options = {}, bool access_log = false) {
        options.access_log = access_log;
        site = std::make_unique<weft::web::Site>(reactor, root, std::move(options));
        port = reactor.listen_tcp(0, *site, {"127.0.0.1"});
    }

    /// Connects, writes `pieces` one per loop turn, and collects the answer until the server closes the
    /// connection or `done(bytes)` holds (then the client closes). `on_data` may write more.
    Seen exchange(std::vector<std::string> pieces, std::function<bool(const std::string&)> done = {},
                  std::function<void(weft::Transport&, const std::string&)> on_data = {}) {
        Seen seen;
        bool client_closed = false;
        auto next = std::make_shared<std::size_t>(0);
        auto send = std::make_shared<std::function<void(weft::Transport&)>>();
        *send = [&, next, send_weak = std::weak_ptr(send)](weft::Transport& t) {
            if (*next >= pieces.size() || t.disconnecting()) return;
            t.write(pieces[(*next)++]);
            if (*next < pieces.size()) {
                reactor.call_later(0s, [&t, send_weak] {
                    if (auto s = send_weak.lock()) (*s)(t);
                });
            }
        };
        weft_test::LambdaClientFactory client([&](const weft::Address&) {
            auto p = std::make_unique<weft_test::Recorder>();
            p->on_made = [&](weft_test::Recorder& r) { (*send)(r.transport()); };
            p->on_data = [&](weft_test::Recorder& r, std::string_view) {
                if (on_data) on_data(r.transport(), r.received);
                if (done && !client_closed && done(r.received)) {
                    client_closed = true;
                    r.transport().lose_connection();
                }
            };
            p->on_lost = [&](weft_test::Recorder& r, const weft::Reason&) { seen.bytes = r.received; };
            return p;
        });
        client.on_end = [&] { reactor.stop(); };
        reactor.connect_tcp("127.0.0.1", port->port(), client);
        seen.in_time = weft_test::run_bounded(reactor, 10s);
        seen.closed_by_server = !client_closed;
        return seen;
    }

    /// exchange() until `n` complete responses arrived.
    Seen exchange_n(std::vector<std::string> pieces, std::size_t n, std::vector<bool> head = {}) {
        return exchange(std::move(pieces), [n, head](const std::string& b) { return split_responses(b, head).size() >= n; });
    }
};

/// A resource answering GET with a fixed text body.
inline std::shared_ptr<weft::web::Resource> text(std::string body) {
    auto r = std::make_shared<weft::web::Resource>();
    r->on("GET", [body](weft::web::Request& request) {
        request.set_header("Content-Type", "text/plain");
        request.finish(body);
    });
    return r;
}

/// `s` cut into one-byte pieces.
inline std::vector<std::string> bytewise(std::string_view s) {
    std::vector<std::string> out;
    for (char c : s) out.emplace_back(1, c);
    return out;
}

}  // namespace web_test
