// ReconnectingClientFactory driven by testing::Clock and a fake connector.
#include <catch2/catch.hpp>

#include "weft/reconnecting_client_factory.hpp"
#include "weft/testing/clock.hpp"

using namespace std::chrono_literals;

namespace {
struct FakeConnector : weft::Connector {
    int connects = 0, stops = 0;
    State st = State::disconnected;
    void connect() override {
        ++connects;
        st = State::connecting;
    }
    void stop_connecting() override {
        ++stops;
        st = State::disconnected;
    }
    void disconnect() override { st = State::disconnected; }
    [[nodiscard]] State state() const noexcept override { return st; }
    [[nodiscard]] std::string destination() const override { return "example:1"; }
};

struct Factory : weft::ReconnectingClientFactory {
    using ReconnectingClientFactory::ReconnectingClientFactory;
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override {
        return std::make_unique<weft::Protocol>();
    }
};
const weft::Reason refused = weft::Reason::lost(std::make_error_code(std::errc::connection_refused));
}  // namespace

TEST_CASE("reconnecting: delays grow by factor up to max_delay, without jitter exactly", "[reconnecting]") {
    weft::testing::Clock clock;
    Factory f(clock, 1);
    f.jitter = 0;
    f.initial_delay = 1.0;
    f.factor = 2.0;
    f.max_delay = 10.0;
    FakeConnector c;
    std::vector<double> delays;
    for (int i = 0; i < 6; ++i) {
        f.client_connection_failed(c, refused);
        delays.push_back(f.delay());
        const int before = c.connects;
        clock.advance(std::chrono::duration<double>(f.delay() - 0.001));
        CHECK(c.connects == before);
        clock.advance(2ms);
        CHECK(c.connects == before + 1);
    }
    CHECK(delays == std::vector<double>{2, 4, 8, 10, 10, 10});
}

TEST_CASE("reconnecting: jitter spreads the delay around the nominal value", "[reconnecting]") {
    weft::testing::Clock clock;
    Factory f(clock, 42);
    FakeConnector c;
    f.client_connection_lost(c, refused);
    const double nominal = 1.0 * f.factor;
    CHECK(f.delay() != nominal);
    CHECK(f.delay() == Approx(nominal).epsilon(0.6));
    REQUIRE(f.pending_retry().active());
}

TEST_CASE("reconnecting: max_retries gives up", "[reconnecting]") {
    weft::testing::Clock clock;
    Factory f(clock, 1);
    f.max_retries = 2;
    FakeConnector c;
    f.client_connection_failed(c, refused);
    clock.advance(1h);
    f.client_connection_failed(c, refused);
    clock.advance(1h);
    CHECK(c.connects == 2);
    f.client_connection_failed(c, refused);
    CHECK_FALSE(f.pending_retry().active());
    clock.advance(100h);
    CHECK(c.connects == 2);
}

TEST_CASE("reconnecting: stop_trying cancels the pending retry and stops an attempt", "[reconnecting]") {
    weft::testing::Clock clock;
    Factory f(clock, 1);
    FakeConnector c;
    f.client_connection_failed(c, refused);
    REQUIRE(f.pending_retry().active());
    f.stop_trying();
    CHECK_FALSE(f.pending_retry().active());
    CHECK(c.stops == 0);  // it was waiting, not connecting: cancelling the retry is all
    clock.advance(1h);
    CHECK(c.connects == 0);
    f.client_connection_failed(c, refused);
    CHECK(clock.pending_calls().empty());

    Factory g(clock, 1);
    FakeConnector d;
    d.connect();
    g.retry(d);
    g.stop_trying();
    CHECK(d.stops == 1);  // an attempt in progress is stopped
}

TEST_CASE("reconnecting: a factory destroyed with a retry pending cancels it and leaves the connector alone", "[reconnecting]") {
    // The connector goes first here; the factory's destructor must not touch it (the sanitizer builds
    // would report it), and the retry must never run.
    weft::testing::Clock clock;
    {
        Factory f(clock, 1);
        {
            FakeConnector c;
            f.client_connection_failed(c, refused);
            REQUIRE(f.pending_retry().active());
        }
    }
    CHECK(clock.pending_calls().empty());
    clock.advance(1h);
}

TEST_CASE("reconnecting: reset_delay starts over from initial_delay", "[reconnecting]") {
    weft::testing::Clock clock;
    Factory f(clock, 1);
    f.jitter = 0;
    FakeConnector c;
    for (int i = 0; i < 3; ++i) f.client_connection_failed(c, refused);
    CHECK(f.retries() == 3);
    f.reset_delay();
    CHECK(f.retries() == 0);
    CHECK(f.delay() == f.initial_delay);
    f.client_connection_failed(c, refused);
    CHECK(f.delay() == Approx(f.initial_delay * f.factor));
}

// Issue 13: the documented algorithm is Twisted's; these pin the three points its old docs got wrong.
TEST_CASE("reconnecting: the first retry waits initial_delay * factor", "[reconnecting]") {
    weft::testing::Clock clock;
    Factory f(clock, 1);
    f.jitter = 0;
    f.initial_delay = 3.0;
    f.factor = 1.5;
    FakeConnector c;
    f.client_connection_lost(c, refused);
    CHECK(f.delay() == Approx(4.5));
    clock.advance(std::chrono::duration<double>(4.49));
    CHECK(c.connects == 0);
    clock.advance(20ms);
    CHECK(c.connects == 1);
}

TEST_CASE("reconnecting: jitter is applied after the max_delay cap, so a delay may exceed it", "[reconnecting]") {
    weft::testing::Clock clock;
    int above = 0;
    int below = 0;
    for (std::uint32_t seed = 1; seed <= 40; ++seed) {
        Factory f(clock, seed);
        f.initial_delay = 10.0;
        f.max_delay = 10.0;
        f.jitter = 0.1;
        FakeConnector c;
        f.client_connection_failed(c, refused);  // min(10 * e, 10) = 10, then N(10, 1)
        if (f.delay() > f.max_delay) ++above;
        if (f.delay() < f.max_delay) ++below;
        f.stop_trying();
    }
    CHECK(above > 0);
    CHECK(below > 0);
}

TEST_CASE("reconnecting: after max_retries it stops silently and continue_trying stays true", "[reconnecting]") {
    weft::testing::Clock clock;
    Factory f(clock, 1);
    f.max_retries = 1;
    FakeConnector c;
    f.client_connection_failed(c, refused);
    clock.advance(1h);
    CHECK(c.connects == 1);
    f.client_connection_failed(c, refused);
    CHECK(f.retries() == 2);
    CHECK_FALSE(f.pending_retry().active());
    CHECK(f.continue_trying());  // Twisted's: nothing says it gave up
    clock.advance(100h);
    CHECK(c.connects == 1);
    f.reset_delay();  // and a reset makes it try again
    f.client_connection_failed(c, refused);
    CHECK(f.pending_retry().active());
}
