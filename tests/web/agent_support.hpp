#pragma once
// Helpers for the Agent's tests: wait (bounded) for a request's outcome, and a raw server on loopback that
// answers each request header with exact bytes and counts the connections it accepted.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "support/loop.hpp"
#include "weft/coroutine.hpp"
#include "weft/failure.hpp"
#include "weft/listening_port.hpp"
#include "weft/web/agent.hpp"

namespace agent_test {

using namespace std::chrono_literals;
using weft::web::Response;

struct Outcome {
    std::optional<Response> response;
    std::optional<weft::Failure> failure;
    bool in_time = true;
};

/// `d`'s outcome, as a Deferred that never fails (for co_await in a scenario).
inline weft::Deferred<Outcome> settle(weft::Deferred<Response> d) {
    Outcome o;
    try {
        o.response = co_await std::move(d);
    } catch (...) {
        o.failure.emplace(std::current_exception());
    }
    co_return o;
}

using weft_test::run_scenario;

/// A server that answers the n-th request header it reads (counted over all its connections, from 0)
/// with answer(n, transport, request). Request bodies are not expected.
struct RawServer {
    weft::Reactor& reactor;
    std::function<void(int, weft::Transport&, const std::string&)> answer;
    int accepted = 0;
    int requests = 0;
    int lost = 0;
    std::optional<std::pair<int, weft::Deferred<void>>> lost_waiter;
    std::string last_request;
    weft_test::LambdaFactory factory{[this](const weft::Address&) {
        ++accepted;
        auto p = std::make_unique<weft_test::Recorder>();
        auto used = std::make_shared<std::size_t>(0);
        p->on_data = [this, used](weft_test::Recorder& r, std::string_view) {
            for (auto end = r.received.find("\r\n\r\n", *used); end != std::string::npos;
                 end = r.received.find("\r\n\r\n", *used)) {
                last_request = r.received.substr(*used, end + 4 - *used);
                *used = end + 4;
                answer(requests++, r.transport(), last_request);
            }
        };
        p->on_lost = [this](weft_test::Recorder&, const weft::Reason&) {
            ++lost;
            if (lost_waiter && lost >= lost_waiter->first) {
                auto d = std::move(lost_waiter->second);
                lost_waiter.reset();
                d.callback();
            }
        };
        return p;
    }};
    std::shared_ptr<weft::ListeningPort> port;

    explicit RawServer(weft::Reactor& r, std::function<void(int, weft::Transport&, const std::string&)> a)
        : reactor(r), answer(std::move(a)) {
        port = reactor.listen_tcp(0, factory, {"127.0.0.1"});
    }
    /// Fires once the server has seen `n` connections lost in all.
    weft::Deferred<void> lost_at_least(int n) {
        if (lost >= n) return weft::succeed();
        lost_waiter.emplace(n, weft::Deferred<void>());
        return lost_waiter->second;
    }
    [[nodiscard]] std::string url(const std::string& path = "/") const {
        return "http://127.0.0.1:" + std::to_string(port->port()) + path;
    }
};

}  // namespace agent_test
