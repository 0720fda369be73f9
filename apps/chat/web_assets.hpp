#pragma once
// The web page weft-chat serves (apps/chat/web/), compiled into the binary by web/embed.cmake.

#include <span>
#include <string_view>

namespace weft::chat {

/// One file of the page: its name under "/", its Content-Type and its bytes.
struct WebAsset {
    std::string_view name;
    std::string_view content_type;
    std::string_view body;
};

/// The page's files (index.html, chat.css, chat.js), in the binary for the program's lifetime.
[[nodiscard]] std::span<const WebAsset> web_assets() noexcept;

}  // namespace weft::chat
