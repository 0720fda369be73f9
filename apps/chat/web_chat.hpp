#pragma once
// The chat room on the web (weft-chat --http): the page, the room's statistics and a health check, served
// by weft::web beside the TCP, UNIX and TLS listeners. docs/chat.md, "The chat room on the web".

#include <memory>

#include <boost/json/object.hpp>

#include "chat_protocol.hpp"
#include "weft/reactor_time.hpp"
#include "weft/web/resource.hpp"

namespace weft::chat {

/// The room's counters as JSON, for GET /stats: clients online, lines relayed, the clients cut off or
/// refused, by cause, and in a ChatPool how often the shard held its clients for a lagging reactor
/// (forward_holds) and the most bytes it had in flight to one (peak_in_flight; both 0 otherwise). For a
/// shard of a ChatPool (weft-chat --threads N): clients online in the whole room, the other counters the
/// shard's.
[[nodiscard]] boost::json::object stats_json(const ChatFactory& room);

/// The root of weft-chat's web site: GET / (the page: index.html, chat.css, chat.js from web_assets()),
/// /ws (the page's WebSocket: a ChatWebSocket in `room`), GET /stats (stats_json), GET /healthz ("ok").
/// Every other path is a 404. The WebSocket's limits defer to the room's: a message may be twice max_line
/// (at least 64 KiB; so that the room, not the WebSocket layer, answers "! line too long"), and its send
/// buffer bound is the room's hard_send_limit() (so that the room cuts a slow browser as it cuts any slow
/// client). `room` and `time` must outlive the resources.
[[nodiscard]] std::shared_ptr<web::Resource> make_web_root(ChatFactory& room, ReactorTime& time);

}  // namespace weft::chat
