#pragma once
// The chat room on the web (weft-chat --http): the page, the room's statistics and a health check, served
// by weft::web beside the TCP, UNIX and TLS listeners. docs/chat.md, "The chat room on the web".

#include <memory>

#include <boost/json/object.hpp>

#include "chat_protocol.hpp"
#include "weft/web/resource.hpp"

namespace weft::chat {

/// The room's counters as JSON, for GET /stats: clients online, lines relayed, and the clients cut off or
/// refused, by cause.
[[nodiscard]] boost::json::object stats_json(const ChatFactory& room);

/// The root of weft-chat's web site: GET / (the page: index.html, chat.css, chat.js from web_assets()),
/// GET /stats (stats_json), GET /healthz ("ok"). Every other path is a 404. `room` must outlive the
/// resources.
[[nodiscard]] std::shared_ptr<web::Resource> make_web_root(ChatFactory& room);

}  // namespace weft::chat
