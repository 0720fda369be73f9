// The "Writing servers" chapter (docs/tutorial/servers.md): its protocols and factories, compiled here and
// run against StringTransport and loopback. The regions between the tutorial begin and end
// markers are copied into the chapter verbatim (test_snippets.cpp checks it).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "support/loop.hpp"
#include "weft/testing/string_transport.hpp"

// tutorial:begin echo
#include <weft/protocol.hpp>

// Writes back whatever it receives.
class Echo : public weft::Protocol {
public:
    void data_received(std::string_view data) override { transport().write(data); }
};
// tutorial:end echo

// tutorial:begin counting
#include <weft/factory.hpp>

// Shared by every connection of one server: the factory's state, held by reference.
struct Census {
    int open = 0;
};

// Greets with the number of open connections and turns away the fourth one.
class CountingEcho : public weft::Protocol {
public:
    explicit CountingEcho(Census& census) : census_(census) {}
    void connection_made() override {
        ++census_.open;
        if (census_.open > 3) {
            transport().write("Too many connections, try later\r\n");
            transport().lose_connection();
            return;
        }
        transport().write("Welcome! There are currently " + std::to_string(census_.open) + " open connections.\r\n");
    }
    void connection_lost(const weft::Reason&) override { --census_.open; }
    void data_received(std::string_view data) override { transport().write(data); }

private:
    Census& census_;
};
// tutorial:end counting

// tutorial:begin configurable_qotd
// The quote is the factory's configuration: for_protocol keeps the argument and builds each protocol with it.
class ConfigurableQotd : public weft::Protocol {
public:
    explicit ConfigurableQotd(std::string quote) : quote_(std::move(quote)) {}
    void connection_made() override {
        transport().write(quote_ + "\r\n");
        transport().lose_connection();
    }

private:
    std::string quote_;
};

std::unique_ptr<weft::Factory> qotd_factory(std::string quote = "An apple a day keeps the doctor away") {
    return weft::Factory::for_protocol<ConfigurableQotd>(std::move(quote));
}
// tutorial:end configurable_qotd

// tutorial:begin answer
#include <weft/protocols/basic.hpp>

#include <map>

// Answers each line; LineReceiver does the splitting, whatever the chunking.
class Answer : public weft::protocols::LineReceiver {
    void line_received(std::string_view line) override {
        static const std::map<std::string_view, std::string_view> answers = {{"How are you?", "Fine"}};
        auto found = answers.find(line);
        send_line(found != answers.end() ? found->second : "I don't know what you mean");
    }
};
// tutorial:end answer

// tutorial:begin blob
#include <charconv>

// "PUT <size>" then <size> raw bytes, answered with "GOT <n> bytes"; then lines again. Two states, and
// LineReceiver's modes to switch between them.
class BlobReceiver : public weft::protocols::LineReceiver {
    void line_received(std::string_view line) override {
        std::size_t size = 0;
        const auto* end = line.data() + line.size();
        if (line.substr(0, 4) != "PUT " || std::from_chars(line.data() + 4, end, size).ptr != end || size > 1 << 20) {
            send_line("ERROR expected PUT <size>");
            return;
        }
        if (size == 0) {
            send_line("GOT 0 bytes");
            return;
        }
        expected_ = size;
        blob_.clear();
        set_raw_mode();  // the rest of this input, and what follows, goes to raw_data_received
    }
    void raw_data_received(std::string_view data) override {
        const auto take = std::min(data.size(), expected_ - blob_.size());
        blob_.append(data.substr(0, take));
        if (blob_.size() < expected_) return;
        send_line("GOT " + std::to_string(blob_.size()) + " bytes");
        set_line_mode(data.substr(take));  // what came after the blob is lines again
    }

    std::size_t expected_ = 0;
    std::string blob_;
};
// tutorial:end blob

// tutorial:begin logfile
#include <fstream>

// Appends every line it receives to the factory's file.
class LoggingProtocol : public weft::protocols::LineReceiver {
public:
    explicit LoggingProtocol(std::ofstream& file) : file_(file) {}
    void line_received(std::string_view line) override { file_ << line << '\n' << std::flush; }

private:
    std::ofstream& file_;
};

// Opens the file when its first port starts listening and closes it when the last one stops.
class LogfileFactory : public weft::Factory {
public:
    explicit LogfileFactory(std::string path) : path_(std::move(path)) {}
    void start_factory() override { file_.open(path_, std::ios::app); }
    void stop_factory() override { file_.close(); }
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override {
        return std::make_unique<LoggingProtocol>(file_);
    }

private:
    std::string path_;
    std::ofstream file_;
};
// tutorial:end logfile

using weft::testing::StringTransport;

TEST_CASE("tutorial servers: Echo writes back what it receives", "[tutorial]") {
    StringTransport t;
    Echo p;
    p.make_connection(t);
    p.data_received("hello");
    p.data_received(" world");
    CHECK(t.value() == "hello world");
}

TEST_CASE("tutorial servers: CountingEcho counts open connections and refuses the fourth", "[tutorial]") {
    Census census;
    auto factory = weft::Factory::for_protocol<CountingEcho>(census);
    StringTransport t[4];
    std::unique_ptr<weft::Protocol> p[4];
    for (int i = 0; i < 4; ++i) {
        p[i] = factory->build_protocol({"127.0.0.1", 1000});
        p[i]->make_connection(t[i]);
    }
    CHECK(t[0].value() == "Welcome! There are currently 1 open connections.\r\n");
    CHECK(t[2].value() == "Welcome! There are currently 3 open connections.\r\n");
    CHECK(t[3].value() == "Too many connections, try later\r\n");
    CHECK(t[3].disconnect_requested());
    CHECK_FALSE(t[2].disconnect_requested());
    p[3]->connection_lost(weft::Reason::done());
    p[0]->connection_lost(weft::Reason::done());
    CHECK(census.open == 2);
}

TEST_CASE("tutorial servers: qotd_factory's protocols send its quote and close", "[tutorial]") {
    auto factory = qotd_factory("configurable quote");
    for (int i = 0; i < 2; ++i) {
        StringTransport t;
        auto p = factory->build_protocol({"127.0.0.1", 1000});
        p->make_connection(t);
        CHECK(t.value() == "configurable quote\r\n");
        CHECK(t.disconnect_requested());
    }
}

TEST_CASE("tutorial servers: Answer answers known and unknown lines, in any chunking", "[tutorial]") {
    StringTransport t;
    Answer p;
    p.make_connection(t);
    for (char c : std::string("How are you?\r\nWhat?\r\n")) p.data_received(std::string_view(&c, 1));
    CHECK(t.value() == "Fine\r\nI don't know what you mean\r\n");
}

TEST_CASE("tutorial servers: BlobReceiver switches between lines and raw bytes", "[tutorial]") {
    StringTransport t;
    BlobReceiver p;
    p.make_connection(t);
    p.data_received("PUT 5\r\nab");
    p.data_received("cdePUT x\r\nPUT 0\r\n");
    CHECK(t.value() == "GOT 5 bytes\r\nERROR expected PUT <size>\r\nGOT 0 bytes\r\n");
    p.data_received("PUT 1\r\nzPUT 2\r\n\r\n");
    CHECK(t.value() == "GOT 5 bytes\r\nERROR expected PUT <size>\r\nGOT 0 bytes\r\nGOT 1 bytes\r\nGOT 2 bytes\r\n");
}

TEST_CASE("tutorial servers: LogfileFactory opens its file when a port starts it and closes it after",
          "[tutorial]") {
    const auto path = std::filesystem::temp_directory_path() /
                      ("weft-tutorial-log-" + std::to_string(::getpid()) + ".txt");
    std::filesystem::remove(path);
    LogfileFactory factory(path.string());
    {
        weft::Reactor reactor;
        auto port = reactor.listen_tcp(0, factory, {.interface = "127.0.0.1"});  // do_start: the file is opened
        CHECK(std::filesystem::exists(path));
        StringTransport t;
        auto p = factory.build_protocol(port->address());
        p->make_connection(t);
        p->data_received("first\r\nsec");
        p->data_received("ond\r\n");
        port->stop_listening();  // do_stop: the file is closed
    }
    std::ifstream in(path);
    std::stringstream all;
    all << in.rdbuf();
    CHECK(all.str() == "first\nsecond\n");
    std::filesystem::remove(path);
}
