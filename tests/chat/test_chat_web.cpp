// The chat room's WebSocket side without sockets: BroadcastFrames (apps/chat/chat_websocket.hpp).

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "chat_websocket.hpp"
#include "weft/testing/string_transport.hpp"

using weft::chat::BroadcastFrames;

TEST_CASE("chat web: a line to everyone is framed once for all the browsers", "[chat][web]") {
    BroadcastFrames frames;
    const auto line = std::make_shared<const std::string>("ann: hello\r\n");
    const auto* first = frames.message_for(line);
    REQUIRE(first != nullptr);
    CHECK(first->payload() == "ann: hello");
    CHECK(first->type() == weft::web::MessageType::text);
    const auto frame = first->frame();
    // The next members get the very same frame, not a copy.
    CHECK(frames.message_for(line)->frame() == frame);
    CHECK(frames.message_for(line)->frame() == frame);

    // The next broadcast (a new buffer, even with the same text) gets a frame of its own.
    const auto again = std::make_shared<const std::string>("ann: hello\r\n");
    const auto* next = frames.message_for(again);
    REQUIRE(next != nullptr);
    CHECK(next->frame() != frame);
    CHECK(*next->frame() == *frame);
}

TEST_CASE("chat web: a buffer that is not one whole line is left to the line transport", "[chat][web]") {
    BroadcastFrames frames;
    CHECK(frames.message_for(std::make_shared<const std::string>("a\r\nb\r\n")) == nullptr);
    CHECK(frames.message_for(std::make_shared<const std::string>("no end")) == nullptr);
    CHECK(frames.message_for(std::make_shared<const std::string>("")) == nullptr);
    CHECK(frames.message_for(std::make_shared<const std::string>("\r\n")) != nullptr);  // an empty line
}

namespace {

/// A WebSocket connection that records what it is asked to send and refuses text that is not UTF-8 as
/// weft's does (std::invalid_argument; here: any 0xff byte stands for it).
struct RecordingSocket final : weft::web::WebSocketTransport {
    weft::testing::StringTransport raw;
    std::vector<std::string> sent;
    bool aborted = false;
    static void check(std::string_view text) {
        if (text.find('\xff') != std::string_view::npos) throw std::invalid_argument("not UTF-8");
    }
    void send_text(std::string_view text) override {
        check(text);
        sent.emplace_back(text);
    }
    void send_binary(std::string_view data) override { sent.emplace_back(data); }
    void send_shared(std::shared_ptr<const std::string> payload, weft::web::MessageType) override {
        sent.push_back(*payload);
    }
    void send_prepared(const weft::web::PreparedMessage& message) override { sent.emplace_back(message.payload()); }
    void ping(std::string_view) override {}
    void close(std::uint16_t, std::string_view) override {}
    void abort() override { aborted = true; }
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override { return 0; }
    [[nodiscard]] const std::string& subprotocol() const noexcept override { return none; }
    [[nodiscard]] weft::Address peer() const override { return raw.peer(); }
    [[nodiscard]] weft::Address host() const override { return raw.host(); }
    [[nodiscard]] weft::Transport& raw_transport() noexcept override { return raw; }
    void register_producer(weft::Producer&, bool) override {}
    void unregister_producer() override {}
    void pause_producing() override {}
    void resume_producing() override {}
    void stop_producing() override {}
    std::string none;
};

}  // namespace

TEST_CASE("chat web: a line that is not UTF-8 costs that browser its connection, never an exception in the room",
          "[chat][web]") {
    // The room sanitises every line, so this is a bug of ours if it happens; it must not unwind a broadcast.
    BroadcastFrames frames;
    const auto bad = std::make_shared<const std::string>("ann: \xff\r\n");
    const weft::web::PreparedMessage* prepared = nullptr;
    CHECK_NOTHROW(prepared = frames.message_for(bad));
    CHECK(prepared == nullptr);  // left to each connection's write()

    RecordingSocket socket;
    weft::chat::WebSocketLineTransport line(socket, frames);
    line.write("bob: fine\r\n");
    REQUIRE(socket.sent == std::vector<std::string>{"bob: fine"});
    CHECK_NOTHROW(line.write_shared(bad));
    CHECK(socket.aborted);
    CHECK(line.state() == weft::ConnectionState::disconnecting);
    line.write("bob: after\r\n");  // nothing more goes to a connection being dropped
    CHECK(socket.sent.size() == 1);

    RecordingSocket other;
    weft::chat::WebSocketLineTransport pieces(other, frames);
    CHECK_NOTHROW(pieces.write("carol: \xff"));  // held until its end
    CHECK_FALSE(other.aborted);
    CHECK_NOTHROW(pieces.write("\r\n"));
    CHECK(other.aborted);
}
