// policies.hpp, after twisted/test/test_policies.py: TimeoutMixin, the wrapping factories, connection
// limits, idle timeouts and throttling, all on testing::Clock and testing::StringTransport.
#include <catch2/catch.hpp>

#include <chrono>
#include <initializer_list>
#include <limits>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "weft/error.hpp"
#include "weft/protocols/policies.hpp"
#include "weft/testing/clock.hpp"
#include "weft/testing/string_transport.hpp"

using namespace std::chrono_literals;
using weft::Address;
using weft::Reason;
using weft::testing::Clock;
using weft::testing::StringTransport;
namespace wp = weft::protocols;

namespace {

// Twisted's clock.pump: advance by each amount in turn (seconds).
void pump(Clock& clock, std::initializer_list<double> steps) {
    for (const double s : steps) clock.advance(std::chrono::duration<double>(s));
}

struct TimeoutTester : weft::Protocol, wp::TimeoutMixin {
    explicit TimeoutTester(Clock& clock, std::optional<weft::Duration> initial = std::chrono::seconds(3))
        : TimeoutMixin(clock), initial_timeout(initial) {}
    void connection_made() override { set_timeout(initial_timeout); }
    void data_received(std::string_view) override { reset_timeout(); }
    void connection_lost(const Reason&) override { set_timeout(std::nullopt); }
    void timeout_connection() override { timed_out = true; }
    std::optional<weft::Duration> initial_timeout;
    bool timed_out = false;
};

// Records what happens to it; the wrapped protocol of the wrapper tests.
struct Simple : weft::Protocol {
    void connection_made() override { made = true; }
    void data_received(std::string_view data) override { received += data; }
    void connection_lost(const Reason&) override { lost = true; }
    bool made = false, lost = false;
    std::string received;
};

struct SimpleFactory : weft::ClientFactory {
    std::unique_ptr<weft::Protocol> build_protocol(const Address& peer) override {
        peers.push_back(peer);
        if (refuse) return nullptr;
        auto p = std::make_unique<Simple>();
        last = p.get();
        return p;
    }
    void start_factory() override { ++started; }
    void stop_factory() override { ++stopped; }
    void started_connecting(weft::Connector&) override { ++connecting; }
    std::vector<Address> peers;
    Simple* last = nullptr;
    bool refuse = false;
    int started = 0, stopped = 0, connecting = 0;
};

// A protocol wrapped by the factory, connected to its own StringTransport.
struct Connection {
    std::unique_ptr<weft::Protocol> protocol;
    std::unique_ptr<StringTransport> transport;
    Simple* inner = nullptr;

    Connection(weft::Factory& factory, Address peer, SimpleFactory* inner_factory = nullptr) {
        protocol = factory.build_protocol(peer);
        if (!protocol) return;
        protocol->set_factory(&factory);
        transport = std::make_unique<StringTransport>(peer);
        protocol->make_connection(*transport);
        if (inner_factory != nullptr) inner = inner_factory->last;
    }
    explicit operator bool() const { return protocol != nullptr; }
    wp::ProtocolWrapper& wrapper() const { return dynamic_cast<wp::ProtocolWrapper&>(*protocol); }
    void lose() {
        transport->set_state(weft::ConnectionState::disconnected);
        protocol->connection_lost(Reason::done());
    }
};

const Address local{"127.0.0.1", 12345};

}  // namespace

TEST_CASE("TimeoutMixin: times out at the period (test_timeout) and uses the given ReactorTime",
          "[policies][timeout_mixin]") {
    Clock clock;
    TimeoutTester p(clock);
    StringTransport t;
    p.make_connection(t);
    CHECK(clock.pending_calls().size() == 1);
    pump(clock, {0, 0.5, 1.0, 1.0});
    CHECK_FALSE(p.timed_out);
    pump(clock, {0, 1.0});
    CHECK(p.timed_out);
    CHECK(clock.pending_calls().empty());
    p.reset_timeout();  // after it fired: nothing to reset, nothing scheduled
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("TimeoutMixin: activity delays the timeout (test_noTimeout)", "[policies][timeout_mixin]") {
    Clock clock;
    TimeoutTester p(clock);
    StringTransport t;
    p.make_connection(t);
    pump(clock, {0, 0.5, 1.0, 1.0});
    CHECK_FALSE(p.timed_out);
    p.data_received("hello there");
    pump(clock, {0, 1.0, 1.0, 0.5});
    CHECK_FALSE(p.timed_out);
    pump(clock, {0, 1.0});
    CHECK(p.timed_out);
}

TEST_CASE("TimeoutMixin: set_timeout changes and cancels, returns the previous period", "[policies][timeout_mixin]") {
    Clock clock;
    SECTION("a new value replaces the running countdown (test_resetTimeout)") {
        TimeoutTester p(clock, std::nullopt);
        StringTransport t;
        p.make_connection(t);
        CHECK(clock.pending_calls().empty());
        p.set_timeout(1s);
        CHECK(p.timeout() == weft::Duration(1s));
        pump(clock, {0, 0.9});
        CHECK_FALSE(p.timed_out);
        pump(clock, {0, 0.2});
        CHECK(p.timed_out);
    }
    SECTION("std::nullopt cancels (test_cancelTimeout)") {
        TimeoutTester p(clock, 5s);
        StringTransport t;
        p.make_connection(t);
        p.set_timeout(std::nullopt);
        CHECK_FALSE(p.timeout());
        pump(clock, {0, 5, 5, 5});
        CHECK_FALSE(p.timed_out);
    }
    SECTION("returns the previous value (test_setTimeoutReturn)") {
        TimeoutTester p(clock);
        p.set_timeout(5s);
        CHECK(p.set_timeout(10s) == weft::Duration(5s));
        CHECK(p.set_timeout(std::nullopt) == weft::Duration(10s));
        CHECK_FALSE(p.set_timeout(1s));
        CHECK(p.timeout() == weft::Duration(1s));
        CHECK(p.set_timeout(1.5s) == weft::Duration(1s));
        CHECK(p.timeout() == weft::Duration(1500ms));
        p.set_timeout(std::nullopt);
        CHECK(clock.pending_calls().empty());
    }
    SECTION("cancelling a call cancelled elsewhere is harmless (test_setTimeoutCancleAlreadyCancelled)") {
        TimeoutTester p(clock);
        p.set_timeout(3s);
        clock.pending_calls().at(0).cancel();
        CHECK(p.timeout());
        p.set_timeout(std::nullopt);
        CHECK_FALSE(p.timeout());
        p.set_timeout(2s);  // and a new one can start
        pump(clock, {2.0});
        CHECK(p.timed_out);
    }
}

TEST_CASE("TimeoutMixin: the default loses the connection, destruction cancels", "[policies][timeout_mixin]") {
    struct Plain : weft::Protocol, wp::TimeoutMixin {
        explicit Plain(Clock& c) : TimeoutMixin(c) {}
        void connection_made() override { set_timeout(2s); }
    };
    Clock clock;
    StringTransport t;
    {
        Plain p(clock);
        p.make_connection(t);
        pump(clock, {1.9});
        CHECK_FALSE(t.disconnect_requested());
        pump(clock, {0.2});
        CHECK(t.disconnect_requested());
    }
    {
        StringTransport t2;
        auto p = std::make_unique<Plain>(clock);
        p->make_connection(t2);
        CHECK(clock.pending_calls().size() == 1);
        p.reset();
        CHECK(clock.pending_calls().empty());
        pump(clock, {5});
        CHECK_FALSE(t2.disconnect_requested());
    }
}

TEST_CASE("WrappingFactory: the wrapper is the wrapped protocol's transport and forwards both ways",
          "[policies][wrapping]") {
    SimpleFactory inner;
    wp::WrappingFactory factory(inner);
    Connection c(factory, local, &inner);
    REQUIRE(c);
    Simple& s = *c.inner;
    CHECK(s.made);
    CHECK(s.factory() == &inner);  // test_protocolFactoryAttribute
    CHECK(&s.transport() == &c.wrapper());
    CHECK(factory.protocols().count(&c.wrapper()) == 1);

    c.protocol->data_received("in");
    CHECK(s.received == "in");
    s.transport().write("out");
    const std::string_view pieces[] = {"1", "2"};
    s.transport().write_sequence(pieces);
    s.transport().write_shared(std::make_shared<const std::string>("3"));
    CHECK(c.transport->value() == "out123");
    CHECK(s.transport().peer() == local);              // test_getPeer
    CHECK(s.transport().host() == c.transport->host());  // test_getHost
    CHECK(s.transport().buffered_bytes() == 6);
    REQUIRE(s.transport().as_tcp() != nullptr);  // the wrapped transport's
    CHECK(s.transport().as_tcp()->set_tcp_nodelay(true));
    CHECK(c.transport->nodelay);

    struct Prod : weft::Producer {
        void resume_producing() override {}
        void stop_producing() override {}
    } producer;
    s.transport().register_producer(producer, true);  // test_registerProducer
    CHECK(c.transport->producer() == &producer);
    CHECK(c.transport->streaming());
    s.transport().unregister_producer();  // test_unregisterProducer
    CHECK(c.transport->producer() == nullptr);

    s.transport().pause_producing();
    CHECK(c.transport->producer_state() == StringTransport::ProducerState::paused);
    s.transport().resume_producing();
    CHECK(c.transport->producer_state() == StringTransport::ProducerState::producing);

    CHECK_FALSE(s.transport().disconnecting());
    s.transport().lose_connection();
    CHECK(c.transport->disconnect_requested());
    CHECK(s.transport().disconnecting());

    c.lose();
    CHECK(s.lost);
    CHECK(factory.protocols().empty());
}

TEST_CASE("WrappingFactory: refusals, start/stop and client callbacks are forwarded", "[policies][wrapping]") {
    SimpleFactory inner;
    wp::WrappingFactory factory(inner);
    inner.refuse = true;
    CHECK(factory.build_protocol(local) == nullptr);
    factory.do_start();
    CHECK(inner.started == 1);
    factory.do_stop();
    CHECK(inner.stopped == 1);
    struct NoConnector : weft::Connector {
        void connect() override {}
        void stop_connecting() override {}
        void disconnect() override {}
        State state() const noexcept override { return State::connecting; }
        std::string destination() const override { return "x:1"; }
    } connector;
    factory.started_connecting(connector);  // test_startedConnecting
    CHECK(inner.connecting == 1);
}

TEST_CASE("WrappingFactory: half-close goes to a HalfCloseable protocol, otherwise EOF loses the connection",
          "[policies][wrapping]") {
    struct Half : Simple, weft::HalfCloseable {
        void read_connection_lost() override { eof = true; }
        bool eof = false;
    };
    struct HalfFactory : weft::Factory {
        std::unique_ptr<weft::Protocol> build_protocol(const Address&) override {
            auto p = std::make_unique<Half>();
            last = p.get();
            return p;
        }
        Half* last = nullptr;
    } half_factory;
    wp::WrappingFactory factory(half_factory);
    Connection c(factory, local);
    c.wrapper().read_connection_lost();
    CHECK(half_factory.last->eof);
    CHECK_FALSE(c.transport->disconnect_requested());

    SimpleFactory plain;
    wp::WrappingFactory factory2(plain);
    Connection c2(factory2, local);
    c2.wrapper().read_connection_lost();
    CHECK(c2.transport->disconnect_requested());
}

TEST_CASE("LimitTotalConnectionsFactory: counts connections (testConnectionCounting)", "[policies][limits]") {
    SimpleFactory inner;
    wp::LimitTotalConnectionsFactory factory(inner, std::nullopt);
    CHECK(factory.connection_count() == 0);
    Connection c1(factory, local);
    CHECK(factory.connection_count() == 1);
    Connection c2(factory, local);
    CHECK(factory.connection_count() == 2);
    c1.lose();
    CHECK(factory.connection_count() == 1);
    c2.lose();
    CHECK(factory.connection_count() == 0);
    SECTION("a protocol built but never connected is counted down when destroyed") {
        auto p = factory.build_protocol(local);
        CHECK(factory.connection_count() == 1);
        p.reset();
        CHECK(factory.connection_count() == 0);
    }
}

TEST_CASE("LimitTotalConnectionsFactory: refuses or serves the overflow protocol (testConnectionLimiting)",
          "[policies][limits]") {
    SimpleFactory inner;
    wp::LimitTotalConnectionsFactory factory(inner, 1);
    Connection c1(factory, local);
    REQUIRE(c1);
    CHECK(factory.connection_count() == 1);
    CHECK(factory.build_protocol(local) == nullptr);
    CHECK(factory.connection_count() == 1);

    SimpleFactory overflow;
    factory.set_overflow_factory(&overflow);
    Connection over(factory, local, &overflow);
    REQUIRE(over);
    CHECK(over.inner->made);  // the overflow protocol serves it
    CHECK(factory.connection_count() == 2);  // and counts
    CHECK(inner.peers.size() == 1);

    c1.lose();
    CHECK(factory.connection_count() == 1);
    over.lose();
    CHECK(factory.connection_count() == 0);
    Connection again(factory, local, &inner);
    CHECK(again);
    CHECK(inner.peers.size() == 2);
}

TEST_CASE("LimitConnectionsByPeer: limits each peer host on its own", "[policies][limits]") {
    SimpleFactory inner;
    wp::LimitConnectionsByPeer factory(inner, 2);
    const Address a1{"10.0.0.1", 1}, a2{"10.0.0.1", 2}, a3{"10.0.0.1", 3}, b{"10.0.0.2", 1};
    Connection c1(factory, a1), c2(factory, a2);
    CHECK(c1);
    CHECK(c2);
    CHECK(factory.connections_from("10.0.0.1") == 2);
    CHECK(factory.build_protocol(a3) == nullptr);  // same host, another port: still the same peer
    Connection other(factory, b);
    CHECK(other);
    c1.lose();
    CHECK(factory.connections_from("10.0.0.1") == 1);
    Connection c3(factory, a3);
    CHECK(c3);
    c2.lose();
    c3.lose();
    other.lose();
    CHECK(factory.connections_from("10.0.0.1") == 0);
    CHECK(factory.connections_from("10.0.0.2") == 0);
    CHECK(wp::LimitConnectionsByPeer(inner).max_per_peer() == 5);
}

TEST_CASE("TimeoutFactory: idle connections time out (test_timeout)", "[policies][timeout]") {
    Clock clock;
    SimpleFactory inner;
    wp::TimeoutFactory factory(inner, clock, 3s);
    Connection c(factory, local, &inner);
    pump(clock, {0.0, 0.5, 1.0, 1.0, 0.4});
    CHECK_FALSE(c.transport->disconnect_requested());
    pump(clock, {0.0, 0.2});
    CHECK(c.transport->disconnect_requested());
    CHECK(wp::TimeoutFactory(inner, clock).timeout_period() == weft::Duration(30min));
}

TEST_CASE("TimeoutFactory: writing avoids the timeout (test_sendAvoidsTimeout)", "[policies][timeout]") {
    Clock clock;
    SimpleFactory inner;
    wp::TimeoutFactory factory(inner, clock, 3s);
    Connection c(factory, local, &inner);
    pump(clock, {0.0, 0.5, 1.0});
    c.inner->transport().write("bytes bytes bytes");
    pump(clock, {0.0, 1.0, 1.0});
    CHECK_FALSE(c.transport->disconnect_requested());
    const std::string_view pieces[] = {"bytes", "bytes", "bytes"};
    c.inner->transport().write_sequence(pieces);
    pump(clock, {0.0, 1.0, 1.0});
    CHECK_FALSE(c.transport->disconnect_requested());
    pump(clock, {0.0, 2.0});
    CHECK(c.transport->disconnect_requested());
}

TEST_CASE("TimeoutFactory: receiving avoids the timeout (test_receiveAvoidsTimeout), loss cancels it",
          "[policies][timeout]") {
    Clock clock;
    SimpleFactory inner;
    wp::TimeoutFactory factory(inner, clock, 3s);
    Connection c(factory, local, &inner);
    pump(clock, {0.0, 1.0, 0.5});
    c.protocol->data_received("bytes bytes bytes");
    pump(clock, {0.0, 1.0, 1.0});
    CHECK_FALSE(c.transport->disconnect_requested());
    pump(clock, {0.0, 1.0, 1.0});
    CHECK(c.transport->disconnect_requested());

    Connection d(factory, local, &inner);
    CHECK(clock.pending_calls().size() == 1);
    d.lose();
    CHECK(clock.pending_calls().empty());
}

namespace {
wp::ThrottlingOptions limits(std::optional<std::size_t> read, std::optional<std::size_t> write,
                             std::size_t max_connections = std::numeric_limits<std::size_t>::max()) {
    wp::ThrottlingOptions options;
    options.max_connection_count = max_connections;
    options.read_limit = read;
    options.write_limit = write;
    return options;
}

struct CountingProducer : weft::Producer {
    void pause_producing() override { paused = true; }
    void resume_producing() override {
        paused = false;
        ++resumes;
    }
    void stop_producing() override { stopped = true; }
    bool paused = false, stopped = false;
    int resumes = 0;
};
}  // namespace

TEST_CASE("ThrottlingFactory: write_sequence is counted (test_writeSequence)", "[policies][throttling]") {
    Clock clock;
    SimpleFactory inner;
    wp::ThrottlingFactory factory(inner, clock);
    Connection c(factory, local, &inner);
    const std::string_view pieces[] = {"bytes", "bytes", "bytes", "bytes"};
    c.inner->transport().write_sequence(pieces);
    CHECK(c.transport->value() == "bytesbytesbytesbytes");
    CHECK(factory.written_this_second() == 20);
}

TEST_CASE("ThrottlingFactory: over the write limit the producer is paused, then resumed (test_writeLimit)",
          "[policies][throttling]") {
    Clock clock;
    SimpleFactory inner;
    wp::ThrottlingFactory factory(inner, clock, limits(std::nullopt, 10));
    Connection c(factory, local, &inner);
    CountingProducer producer;
    c.inner->transport().register_producer(producer, true);
    c.inner->transport().write("0123456789");
    c.inner->transport().write("abcdefghij");
    CHECK(c.transport->value() == "0123456789abcdefghij");
    CHECK(factory.written_this_second() == 20);
    CHECK_FALSE(producer.paused);

    // 20 bytes in a second against a limit of 10: paused for 20/10 - 1 = 1 second.
    pump(clock, {1.05});
    CHECK(factory.written_this_second() == 0);
    CHECK(producer.paused);
    pump(clock, {1.05});
    CHECK_FALSE(producer.paused);

    SECTION("the transport's own pause still holds when throttling ends") {
        c.inner->transport().write(std::string(20, 'x'));
        pump(clock, {1.0});
        CHECK(producer.paused);
        c.transport->producer()->pause_producing();  // the real transport's buffer filled up meanwhile
        pump(clock, {1.05});
        CHECK(producer.paused);
        c.transport->producer()->resume_producing();
        CHECK_FALSE(producer.paused);
    }
}

TEST_CASE("ThrottlingFactory: a pull producer is not asked for more while writes are throttled",
          "[policies][throttling]") {
    Clock clock;
    SimpleFactory inner;
    wp::ThrottlingFactory factory(inner, clock, limits(std::nullopt, 10));
    Connection c(factory, local, &inner);
    CountingProducer producer;
    c.inner->transport().register_producer(producer, false);
    c.transport->producer()->resume_producing();  // the transport asks for more
    CHECK(producer.resumes == 1);
    c.inner->transport().write(std::string(30, 'x'));
    pump(clock, {1.0});  // 30 bytes: throttled for 2 seconds
    c.transport->producer()->resume_producing();
    CHECK(producer.resumes == 1);
    pump(clock, {1.5});
    CHECK(producer.resumes == 1);
    pump(clock, {0.6});
    CHECK(producer.resumes == 2);  // asked once writes were unthrottled
}

TEST_CASE("ThrottlingFactory: over the read limit reading is paused, then resumed (test_readLimit)",
          "[policies][throttling]") {
    using State = StringTransport::ProducerState;
    Clock clock;
    SimpleFactory inner;
    wp::ThrottlingFactory factory(inner, clock, limits(10, std::nullopt));
    Connection c(factory, local, &inner);
    for (int round = 0; round < 2; ++round) {
        c.protocol->data_received("0123456789");
        c.protocol->data_received("abcdefghij");
        CHECK(c.inner->received.size() == 20u * (round + 1));
        CHECK(factory.read_this_second() == 20);
        pump(clock, {1.05});
        CHECK(factory.read_this_second() == 0);
        CHECK(c.transport->producer_state() == State::paused);
        CHECK(factory.reads_throttled());
        pump(clock, {1.05});
        CHECK(c.transport->producer_state() == State::producing);
    }

    SECTION("a connection made while throttled is throttled too") {
        c.protocol->data_received(std::string(40, 'x'));
        pump(clock, {1.0});
        Connection late(factory, local, &inner);
        CHECK(late.transport->producer_state() == State::paused);
        pump(clock, {3.1});
        CHECK(late.transport->producer_state() == State::producing);
    }
    SECTION("the protocol's own pause holds when throttling ends") {
        c.protocol->data_received(std::string(20, 'x'));
        pump(clock, {1.0});
        c.inner->transport().pause_producing();
        pump(clock, {1.05});
        CHECK(c.transport->producer_state() == State::paused);
        c.inner->transport().resume_producing();
        CHECK(c.transport->producer_state() == State::producing);
    }
}

TEST_CASE("ThrottlingFactory: connection limit, and the clocks stop with the last connection",
          "[policies][throttling]") {
    Clock clock;
    SimpleFactory inner;
    wp::ThrottlingFactory factory(inner, clock, limits(100, 100, 2));
    CHECK(clock.pending_calls().empty());
    Connection c1(factory, local), c2(factory, local);
    CHECK(c1);
    CHECK(c2);
    CHECK(factory.connection_count() == 2);
    CHECK(clock.pending_calls().size() == 2);  // one read check, one write check
    CHECK(factory.build_protocol(local) == nullptr);
    c1.lose();
    Connection c3(factory, local);
    CHECK(c3);
    c2.lose();
    c1.protocol.reset();
    c3.lose();
    CHECK(factory.connection_count() == 0);
    CHECK(clock.pending_calls().empty());
    CHECK_THROWS_AS(wp::ThrottlingFactory(inner, clock, limits(0, std::nullopt)), std::invalid_argument);
}

TEST_CASE("ProtocolWrapper: state before connecting and after the connection is lost", "[policies][wrapping]") {
    SimpleFactory inner;
    wp::WrappingFactory factory(inner);
    auto built = factory.build_protocol(local);
    auto& wrapper = dynamic_cast<wp::ProtocolWrapper&>(*built);
    CHECK(wrapper.state() == weft::ConnectionState::connecting);
    CHECK(wrapper.peer() == Address{});
    wrapper.write("dropped: no transport yet");  // ignored, not a crash
    StringTransport t(local);
    wrapper.make_connection(t);
    CHECK(wrapper.state() == weft::ConnectionState::connected);
    CHECK(&wrapper.wrapped_protocol() == inner.last);
    t.set_state(weft::ConnectionState::disconnected);
    wrapper.connection_lost(Reason::done());
    CHECK(wrapper.state() == weft::ConnectionState::disconnected);
    CHECK(wrapper.disconnecting());
    CountingProducer producer;
    wrapper.register_producer(producer, true);  // on a closed transport: stopped instead
    CHECK(producer.stopped);
    CHECK(t.producer() == nullptr);
}

TEST_CASE("Limit factories: a refusal by the wrapped factory takes no slot", "[policies][limits]") {
    SimpleFactory inner;
    inner.refuse = true;
    wp::LimitConnectionsByPeer by_peer(inner, 1);
    wp::LimitTotalConnectionsFactory total(inner, 1);
    Clock clock;
    wp::ThrottlingFactory throttling(inner, clock, limits(10, 10, 1));
    for (int i = 0; i < 3; ++i) {
        CHECK(by_peer.build_protocol(local) == nullptr);
        CHECK(total.build_protocol(local) == nullptr);
        CHECK(throttling.build_protocol(local) == nullptr);
    }
    CHECK(by_peer.connections_from(local.host) == 0);
    CHECK(total.connection_count() == 0);
    CHECK(throttling.connection_count() == 0);
    CHECK(clock.pending_calls().empty());
    inner.refuse = false;
    Connection a(by_peer, local), b(total, local), c(throttling, local);
    CHECK(a);
    CHECK(b);
    CHECK(c);
}

TEST_CASE("ThrottlingFactory: write_shared is counted too", "[policies][throttling]") {
    Clock clock;
    SimpleFactory inner;
    wp::ThrottlingFactory factory(inner, clock);
    Connection c(factory, local, &inner);
    c.inner->transport().write_shared(std::make_shared<const std::string>("0123456789"));
    CHECK(factory.written_this_second() == 10);
    CHECK(c.transport->value() == "0123456789");
}
