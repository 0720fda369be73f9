// Streamed responses (Request::start_streaming, Request::register_producer) and the body-read deadline:
// exact bytes over loopback, a 64 MiB body to a client that does not read, and, in memory, the order of
// pipelined streamed responses and the timers on a fake clock.
#include <catch2/catch.hpp>

#include "memory_channel.hpp"
#include "web_support.hpp"
#include "weft/web/request.hpp"

using namespace web_test;
using web_test::MemoryChannel;
using weft::web::Request;
using weft::web::Resource;

namespace {

// A push producer writing `total` bytes in `piece`-byte writes for as long as it is not paused.
struct Generator final : weft::Producer {
    std::shared_ptr<Request> request;
    std::size_t total = 0;
    std::size_t piece = 16 * 1024;
    std::size_t produced = 0;
    bool paused = false;
    bool stopped = false;
    int pauses = 0;
    std::function<void()> on_write;

    void pump() {
        std::string chunk(piece, 'x');
        while (!paused && !stopped && produced < total) {
            std::size_t n = std::min(piece, total - produced);
            for (std::size_t i = 0; i < n; ++i) chunk[i] = static_cast<char>('a' + (produced + i) % 26);
            produced += n;
            request->write(std::string_view(chunk).substr(0, n));
            if (on_write) on_write();
        }
        if (produced == total && !stopped && !request->finished()) {
            request->unregister_producer();
            request->finish();
        }
    }
    void pause_producing() override {
        paused = true;
        ++pauses;
    }
    void resume_producing() override {
        paused = false;
        pump();
    }
    void stop_producing() override { stopped = true; }
};

// The body of a chunked message, or "<bad chunking>".
std::string dechunk(std::string_view body) {
    std::string out;
    while (true) {
        auto eol = body.find("\r\n");
        if (eol == std::string_view::npos) return "<bad chunking>";
        std::size_t size = std::stoul(std::string(body.substr(0, eol)), nullptr, 16);
        body.remove_prefix(eol + 2);
        if (size == 0) return body == "\r\n" ? out : "<bad chunking>";
        if (body.size() < size + 2 || body.substr(size, 2) != "\r\n") return "<bad chunking>";
        out.append(body.substr(0, size));
        body.remove_prefix(size + 2);
    }
}

std::shared_ptr<Resource> streamer(std::vector<std::string> pieces, std::optional<std::string> length = {}) {
    auto r = std::make_shared<Resource>();
    r->on("GET", [pieces, length](Request& request) {
        request.set_header("Content-Type", "text/plain");
        if (length) request.set_header("Content-Length", *length);
        request.start_streaming();
        for (const auto& p : pieces) request.write(p);
        request.finish();
    });
    return r;
}

}  // namespace

TEST_CASE("web: a streamed HTTP/1.1 response without a length is chunked, byte for byte", "[web][streaming]") {
    WebServer server;
    server.root->put_child("s", streamer({"hello", "", " wide world, ", std::string(20, 'z')}));
    server.start();
    auto seen = server.exchange({"GET /s HTTP/1.1\r\nHost: x\r\n\r\nGET /s HTTP/1.1\r\nHost: x\r\n\r\n"},
                                [](const std::string& b) { return b.ends_with("0\r\n\r\n") && b.find("0\r\n\r\nHTTP") != std::string::npos; });
    REQUIRE(seen.in_time);
    CHECK_FALSE(seen.closed_by_server);
    const std::string one =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: weft\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\nd\r\n wide world, \r\n14\r\nzzzzzzzzzzzzzzzzzzzz\r\n0\r\n\r\n";
    CHECK(without_date(seen.bytes) == one + one);  // keep-alive: the second follows the first's last chunk
}

TEST_CASE("web: a streamed response with a Content-Length is sent as is; bytes beyond it are dropped",
          "[web][streaming]") {
    WebServer server;
    server.root->put_child("s", streamer({"abc", "defgh", "ijk"}, "8"));
    server.start();
    auto seen = server.exchange_n({"GET /s HTTP/1.1\r\nHost: x\r\n\r\n"}, 1);
    REQUIRE(seen.in_time);
    CHECK_FALSE(seen.closed_by_server);
    CHECK(without_date(seen.bytes) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: weft\r\nContent-Length: 8\r\n\r\nabcdefgh");
}

TEST_CASE("web: a streamed response to HTTP/1.0 ends with the connection", "[web][streaming]") {
    WebServer server;
    server.root->put_child("s", streamer({"abc", "def"}));
    server.start();
    auto seen = server.exchange({"GET /s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"});
    REQUIRE(seen.in_time);
    CHECK(seen.closed_by_server);
    CHECK(without_date(seen.bytes) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: weft\r\nConnection: close\r\n\r\nabcdef");
}

TEST_CASE("web: a streamed response that ends short of its Content-Length closes the connection",
          "[web][streaming]") {
    WebServer server;
    server.root->put_child("s", streamer({"abc"}, "10"));
    server.start();
    auto seen = server.exchange({"GET /s HTTP/1.1\r\nHost: x\r\n\r\n"});
    REQUIRE(seen.in_time);
    CHECK(seen.closed_by_server);
    CHECK(without_date(seen.bytes) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: weft\r\nContent-Length: 10\r\n\r\nabc");
}

TEST_CASE("web: a 64 MiB body from a producer to a client that does not read keeps the server's memory bounded",
          "[web][streaming][memory]") {
    constexpr std::size_t total = 64 * 1024 * 1024;
    WebServer server;
    Generator generator;
    generator.total = total;
    std::size_t received = 0;
    std::size_t widest_gap = 0;  // bytes produced and not yet read by the client: held by the server
    generator.on_write = [&] { widest_gap = std::max(widest_gap, generator.produced - std::min(generator.produced, received)); };
    auto gen = std::make_shared<Resource>();
    gen->on("GET", [&](Request& request) {
        generator.request = request.shared_from_this();
        request.register_producer(generator, true);
        generator.pump();
    });
    server.root->put_child("gen", gen);
    server.start();

    weft_test::Recorder* client = nullptr;
    std::string head;
    std::string tail;
    weft_test::LambdaClientFactory factory([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_made = [&](weft_test::Recorder& r) {
            client = &r;
            r.transport().pause_producing();  // reads nothing until the producer has been paused
            r.transport().write("GET /gen HTTP/1.1\r\nHost: x\r\n\r\n");
        };
        p->on_data = [&](weft_test::Recorder& r, std::string_view data) {
            received += data.size();
            if (head.size() < 200) head += data.substr(0, 200);
            tail += data.substr(data.size() > 64 ? data.size() - 64 : 0);
            if (tail.size() > 64) tail.erase(0, tail.size() - 64);
            r.received.clear();  // the test keeps counts, not 64 MiB
            if (tail.ends_with("\r\n0\r\n\r\n")) r.transport().lose_connection();
        };
        return p;
    });
    factory.on_end = [&] { server.reactor.stop(); };
    // The client starts reading once the server's producer has been paused and the loop has turned a few
    // times with it paused (the kernel's buffers are full by then or soon after).
    std::function<void(int)> watch = [&](int turns) {
        if (generator.pauses > 0 && turns >= 50) {
            client->transport().resume_producing();
            return;
        }
        server.reactor.call_later(std::chrono::milliseconds(1), [&, turns] { watch(generator.pauses > 0 ? turns + 1 : 0); });
    };
    server.reactor.call_later(0s, [&] { watch(0); });
    server.reactor.connect_tcp("127.0.0.1", server.port->port(), factory);
    REQUIRE(weft_test::run_bounded(server.reactor, 60s));
    CHECK(generator.produced == total);
    CHECK(generator.pauses > 0);
    INFO("widest gap " << widest_gap);
    CHECK(widest_gap < 24u * 1024 * 1024);  // socket buffers and the transport's high watermark, not 64 MiB
    CHECK(head.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(head.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
    // 64 MiB in 16 KiB chunks: "4000\r\n" + data + "\r\n" each, then the last chunk.
    auto header_end = head.find("\r\n\r\n") + 4;
    CHECK(received == header_end + total + (total / (16 * 1024)) * 8 + 5);
}

TEST_CASE("web: pipelined streamed responses leave in order; a later one waits bounded, its producer paused",
          "[web][streaming][memory]") {
    MemoryChannel c;
    std::vector<std::shared_ptr<Request>> held;
    Generator generator;
    generator.total = 1024 * 1024;
    auto first = std::make_shared<Resource>();
    first->on("GET", [&](Request& r) { held.push_back(r.shared_from_this()); });
    auto gen = std::make_shared<Resource>();
    gen->on("GET", [&](Request& request) {
        generator.request = request.shared_from_this();
        request.register_producer(generator, true);
        generator.pump();
    });
    c.root->put_child("first", first);
    c.root->put_child("gen", gen);
    c.start();
    c.protocol->data_received("GET /first HTTP/1.1\r\n\r\nGET /gen HTTP/1.1\r\n\r\n");
    REQUIRE(held.size() == 1);
    CHECK(c.transport.value().empty());  // nothing of the second before the first
    CHECK(generator.paused);
    CHECK(generator.produced >= 64 * 1024);
    CHECK(generator.produced <= 64 * 1024 + generator.piece * 2);  // bounded while it waits

    held[0]->start_streaming();
    held[0]->write("first body");
    CHECK(c.transport.value().ends_with("\r\n\r\na\r\nfirst body\r\n"));
    CHECK(generator.paused);
    CHECK(c.transport.producer() == nullptr);  // the transport drives the producer of the response on the wire only
    held[0]->finish();
    // The second's head and what waited went out, and its producer was resumed through the transport,
    // which (a StringTransport) pauses nothing itself: the producer ran to its end.
    CHECK(generator.produced == generator.total);
    CHECK(c.transport.producer() == nullptr);  // unregistered when it finished
    auto bytes = without_date(c.transport.value());
    auto second = bytes.find("HTTP/1.1 200 OK", 10);
    REQUIRE(second != std::string::npos);
    CHECK(bytes.substr(0, second).ends_with("0\r\n\r\n"));
    auto body_at = bytes.find("\r\n\r\n", second) + 4;
    auto body = dechunk(std::string_view(bytes).substr(body_at));
    REQUIRE(body.size() == generator.total);
    CHECK(body.substr(0, 3) == "abc");
    CHECK(body.substr(26 * 1000, 3) == "abc");
}

TEST_CASE("web: a push producer at the front is paused and resumed through the transport's watermarks",
          "[web][streaming][memory]") {
    MemoryChannel c;
    Generator generator;
    generator.total = 1000;
    generator.piece = 100;
    auto gen = std::make_shared<Resource>();
    gen->on("GET", [&](Request& request) {
        generator.request = request.shared_from_this();
        request.register_producer(generator, true);
    });
    c.root->put_child("gen", gen);
    c.start();
    c.protocol->data_received("GET /gen HTTP/1.1\r\n\r\n");
    REQUIRE(c.transport.producer() != nullptr);
    CHECK(c.transport.streaming());
    c.transport.producer()->pause_producing();
    CHECK(generator.paused);
    c.transport.producer()->resume_producing();  // runs the generator to its end
    CHECK(generator.produced == 1000);
    CHECK(c.transport.producer() == nullptr);
    std::string last;
    for (std::size_t i = 900; i < 1000; ++i) last += static_cast<char>('a' + i % 26);
    CHECK(c.transport.value().ends_with("64\r\n" + last + "\r\n0\r\n\r\n"));
}

TEST_CASE("web: a client gone mid-stream stops the producer", "[web][streaming][memory]") {
    MemoryChannel c;
    Generator generator;
    generator.total = 1000;
    auto gen = std::make_shared<Resource>();
    gen->on("GET", [&](Request& request) {
        generator.request = request.shared_from_this();
        request.register_producer(generator, true);
    });
    c.root->put_child("gen", gen);
    c.start();
    c.protocol->data_received("GET /gen HTTP/1.1\r\n\r\n");
    CHECK_FALSE(generator.stopped);
    c.protocol->connection_lost(weft::Reason::done());
    c.protocol.reset();
    CHECK(generator.stopped);
    CHECK(generator.request->disconnected());
}

TEST_CASE("web: a streamed HEAD response sends the head alone", "[web][streaming][memory]") {
    MemoryChannel c;
    c.root->put_child("s", streamer({"abc", "def"}));
    c.start();
    c.protocol->data_received("HEAD /s HTTP/1.1\r\n\r\nGET /s HTTP/1.1\r\n\r\n");
    auto bytes = without_date(c.transport.value());
    CHECK(bytes ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: weft\r\nTransfer-Encoding: chunked\r\n\r\n"
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: weft\r\nTransfer-Encoding: chunked\r\n\r\n"
          "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n");
}

TEST_CASE("web: headers cannot change once a response streams", "[web][streaming][memory]") {
    MemoryChannel c;
    bool threw = false;
    auto r = std::make_shared<Resource>();
    r->on("GET", [&](Request& request) {
        request.start_streaming();
        try {
            request.set_header("X-Late", "1");
        } catch (const weft::StateError&) {
            threw = true;
        }
        request.finish("ok");
    });
    c.root->put_child("s", r);
    c.start();
    c.protocol->data_received("GET /s HTTP/1.1\r\n\r\n");
    CHECK(threw);
    CHECK(c.transport.value().ends_with("2\r\nok\r\n0\r\n\r\n"));
}

TEST_CASE("web: the body deadline: a body that trickles or stops gets 408 and the connection closes",
          "[web][streaming][memory]") {
    CHECK(weft::web::ServerOptions{}.body_timeout == std::chrono::seconds(60));
    MemoryChannel c;
    std::string got;
    auto post = std::make_shared<Resource>();
    post->on("POST", [&](Request& r) {
        got = r.body();
        r.finish("got it");
    });
    c.root->put_child("post", post);
    weft::web::ServerOptions options;
    options.body_timeout = std::chrono::seconds(30);
    options.header_timeout = std::chrono::seconds(10);
    c.start(options);

    SECTION("a trickle does not extend the deadline") {
        c.protocol->data_received("POST /post HTTP/1.1\r\nContent-Length: 10\r\n\r\nab");
        for (int i = 0; i < 29; ++i) {
            c.clock.advance(std::chrono::seconds(1));
            if (i % 8 == 0) c.protocol->data_received("c");
        }
        CHECK(c.transport.value().empty());
        c.clock.advance(std::chrono::seconds(1));
        CHECK(c.transport.value().starts_with("HTTP/1.1 408 Request Timeout\r\n"));
        CHECK(c.transport.value().find("Connection: close\r\n") != std::string::npos);
        CHECK(c.transport.write_closed());
        CHECK(got.empty());
    }
    SECTION("a chunked body that stops") {
        c.protocol->data_received("POST /post HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
        c.clock.advance(std::chrono::seconds(30));
        CHECK(c.transport.value().starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    }
    SECTION("a body in time is answered, and its deadline does not fire later") {
        c.protocol->data_received("POST /post HTTP/1.1\r\nContent-Length: 4\r\n\r\nab");
        c.clock.advance(std::chrono::seconds(29));
        c.protocol->data_received("cd");
        CHECK(got == "abcd");
        c.clock.advance(std::chrono::seconds(5));
        auto responses = split_responses(c.transport.value());
        REQUIRE(responses.size() == 1);
        CHECK(responses[0].body == "got it");
        CHECK_FALSE(c.transport.write_closed());
    }
}
