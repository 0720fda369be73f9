// Uses the installed headers and libraries: a line protocol on a StringTransport, and a reactor turn.
#include <string>

#include "weft/protocols/basic.hpp"
#include "weft/reactor.hpp"
#include "weft/testing/string_transport.hpp"

namespace {
class Shout : public weft::protocols::LineOnlyReceiver {
    void line_received(std::string_view line) override {
        std::string loud(line);
        for (auto& c : loud) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
        send_line(loud);
    }
};
}  // namespace

int main() {
    weft::testing::StringTransport transport;
    Shout protocol;
    protocol.make_connection(transport);
    protocol.data_received("hello\r\nwor");
    protocol.data_received("ld\r\n");
    if (transport.value() != "HELLO\r\nWORLD\r\n") return 1;

    weft::Reactor reactor;
    bool ran = false;
    reactor.call_later(std::chrono::milliseconds(1), [&] {
        ran = true;
        reactor.stop();
    });
    reactor.run(false);
    return ran ? 0 : 2;
}
