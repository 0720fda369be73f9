// The README's example program, word for word except that the port may be given (the tests pass 0): a
// program that never calls init_logging, so the logging defaults are what it gets.
#include <weft/factory.hpp>
#include <weft/protocols/basic.hpp>
#include <weft/reactor.hpp>
#include <iostream>
#include <string>

// Answers each "\r\n"-terminated line with its length (try `nc -C localhost 8000`); "quit" closes
// the connection once everything before it has been sent.
class Counter : public weft::protocols::LineOnlyReceiver {
    void line_received(std::string_view line) override {
        if (line == "quit") return transport().lose_connection();
        send_line(std::to_string(line.size()));
    }
};

int main(int argc, char* argv[]) {
    const auto port_number = static_cast<std::uint16_t>(argc > 1 ? std::stoi(argv[1]) : 8000);
    weft::Reactor reactor;
    auto factory = weft::Factory::for_protocol<Counter>();
    auto port = reactor.listen_tcp(port_number, *factory);
    std::cout << "listening on " << port->address().to_string() << std::endl;
    reactor.run();  // until SIGINT/SIGTERM: then every connection is flushed and closed
}
