// testing::IOPump / connect_pair: two protocols connected in memory.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "weft/error.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/testing/io_pump.hpp"

using weft::ConnectionState;
using weft::Reason;
using weft::testing::connect_pair;
using weft::testing::IOPump;
using weft::testing::PairOptions;

namespace {
// What each end saw, in order.
struct Recorder : weft::Protocol {
    std::string received;
    std::vector<std::string> events;
    std::optional<Reason> lost;
    void connection_made() override { events.emplace_back("made"); }
    void data_received(std::string_view data) override { received.append(data); }
    void connection_lost(const Reason& reason) override {
        events.push_back(std::string("lost ") + Reason::kind_name(reason.kind()));
        lost = reason;
    }
};

struct HalfCloseRecorder : Recorder, weft::HalfCloseable {
    bool answer_on_eof = false;
    void read_connection_lost() override {
        events.emplace_back("read closed");
        if (answer_on_eof) {
            transport().write("got " + std::to_string(received.size()));
            transport().lose_connection();
        }
    }
    void write_connection_lost() override { events.emplace_back("write closed"); }
};

// A LineReceiver echo server, as weft::protocols users write them.
struct LineEcho : weft::protocols::LineReceiver {
    std::vector<std::string> lines;
    void line_received(std::string_view line) override {
        lines.emplace_back(line);
        send_line(line);
        if (line == "quit") transport().lose_connection();
    }
};

struct LineClient : weft::protocols::LineReceiver {
    std::vector<std::string> lines;
    std::optional<Reason> lost;
    void line_received(std::string_view line) override { lines.emplace_back(line); }
    void connection_lost(const Reason& reason) override { lost = reason; }
};

// A small request/response server: "GET key" -> "VALUE value" or "MISSING".
struct KvServer : weft::protocols::LineReceiver {
    void line_received(std::string_view line) override {
        if (line == "GET a") send_line("VALUE alpha");
        else if (line == "GET b") send_line("VALUE beta");
        else send_line("MISSING");
    }
};

struct KvClient : weft::protocols::LineReceiver {
    std::vector<std::string> answers;
    void connection_made() override {
        send_line("GET a");
        send_line("GET zz");
        send_line("GET b");
    }
    void line_received(std::string_view line) override {
        answers.emplace_back(line);
        if (answers.size() == 3) transport().lose_connection();
    }
};

// A streaming producer that writes `piece` until paused, `total` bytes in all.
struct StreamingWriter : weft::Producer {
    weft::Transport* transport = nullptr;
    std::size_t total = 0, written = 0, piece = 0;
    bool paused = false;
    int pauses = 0, resumes = 0, stops = 0;
    std::vector<std::size_t> buffered_at_pause, buffered_at_resume;
    void run() {
        while (!paused && written < total) {
            const std::size_t n = std::min(piece, total - written);
            transport->write(std::string(n, 'x'));
            written += n;
        }
        if (written == total) transport->unregister_producer();
    }
    void pause_producing() override {
        paused = true;
        ++pauses;
        buffered_at_pause.push_back(transport->buffered_bytes());
    }
    void resume_producing() override {
        paused = false;
        ++resumes;
        buffered_at_resume.push_back(transport->buffered_bytes());
        run();
    }
    void stop_producing() override { ++stops; }
};

// A pull producer: one piece per resume_producing, ten in all (Twisted's NonStreamingProducer).
struct PullWriter : weft::Producer {
    weft::Transport* transport = nullptr;
    int counter = 0;
    void resume_producing() override {
        transport->write(std::to_string(counter++));
        if (counter == 10) transport->unregister_producer();
    }
    void stop_producing() override {}
};

struct PingPong : weft::Protocol {
    void connection_made() override { transport().write("x"); }
    void data_received(std::string_view data) override { transport().write(data); }
};
}  // namespace

TEST_CASE("IOPump: a LineReceiver echo server, whole and byte by byte", "[testing][io_pump]") {
    for (std::size_t chunk : {0, 1, 2, 3, 5}) {
        CAPTURE(chunk);
        LineEcho server;
        LineClient client;
        PairOptions options;
        options.chunk_size = chunk;
        auto pump = connect_pair(server, client, options);
        client.send_line("hello");
        client.send_line("world");
        CHECK(server.lines.empty());  // nothing moves before pump()
        CHECK(pump->pump());
        CHECK(server.lines == std::vector<std::string>{"hello", "world"});
        CHECK(client.lines == std::vector<std::string>{"hello", "world"});
        CHECK_FALSE(pump->pump());  // nothing left to move
        client.send_line("quit");
        pump->pump();
        CHECK(client.lines.back() == "quit");  // flushed before the close
        REQUIRE(client.lost);
        CHECK(client.lost->clean());
        CHECK(pump->disconnected());
        CHECK(pump->bytes_to_server() == std::string("hello\r\nworld\r\nquit\r\n").size());
    }
}

TEST_CASE("IOPump: a request/response pair in every chunking", "[testing][io_pump]") {
    for (std::size_t chunk : {0, 1, 4, 7}) {
        CAPTURE(chunk);
        PairOptions options;
        options.chunk_size = chunk;
        auto pump = weft::testing::connected_server_and_client<KvServer, KvClient>(options);
        pump->pump();
        auto& client = static_cast<KvClient&>(pump->client());
        CHECK(client.answers == std::vector<std::string>{"VALUE alpha", "MISSING", "VALUE beta"});
        CHECK(pump->disconnected());
        CHECK(pump->server_transport().lost_reason()->clean());
        CHECK(pump->client_transport().lost_reason()->clean());
    }
}

TEST_CASE("IOPump: connection_lost is never delivered inside lose_connection", "[testing][io_pump]") {
    Recorder server, client;
    auto pump = connect_pair(server, client);
    client.transport().write("last words");
    client.transport().lose_connection();
    CHECK(client.events == std::vector<std::string>{"made"});
    CHECK(client.transport().state() == ConnectionState::disconnecting);
    client.transport().write("ignored");
    pump->pump();
    CHECK(server.received == "last words");
    CHECK(client.events == std::vector<std::string>{"made", "lost done"});  // the closing end first
    CHECK(server.events == std::vector<std::string>{"made", "lost done"});
    CHECK(server.transport().state() == ConnectionState::disconnected);
}

TEST_CASE("IOPump: input for an end that called lose_connection is dropped", "[testing][io_pump]") {
    Recorder server, client;
    auto pump = connect_pair(server, client);
    server.transport().write(std::string(100, 's'));
    server.transport().pause_producing();       // the server is not reading for now...
    client.transport().write("unread");
    server.transport().lose_connection();       // ...and stops reading for good
    pump->pump();
    CHECK(client.received == std::string(100, 's'));
    CHECK(server.received.empty());
    CHECK(pump->disconnected());
}

TEST_CASE("IOPump: half-close reaches a HalfCloseable peer as read_connection_lost", "[testing][io_pump]") {
    for (std::size_t chunk : {0, 1}) {
        CAPTURE(chunk);
        HalfCloseRecorder server, client;
        server.answer_on_eof = true;
        PairOptions options;
        options.chunk_size = chunk;
        auto pump = connect_pair(server, client, options);
        client.transport().write("12345");
        client.transport().lose_write_connection();
        CHECK(client.transport().state() == ConnectionState::write_half_closed);
        client.transport().write("ignored after the shutdown");
        pump->pump();
        CHECK(server.received == "12345");
        CHECK(client.received == "got 5");  // the server could still write after the EOF
        CHECK(server.events == std::vector<std::string>{"made", "read closed", "lost done"});
        CHECK(client.events == std::vector<std::string>{"made", "write closed", "lost done"});
    }
}

TEST_CASE("IOPump: the peer's EOF keeps a HalfCloseable end open until it closes", "[testing][io_pump]") {
    HalfCloseRecorder server, client;
    auto pump = connect_pair(server, client);
    client.transport().lose_write_connection();
    pump->pump();
    CHECK(server.events == std::vector<std::string>{"made", "read closed"});
    CHECK(server.transport().state() == ConnectionState::read_half_closed);
    CHECK_FALSE(pump->disconnected());
    server.transport().write("still open");
    pump->pump();
    CHECK(client.received == "still open");
    server.transport().lose_write_connection();  // both write sides shut: the connection is over
    pump->pump();
    CHECK(pump->disconnected());
    CHECK(server.lost->clean());
    CHECK(client.lost->clean());
}

TEST_CASE("IOPump: the peer's EOF closes an end that is not HalfCloseable, after its output", "[testing][io_pump]") {
    Recorder server;
    HalfCloseRecorder client;
    auto pump = connect_pair(server, client);
    client.transport().pause_producing();  // so that the reply is still pending when the EOF arrives
    server.transport().write("pending reply");
    client.transport().lose_write_connection();
    pump->pump();
    CHECK(server.transport().state() == ConnectionState::disconnecting);
    CHECK(server.events == std::vector<std::string>{"made"});
    client.transport().resume_producing();
    pump->pump();
    CHECK(client.received == "pending reply");
    CHECK(server.events == std::vector<std::string>{"made", "lost done"});
    CHECK(client.events == std::vector<std::string>{"made", "write closed", "lost done"});
}

TEST_CASE("IOPump: abort_connection drops buffered output and resets the peer", "[testing][io_pump]") {
    Recorder server, client;
    auto pump = connect_pair(server, client);
    client.transport().write("never delivered");
    server.transport().write("never delivered either");
    client.transport().abort_connection();
    CHECK(client.events == std::vector<std::string>{"made"});  // not inside abort_connection
    CHECK(client.transport().buffered_bytes() == 0);
    pump->pump();
    CHECK(server.received.empty());
    CHECK(client.received.empty());
    REQUIRE(client.lost);
    CHECK(client.lost->kind() == Reason::Kind::aborted);
    REQUIRE(server.lost);
    CHECK(server.lost->kind() == Reason::Kind::lost);
    CHECK(server.lost->code() == std::make_error_code(std::errc::connection_reset));
}

TEST_CASE("IOPump: a paused end receives nothing until it resumes", "[testing][io_pump]") {
    Recorder server, client;
    auto pump = connect_pair(server, client);
    server.transport().pause_producing();
    client.transport().write("wait");
    CHECK_FALSE(pump->pump());
    CHECK(server.received.empty());
    CHECK(client.transport().buffered_bytes() == 4);
    server.transport().resume_producing();
    CHECK(pump->pump());
    CHECK(server.received == "wait");
}

TEST_CASE("IOPump: a LineReceiver that pauses itself gets its lines when it resumes", "[testing][io_pump]") {
    LineEcho server;
    LineClient client;
    auto pump = connect_pair(server, client);
    server.pause_producing();  // pauses delivery and the transport's reading
    CHECK(server.transport().as_tcp() != nullptr);
    client.send_line("a");
    pump->pump();
    CHECK(server.lines.empty());
    server.resume_producing();
    pump->pump();
    CHECK(server.lines == std::vector<std::string>{"a"});
    CHECK(client.lines == std::vector<std::string>{"a"});
}

TEST_CASE("IOPump: a streaming producer is paused above the high watermark and resumed at the low one",
          "[testing][io_pump]") {
    Recorder server, client;
    PairOptions options;
    options.chunk_size = 7;
    auto pump = connect_pair(server, client, options);
    StreamingWriter producer;
    producer.transport = &server.transport();
    producer.total = 1000;
    producer.piece = 30;
    server.transport().set_write_buffer_limits(100, 10);
    server.transport().register_producer(producer, true);
    producer.run();
    CHECK(producer.pauses == 1);
    CHECK(producer.buffered_at_pause.front() > 100);
    CHECK(producer.written < 1000);
    pump->pump();
    CHECK(client.received == std::string(1000, 'x'));
    CHECK(producer.pauses > 1);
    CHECK(producer.resumes == producer.pauses);
    for (auto at : producer.buffered_at_resume) CHECK(at <= 10);
    for (auto at : producer.buffered_at_pause) CHECK(at > 100);
    CHECK(pump->server_transport().producer() == nullptr);  // it unregistered when done
    CHECK(producer.stops == 0);
}

TEST_CASE("IOPump: a pull producer is asked for more each time the buffer is empty", "[testing][io_pump]") {
    Recorder server, client;
    auto pump = connect_pair(server, client);
    PullWriter producer;
    producer.transport = &server.transport();
    server.transport().register_producer(producer, false);
    CHECK(producer.counter == 0);  // not asked inside register_producer
    pump->pump();
    CHECK(client.received == "0123456789");
    CHECK(pump->server_transport().producer() == nullptr);
}

TEST_CASE("IOPump: a registered producer is stopped when its connection is lost", "[testing][io_pump]") {
    Recorder server, client;
    auto pump = connect_pair(server, client);
    StreamingWriter producer;
    producer.transport = &server.transport();
    server.transport().register_producer(producer, true);
    client.transport().lose_connection();
    pump->pump();
    CHECK(producer.stops == 1);
    CHECK(pump->server_transport().producer() == nullptr);
    StreamingWriter late;
    server.transport().register_producer(late, true);  // on a closed transport: stopped at once
    CHECK(late.stops == 1);
}

TEST_CASE("IOPump: pause_reading_while_backed_up stops reading while the output is above the high watermark",
          "[testing][io_pump]") {
    struct Echo : weft::Protocol {
        std::size_t read = 0;
        void connection_made() override {
            transport().set_write_buffer_limits(8, 2);
            transport().pause_reading_while_backed_up();
        }
        void data_received(std::string_view data) override {
            read += data.size();
            transport().write(data);
        }
    };
    Echo server;
    Recorder client;
    PairOptions options;
    options.chunk_size = 3;
    auto pump = connect_pair(server, client, options);
    client.transport().pause_producing();  // a client that does not read its replies
    client.transport().write(std::string(100, 'q'));
    pump->pump();
    CHECK(server.transport().as_tcp() != nullptr);
    auto& st = dynamic_cast<weft::testing::FakeTransport&>(server.transport());
    CHECK(st.backed_up());
    CHECK(server.read == 9);  // three chunks of 3: the third took it above 8
    CHECK(server.transport().buffered_bytes() == 9);
    client.transport().resume_producing();
    pump->pump();
    CHECK(server.read == 100);
    CHECK(client.received == std::string(100, 'q'));
    CHECK_FALSE(st.backed_up());
}

TEST_CASE("IOPump: TCP transports with the configured addresses and recorded options", "[testing][io_pump]") {
    Recorder server, client;
    PairOptions options;
    options.server_address = {"::1", 443};
    options.client_address = {"10.1.2.3", 40000};
    auto pump = connect_pair(server, client, options);
    auto* tcp = client.transport().as_tcp();
    REQUIRE(tcp != nullptr);
    CHECK(client.transport().as_unix() == nullptr);
    CHECK(tcp->set_tcp_nodelay(true));
    CHECK(tcp->set_tcp_keepalive(true));
    CHECK(pump->client_transport().nodelay);
    CHECK(pump->client_transport().keepalive);
    CHECK_FALSE(pump->server_transport().nodelay);
    CHECK(client.transport().peer().to_string() == "[::1]:443");
    CHECK(client.transport().host().to_string() == "10.1.2.3:40000");
    CHECK(server.transport().peer().to_string() == "10.1.2.3:40000");
    CHECK(server.transport().host().to_string() == "[::1]:443");
    CHECK(server.transport().id() != client.transport().id());

    Recorder us, uc;
    PairOptions unix_options;
    unix_options.server_address = weft::Address::unix_socket("/run/app.sock");
    unix_options.client_address = weft::Address::unix_socket("");
    auto unix_pump = connect_pair(us, uc, unix_options);
    CHECK(uc.transport().as_tcp() == nullptr);
    CHECK(uc.transport().peer().to_string() == "unix:/run/app.sock");
}

TEST_CASE("IOPump: misuse is a clear error, not a hang", "[testing][io_pump]") {
    SECTION("pump() from inside a callback") {
        struct Reentrant : Recorder {
            IOPump* pump = nullptr;
            void data_received(std::string_view) override { pump->pump(); }
        };
        Reentrant server;
        Recorder client;
        auto pump = connect_pair(server, client);
        server.pump = pump.get();
        client.transport().write("x");
        CHECK_THROWS_AS(pump->pump(), weft::StateError);
    }
    SECTION("two protocols that answer each other forever") {
        PingPong server, client;
        PairOptions options;
        options.round_limit = 1000;
        auto pump = connect_pair(server, client, options);
        CHECK_THROWS_AS(pump->pump(), weft::StateError);
    }
    SECTION("low watermark above the high one") {
        Recorder server, client;
        auto pump = connect_pair(server, client);
        CHECK_THROWS_AS(server.transport().set_write_buffer_limits(1, 2), weft::StateError);
    }
}
