// Uses the installed headers and libraries: a line protocol on a StringTransport, a reactor turn, and a
// Deferred from defer_later on that reactor (weft/deferred.hpp and its detail header are installed), and
// weft::version() against the installed, generated weft/version.hpp, the installed weft::testing helpers, and
// weft::web (a Site answering JSON in memory).
#include <string>

#include <boost/json/value.hpp>

#include "weft/deferred.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/reactor.hpp"
#include "weft/testing/clock.hpp"
#include "weft/testing/feed.hpp"
#include "weft/testing/io_pump.hpp"
#include "weft/testing/memory_reactor.hpp"
#include "weft/testing/string_transport.hpp"
#include "weft/testing/string_transport_with_disconnection.hpp"
#include "weft/version.hpp"
#include "weft/web/json_body.hpp"
#include "weft/web/site.hpp"

namespace {
class Shout : public weft::protocols::LineOnlyReceiver {
    void line_received(std::string_view line) override {
        std::string loud(line);
        for (auto& c : loud) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
        send_line(loud);
    }
};

struct Collect : weft::Protocol {
    std::string received;
    void data_received(std::string_view data) override { received.append(data); }
};
}  // namespace

int main() {
    // The installed (generated) header and the library agree on the version.
    if (weft::version() != WEFT_VERSION_STRING) return 4;

    weft::testing::StringTransport transport;
    Shout protocol;
    protocol.make_connection(transport);
    protocol.data_received("hello\r\nwor");
    protocol.data_received("ld\r\n");
    if (transport.value() != "HELLO\r\nWORLD\r\n") return 1;

    // weft::testing: a pair in memory, byte by byte; a MemoryReactor; the chunked feed.
    Shout server;
    Collect client;
    weft::testing::PairOptions options;
    options.chunk_size = 1;
    auto pump = weft::testing::connect_pair(server, client, options);
    client.transport().write("pair\r\n");
    pump->pump();
    if (client.received != "PAIR\r\n") return 5;
    weft::testing::MemoryReactor memory;
    auto factory = weft::Factory::for_protocol<Shout>();
    memory.listen_tcp(0, *factory);
    if (memory.tcp_servers.size() != 1) return 6;
    const auto report = weft::testing::feed_every_chunking("a\r\nb\r\n", 4, [](const weft::testing::Chunking& c) {
        weft::testing::StringTransportWithDisconnection t;
        Shout p;
        t.attach(p);
        c.feed(p);
        return t.value();
    });
    if (!report.consistent() || report.whole != "A\r\nB\r\n") return 7;

    // weft::web: a request through the Site's protocol, its query through Boost.URL, JSON out.
    weft::testing::Clock clock;
    auto root = std::make_shared<weft::web::Resource>();
    root->on("GET", [](weft::web::Request& r) {
        weft::web::finish_json(r, boost::json::object{{"n", r.query_param("n").value_or("")}});
    });
    weft::web::Site site(clock, root);
    weft::testing::StringTransport http;
    auto channel = site.build_protocol(http.peer());
    channel->make_connection(http);
    channel->data_received("GET /?n=a%20b HTTP/1.1\r\n\r\n");
    if (!http.value().starts_with("HTTP/1.1 200 OK\r\n") || !http.value().ends_with("\r\n\r\n{\"n\":\"a b\"}")) return 8;
    channel->connection_lost(weft::Reason::done());

    weft::Reactor reactor;
    bool ran = false;
    int doubled = 0;
    weft::defer_later(reactor, std::chrono::milliseconds(1), [] { return 21; })
        .add_callback([](int v) { return v * 2; })
        .add_callback([&](int v) {
            doubled = v;
            ran = true;
            reactor.stop();
        });
    reactor.run(false);
    if (doubled != 42) return 3;
    return ran ? 0 : 2;
}
