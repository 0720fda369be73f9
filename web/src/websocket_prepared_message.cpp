#include <memory>
#include <string>

#include "weft/web/websocket_protocol.hpp"
#include "websocket_frame.hpp"

namespace weft::web {

PreparedMessage::PreparedMessage(std::string_view payload, MessageType type)
    : type_(type) {
    // Checked once here, not on each send_prepared: the frame goes to every connection as it is.
    if (type == MessageType::text) detail::require_utf8(payload, "PreparedMessage");
    const auto opcode = type == MessageType::text ? detail::Opcode::text : detail::Opcode::binary;
    std::string frame = detail::frame_header(opcode, true, payload.size());
    header_size_ = frame.size();
    frame.append(payload);
    frame_ = std::make_shared<const std::string>(std::move(frame));
}

}  // namespace weft::web
