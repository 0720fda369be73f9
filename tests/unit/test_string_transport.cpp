// testing::StringTransport: the in-memory transport users test their protocols with.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "weft/error.hpp"
#include "weft/protocol.hpp"
#include "weft/testing/string_transport.hpp"

using weft::testing::StringTransport;

namespace {
struct Echo : weft::Protocol {
    std::string seen;
    bool made = false;
    void connection_made() override { made = true; }
    void data_received(std::string_view data) override {
        seen.append(data);
        transport().write(data);
    }
};

struct CountingProducer : weft::Producer {
    int paused = 0, resumed = 0, stopped = 0;
    void pause_producing() override { ++paused; }
    void resume_producing() override { ++resumed; }
    void stop_producing() override { ++stopped; }
};
}  // namespace

TEST_CASE("StringTransport records writes and clear() empties them", "[string_transport]") {
    StringTransport t;
    Echo p;
    p.make_connection(t);
    CHECK(p.made);
    CHECK(&p.transport() == &t);
    p.data_received("hello");
    std::string_view parts[] = {" ", "world"};
    t.write_sequence(parts);
    t.write_shared(std::make_shared<const std::string>("!"));
    CHECK(t.value() == "hello world!");
    CHECK(t.buffered_bytes() == 12);
    CHECK(t.clear() == "hello world!");
    CHECK(t.value().empty());
}

TEST_CASE("StringTransport: lose_connection sets disconnecting and later writes are ignored", "[string_transport]") {
    StringTransport t;
    t.write("a");
    CHECK_FALSE(t.disconnecting());
    t.lose_connection();
    CHECK(t.disconnecting());
    CHECK(t.disconnect_requested());
    CHECK_FALSE(t.aborted());
    t.write("b");
    CHECK(t.value() == "a");
}

TEST_CASE("StringTransport: abort and half-close are recorded", "[string_transport]") {
    StringTransport t;
    t.lose_write_connection();
    CHECK(t.write_closed());
    CHECK(t.state() == weft::ConnectionState::write_half_closed);
    t.abort_connection();
    CHECK(t.aborted());
    CHECK(t.disconnecting());
}

TEST_CASE("StringTransport: peer, host and socket options are configurable", "[string_transport]") {
    StringTransport t({"127.0.0.1", 4000}, {"::1", 80});
    CHECK(t.peer().to_string() == "127.0.0.1:4000");
    CHECK(t.host().to_string() == "[::1]:80");
    CHECK(t.set_tcp_nodelay(true));
    CHECK(t.nodelay);
    CHECK(t.set_tcp_keepalive(true));
    CHECK(t.keepalive);
}

TEST_CASE("StringTransport: producer registration follows Twisted", "[string_transport]") {
    StringTransport t;
    CountingProducer a, b;
    t.register_producer(a, true);
    CHECK(t.producer() == &a);
    CHECK(t.streaming());
    CHECK_THROWS_AS(t.register_producer(b, true), weft::StateError);
    t.unregister_producer();
    CHECK(t.producer() == nullptr);
    t.register_producer(b, false);
    CHECK(t.producer() == &b);
    t.unregister_producer();

    t.set_state(weft::ConnectionState::disconnected);
    t.register_producer(a, true);
    CHECK(a.stopped == 1);
    CHECK(t.producer() == nullptr);
}

TEST_CASE("StringTransport: its own producer state tracks pause/resume/stop", "[string_transport]") {
    StringTransport t;
    using S = StringTransport::ProducerState;
    CHECK(t.producer_state() == S::producing);
    t.pause_producing();
    CHECK(t.producer_state() == S::paused);
    t.resume_producing();
    CHECK(t.producer_state() == S::producing);
    t.stop_producing();
    CHECK(t.producer_state() == S::stopped);
    CHECK(t.disconnecting());
    CHECK_THROWS_AS(t.resume_producing(), weft::StateError);
}

TEST_CASE("StringTransport: watermarks must be ordered", "[string_transport]") {
    StringTransport t;
    t.set_write_buffer_limits(100, 10);
    CHECK(t.high_water() == 100);
    CHECK(t.low_water() == 10);
    CHECK_THROWS_AS(t.set_write_buffer_limits(10, 100), weft::StateError);
}
