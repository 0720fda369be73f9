// The chat room's WebSocket side without sockets: BroadcastFrames (apps/chat/chat_websocket.hpp).

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "chat_websocket.hpp"

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
