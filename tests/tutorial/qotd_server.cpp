// The "Writing servers" chapter's first whole program (docs/tutorial/servers.md, "Using the protocol"):
// a quote-of-the-day server. test_programs.cpp runs it on a free loopback port and reads a quote.
// tutorial:begin qotd_server
#include <weft/factory.hpp>
#include <weft/reactor.hpp>
#include <weft/string_endpoints.hpp>

#include <iostream>

// Sends one quote and closes the connection (RFC 865).
class Qotd : public weft::Protocol {
public:
    void connection_made() override {
        transport().write("An apple a day keeps the doctor away\r\n");
        transport().lose_connection();  // after the quote has been sent
    }
};

int main(int argc, char* argv[]) {
    weft::Reactor reactor;
    auto factory = weft::Factory::for_protocol<Qotd>();
    auto port = weft::server_from_string(reactor, argc > 1 ? argv[1] : "tcp:8007", *factory);
    std::cout << "listening on " << port->address().to_string() << std::endl;
    reactor.run();  // until SIGINT or SIGTERM
}
// tutorial:end qotd_server
