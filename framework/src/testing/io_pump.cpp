#include "weft/testing/io_pump.hpp"

#include <algorithm>
#include <system_error>

#include "weft/error.hpp"

namespace weft::testing {

FakeTransport::FakeTransport(Address peer, Address host, std::uint64_t id)
    : peer_(std::move(peer)), host_(std::move(host)), id_(id) {}

void FakeTransport::write(std::string_view data) {
    if (!writable() || data.empty()) return;  // as a real transport: writes after a close are ignored
    out_.append(data);
    after_write();
}

void FakeTransport::write_sequence(std::span<const std::string_view> pieces) {
    if (!writable()) return;
    for (auto piece : pieces) out_.append(piece);
    after_write();
}

void FakeTransport::write_shared(std::shared_ptr<const std::string> data) {
    if (data) write(*data);
}

void FakeTransport::lose_connection() {
    if (lost_reason_ || closing_ || aborting_) return;
    closing_ = true;
    state_ = ConnectionState::disconnecting;
}

void FakeTransport::abort_connection() {
    if (lost_reason_ || aborting_) return;
    aborting_ = true;
    state_ = ConnectionState::disconnecting;
    out_.clear();
    out_pos_ = 0;
}

void FakeTransport::lose_write_connection() {
    if (!writable() || write_shutdown_) return;
    write_shutdown_ = true;
    // With the read side already closed by the peer, shutting the write side closes the connection.
    state_ = state_ == ConnectionState::connected ? ConnectionState::write_half_closed : ConnectionState::disconnecting;
}

void FakeTransport::set_write_buffer_limits(std::size_t high, std::size_t low) {
    if (low > high) throw StateError("write buffer limits: low watermark above high watermark");
    high_ = high;
    low_ = low;
    after_write();
    after_drain();
}

void FakeTransport::register_producer(Producer& producer, bool streaming) {
    if (producer_ != nullptr) throw StateError("cannot register a producer: another one was never unregistered");
    if (lost_reason_) {
        producer.stop_producing();
        return;
    }
    producer_ = &producer;
    streaming_ = streaming;
    producer_paused_ = false;
    after_write();
}

void FakeTransport::unregister_producer() {
    producer_ = nullptr;
    streaming_ = false;
    producer_paused_ = false;
}

void FakeTransport::after_write() {
    if (buffered_bytes() <= high_) return;
    if (reading_backpressure_) backed_up_ = true;
    if (producer_ != nullptr && streaming_ && !producer_paused_) {
        producer_paused_ = true;
        producer_->pause_producing();
    }
}

void FakeTransport::after_drain() {
    if (buffered_bytes() > low_) return;
    backed_up_ = false;
    if (producer_ != nullptr && streaming_ && producer_paused_) {
        producer_paused_ = false;
        producer_->resume_producing();
    }
}

IOPump::IOPump(Protocol& server, Protocol& client, PairOptions options) : options_(std::move(options)) {
    protocols_[0] = &server;
    protocols_[1] = &client;
    start();
}

IOPump::IOPump(std::unique_ptr<Protocol> server, std::unique_ptr<Protocol> client, PairOptions options)
    : options_(std::move(options)) {
    if (!server || !client) throw StateError("IOPump: a protocol is missing");
    owned_[0] = std::move(server);
    owned_[1] = std::move(client);
    protocols_[0] = owned_[0].get();
    protocols_[1] = owned_[1].get();
    start();
}

IOPump::IOPump(Protocol& server, std::unique_ptr<Protocol> client, PairOptions options) : options_(std::move(options)) {
    if (!client) throw StateError("IOPump: the client protocol is missing");
    owned_[1] = std::move(client);
    protocols_[0] = &server;
    protocols_[1] = owned_[1].get();
    start();
}

IOPump::~IOPump() = default;

void IOPump::start() {
    transports_[0] = std::make_unique<FakeTransport>(options_.client_address, options_.server_address, 1);
    transports_[1] = std::make_unique<FakeTransport>(options_.server_address, options_.client_address, 2);
    protocols_[0]->make_connection(*transports_[0]);
    protocols_[1]->make_connection(*transports_[1]);
}

bool IOPump::disconnected() const noexcept {
    return transports_[0]->lost_reason_.has_value() && transports_[1]->lost_reason_.has_value();
}

bool IOPump::pump() {
    bool any = false;
    for (std::size_t rounds = 0; step(); ++rounds) {
        any = true;
        if (rounds + 1 >= options_.round_limit) {
            throw StateError("IOPump::pump(): still moving after " + std::to_string(options_.round_limit) +
                             " rounds (do the protocols answer each other forever?)");
        }
    }
    return any;
}

bool IOPump::step() {
    if (stepping_) throw StateError("IOPump: pump()/step() called from a callback the pump is running");
    stepping_ = true;
    struct Reset {
        bool& flag;
        ~Reset() { flag = false; }
    } reset{stepping_};

    for (int side : {0, 1}) {
        auto& t = *transports_[side];
        if (t.aborting_ && !t.lost_reason_) {
            close_both(side, Reason::aborted(),
                       Reason::lost(std::make_error_code(std::errc::connection_reset), "connection reset by peer"));
            return true;
        }
    }
    bool moved = false;
    for (int side : {0, 1}) {
        auto& t = *transports_[side];
        Producer* p = t.producer_;
        if (p == nullptr || t.streaming_ || !t.writable() || t.write_shutdown_ || t.buffered_bytes() != 0) continue;
        p->resume_producing();
        if (t.buffered_bytes() != 0 || t.producer_ != p) moved = true;
    }
    const bool to_client = transfer(0);
    const bool to_server = transfer(1);
    if (moved || to_client || to_server) return true;
    return settle(0) || settle(1);
}

bool IOPump::transfer(int from) {
    auto& src = *transports_[from];
    auto& dst = *transports_[1 - from];
    const std::size_t pending = src.buffered_bytes();
    if (pending == 0) return false;
    if (!dst.accepts_input()) {
        // The other end stopped reading for good (lose_connection): what it was sent is lost.
        src.out_.clear();
        src.out_pos_ = 0;
        src.after_drain();
        return true;
    }
    if (!dst.reading()) return false;
    const std::size_t n = options_.chunk_size == 0 ? pending : std::min(options_.chunk_size, pending);
    // A copy that dies after the call, so that a protocol keeping a view past data_received reads freed
    // memory (ASan says so), as it would with a real transport's read buffer.
    std::string piece = src.out_.substr(src.out_pos_, n);
    src.out_pos_ += n;
    if (src.out_pos_ == src.out_.size()) {
        src.out_.clear();
        src.out_pos_ = 0;
    } else if (src.out_pos_ >= 4096 && src.out_pos_ * 2 >= src.out_.size()) {
        src.out_.erase(0, src.out_pos_);  // byte-by-byte delivery of a large buffer stays linear
        src.out_pos_ = 0;
    }
    moved_[1 - from] += n;
    src.after_drain();
    protocols_[1 - from]->data_received(piece);
    return true;
}

bool IOPump::settle(int side) {
    auto& me = *transports_[side];
    auto& other = *transports_[1 - side];
    if (me.lost_reason_ || me.buffered_bytes() != 0) return false;
    if (me.closing_) {
        close_both(side, Reason::done(), Reason::done());
        return true;
    }
    if (!me.write_shutdown_ || me.eof_sent_) return false;
    me.eof_sent_ = true;
    other.eof_received_ = true;
    if (auto* half = dynamic_cast<HalfCloseable*>(protocols_[side])) half->write_connection_lost();
    if (me.lost_reason_ || other.lost_reason_) return true;
    if (other.eof_sent_) {
        close_both(side, Reason::done(), Reason::done());  // both write sides shut: nothing left to carry
        return true;
    }
    if (other.closing_ || other.aborting_) return true;
    if (auto* half = dynamic_cast<HalfCloseable*>(protocols_[1 - side])) {
        if (other.state_ == ConnectionState::connected) other.state_ = ConnectionState::read_half_closed;
        half->read_connection_lost();
    } else {
        other.lose_connection();  // EOF on a protocol that is not half-closeable: close once flushed
    }
    return true;
}

void IOPump::close_both(int first, const Reason& first_reason, const Reason& second_reason) {
    for (auto& t : transports_) {
        t->state_ = ConnectionState::disconnected;
        t->out_.clear();
        t->out_pos_ = 0;
    }
    deliver_lost(first, first_reason);
    deliver_lost(1 - first, second_reason);
}

void IOPump::deliver_lost(int side, const Reason& reason) {
    auto& t = *transports_[side];
    if (t.lost_reason_) return;
    t.lost_reason_ = reason;
    t.state_ = ConnectionState::disconnected;
    if (Producer* p = t.producer_) {
        t.unregister_producer();
        p->stop_producing();
    }
    protocols_[side]->connection_lost(reason);
    if (hooks_[side]) hooks_[side](reason);
}

}  // namespace weft::testing
