// The README's client example, compiled and run by test_readme_client.cpp against weft-echo. Keep the two
// in step: the part between the markers is copied into README.md verbatim (the test checks it).
// README-BEGIN
#include <weft/coroutine.hpp>
#include <weft/deferred_endpoints.hpp>
#include <weft/protocols/line_stream.hpp>
#include <weft/reactor.hpp>
#include <iostream>

// Connects, sends two lines, prints each reply, closes: top to bottom, no factory, no flags.
weft::Deferred<void> client(weft::Reactor& reactor, std::string endpoint) {
    auto protocol = std::make_unique<weft::protocols::LineStream>();
    auto stream = (co_await weft::connect_protocol(reactor, endpoint, std::move(protocol)))->handle();
    for (const char* line : {"hello", "world"}) {
        stream.write_line(line);
        auto reply = co_await stream.read_line();  // nullopt once the server has closed
        std::cout << line << " -> " << reply.value_or("(closed)") << std::endl;
    }
    stream.close();
}

int main(int argc, char* argv[]) {
    weft::Reactor reactor;
    int status = 0;
    reactor.call_when_running([&] {
        client(reactor, argc > 1 ? argv[1] : "tcp:127.0.0.1:8000")
            .add_callbacks([&] { reactor.stop(); },
                           [&](weft::Failure f) {
                               std::cerr << f.what() << std::endl;
                               status = 1;
                               reactor.stop();
                           });
    });
    reactor.run();
    return status;
}
// README-END
