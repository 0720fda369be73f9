// Uses the installed headers and libraries: a line protocol on a StringTransport, a reactor turn, and a
// Deferred from defer_later on that reactor (weft/deferred.hpp and its detail header are installed), and
// weft::version() against the installed, generated weft/version.hpp.
#include <string>

#include "weft/deferred.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/reactor.hpp"
#include "weft/testing/string_transport.hpp"
#include "weft/version.hpp"

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
    // The installed (generated) header and the library agree on the version.
    if (weft::version() != WEFT_VERSION_STRING) return 4;

    weft::testing::StringTransport transport;
    Shout protocol;
    protocol.make_connection(transport);
    protocol.data_received("hello\r\nwor");
    protocol.data_received("ld\r\n");
    if (transport.value() != "HELLO\r\nWORLD\r\n") return 1;

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
