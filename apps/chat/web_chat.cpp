#include "web_chat.hpp"

#include <algorithm>
#include <cstddef>
#include <string>

#include "chat_websocket.hpp"
#include "web_assets.hpp"
#include "weft/web/json_body.hpp"
#include "weft/web/request.hpp"
#include "weft/web/websocket_resource.hpp"

namespace weft::chat {

boost::json::object stats_json(const ChatFactory& room) {
    const auto& stats = room.stats();
    return {
        {"clients_online", room.room_count()},
        {"joined", stats.joined},
        {"lines_relayed", stats.lines_relayed},
        {"cut", {{"slow", stats.cut_slow}, {"idle", stats.cut_idle}, {"flood", stats.cut_flood}}},
        {"refused", {{"full", stats.refused_full}, {"per_address", stats.refused_address}}},
        {"flood_paused", stats.flood_paused},
        {"forward_holds", stats.forward_holds},
        {"peak_in_flight", stats.peak_in_flight},
    };
}

namespace {

// The page changes only with the binary, but a browser must not keep an old one after an upgrade:
// "no-cache" lets it keep a copy and ask whether it is still good (it is always re-sent; it is small).
void serve_asset(web::Request& request, const WebAsset& asset) {
    request.set_header("Content-Type", asset.content_type);
    request.set_header("Cache-Control", "no-cache");
    request.set_header("X-Content-Type-Options", "nosniff");
    request.finish(asset.body);
}

// A browser sends Origin with every WebSocket handshake; one from another site's page is refused, so that
// no other page can put its visitors in the room (cross-site WebSocket hijacking). Clients that are not
// browsers send none and are let in, as nc is on the TCP port.
bool same_origin(const web::Request& request) {
    const auto origin = request.header("Origin");
    if (!origin) return true;
    const auto host = request.header("Host");
    if (!host) return false;
    const std::string scheme = request.is_secure() ? "https://" : "http://";
    return *origin == scheme + std::string(*host);
}

void add_asset(web::Resource& parent, std::string segment, const WebAsset& asset) {
    auto leaf = std::make_shared<web::Resource>();
    leaf->on("GET", [&asset](web::Request& request) { serve_asset(request, asset); });
    parent.put_child(std::move(segment), std::move(leaf));
}

}  // namespace

std::shared_ptr<web::Resource> make_web_root(ChatFactory& room, ReactorTime& time) {
    auto root = std::make_shared<web::Resource>();
    for (const auto& asset : web_assets()) {
        if (asset.name == "index.html") {
            // "/" itself: the root resource answers it (a request for "/" has no segment).
            root->on("GET", [&asset](web::Request& request) { serve_asset(request, asset); });
            add_asset(*root, "", asset);
        }
        add_asset(*root, std::string(asset.name), asset);
    }
    auto stats = std::make_shared<web::Resource>();
    stats->on("GET", [&room](web::Request& request) {
        request.set_header("Cache-Control", "no-store");
        web::finish_json(request, stats_json(room));
    });
    root->put_child("stats", std::move(stats));
    auto healthz = std::make_shared<web::Resource>();
    healthz->on("GET", [](web::Request& request) {
        request.set_header("Content-Type", "text/plain; charset=utf-8");
        request.set_header("Cache-Control", "no-store");
        request.finish("ok\n");
    });
    root->put_child("healthz", std::move(healthz));
    web::WebSocketOptions options;
    options.max_message_size = std::max<std::size_t>(2 * room.options().max_line, 64 * 1024);
    options.send_buffer_limit = room.options().hard_send_limit();
    auto frames = std::make_shared<BroadcastFrames>();
    root->put_child("ws", std::make_shared<web::WebSocketResource>(
                              time,
                              [&room, frames](web::Request& request) -> std::unique_ptr<web::WebSocketProtocol> {
                                  if (!same_origin(request)) return nullptr;  // 403
                                  return std::make_unique<ChatWebSocket>(room, request.peer(), frames);
                              },
                              options));
    return root;
}

}  // namespace weft::chat
