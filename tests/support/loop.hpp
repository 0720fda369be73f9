#pragma once
// Helpers for loopback tests: run a reactor with a hard time bound, and protocols/factories built from
// lambdas so each test reads top to bottom.

#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "weft/client_factory.hpp"
#include "weft/factory.hpp"
#include "weft/failure.hpp"
#include "weft/protocol.hpp"
#include "weft/reactor.hpp"

namespace weft_test {

using namespace std::chrono_literals;

/// Runs `reactor` until the test stops it; a test that has not stopped it within `limit` fails rather
/// than hangs. Returns true if the test stopped it in time. The guard stops the io_context itself, not
/// the reactor: a shutdown that hangs must end the test too.
inline bool run_bounded(weft::Reactor& reactor, weft::Duration limit = std::chrono::seconds(20),
                        bool handle_signals = false) {
    bool timed_out = false;
    auto guard = reactor.call_later(limit, [&] {
        timed_out = true;
        reactor.context().stop();
    });
    reactor.run(handle_signals);
    if (guard.active()) guard.cancel();
    return !timed_out;
}

/// A protocol that records what happens and runs optional hooks.
struct Recorder : weft::Protocol {
    std::string received;
    bool made = false;
    std::optional<weft::Reason> lost;
    std::function<void(Recorder&)> on_made;
    std::function<void(Recorder&, std::string_view)> on_data;
    std::function<void(Recorder&, const weft::Reason&)> on_lost;

    void connection_made() override {
        made = true;
        if (on_made) on_made(*this);
    }
    void data_received(std::string_view data) override {
        received.append(data);
        if (on_data) on_data(*this, data);
    }
    void connection_lost(const weft::Reason& reason) override {
        lost = reason;
        if (on_lost) on_lost(*this, reason);
    }
};

/// A server factory whose build_protocol is a lambda.
struct LambdaFactory : weft::Factory {
    std::function<std::unique_ptr<weft::Protocol>(const weft::Address&)> build;
    explicit LambdaFactory(std::function<std::unique_ptr<weft::Protocol>(const weft::Address&)> b) : build(std::move(b)) {}
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address& peer) override { return build(peer); }
};

/// A client factory whose callbacks are lambdas; it records how attempts ended.
struct LambdaClientFactory : weft::ClientFactory {
    std::function<std::unique_ptr<weft::Protocol>(const weft::Address&)> build;
    std::optional<weft::Reason> failed;
    std::optional<weft::Reason> lost;
    int started = 0;
    std::function<void()> on_end;

    explicit LambdaClientFactory(std::function<std::unique_ptr<weft::Protocol>(const weft::Address&)> b)
        : build(std::move(b)) {}
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address& peer) override { return build(peer); }
    void started_connecting(weft::Connector&) override { ++started; }
    void client_connection_failed(weft::Connector&, const weft::Reason& reason) override {
        failed = reason;
        if (on_end) on_end();
    }
    void client_connection_lost(weft::Connector&, const weft::Reason& reason) override {
        lost = reason;
        if (on_end) on_end();
    }
};

/// An echo protocol.
struct Echo : weft::Protocol {
    void data_received(std::string_view data) override { transport().write(data); }
};

/// Runs `scenario()` (a coroutine returning a weft::Deferred) on `reactor` until it ends, at most `limit`: a
/// reactor runs once, so a test's steps are one coroutine. A failure it ends with (a REQUIRE that failed)
/// is reported by Catch already. Returns false if it did not end in time.
template <class F>
bool run_scenario(weft::Reactor& reactor, const F& scenario, weft::Duration limit = std::chrono::seconds(10)) {
    bool ended = false;
    bool running = false;
    scenario().add_callbacks(
        [&] {
            ended = true;
            if (running) reactor.stop();
        },
        [&](const weft::Failure& f) {
            ended = true;
            UNSCOPED_INFO("the scenario failed: " << f.what());
            if (running) reactor.stop();
        });
    if (ended) return true;
    running = true;
    return run_bounded(reactor, limit) && ended;
}

}  // namespace weft_test
