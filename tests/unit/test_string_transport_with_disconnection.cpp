// testing::StringTransportWithDisconnection: a StringTransport that delivers connection_lost.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "weft/error.hpp"
#include "weft/protocol.hpp"
#include "weft/testing/string_transport_with_disconnection.hpp"

using weft::testing::StringTransportWithDisconnection;

namespace {
struct Recorder : weft::Protocol {
    std::vector<std::string> events;
    bool lose_again = false;
    void connection_made() override { events.emplace_back("made"); }
    void data_received(std::string_view data) override {
        if (data == "quit") {
            transport().write("bye");
            transport().lose_connection();
            events.emplace_back("after lose");  // Twisted's class has delivered connection_lost by now
        }
    }
    void connection_lost(const weft::Reason& reason) override {
        events.push_back("lost " + std::string(weft::Reason::kind_name(reason.kind())));
        if (lose_again) transport().lose_connection();
    }
};
}  // namespace

TEST_CASE("StringTransportWithDisconnection: lose_connection delivers connection_lost(done) at once",
          "[testing][string_transport]") {
    StringTransportWithDisconnection t;
    Recorder p;
    t.attach(p);
    CHECK(t.protocol() == &p);
    p.data_received("quit");
    CHECK(p.events == std::vector<std::string>{"made", "lost done", "after lose"});
    CHECK(t.value() == "bye");  // not flushed anywhere: still readable
    CHECK(t.disconnect_requested());
    CHECK(t.state() == weft::ConnectionState::disconnected);
    t.write("late");
    CHECK(t.value() == "bye");
}

TEST_CASE("StringTransportWithDisconnection: connection_lost comes once", "[testing][string_transport]") {
    StringTransportWithDisconnection t;
    Recorder p;
    p.lose_again = true;  // losing again from inside connection_lost must not recurse
    t.attach(p);
    t.lose_connection();
    t.lose_connection();
    t.abort_connection();
    CHECK(p.events == std::vector<std::string>{"made", "lost done"});
}

TEST_CASE("StringTransportWithDisconnection: abort_connection delivers connection_lost(aborted)",
          "[testing][string_transport]") {
    StringTransportWithDisconnection t;
    Recorder p;
    t.attach(p);
    t.abort_connection();
    CHECK(p.events == std::vector<std::string>{"made", "lost aborted"});
    CHECK(t.aborted());
    CHECK(t.disconnect_requested());
}

TEST_CASE("StringTransportWithDisconnection: stop_producing loses the connection", "[testing][string_transport]") {
    StringTransportWithDisconnection t;
    Recorder p;
    t.attach(p);
    t.stop_producing();
    CHECK(p.events == std::vector<std::string>{"made", "lost done"});
}

TEST_CASE("StringTransportWithDisconnection: losing without a protocol is a clear error",
          "[testing][string_transport]") {
    StringTransportWithDisconnection t;
    CHECK_THROWS_AS(t.lose_connection(), weft::StateError);
}
