#include "weft/protocols/basic.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "weft/log.hpp"

namespace weft::protocols {

namespace {

constexpr auto npos = std::string_view::npos;

// memchr for the common 1-byte delimiter; string_view::find (memchr on the first byte, then compare)
// otherwise.
std::size_t find_delimiter(std::string_view hay, std::string_view delimiter) noexcept {
    if (delimiter.size() == 1) {
        if (hay.empty()) return npos;
        const void* hit = std::memchr(hay.data(), delimiter[0], hay.size());
        return hit == nullptr ? npos : static_cast<std::size_t>(static_cast<const char*>(hit) - hay.data());
    }
    return hay.find(delimiter);
}

// Where a delimiter begins in `buffered` and ends in `chunk`: returns how many of its bytes are at the end
// of `buffered` (0 if none). The largest such split is the earliest delimiter.
std::size_t straddling_delimiter(std::string_view buffered, std::string_view chunk, std::string_view delimiter) {
    const std::size_t dlen = delimiter.size();
    for (std::size_t k = std::min(dlen - 1, buffered.size()); k > 0; --k) {
        if (chunk.size() >= dlen - k && buffered.substr(buffered.size() - k) == delimiter.substr(0, k) &&
            chunk.substr(0, dlen - k) == delimiter.substr(k)) {
            return k;
        }
    }
    return 0;
}

// The first position in a buffer of `size` bytes (none of them a whole delimiter) where a delimiter could
// still begin once more bytes arrive.
std::size_t search_resume(std::size_t begin, std::size_t size, std::size_t dlen) noexcept {
    const std::size_t n = size - begin;
    return begin + (n >= dlen ? n - (dlen - 1) : 0);
}

void check_delimiter(std::string_view delimiter) {
    if (delimiter.empty()) throw std::invalid_argument("a line delimiter must not be empty");
}

// Resets a receiver's "inside data_received" state however the delivery ends (a callback may throw).
template <class F>
struct OnExit {
    F fn;
    ~OnExit() { fn(); }
};
template <class F>
OnExit(F) -> OnExit<F>;

}  // namespace

// ---------------------------------------------------------------------------------------------- LineReceiver

void LineReceiver::data_received(std::string_view data) {
    if (busy_) {
        // Re-entrant (from a callback, or set_line_mode(extra)): the running delivery will get to it.
        tail_.append(data);
        return;
    }
    busy_ = true;
    chunk_ = data;
    OnExit reset{[this] {
        busy_ = false;
        chunk_ = {};
        raw_view_ = {};
    }};
    deliver();
    if (!chunk_.empty()) {
        compact();
        buf_.append(chunk_);
        chunk_ = {};
    }
    if (!tail_.empty()) merge_tail();
}

void LineReceiver::merge_tail() {
    compact();
    buf_.append(chunk_);
    chunk_ = {};
    buf_.append(tail_);
    tail_.clear();
}

void LineReceiver::compact() noexcept {
    if (buf_pos_ == 0) return;
    if (buf_pos_ >= buf_.size()) {
        buf_.clear();
        buf_pos_ = searched_ = 0;
        return;
    }
    // Move the rest down only when that costs no more than what was consumed: linear overall.
    if (buf_pos_ < buf_.size() - buf_pos_) return;
    buf_.erase(0, buf_pos_);
    searched_ = searched_ > buf_pos_ ? searched_ - buf_pos_ : 0;
    buf_pos_ = 0;
}

void LineReceiver::deliver() {
    // Exceeded while input is buffered: hand over everything from the start of the line.
    auto exceed_buffered = [this] {
        buf_.append(chunk_);
        chunk_ = {};
        const std::string_view all(buf_.data() + buf_pos_, buf_.size() - buf_pos_);
        buf_pos_ = searched_ = buf_.size();
        line_length_exceeded(all);
    };

    for (;;) {
        const std::size_t dlen = delimiter_.size();  // a callback may change it
        if (!tail_.empty()) merge_tail();
        // Disconnecting comes before paused: stop_producing() both pauses and loses the connection, and
        // input that will never be delivered must not be kept (nor grow with what the peer still sends).
        if (transport_disconnecting()) {
            // Never deliver after lose_connection: what is left is dropped.
            buf_.clear();
            buf_pos_ = searched_ = 0;
            chunk_ = {};
            return;
        }
        if (paused_) return;

        if (buf_pos_ >= buf_.size()) {
            // Nothing buffered: work on the chunk itself, delivering views into it.
            if (chunk_.empty()) return;
            if (!buf_.empty()) {
                buf_.clear();
                buf_pos_ = searched_ = 0;
            }
            if (!line_mode_) {
                const std::string_view data = std::exchange(chunk_, {});
                raw_view_ = data;
                raw_from_buf_ = false;
                raw_data_received(data);
                raw_view_ = {};
                continue;
            }
            const std::size_t pos = find_delimiter(chunk_, delimiter_);
            if (pos == npos) {
                if (chunk_.size() >= max_length_ + dlen) {
                    line_length_exceeded(std::exchange(chunk_, {}));
                    continue;
                }
                buf_.assign(chunk_);
                chunk_ = {};
                searched_ = search_resume(0, buf_.size(), dlen);
                return;
            }
            if (pos > max_length_) {
                line_length_exceeded(std::exchange(chunk_, {}));
                continue;
            }
            const std::string_view line = chunk_.substr(0, pos);
            chunk_.remove_prefix(pos + dlen);
            line_received(line);
            continue;
        }

        // Input is buffered; it comes before chunk_.
        if (!line_mode_) {
            const std::string_view data(buf_.data() + buf_pos_, buf_.size() - buf_pos_);
            buf_pos_ = searched_ = buf_.size();
            raw_view_ = data;
            raw_from_buf_ = true;
            raw_data_received(data);
            raw_view_ = {};
            continue;
        }
        compact();
        const std::size_t hit = buf_.find(delimiter_, std::max(searched_, buf_pos_));
        if (hit != npos) {
            if (hit - buf_pos_ > max_length_) {
                exceed_buffered();
                continue;
            }
            const std::string_view line(buf_.data() + buf_pos_, hit - buf_pos_);
            buf_pos_ = searched_ = hit + dlen;
            line_received(line);
            continue;
        }
        const std::size_t pending = buf_.size() - buf_pos_;
        searched_ = search_resume(buf_pos_, buf_.size(), dlen);
        if (chunk_.empty()) {
            if (pending >= max_length_ + dlen) {
                exceed_buffered();
                continue;
            }
            return;
        }
        // The line that starts in buf_ ends in chunk_: copy only its end into buf_.
        std::size_t line_end = 0;
        std::size_t skip = 0;
        if (const std::size_t k = dlen > 1 ? straddling_delimiter(
                                                 std::string_view(buf_).substr(buf_pos_), chunk_, delimiter_)
                                           : 0;
            k != 0) {
            line_end = buf_.size() - k;
            skip = dlen - k;
        } else {
            const std::size_t pos = find_delimiter(chunk_, delimiter_);
            if (pos == npos) {
                buf_.append(chunk_);
                chunk_ = {};
                searched_ = search_resume(buf_pos_, buf_.size(), dlen);
                if (buf_.size() - buf_pos_ >= max_length_ + dlen) {
                    exceed_buffered();
                    continue;
                }
                return;
            }
            if (pending + pos > max_length_) {
                exceed_buffered();
                continue;
            }
            buf_.append(chunk_.substr(0, pos));
            line_end = buf_.size();
            skip = pos + dlen;
        }
        if (line_end - buf_pos_ > max_length_) {
            exceed_buffered();
            continue;
        }
        chunk_.remove_prefix(skip);
        const std::string_view line(buf_.data() + buf_pos_, line_end - buf_pos_);
        buf_pos_ = searched_ = buf_.size();
        line_received(line);
    }
}

void LineReceiver::raw_data_received(std::string_view data) {
    (void)data;
    throw NotImplementedError("LineReceiver::raw_data_received is not overridden but raw mode was set");
}

void LineReceiver::line_length_exceeded(std::string_view line) {
    (void)line;
    if (has_transport()) transport().lose_connection();
}

void LineReceiver::send_line(std::string_view line) {
    const std::array<std::string_view, 2> pieces{line, delimiter_};
    transport().write_sequence(pieces);
}

void LineReceiver::set_line_mode(std::string_view extra) {
    line_mode_ = true;
    if (extra.empty()) return;
    // The usual call hands back the unread end of what raw_data_received was just given: re-read it in
    // place instead of copying it, so that flipping modes often stays linear.
    const char* raw_end = raw_view_.data() + raw_view_.size();
    if (busy_ && !raw_view_.empty() && tail_.empty() && extra.data() >= raw_view_.data() &&
        extra.data() + extra.size() == raw_end) {
        if (raw_from_buf_ && buf_pos_ == buf_.size()) {
            buf_pos_ = searched_ = static_cast<std::size_t>(extra.data() - buf_.data());
            raw_view_ = {};
            return;
        }
        if (!raw_from_buf_ && chunk_.empty() && buf_pos_ >= buf_.size()) {
            chunk_ = extra;
            raw_view_ = {};
            return;
        }
    }
    data_received(extra);
}

std::string LineReceiver::clear_line_buffer() {
    std::string out;
    out.reserve(buf_.size() - buf_pos_ + chunk_.size() + tail_.size());
    out.append(buf_, buf_pos_);
    out.append(chunk_);
    out.append(tail_);
    buf_pos_ = searched_ = buf_.size();
    chunk_ = {};
    tail_.clear();
    if (!busy_) {
        // Outside a delivery no view into buf_ is alive, so the storage may go.
        buf_.clear();
        buf_pos_ = searched_ = 0;
    }
    return out;
}

void LineReceiver::set_delimiter(std::string_view delimiter) {
    check_delimiter(delimiter);
    delimiter_.assign(delimiter);
    searched_ = buf_pos_;
}

void LineReceiver::pause_producing() {
    paused_ = true;
    if (has_transport()) transport().pause_producing();
}

void LineReceiver::resume_producing() {
    paused_ = false;
    if (has_transport()) transport().resume_producing();
    data_received({});
}

void LineReceiver::stop_producing() {
    paused_ = true;
    if (has_transport()) transport().stop_producing();
}

// ------------------------------------------------------------------------------------------ LineOnlyReceiver

void LineOnlyReceiver::data_received(std::string_view data) {
    if (busy_) {
        tail_.append(data);
        return;
    }
    busy_ = true;
    dropping_ = false;
    OnExit reset{[this] { busy_ = false; }};
    consume(data);
    while (!tail_.empty()) {
        std::string more;
        more.swap(tail_);
        consume(more);
    }
}

bool LineOnlyReceiver::exceeded(std::string_view line) {
    dropping_ = true;
    line_length_exceeded(line);
    buf_.clear();
    tail_.clear();
    return false;
}

void LineOnlyReceiver::consume(std::string_view data) {
    Transport* const tp = has_transport() ? &transport() : nullptr;
    auto stop_if_disconnecting = [&] {
        if (tp == nullptr || !tp->disconnecting()) return false;
        dropping_ = true;
        buf_.clear();
        tail_.clear();
        return true;
    };
    std::string joined;
    if (std::exchange(rescan_, false) && !buf_.empty()) {
        // The delimiter changed while a partial line was buffered: read it again with the new one.
        joined = std::move(buf_);
        buf_.clear();
        joined.append(data);
        data = joined;
    }

    // Restarts only when line_received changed the delimiter: the rest is split with the new one.
    for (;;) {
        if (dropping_ || stop_if_disconnecting()) return;
        delimiter_changed_ = false;
        const std::size_t dlen = delimiter_.size();

        if (!buf_.empty()) {
            // Finish the partial line with the start of this chunk.
            std::size_t line_end = 0;
            std::size_t skip = 0;
            if (const std::size_t k = dlen > 1 ? straddling_delimiter(buf_, data, delimiter_) : 0; k != 0) {
                line_end = buf_.size() - k;
                skip = dlen - k;
            } else {
                const std::size_t pos = find_delimiter(data, delimiter_);
                if (pos == npos) {
                    buf_.append(data);
                    if (buf_.size() >= max_length_ + dlen) exceeded(buf_);
                    return;
                }
                buf_.append(data.substr(0, pos));
                line_end = buf_.size();
                skip = pos + dlen;
            }
            data.remove_prefix(skip);
            if (line_end > max_length_) {
                exceeded(std::string_view(buf_).substr(0, line_end));
                return;
            }
            line_received(std::string_view(buf_).substr(0, line_end));
            buf_.clear();
            if (delimiter_changed_) continue;
            if (dropping_ || stop_if_disconnecting()) return;
        }

        const char* p = data.data();
        const char* const end = p + data.size();
        bool restart = false;
        if (dlen == 1) {
            const char d = delimiter_[0];
            while (p != end) {
                const char* nl = static_cast<const char*>(std::memchr(p, d, static_cast<std::size_t>(end - p)));
                if (nl == nullptr) break;
                const auto len = static_cast<std::size_t>(nl - p);
                if (stop_if_disconnecting()) return;
                if (len > max_length_) {
                    exceeded({p, len});
                    return;
                }
                line_received({p, len});
                p = nl + 1;
                if (delimiter_changed_) {
                    restart = true;
                    break;
                }
            }
        } else {
            for (;;) {
                const std::string_view rest(p, static_cast<std::size_t>(end - p));
                const std::size_t len = rest.find(delimiter_);
                if (len == npos) break;
                if (stop_if_disconnecting()) return;
                if (len > max_length_) {
                    exceeded(rest.substr(0, len));
                    return;
                }
                line_received(rest.substr(0, len));
                p += len + dlen;
                if (delimiter_changed_) {
                    restart = true;
                    break;
                }
            }
        }
        data = std::string_view(p, static_cast<std::size_t>(end - p));
        if (restart) continue;
        if (stop_if_disconnecting()) return;
        if (data.size() >= max_length_ + dlen) {
            exceeded(data);
            return;
        }
        buf_.assign(data);
        return;
    }
}

void LineOnlyReceiver::line_length_exceeded(std::string_view line) {
    (void)line;
    if (has_transport()) transport().lose_connection();
}

void LineOnlyReceiver::send_line(std::string_view line) {
    const std::array<std::string_view, 2> pieces{line, delimiter_};
    transport().write_sequence(pieces);
}

void LineOnlyReceiver::set_delimiter(std::string_view delimiter) {
    check_delimiter(delimiter);
    delimiter_.assign(delimiter);
    delimiter_changed_ = true;
    if (!busy_) rescan_ = true;
}

// ---------------------------------------------------------------------------------------- IntNStringReceiver

IntNStringReceiver::IntNStringReceiver(std::size_t prefix_length) : prefix_length_(prefix_length) {
    if (prefix_length != 1 && prefix_length != 2 && prefix_length != 4) {
        throw std::invalid_argument("IntNStringReceiver: the prefix length must be 1, 2 or 4");
    }
}

std::size_t IntNStringReceiver::decode(const char* prefix) const noexcept {
    std::size_t length = 0;
    for (std::size_t i = 0; i < prefix_length_; ++i) {
        length = (length << 8) | static_cast<unsigned char>(prefix[i]);
    }
    return length;
}

void IntNStringReceiver::drop() noexcept {
    skip_ = 0;
    buf_.clear();
    buf_pos_ = 0;
    chunk_ = {};
    tail_.clear();
}

void IntNStringReceiver::data_received(std::string_view data) {
    if (busy_) {
        tail_.append(data);
        return;
    }
    busy_ = true;
    chunk_ = data;
    OnExit reset{[this] {
        busy_ = false;
        chunk_ = {};
    }};
    deliver();
    if (!chunk_.empty()) {
        if (buf_pos_ >= buf_.size()) {
            buf_.clear();
            buf_pos_ = 0;
        }
        buf_.append(chunk_);
        chunk_ = {};
    }
}

void IntNStringReceiver::deliver() {
    const std::size_t plen = prefix_length_;
    for (;;) {
        if (!tail_.empty()) {
            buf_.append(chunk_);
            chunk_ = {};
            buf_.append(tail_);
            tail_.clear();
        }
        if (has_transport() && transport().disconnecting()) {  // before paused: see LineReceiver::deliver
            drop();
            return;
        }
        if (paused_) return;
        if (skip_ > 0) {
            // The payload of a string over max_length: discarded as it arrives, never buffered.
            const std::size_t from_buf = std::min(skip_, buf_.size() - buf_pos_);
            buf_pos_ += from_buf;
            skip_ -= from_buf;
            const std::size_t from_chunk = std::min(skip_, chunk_.size());
            chunk_.remove_prefix(from_chunk);
            skip_ -= from_chunk;
            if (skip_ > 0) return;
        }
        if (buf_pos_ >= buf_.size()) {
            // Nothing buffered: deliver views into the chunk.
            if (!buf_.empty()) {
                buf_.clear();
                buf_pos_ = 0;
            }
            if (chunk_.size() < plen) return;
            const std::size_t length = decode(chunk_.data());
            if (length > max_length_) {
                chunk_.remove_prefix(plen);
                skip_ = length;
                length_limit_exceeded(length);
                continue;
            }
            if (chunk_.size() - plen < length) return;
            const std::string_view string = chunk_.substr(plen, length);
            chunk_.remove_prefix(plen + length);
            string_received(string);
            continue;
        }
        // A frame starts in buf_: copy into buf_ only what completes it.
        if (buf_pos_ > 0 && buf_pos_ >= buf_.size() - buf_pos_) {
            buf_.erase(0, buf_pos_);
            buf_pos_ = 0;
        }
        auto fill_to = [this](std::size_t want) {
            const std::size_t have = buf_.size() - buf_pos_;
            if (have >= want) return true;
            const std::size_t take = std::min(want - have, chunk_.size());
            buf_.append(chunk_.substr(0, take));
            chunk_.remove_prefix(take);
            return have + take >= want;
        };
        if (!fill_to(plen)) return;
        const std::size_t length = decode(buf_.data() + buf_pos_);
        if (length > max_length_) {
            buf_pos_ += plen;
            skip_ = length;
            length_limit_exceeded(length);
            continue;
        }
        if (!fill_to(plen + length)) return;
        const std::string_view string(buf_.data() + buf_pos_ + plen, length);
        buf_pos_ += plen + length;
        string_received(string);
    }
}

void IntNStringReceiver::length_limit_exceeded(std::size_t length) {
    WEFT_LOG(debug) << "length prefix " << length << " exceeds the maximum " << max_length_;
    if (has_transport()) transport().lose_connection();
}

void IntNStringReceiver::send_string(std::string_view string) {
    const std::uint64_t limit = std::uint64_t{1} << (8 * prefix_length_);
    if (string.size() >= limit) {
        throw StringTooLongError("cannot send " + std::to_string(string.size()) + " bytes with a " +
                                 std::to_string(prefix_length_) + "-byte length prefix (maximum " +
                                 std::to_string(limit - 1) + ")");
    }
    std::array<char, 4> prefix{};
    for (std::size_t i = 0; i < prefix_length_; ++i) {
        prefix[i] = static_cast<char>((string.size() >> (8 * (prefix_length_ - 1 - i))) & 0xff);
    }
    const std::array<std::string_view, 2> pieces{std::string_view(prefix.data(), prefix_length_), string};
    transport().write_sequence(pieces);
}

void IntNStringReceiver::pause_producing() {
    paused_ = true;
    if (has_transport()) transport().pause_producing();
}

void IntNStringReceiver::resume_producing() {
    paused_ = false;
    if (has_transport()) transport().resume_producing();
    data_received({});
}

void IntNStringReceiver::stop_producing() {
    paused_ = true;
    if (has_transport()) transport().stop_producing();
}

// ----------------------------------------------------------------------------------------- NetstringReceiver

void NetstringReceiver::data_received(std::string_view data) {
    if (busy_) {
        tail_.append(data);
        return;
    }
    busy_ = true;
    OnExit reset{[this] { busy_ = false; }};
    consume(data);
    while (!tail_.empty()) {
        std::string more;
        more.swap(tail_);
        consume(more);
    }
}

void NetstringReceiver::parse_error(std::string_view why) {
    WEFT_LOG(debug) << "netstring parse error: " << why;
    state_ = State::broken;
    payload_.clear();
    tail_.clear();
    if (has_transport()) transport().lose_connection();
}

void NetstringReceiver::consume(std::string_view data) {
    while (!data.empty()) {
        if (state_ == State::broken) return;
        if (has_transport() && transport().disconnecting()) {
            payload_.clear();
            tail_.clear();
            return;
        }
        switch (state_) {
            case State::length: {
                const char c = data.front();
                data.remove_prefix(1);
                if (c == ':') {
                    if (digits_ == 0) return parse_error("the netstring does not start with a length");
                    state_ = State::payload;
                    payload_.clear();
                    break;
                }
                if (c < '0' || c > '9') {
                    return parse_error(digits_ == 0 ? "the netstring does not start with a length"
                                                    : "the netstring length is not followed by a colon");
                }
                if (digits_ > 0 && length_ == 0) return parse_error("the netstring length has a leading zero");
                const auto digit = static_cast<std::size_t>(c - '0');
                if (length_ > max_length_ / 10 || length_ * 10 + digit > max_length_) {
                    return parse_error("the netstring is longer than the maximum " + std::to_string(max_length_));
                }
                length_ = length_ * 10 + digit;
                ++digits_;
                break;
            }
            case State::payload: {
                if (payload_.empty() && data.size() > length_) {
                    // The whole payload and its comma are in this chunk: deliver a view.
                    if (data[length_] != ',') return parse_error("the netstring is not terminated by a comma");
                    const std::string_view string = data.substr(0, length_);
                    data.remove_prefix(length_ + 1);
                    state_ = State::length;
                    length_ = digits_ = 0;
                    string_received(string);
                    break;
                }
                const std::size_t take = std::min(length_ - payload_.size(), data.size());
                payload_.append(data.substr(0, take));
                data.remove_prefix(take);
                if (payload_.size() == length_) state_ = State::comma;
                break;
            }
            case State::comma: {
                if (data.front() != ',') return parse_error("the netstring is not terminated by a comma");
                data.remove_prefix(1);
                state_ = State::length;
                length_ = digits_ = 0;
                string_received(payload_);
                payload_.clear();
                break;
            }
            case State::broken: return;
        }
    }
}

void NetstringReceiver::send_string(std::string_view string) {
    const std::string length = std::to_string(string.size()) + ":";
    const std::array<std::string_view, 3> pieces{length, string, ","};
    transport().write_sequence(pieces);
}

}  // namespace weft::protocols
