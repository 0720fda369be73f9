#include "weft/protocols/line_stream.hpp"

#include <utility>

namespace weft::protocols {

namespace detail {

/// What the protocol and its handles share; outlives the protocol while a handle does.
struct LineStreamState {
    /// The write side: the transport pauses it above its high watermark and resumes it at the low one.
    struct WriteSide : Producer {
        LineStreamState* state = nullptr;
        void pause_producing() override { state->write_paused = true; }
        void resume_producing() override {
            state->write_paused = false;
            state->fire_drains();
        }
        void stop_producing() override {}  // connection_lost follows and settles the waiters
    };

    static constexpr std::size_t kLineOverhead = 32;  // counted per line: empty lines cost memory too

    LineStream* protocol = nullptr;  // null before connection_made and after connection_lost
    std::size_t limit;
    std::deque<std::string> lines;
    std::size_t buffered = 0;  // bytes of `lines`, kLineOverhead each included
    bool paused_by_us = false;
    bool write_paused = false;
    std::optional<Reason> lost;
    bool too_long = false;
    std::optional<Deferred<std::optional<std::string>>> pending;
    std::vector<Deferred<void>> drains;
    std::vector<Deferred<void>> closes;
    WriteSide write_side;

    explicit LineStreamState(std::size_t read_limit) : limit(read_limit) { write_side.state = this; }

    [[nodiscard]] bool live() const noexcept {
        return protocol != nullptr && protocol->has_transport() && !protocol->transport().disconnecting();
    }

    /// The end of the input as read_line gives it once no line is left.
    Deferred<std::optional<std::string>> end_of_input() const {
        if (too_long) return fail<std::optional<std::string>>(Failure(LineTooLongError()));
        if (lost && !lost->clean()) return fail<std::optional<std::string>>(Failure(ConnectionLostError(*lost)));
        return succeed(std::optional<std::string>());
    }

    void fire_drains() {
        // A resumed coroutine may call drain() again: take the list first.
        auto waiting = std::exchange(drains, {});
        for (auto& d : waiting) d.callback();
    }

    std::string pop() {
        std::string line = std::move(lines.front());
        lines.pop_front();
        buffered -= line.size() + kLineOverhead;
        if (paused_by_us && buffered <= limit / 2) {
            paused_by_us = false;
            // Delivers what LineReceiver kept while paused, into `lines`, before we return.
            if (live()) protocol->resume_producing();
        }
        return line;
    }
};

}  // namespace detail

using State = detail::LineStreamState;

// ------------------------------------------------------------------------------------------- LineStreamHandle

Deferred<std::optional<std::string>> LineStreamHandle::read_line() {
    State& s = *state_;
    if (s.pending) {
        return fail<std::optional<std::string>>(
            Failure(StateError("LineStream::read_line: another read_line is still pending (one reader at a time)")));
    }
    if (!s.lines.empty()) return succeed(std::optional<std::string>(s.pop()));
    if (s.lost || s.too_long) return s.end_of_input();
    std::weak_ptr<State> weak = state_;
    Deferred<std::optional<std::string>> d([weak](Deferred<std::optional<std::string>>&) {
        // Cancelled: the next line waits for the next read_line; the Deferred fails with CancelledError.
        if (auto st = weak.lock()) st->pending.reset();
    });
    s.pending = d;
    return d;
}

void LineStreamHandle::write_line(std::string_view line) {
    if (state_->live()) state_->protocol->send_line(line);
}

void LineStreamHandle::write(std::string_view data) {
    if (state_->live()) state_->protocol->transport().write(data);
}

Deferred<void> LineStreamHandle::drain() {
    State& s = *state_;
    if (s.lost) {
        if (s.lost->clean()) return succeed();
        return fail(Failure(ConnectionLostError(*s.lost)));
    }
    if (!s.write_paused) return succeed();
    std::weak_ptr<State> weak = state_;
    Deferred<void> d([weak](Deferred<void>& self) {
        if (auto st = weak.lock()) std::erase(st->drains, self);
    });
    s.drains.push_back(d);
    return d;
}

void LineStreamHandle::close() {
    if (state_->live()) state_->protocol->transport().lose_connection();
}

Deferred<void> LineStreamHandle::closed() {
    if (state_->lost) return succeed();
    std::weak_ptr<State> weak = state_;
    Deferred<void> d([weak](Deferred<void>& self) {
        if (auto st = weak.lock()) std::erase(st->closes, self);
    });
    state_->closes.push_back(d);
    return d;
}

bool LineStreamHandle::connected() const noexcept { return state_->protocol != nullptr && !state_->lost; }

// ------------------------------------------------------------------------------------------------ LineStream

LineStream::LineStream(std::size_t read_buffer_limit) : state_(std::make_shared<State>(read_buffer_limit)) {}

LineStream::LineStream(Handler handler, std::size_t read_buffer_limit)
    : state_(std::make_shared<State>(read_buffer_limit)), handler_(std::move(handler)) {}

LineStream::~LineStream() {
    State& s = *state_;
    s.protocol = nullptr;
    // Never fired (no connection_lost: the reactor went away): dropped, which destroys coroutines waiting
    // on them instead of leaving them in a cycle through handles they hold.
    auto pending = std::move(s.pending);
    s.pending.reset();
    auto drains = std::exchange(s.drains, {});
    auto closes = std::exchange(s.closes, {});
}

std::size_t LineStream::buffered_lines() const noexcept { return state_->lines.size(); }

void LineStream::connection_made() {
    State& s = *state_;
    s.protocol = this;
    transport().register_producer(s.write_side, true);
    if (handler_) handler_(handle());
}

void LineStream::line_received(std::string_view line) {
    State& s = *state_;
    if (s.pending && s.lines.empty()) {
        auto d = std::move(*s.pending);
        s.pending.reset();
        d.callback(std::optional<std::string>(std::string(line)));  // the reader resumes here
        return;
    }
    s.lines.emplace_back(line);
    s.buffered += line.size() + State::kLineOverhead;
    if (s.buffered > s.limit && !paused()) {
        s.paused_by_us = true;
        pause_producing();  // this delivery stops after this line; the transport stops reading
    }
}

void LineStream::line_length_exceeded(std::string_view line) {
    State& s = *state_;
    s.too_long = true;
    LineReceiver::line_length_exceeded(line);  // loses the connection
    if (s.pending && s.lines.empty()) {
        auto d = std::move(*s.pending);
        s.pending.reset();
        d.errback(Failure(LineTooLongError()));
    }
}

void LineStream::connection_lost(const Reason& reason) {
    State& s = *state_;
    s.lost = reason;
    s.protocol = nullptr;
    // Everything below may resume coroutines; they see a stream that is closed.
    if (s.pending && s.lines.empty()) {
        auto d = std::move(*s.pending);
        s.pending.reset();
        if (s.too_long) {
            d.errback(Failure(LineTooLongError()));
        } else if (!reason.clean()) {
            d.errback(Failure(ConnectionLostError(reason)));
        } else {
            d.callback(std::nullopt);
        }
    }
    for (auto& d : std::exchange(s.drains, {})) {
        if (reason.clean()) {
            d.callback();
        } else {
            d.errback(Failure(ConnectionLostError(reason)));
        }
    }
    for (auto& d : std::exchange(s.closes, {})) d.callback();
}

}  // namespace weft::protocols
