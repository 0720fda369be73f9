#pragma once
// Framing protocols: lines, length-prefixed strings, netstrings (Twisted: twisted.protocols.basic).
//
// Every receiver here parses in time linear in its input, whatever the chunking: it remembers how far
// it searched, consumes its buffer by offset and delivers views into the incoming chunk when a frame
// lies wholly inside it. Only a partial frame at the end of a chunk is copied.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "weft/error.hpp"
#include "weft/producer.hpp"
#include "weft/protocol.hpp"

namespace weft::protocols {

/// send_string() with a string too long for the length prefix (Twisted: StringTooLongError).
class StringTooLongError : public Error {
public:
    using Error::Error;
};

/// A callback of a receiver was called that the subclass did not override (Twisted:
/// NotImplementedError), e.g. raw_data_received after set_raw_mode() on a line-only subclass.
class NotImplementedError : public Error {
public:
    using Error::Error;
};

/// Splits the input into lines and/or raw data, depending on the mode (Twisted: LineReceiver).
///
/// Contract:
/// - In line mode each line, without its delimiter, goes to line_received(); in raw mode the bytes go to
///   raw_data_received(). Views are valid only during the call.
/// - set_raw_mode() inside line_received() hands the rest of the input to raw_data_received() in the same
///   delivery; set_line_mode(extra) from raw mode parses `extra` as lines, also in the same delivery.
///   Mode switches never recurse, however many there are in one buffer.
/// - Delivery stops as soon as the receiver is paused (pause_producing) or its transport is disconnecting.
///   Input left over is kept while paused (resume_producing() delivers it) and dropped once disconnecting:
///   nothing is delivered after lose_connection().
/// - data_received() called from inside a callback only buffers; the outer delivery picks the bytes up.
/// - A line longer than max_length(), or input without a delimiter that reaches max_length() +
///   delimiter().size() bytes, calls line_length_exceeded() once with everything buffered from the start
///   of that line, and the buffer is emptied (Twisted's argument). The default loses the connection.
///   Whatever the callback passes to set_line_mode(extra) is parsed in the same delivery.
/// - As a Producer it pauses itself and its transport's reading (Twisted's _PauseableMixin).
class LineReceiver : public Protocol, public Producer {
public:
    LineReceiver() = default;

    void data_received(std::string_view data) override;

    /// One line, delimiter removed.
    virtual void line_received(std::string_view line) = 0;
    /// Raw bytes in raw mode. The default throws NotImplementedError.
    virtual void raw_data_received(std::string_view data);
    /// `line` is all buffered input from the start of the over-long line (it may hold more than one line,
    /// or only a first part of it). The default loses the connection.
    virtual void line_length_exceeded(std::string_view line);

    /// Writes `line` and the delimiter in one write.
    void send_line(std::string_view line);

    /// Further input goes to raw_data_received.
    void set_raw_mode() noexcept { line_mode_ = false; }
    /// Further input goes to line_received; `extra` (unparsed bytes a raw_data_received has left) is
    /// parsed as lines first. Do not pass `extra` from line_received (it would go after the buffer).
    void set_line_mode(std::string_view extra = {});
    /// True in line mode (the initial mode), false after set_raw_mode().
    [[nodiscard]] bool line_mode() const noexcept { return line_mode_; }

    /// Empties the buffer and returns what it held; callable from inside line_received (it then returns
    /// the input after the current line).
    std::string clear_line_buffer();

    /// The line delimiter; default "\r\n".
    [[nodiscard]] const std::string& delimiter() const noexcept { return delimiter_; }
    /// Any non-empty byte string; throws std::invalid_argument for an empty one. Applies to the input
    /// not yet parsed, also when called from line_received.
    void set_delimiter(std::string_view delimiter);
    /// The longest line accepted, in bytes without the delimiter; default 16384 (Twisted: MAX_LENGTH).
    [[nodiscard]] std::size_t max_length() const noexcept { return max_length_; }
    /// Sets max_length(); it applies to the input not yet parsed. It bounds the memory the receiver buffers
    /// for a partial line.
    void set_max_length(std::size_t max_length) noexcept { max_length_ = max_length; }

    // Producer
    /// True after pause_producing() (and for good after stop_producing()) until resume_producing().
    [[nodiscard]] bool paused() const noexcept { return paused_; }
    /// Stops delivering and pauses the transport's reading.
    void pause_producing() override;
    /// Resumes the transport's reading and delivers what was kept while paused.
    void resume_producing() override;
    /// Stops delivering for good and stops the transport (which loses the connection).
    void stop_producing() override;

private:
    void deliver();
    void compact() noexcept;
    void merge_tail();
    [[nodiscard]] bool transport_disconnecting() const noexcept {
        return has_transport() && transport().disconnecting();
    }

    std::string delimiter_ = "\r\n";
    std::size_t max_length_ = 16384;
    // Unconsumed input is buf_[buf_pos_..] then chunk_ (the rest of the chunk being delivered) then
    // tail_ (bytes that arrived re-entrantly). buf_ is never reallocated while a callback runs, so views
    // into it stay valid for the callback.
    std::string buf_;
    std::size_t buf_pos_ = 0;
    std::size_t searched_ = 0;  // no delimiter starts in buf_[buf_pos_, searched_)
    std::string_view chunk_;
    std::string tail_;
    std::string_view raw_view_;  // what raw_data_received is being handed, for set_line_mode(extra)
    bool raw_from_buf_ = false;
    bool line_mode_ = true;
    bool paused_ = false;
    bool busy_ = false;
};

/// Lines only, no modes, no pausing: the fast path for plain line protocols (Twisted: LineOnlyReceiver).
///
/// Contract: each line goes to line_received() as a view, valid during the call; delivery stops as soon
/// as the transport is disconnecting and the rest is dropped. The max_length() rule is LineReceiver's
/// (a line longer than max_length(), or input without a delimiter reaching max_length() +
/// delimiter().size()); line_length_exceeded() gets the over-long line (Twisted's argument) and the
/// buffered input is dropped. data_received() from inside line_received() only buffers. A delimiter set
/// from line_received() applies to the rest of the input at once.
class LineOnlyReceiver : public Protocol {
public:
    LineOnlyReceiver() = default;

    void data_received(std::string_view data) override;

    /// One line, delimiter removed; the view is valid only during the call.
    virtual void line_received(std::string_view line) = 0;
    /// Default: lose the connection.
    virtual void line_length_exceeded(std::string_view line);

    /// Writes `line` and the delimiter in one write.
    void send_line(std::string_view line);

    /// The line delimiter; default "\r\n".
    [[nodiscard]] const std::string& delimiter() const noexcept { return delimiter_; }
    /// Any non-empty byte string; throws std::invalid_argument for an empty one.
    void set_delimiter(std::string_view delimiter);
    /// The longest line accepted, in bytes without the delimiter; default 16384 (Twisted: MAX_LENGTH).
    [[nodiscard]] std::size_t max_length() const noexcept { return max_length_; }
    /// Sets max_length(); it applies to the input not yet parsed. It bounds the memory the receiver buffers
    /// for a partial line.
    void set_max_length(std::size_t max_length) noexcept { max_length_ = max_length; }

private:
    void consume(std::string_view data);
    bool exceeded(std::string_view line);

    std::string delimiter_ = "\r\n";
    std::size_t max_length_ = 16384;
    std::string buf_;  // a partial line: never holds a whole delimiter between calls
    std::string tail_;
    bool busy_ = false;
    bool dropping_ = false;
    bool delimiter_changed_ = false;  // by line_received: split the rest of the chunk with the new one
    bool rescan_ = false;             // between deliveries: buf_ must be searched again
};

/// Strings framed by an unsigned big-endian length prefix of 1, 2 or 4 bytes (Twisted:
/// IntNStringReceiver). Use Int8StringReceiver, Int16StringReceiver or Int32StringReceiver.
///
/// Contract: each string goes to string_received() as a view, valid during the call. A prefix above
/// max_length() (default 99999) calls length_limit_exceeded(length) as soon as the prefix is read; the
/// default loses the connection. If an override keeps the connection, that string's payload is skipped
/// as it arrives (never buffered) and parsing goes on after it. Delivery stops while paused (input is
/// kept) and once the transport is disconnecting (input is dropped). data_received() from inside
/// string_received() only buffers.
class IntNStringReceiver : public Protocol, public Producer {
public:
    void data_received(std::string_view data) override;

    /// One string, prefix removed; the view is valid only during the call.
    virtual void string_received(std::string_view string) = 0;
    /// Default: lose the connection.
    virtual void length_limit_exceeded(std::size_t length);

    /// Writes the prefix and `string` in one write. Throws StringTooLongError if `string` does not fit
    /// the prefix.
    void send_string(std::string_view string);

    /// The size of the length prefix in bytes: 1, 2 or 4 (Twisted: prefixLength).
    [[nodiscard]] std::size_t prefix_length() const noexcept { return prefix_length_; }
    /// The longest string accepted, in bytes without the prefix; default 99999 (Twisted: MAX_LENGTH).
    [[nodiscard]] std::size_t max_length() const noexcept { return max_length_; }
    /// Sets max_length(); it applies to prefixes not yet read (a string whose prefix was read is not
    /// checked again).
    void set_max_length(std::size_t max_length) noexcept { max_length_ = max_length; }

    // Producer (Twisted's _PauseableMixin)
    /// True after pause_producing() (and for good after stop_producing()) until resume_producing().
    [[nodiscard]] bool paused() const noexcept { return paused_; }
    void pause_producing() override;
    void resume_producing() override;
    void stop_producing() override;

protected:
    /// `prefix_length` is 1, 2 or 4.
    explicit IntNStringReceiver(std::size_t prefix_length);

private:
    void deliver();
    [[nodiscard]] std::size_t decode(const char* prefix) const noexcept;
    void drop() noexcept;

    std::size_t prefix_length_;
    std::size_t max_length_ = 99999;
    std::size_t skip_ = 0;  // payload bytes of an over-long string still to discard
    std::string buf_;  // unconsumed input is buf_[buf_pos_..], then chunk_, then tail_
    std::size_t buf_pos_ = 0;
    std::string_view chunk_;
    std::string tail_;
    bool paused_ = false;
    bool busy_ = false;
};

/// 8-bit length prefix (Twisted: Int8StringReceiver).
class Int8StringReceiver : public IntNStringReceiver {
public:
    Int8StringReceiver() : IntNStringReceiver(1) {}
};

/// 16-bit big-endian length prefix (Twisted: Int16StringReceiver).
class Int16StringReceiver : public IntNStringReceiver {
public:
    Int16StringReceiver() : IntNStringReceiver(2) {}
};

/// 32-bit big-endian length prefix (Twisted: Int32StringReceiver).
class Int32StringReceiver : public IntNStringReceiver {
public:
    Int32StringReceiver() : IntNStringReceiver(4) {}
};

/// Netstrings, `<len>:<data>,` with a decimal length without leading zeros (Twisted: NetstringReceiver;
/// http://cr.yp.to/proto/netstrings.txt).
///
/// Contract: each string goes to string_received() as a view, valid during the call. A parse error (no
/// length, a leading zero, a length above max_length() (default 99999), no colon, no trailing comma)
/// loses the connection and sets broken_peer(); from then on all input is ignored. Delivery stops once the
/// transport is disconnecting. data_received() from inside string_received() only buffers.
class NetstringReceiver : public Protocol {
public:
    void data_received(std::string_view data) override;

    /// One string, framing removed; the view is valid only during the call.
    virtual void string_received(std::string_view string) = 0;

    /// Writes `<len>:<string>,` in one write.
    void send_string(std::string_view string);

    /// True once the peer sent something that is not a netstring (Twisted: brokenPeer).
    [[nodiscard]] bool broken_peer() const noexcept { return state_ == State::broken; }
    /// The longest string accepted, in bytes; default 99999 (Twisted: MAX_LENGTH). A longer length is a
    /// parse error as soon as its digits exceed it, so a huge length is never buffered.
    [[nodiscard]] std::size_t max_length() const noexcept { return max_length_; }
    /// Sets max_length(); it applies to lengths not yet read.
    void set_max_length(std::size_t max_length) noexcept { max_length_ = max_length; }

private:
    enum class State { length, payload, comma, broken };
    void consume(std::string_view data);
    void parse_error(std::string_view why);

    std::size_t max_length_ = 99999;
    State state_ = State::length;
    std::size_t length_ = 0;
    std::size_t digits_ = 0;
    std::string payload_;  // a payload split across chunks
    std::string tail_;
    bool busy_ = false;
};

}  // namespace weft::protocols
