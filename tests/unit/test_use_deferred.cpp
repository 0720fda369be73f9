// weft::use_deferred (weft/use_deferred.hpp): Asio operations on the reactor's io_context return Deferreds;
// a steady_timer and a loopback TCP socket pair, driven by the reactor with a time bound, and the same
// awaited from a coroutine.
#include <catch2/catch.hpp>

#include <array>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "support/loop.hpp"
#include "weft/coroutine.hpp"
#include "weft/use_deferred.hpp"

using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using weft::Deferred;
using weft::Failure;
using weft_test::run_bounded;

TEST_CASE("use_deferred: a timer's wait is a Deferred<void> fired on the reactor thread", "[use_deferred]") {
    weft::Reactor reactor;
    asio::steady_timer timer(reactor.context(), 10ms);
    Deferred<void> d = timer.async_wait(weft::use_deferred);
    bool fired_inside_call = d.called();
    bool fired = false;
    d.add_callback([&] {
        fired = true;
        reactor.stop();
    });
    CHECK_FALSE(fired_inside_call);  // never inside the call that started the operation
    REQUIRE(run_bounded(reactor, 10s, false));
    CHECK(fired);
}

TEST_CASE("use_deferred: an error_code fails the Deferred with system_error", "[use_deferred]") {
    weft::Reactor reactor;
    asio::steady_timer timer(reactor.context(), 1h);
    Deferred<void> d = timer.async_wait(weft::use_deferred);
    std::optional<Failure> failure;
    d.add_errback([&](Failure f) {
        failure.emplace(f);
        reactor.stop();
    });
    timer.cancel();  // Asio's own cancel: the operation completes with operation_aborted
    REQUIRE(run_bounded(reactor, 10s, false));
    REQUIRE(failure);
    REQUIRE(failure->check<boost::system::system_error>());
    try {
        failure->rethrow();
    } catch (const boost::system::system_error& e) {
        CHECK(e.code() == asio::error::operation_aborted);
    }
}

TEST_CASE("use_deferred: cancelling the Deferred cancels the operation and fails with CancelledError",
          "[use_deferred][cancel]") {
    weft::Reactor reactor;
    asio::steady_timer timer(reactor.context(), 1h);
    Deferred<void> d = timer.async_wait(weft::use_deferred);
    std::optional<Failure> failure;
    d.add_errback([&](Failure f) { failure.emplace(f); });
    d.cancel();
    REQUIRE(failure);
    CHECK(failure->check<weft::CancelledError>());
    // The timer's operation was cancelled through its slot: nothing is left for timer.cancel() to cancel,
    // and its late completion (operation_aborted) is dropped when the loop runs it.
    CHECK(timer.cancel() == 0);
    reactor.call_soon([&] { reactor.stop(); });
    REQUIRE(run_bounded(reactor, 10s, false));
}

TEST_CASE("use_deferred: a completion with a value (post) gives a Deferred of it", "[use_deferred]") {
    weft::Reactor reactor;
    Deferred<void> d = asio::post(reactor.context(), weft::use_deferred);
    bool fired = false;
    d.add_callback([&] {
        fired = true;
        reactor.stop();
    });
    REQUIRE(run_bounded(reactor, 10s, false));
    CHECK(fired);
}

TEST_CASE("use_deferred: a loopback socket pair read and written from a coroutine", "[use_deferred][coroutine]") {
    weft::Reactor reactor;
    tcp::acceptor acceptor(reactor.context(), tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    tcp::socket server(reactor.context());
    tcp::socket client(reactor.context());
    std::string received;
    std::optional<Failure> eof;
    std::optional<Failure> cancelled;
    std::optional<Failure> failed;

    auto run = [&]() -> Deferred<void> {
        Deferred<void> accepted = acceptor.async_accept(server, weft::use_deferred);
        co_await client.async_connect(acceptor.local_endpoint(), weft::use_deferred);
        co_await std::move(accepted);

        const std::string hello = "hello, deferred";
        std::size_t written = co_await asio::async_write(client, asio::buffer(hello), weft::use_deferred);
        CHECK(written == hello.size());
        std::array<char, 64> buf{};
        while (received.size() < hello.size()) {
            std::size_t n = co_await server.async_read_some(asio::buffer(buf), weft::use_deferred);
            received.append(buf.data(), n);
        }

        // A read nobody answers, cancelled through its Deferred: the coroutine sees CancelledError.
        Deferred<std::size_t> pending = client.async_read_some(asio::buffer(buf), weft::use_deferred);
        reactor.call_soon([pending]() mutable { pending.cancel(); });
        try {
            co_await std::move(pending);
        } catch (const weft::CancelledError&) {
            cancelled.emplace(std::current_exception());
        }

        // The peer closes: the read fails with system_error(eof).
        client.close();
        try {
            co_await server.async_read_some(asio::buffer(buf), weft::use_deferred);
        } catch (const boost::system::system_error&) {
            eof.emplace(std::current_exception());
        }
    };
    run().add_callbacks([&] { reactor.stop(); },
                        [&](Failure f) {
                            failed.emplace(f);
                            reactor.stop();
                        });
    REQUIRE(run_bounded(reactor, 10s, false));
    INFO((failed ? failed->what() : std::string("no failure")));
    CHECK_FALSE(failed);
    CHECK(received == "hello, deferred");
    CHECK(cancelled);
    REQUIRE(eof);
    try {
        eof->rethrow();
    } catch (const boost::system::system_error& e) {
        CHECK(e.code() == asio::error::eof);
    }
}

TEST_CASE("use_deferred: an operation whose io_context is destroyed unrun leaves nothing behind",
          "[use_deferred][lifetime]") {
    std::optional<Deferred<void>> d;
    {
        asio::io_context context;
        asio::steady_timer timer(context, 1h);
        d = timer.async_wait(weft::use_deferred);
    }
    CHECK_FALSE(d->called());
    d->cancel();  // its operation is gone: nothing to emit to, and no crash (ASan)
    CHECK(d->called());
    d->add_errback([](Failure f) { f.trap<weft::CancelledError>(); });
}
