// Streamed responses of the HTTP channel: a body written piece by piece (chunked, identity with a
// Content-Length, or close-delimited for HTTP/1.0), paced by the request's producer.

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "http_channel.hpp"

namespace weft::web::detail {

namespace {

// Streamed bytes of a response that is not yet on the wire wait in memory; past this, its push producer
// is paused until the response's turn.
constexpr std::size_t max_pending = 64 * 1024;

}  // namespace

HttpChannel::Slot* HttpChannel::slot_of(const Request& request) {
    for (auto& slot : slots_) {
        if (slot.request.get() == &request) return &slot;
    }
    return nullptr;
}

void HttpChannel::start_streaming(Request& request) {
    Slot* slot = slot_of(request);
    if (slot == nullptr || lost_) return;
    slot->streaming = true;
    serialise(*slot);
    flush();  // its head leaves now if it is at the front
}

// Called by serialise() for a streamed response with a body.
void HttpChannel::streamed_framing(Slot& slot, std::optional<std::string_view> declared_length, std::string& out) {
    if (declared_length) {
        std::uint64_t n = 0;
        auto [end, ec] = std::from_chars(declared_length->data(), declared_length->data() + declared_length->size(), n);
        if (ec != std::errc() || end != declared_length->data() + declared_length->size()) {
            throw std::invalid_argument("streamed response with an invalid Content-Length: " + std::string(*declared_length));
        }
        out += "Content-Length: ";
        out += *declared_length;
        out += "\r\n";
        slot.length_left = n;
    } else if (slot.request->version() == 11) {
        out += "Transfer-Encoding: chunked\r\n";
        slot.chunked = true;
    } else {
        slot.close_after = true;  // HTTP/1.0 without a length: the end of the connection ends the body
    }
}

void HttpChannel::response_data(Request& request, std::string_view data) {
    Slot* slot = slot_of(request);
    if (slot == nullptr || lost_ || !slot->with_body) return;  // HEAD, 204, 304: no body goes out
    if (slot->length_left) {
        data = data.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(*slot->length_left, data.size())));
        *slot->length_left -= data.size();
    }
    if (data.empty()) return;  // an empty chunk would end a chunked body
    slot->body_bytes += data.size();
    char size_line[24];
    std::string_view pieces[3];
    std::size_t count = 0;
    if (slot->chunked) {
        auto [end, ec] = std::to_chars(size_line, size_line + 16, data.size(), 16);
        (void)ec;
        end[0] = '\r';
        end[1] = '\n';
        pieces[count++] = std::string_view(size_line, static_cast<std::size_t>(end + 2 - size_line));
    }
    pieces[count++] = data;
    if (slot->chunked) pieces[count++] = "\r\n";
    if (slot == &slots_.front() && slot->head_sent) {
        transport().write_sequence(std::span(pieces, count));
        return;
    }
    for (std::size_t i = 0; i < count; ++i) slot->pending.append(pieces[i]);
    Producer* producer = request.producer();
    if (!slot->held && slot->pending.size() > max_pending && producer != nullptr && request.producer_streaming()) {
        slot->held = true;
        producer->pause_producing();
    }
}

bool HttpChannel::send_streamed(Slot& slot) {
    if (!slot.head_sent) {
        slot.head_sent = true;
        std::string_view pieces[] = {slot.response, slot.pending};
        transport().write_sequence(pieces);
        slot.response = {};
        slot.pending = {};
        Request& request = *slot.request;
        if (!slot.ready && request.producer() != nullptr) {
            relay_to(&request);
            if (slot.held) {
                slot.held = false;
                request.producer()->resume_producing();  // may write and finish: flush() runs again
            }
        }
    }
    if (!slot.ready) return false;
    if (slot.chunked && slot.with_body) transport().write("0\r\n\r\n");
    if (slot.length_left && *slot.length_left > 0 && slot.with_body) {
        slot.close_after = true;  // shorter than its Content-Length: the client must not wait for more
    }
    if (relayed_ == slot.request.get()) relay_to(nullptr);
    return true;
}

std::optional<std::size_t> HttpChannel::send_file(Request& request, int fd, std::uint64_t offset, std::size_t count) {
    Slot* slot = slot_of(request);
    if (slot == nullptr || lost_ || slot != &slots_.front() || !slot->head_sent || slot->chunked || !slot->with_body) {
        return std::nullopt;
    }
    if (slot->length_left) count = static_cast<std::size_t>(std::min<std::uint64_t>(*slot->length_left, count));
    if (count == 0) return 0;
    auto sent = transport().send_file(fd, offset, count);
    if (!sent) return sent;
    if (slot->length_left) *slot->length_left -= *sent;
    slot->body_bytes += *sent;
    return sent;
}

void HttpChannel::producer_registered(Request& request) {
    Slot* slot = slot_of(request);
    if (slot == nullptr || lost_) return;
    if (slot == &slots_.front() && slot->head_sent) relay_to(&request);
}

void HttpChannel::producer_unregistered(Request& request) {
    if (relayed_ == &request) relay_to(nullptr);
}

void HttpChannel::relay_to(Request* request) {
    if (relayed_ != nullptr) {
        relayed_ = nullptr;
        transport().unregister_producer();
    }
    if (request == nullptr || lost_) return;
    relayed_ = request;
    transport().register_producer(relay_, request->producer_streaming());
}

void HttpChannel::BodyRelay::pause_producing() {
    if (channel_.relayed_ == nullptr) return;
    if (Producer* p = channel_.relayed_->producer()) p->pause_producing();
}

void HttpChannel::BodyRelay::resume_producing() {
    if (channel_.relayed_ == nullptr) return;
    if (Producer* p = channel_.relayed_->producer()) p->resume_producing();
}

void HttpChannel::BodyRelay::stop_producing() {
    if (Request* r = std::exchange(channel_.relayed_, nullptr)) r->stop_producer();
}

}  // namespace weft::web::detail
