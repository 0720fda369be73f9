#include "weft/testing/string_transport.hpp"

#include "weft/error.hpp"

namespace weft::testing {

namespace {
bool closing(ConnectionState s) {
    return s == ConnectionState::disconnecting || s == ConnectionState::disconnected;
}
}  // namespace

void StringTransport::write(std::string_view data) {
    if (closing(state_)) return;  // as the real transport: writes after lose_connection are ignored
    written_.append(data);
}

void StringTransport::write_sequence(std::span<const std::string_view> pieces) {
    for (auto piece : pieces) write(piece);
}

void StringTransport::write_shared(std::shared_ptr<const std::string> data) {
    if (data) write(*data);
}

void StringTransport::lose_connection() {
    lose_called_ = true;
    if (state_ != ConnectionState::disconnected) state_ = ConnectionState::disconnecting;
}

void StringTransport::abort_connection() {
    aborted_ = true;
    lose_connection();
}

void StringTransport::lose_write_connection() {
    write_closed_ = true;
    if (state_ == ConnectionState::connected) state_ = ConnectionState::write_half_closed;
}

void StringTransport::set_write_buffer_limits(std::size_t high, std::size_t low) {
    if (low > high) throw StateError("write buffer limits: low watermark above high watermark");
    high_ = high;
    low_ = low;
}

void StringTransport::register_producer(Producer& producer, bool streaming) {
    if (producer_ != nullptr) {
        throw StateError("cannot register a producer: another one was never unregistered");
    }
    if (state_ == ConnectionState::disconnected) {
        producer.stop_producing();
        return;
    }
    producer_ = &producer;
    streaming_ = streaming;
}

void StringTransport::unregister_producer() {
    producer_ = nullptr;
    streaming_ = false;
}

void StringTransport::pause_producing() {
    if (producer_state_ == ProducerState::stopped) throw StateError("cannot pause a stopped transport");
    producer_state_ = ProducerState::paused;
}

void StringTransport::resume_producing() {
    if (producer_state_ == ProducerState::stopped) throw StateError("cannot resume a stopped transport");
    producer_state_ = ProducerState::producing;
}

void StringTransport::stop_producing() {
    producer_state_ = ProducerState::stopped;
    lose_connection();
}

}  // namespace weft::testing
