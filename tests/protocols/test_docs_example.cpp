// The worked example of docs/protocols.md, verbatim, so that the documentation cannot rot.
#include <catch2/catch.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <string>

#include "weft/testing/feed.hpp"
#include "weft/factory.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/testing/string_transport.hpp"

using weft::testing::feed;

namespace {


// What the connections share lives in the factory; each connection gets a protocol.
struct Store {
    std::map<std::string, std::string, std::less<>> values;
};

class KvProtocol : public weft::protocols::LineReceiver {
public:
    explicit KvProtocol(Store* store) : store_(store) { set_max_length(1024); }  // commands are short

    void line_received(std::string_view line) override {
        // `line` is a view into weft's buffer, valid during this call only: copy what you keep.
        const auto space = line.find(' ');
        const auto verb = line.substr(0, space);
        const auto args = space == line.npos ? std::string_view{} : line.substr(space + 1);
        if (verb == "GET") {
            const auto it = store_->values.find(args);
            if (it == store_->values.end()) return send_line("NOT_FOUND");
            send_line("VALUE " + std::to_string(it->second.size()));
            transport().write(it->second);
        } else if (verb == "PUT") {
            const auto sep = args.rfind(' ');
            std::size_t n = 0;
            if (sep == args.npos || std::from_chars(args.data() + sep + 1, args.data() + args.size(), n).ec != std::errc{}) {
                return send_line("ERROR bad PUT");
            }
            key_ = args.substr(0, sep);
            value_.clear();
            left_ = n;
            if (left_ == 0) return store();
            set_raw_mode();  // the rest of this delivery already goes to raw_data_received
        } else if (verb == "QUIT") {
            send_line("BYE");
            transport().lose_connection();  // no further line of this connection is delivered
        } else {
            send_line("ERROR unknown command");
        }
    }

    void raw_data_received(std::string_view data) override {
        const auto take = std::min(left_, data.size());
        value_.append(data.substr(0, take));
        left_ -= take;
        if (left_ == 0) {
            store();
            set_line_mode(data.substr(take));  // hand back what follows the value: parsed as lines now
        }
    }

    void line_length_exceeded(std::string_view) override {
        send_line("ERROR line too long");
        transport().lose_connection();
    }

private:
    void store() {
        store_->values[key_] = std::move(value_);
        send_line("STORED");
    }

    Store* store_;
    std::string key_, value_;
    std::size_t left_ = 0;
};

// Serving it:   Store store; auto factory = weft::Factory::for_protocol<KvProtocol>(&store);
//               reactor.listen_tcp(6000, *factory);
}  // namespace

TEST_CASE("docs/protocols.md: the key-value example works in every chunking", "[docs][basic]") {
    for (std::size_t chunk : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {   // 0 = whole
        Store store;
        weft::testing::StringTransport t;
        KvProtocol p(&store);
        p.make_connection(t);
        feed(p, "PUT a 5\r\nx\r\nyzGET a\r\nQUIT\r\nGET a\r\n", chunk);
        CHECK(t.value() == "STORED\r\nVALUE 5\r\nx\r\nyzBYE\r\n");   // nothing after QUIT
    }
    SECTION("the factory of the example builds it") {
        Store store;
        auto factory = weft::Factory::for_protocol<KvProtocol>(&store);
        auto p = factory->build_protocol({"127.0.0.1", 1});
        weft::testing::StringTransport t;
        p->make_connection(t);
        p->data_received("GET nothing\r\nPUT k 0\r\nGET k\r\nHUH\r\n");
        CHECK(t.value() == "NOT_FOUND\r\nSTORED\r\nVALUE 0\r\nERROR unknown command\r\n");
        p->data_received(std::string(2000, 'x'));
        CHECK(t.value().ends_with("ERROR line too long\r\n"));
        CHECK(t.disconnecting());
    }
}
