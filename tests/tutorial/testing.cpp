// The "Unit testing protocols" chapter (docs/tutorial/testing.md): Twisted's remote calculator from its
// test-driven development howto, ported to weft and tested with Catch2, weft::testing and loopback. The
// regions between the tutorial markers are copied into the chapter verbatim (test_snippets.cpp checks it).
#include <catch2/catch.hpp>


// tutorial:begin calculation
#include <cstdint>
#include <stdexcept>

// The arithmetic the server offers. Overflow and division by zero throw instead of being undefined.
class Calculation {
public:
    std::int64_t add(std::int64_t a, std::int64_t b) const { return checked(__builtin_add_overflow(a, b, &r_)); }
    std::int64_t subtract(std::int64_t a, std::int64_t b) const { return checked(__builtin_sub_overflow(a, b, &r_)); }
    std::int64_t multiply(std::int64_t a, std::int64_t b) const { return checked(__builtin_mul_overflow(a, b, &r_)); }
    std::int64_t divide(std::int64_t a, std::int64_t b) const {
        if (b == 0) throw std::domain_error("division by zero");
        if (b == -1) return multiply(a, -1);  // INT64_MIN / -1 overflows
        return a / b;
    }

private:
    std::int64_t checked(bool overflowed) const {
        if (overflowed) throw std::overflow_error("integer overflow");
        return r_;
    }
    mutable std::int64_t r_ = 0;
};
// tutorial:end calculation

// tutorial:begin calculation_tests
TEST_CASE("tutorial calculus: Calculation adds, subtracts, multiplies and divides", "[tutorial]") {
    const Calculation calc;
    CHECK(calc.add(3, 8) == 11);
    CHECK(calc.subtract(7, 3) == 4);
    CHECK(calc.multiply(6, 9) == 54);
    CHECK(calc.divide(12, 5) == 2);
    CHECK_THROWS_AS(calc.divide(1, 0), std::domain_error);
    CHECK_THROWS_AS(calc.add(INT64_MAX, 1), std::overflow_error);
    CHECK_THROWS_AS(calc.divide(INT64_MIN, -1), std::overflow_error);
}
// tutorial:end calculation_tests

// tutorial:begin server
#include <weft/protocols/basic.hpp>
#include <weft/protocols/policies.hpp>

#include <charconv>
#include <chrono>

// Answers "add 3 8" with "11", anything it cannot compute with "error"; drops a client silent for 60 s.
class RemoteCalculationProtocol : public weft::protocols::LineReceiver, public weft::protocols::TimeoutMixin {
public:
    explicit RemoteCalculationProtocol(weft::ReactorTime& time) : TimeoutMixin(time) {}

    void connection_made() override { set_timeout(std::chrono::seconds(60)); }
    void line_received(std::string_view line) override {
        reset_timeout();
        send_line(answer(line));
    }

private:
    std::string answer(std::string_view line) const {
        const auto first = line.find(' ');
        const auto second = line.find(' ', first + 1);
        if (first == line.npos || second == line.npos) return "error";
        std::int64_t a = 0;
        std::int64_t b = 0;
        if (!number(line.substr(first + 1, second - first - 1), a) || !number(line.substr(second + 1), b)) {
            return "error";
        }
        const auto op = line.substr(0, first);
        try {
            if (op == "add") return std::to_string(calc_.add(a, b));
            if (op == "subtract") return std::to_string(calc_.subtract(a, b));
            if (op == "multiply") return std::to_string(calc_.multiply(a, b));
            if (op == "divide") return std::to_string(calc_.divide(a, b));
        } catch (const std::exception&) {
            // Overflow or division by zero: the client gets "error" below.
        }
        return "error";
    }
    static bool number(std::string_view text, std::int64_t& out) {
        const auto* end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data(), end, out);
        return ec == std::errc{} && ptr == end && !text.empty();
    }

    Calculation calc_;
};
// tutorial:end server

// tutorial:begin server_tests
#include <weft/factory.hpp>
#include <weft/testing/clock.hpp>
#include <weft/testing/string_transport.hpp>

struct ServerFixture {
    weft::testing::Clock clock;
    std::unique_ptr<weft::Factory> factory = weft::Factory::for_protocol<RemoteCalculationProtocol>(clock);
    std::unique_ptr<weft::Protocol> proto = factory->build_protocol({"127.0.0.1", 0});
    weft::testing::StringTransport tr;
    ServerFixture() { proto->make_connection(tr); }

    void check(std::string_view operation, int a, int b, std::string_view expected) {
        proto->data_received(std::string(operation) + " " + std::to_string(a) + " " + std::to_string(b) + "\r\n");
        CHECK(tr.clear() == std::string(expected) + "\r\n");
    }
};

TEST_CASE_METHOD(ServerFixture, "tutorial calculus: RemoteCalculationProtocol computes each operation",
                 "[tutorial]") {
    check("add", 7, 6, "13");
    check("subtract", 82, 78, "4");
    check("multiply", 2, 8, "16");
    check("divide", 14, 3, "4");
}

TEST_CASE_METHOD(ServerFixture, "tutorial calculus: RemoteCalculationProtocol answers error to what it cannot compute",
                 "[tutorial]") {
    proto->data_received("add foo bar\r\n");
    proto->data_received("divide 1 0\r\n");
    proto->data_received("power 2 3\r\n");
    CHECK(tr.value() == "error\r\nerror\r\nerror\r\n");
    CHECK_FALSE(tr.disconnect_requested());
}
// tutorial:end server_tests

// tutorial:begin server_timeout_test
TEST_CASE_METHOD(ServerFixture, "tutorial calculus: RemoteCalculationProtocol drops a client silent for 60 s",
                 "[tutorial]") {
    clock.advance(std::chrono::seconds(59));
    check("add", 1, 1, "2");  // activity restarts the countdown
    clock.advance(std::chrono::seconds(59));
    CHECK_FALSE(tr.disconnect_requested());
    clock.advance(std::chrono::seconds(1));
    CHECK(tr.disconnect_requested());
}
// tutorial:end server_timeout_test

// tutorial:begin client
#include <weft/deferred.hpp>
#include <weft/error.hpp>

#include <deque>

// No answer within the client's timeout, or an answer that is not a number.
class ClientTimeoutError : public weft::Error {
public:
    using Error::Error;
};
class CalculationError : public weft::Error {
public:
    using Error::Error;
};

// Sends operations and gives each answer through a Deferred, in order. A call not answered within 60 s
// fails with ClientTimeoutError and closes the connection (later answers could no longer be matched).
class RemoteCalculationClient : public weft::protocols::LineReceiver {
public:
    explicit RemoteCalculationClient(weft::ReactorTime& time) : time_(time) {}

    weft::Deferred<std::int64_t> add(std::int64_t a, std::int64_t b) { return send_operation("add", a, b); }
    weft::Deferred<std::int64_t> subtract(std::int64_t a, std::int64_t b) { return send_operation("subtract", a, b); }
    weft::Deferred<std::int64_t> multiply(std::int64_t a, std::int64_t b) { return send_operation("multiply", a, b); }
    weft::Deferred<std::int64_t> divide(std::int64_t a, std::int64_t b) { return send_operation("divide", a, b); }

    void line_received(std::string_view line) override {
        if (pending_.empty()) return transport().lose_connection();  // an answer nobody asked for
        auto call = std::move(pending_.front());
        pending_.pop_front();
        call.timeout.cancel();
        std::int64_t value = 0;
        const auto* end = line.data() + line.size();
        auto [ptr, ec] = std::from_chars(line.data(), end, value);
        if (line.empty() || ec != std::errc{} || ptr != end) {
            call.result.errback(weft::Failure(CalculationError("the server answered " + std::string(line))));
        } else {
            call.result.callback(value);
        }
    }
    void connection_lost(const weft::Reason& reason) override {
        for (auto& call : std::exchange(pending_, {})) {
            call.timeout.cancel();
            call.result.errback(weft::Failure(CalculationError("connection lost: " + reason.message())));
        }
    }

private:
    struct Call {
        weft::Deferred<std::int64_t> result;
        weft::DelayedCall timeout;
    };

    weft::Deferred<std::int64_t> send_operation(std::string_view op, std::int64_t a, std::int64_t b) {
        weft::Deferred<std::int64_t> result;
        auto timeout = time_.call_later(std::chrono::seconds(60), [this] { time_out(); });
        pending_.push_back({result, timeout});
        send_line(std::string(op) + " " + std::to_string(a) + " " + std::to_string(b));
        return result;
    }
    void time_out() {
        for (auto& call : std::exchange(pending_, {})) {
            if (call.timeout.active()) call.timeout.cancel();  // the others' timers; this one is running
            call.result.errback(weft::Failure(ClientTimeoutError("no answer within 60 s")));
        }
        transport().lose_connection();
    }

    weft::ReactorTime& time_;
    std::deque<Call> pending_;
};
// tutorial:end client

// tutorial:begin client_tests
struct ClientFixture {
    weft::testing::Clock clock;
    RemoteCalculationClient proto{clock};
    weft::testing::StringTransport tr;
    ClientFixture() { proto.make_connection(tr); }
};

TEST_CASE_METHOD(ClientFixture, "tutorial calculus: RemoteCalculationClient sends operations and parses answers",
                 "[tutorial]") {
    std::optional<std::int64_t> sum;
    std::optional<std::int64_t> product;
    proto.add(7, 6).add_callback([&](std::int64_t v) { sum = v; });
    proto.multiply(5, 4).add_callback([&](std::int64_t v) { product = v; });
    CHECK(tr.value() == "add 7 6\r\nmultiply 5 4\r\n");
    proto.data_received("13\r\n2");
    CHECK(sum == 13);
    CHECK_FALSE(product);  // half an answer is no answer
    proto.data_received("0\r\n");
    CHECK(product == 20);
}

TEST_CASE_METHOD(ClientFixture, "tutorial calculus: RemoteCalculationClient fails a call the server answers with error",
                 "[tutorial]") {
    std::optional<std::string> error;
    proto.divide(1, 0).add_errback([&](weft::Failure f) {
        f.trap<CalculationError>();
        error = f.what();
        return std::int64_t{0};
    });
    proto.data_received("error\r\n");
    CHECK(error == "the server answered error");
}
// tutorial:end client_tests

// tutorial:begin client_timeout_tests
#include <weft/testing/string_transport_with_disconnection.hpp>

TEST_CASE_METHOD(ClientFixture, "tutorial calculus: RemoteCalculationClient times a call out after 60 s",
                 "[tutorial]") {
    bool timed_out = false;
    proto.add(9, 4).add_errback([&](weft::Failure f) {
        timed_out = f.check<ClientTimeoutError>();
        return std::int64_t{0};
    });
    clock.advance(std::chrono::seconds(59));
    CHECK_FALSE(timed_out);
    clock.advance(std::chrono::seconds(1));
    CHECK(timed_out);
    CHECK(tr.disconnect_requested());
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("tutorial calculus: RemoteCalculationClient's connection is closed by a timeout", "[tutorial]") {
    weft::testing::Clock clock;
    RemoteCalculationClient proto(clock);
    weft::testing::StringTransportWithDisconnection tr;  // lose_connection() delivers connection_lost
    tr.attach(proto);                                    // and calls make_connection
    int failed = 0;
    for (int i = 0; i < 2; ++i) {
        proto.add(i, i).add_errback([&](weft::Failure f) {
            failed += f.check<ClientTimeoutError>();
            return std::int64_t{0};
        });
    }
    clock.advance(std::chrono::seconds(60));
    CHECK(failed == 2);  // every call waiting on that connection
    CHECK(tr.state() == weft::ConnectionState::disconnected);
}
// tutorial:end client_timeout_tests

// tutorial:begin remote_add
#include <weft/coroutine.hpp>
#include <weft/deferred_endpoints.hpp>

// Connects, adds, closes: what an application would call, on a Reactor or, in a test, a MemoryReactor.
weft::Deferred<std::int64_t> remote_add(weft::ReactorNetwork& network, weft::ReactorTime& time,
                                        std::string endpoint, std::int64_t a, std::int64_t b) {
    auto client = std::make_unique<RemoteCalculationClient>(time);
    auto* connected = co_await weft::connect_protocol(network, endpoint, std::move(client));
    const auto sum = co_await connected->add(a, b);
    connected->transport().lose_connection();
    co_return sum;
}
// tutorial:end remote_add

// tutorial:begin memory_reactor_test
#include <weft/testing/memory_reactor.hpp>

TEST_CASE("tutorial calculus: remote_add connects where it is told and returns the server's sum", "[tutorial]") {
    weft::testing::MemoryReactor reactor;
    std::optional<std::int64_t> sum;
    remote_add(reactor, reactor, "tcp:calc.example:4000", 7, 6).add_callback([&](std::int64_t v) { sum = v; });
    REQUIRE(reactor.tcp_clients.size() == 1);
    CHECK(reactor.tcp_clients[0].host == "calc.example");
    CHECK(reactor.tcp_clients[0].port == 4000);

    auto server = weft::Factory::for_protocol<RemoteCalculationProtocol>(reactor);
    auto& pump = reactor.tcp_clients[0].connector->complete(*server);  // the client and a server, in memory
    pump.pump();                                                       // until nothing moves
    CHECK(sum == 13);
    CHECK(pump.disconnected());  // remote_add closed its connection
}
// tutorial:end memory_reactor_test

// tutorial:begin loopback_test
#include <weft/reactor.hpp>

TEST_CASE("tutorial calculus: remote_add against the server on loopback", "[tutorial]") {
    weft::Reactor reactor;
    auto factory = weft::Factory::for_protocol<RemoteCalculationProtocol>(reactor);
    auto port = reactor.listen_tcp(0, *factory, {.interface = "127.0.0.1"});  // 0: a free port
    std::optional<std::int64_t> sum;
    // A test never waits for ever: the guard ends it after 10 s (and the CHECK below fails).
    auto guard = reactor.call_later(std::chrono::seconds(10), [&] { reactor.stop(); });
    reactor.call_when_running([&] {
        remote_add(reactor, reactor, "tcp:127.0.0.1:" + std::to_string(port->port()), 3, 4)
            .add_callbacks([&](std::int64_t v) { sum = v; },
                           [&](weft::Failure f) { FAIL_CHECK(f.what()); })
            .add_callback([&] { reactor.stop(); });  // an orderly shutdown: the port and connections close
    });
    reactor.run(false);  // false: no signal handling in a test
    CHECK(sum == 7);
}
// tutorial:end loopback_test
