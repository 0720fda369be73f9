#pragma once
// A Site's HTTP channel on a StringTransport and a fake clock, for tests that drive the producer and the
// timers by hand.

#include <memory>

#include "weft/protocol.hpp"
#include "weft/testing/clock.hpp"
#include "weft/testing/string_transport.hpp"
#include "weft/web/resource.hpp"
#include "weft/web/site.hpp"

namespace web_test {

struct MemoryChannel {
    weft::testing::Clock clock;
    std::shared_ptr<weft::web::Resource> root = std::make_shared<weft::web::Resource>();
    std::unique_ptr<weft::web::Site> site;
    std::unique_ptr<weft::Protocol> protocol;
    weft::testing::StringTransport transport;

    void start(weft::web::ServerOptions options = {}) {
        options.access_log = false;
        site = std::make_unique<weft::web::Site>(clock, root, std::move(options));
        protocol = site->build_protocol(transport.peer());
        protocol->make_connection(transport);
    }
    ~MemoryChannel() {
        if (protocol) protocol->connection_lost(weft::Reason::done());
    }
};

}  // namespace web_test
