#pragma once
// LineStream: a line connection for coroutine code, read and written top to bottom (asyncio's
// StreamReader/StreamWriter, over weft's LineReceiver). See docs/coroutines.md.
//
//   weft::Deferred<void> chat(weft::protocols::LineStreamHandle s) {
//       s.write_line("HELLO");
//       while (auto line = co_await s.read_line()) {   // nullopt at a clean end
//           s.write_line("echo: " + *line);
//           co_await s.drain();                         // backpressure: waits while the peer is slow
//       }
//   }

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/deferred.hpp"
#include "weft/error.hpp"
#include "weft/producer.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/reason.hpp"

namespace weft::protocols {

/// read_line() or drain() on a connection lost with an error (anything but a clean close); reason() says
/// why (Twisted: ConnectionLost; asyncio: ConnectionResetError).
class ConnectionLostError : public Error {
public:
    /// The message is "connection lost: " and the reason's text.
    explicit ConnectionLostError(Reason reason) : Error("connection lost: " + reason.to_string()), reason_(std::move(reason)) {}
    /// The reason the connection_lost delivered.
    [[nodiscard]] const Reason& reason() const noexcept { return reason_; }

private:
    Reason reason_;
};

/// read_line() once the peer sent a line longer than max_length() (asyncio: LimitOverrunError). The
/// connection was closed by LineReceiver's rule; lines before the long one are still read first.
class LineTooLongError : public Error {
public:
    LineTooLongError() : Error("the peer sent a line longer than the stream's max_length") {}
};

namespace detail {
struct LineStreamState;
}

/// A handle on a LineStream's connection for coroutine code. Copies share it. It stays valid after the
/// connection and its protocol are gone: reads then give what was left, then the end (nullopt or the
/// error), writes are dropped, close() does nothing.
class LineStreamHandle {
public:
    /// The next line, without its delimiter; nullopt at a clean end of the connection (either side closed
    /// it), ConnectionLostError if it was lost with an error, LineTooLongError after an over-long line.
    /// Lines already received come first. A line that is there already gives a fired Deferred. Only one
    /// read_line may be pending: a second fails with StateError. Cancelling the pending one leaves the
    /// next line for the next read_line.
    Deferred<std::optional<std::string>> read_line();
    /// Queues `line` and the delimiter (never blocks; see drain()).
    void write_line(std::string_view line);
    /// Queues raw bytes.
    void write(std::string_view data);
    /// Fires at once while the transport's write buffer is not over its high watermark; otherwise when it
    /// has drained to its low watermark (Transport::set_write_buffer_limits; defaults 64 KiB / 16 KiB).
    /// Fails with ConnectionLostError if the connection is lost with an error meanwhile (or was).
    Deferred<void> drain();
    /// Flushes what is queued, then closes (Transport::lose_connection).
    void close();
    /// Fires once the connection is closed (at connection_lost, whatever the reason; asyncio: wait_closed).
    Deferred<void> closed();
    /// True until connection_lost.
    [[nodiscard]] bool connected() const noexcept;

private:
    friend class LineStream;
    explicit LineStreamHandle(std::shared_ptr<detail::LineStreamState> state) noexcept : state_(std::move(state)) {}
    std::shared_ptr<detail::LineStreamState> state_;
};

/// A LineReceiver whose lines are read with `co_await read_line()` instead of a line_received callback.
/// Build one per connection (Factory::for_protocol<LineStream>(handler)) or connect one as a client; its
/// handle() (or the same calls on the protocol itself) serves the coroutine.
///
/// Contract:
/// - Backpressure on input: lines received and not yet read are kept up to read_buffer_limit bytes
///   (counting 32 bytes a line on top of its length, so empty lines count too); above it, the stream
///   pauses itself and its transport's reading (pause_producing), and resumes when reads bring it to half
///   the limit. Memory stays bounded by the limit, one line (max_length) and one read of the transport.
/// - Backpressure on output: the stream registers itself as the transport's streaming producer (so no
///   other producer may be registered on that connection); drain() waits while the transport has paused it.
/// - Over-long lines follow LineReceiver's rule (the connection is lost); read_line then fails with
///   LineTooLongError once the lines before it are read. Override line_length_exceeded to change that.
/// - A coroutine waiting in read_line() resumes inside the delivery of the line (inside data_received or
///   connection_lost), as Deferred callbacks do.
/// - Destroyed without connection_lost (its reactor destroyed): the pending read_line/drain/closed
///   Deferreds are dropped unfired, so a coroutine awaiting them is destroyed (see weft/coroutine.hpp).
class LineStream : public LineReceiver {
public:
    /// Runs for each connection, with the stream's handle, from connection_made (a coroutine: it runs to
    /// its first wait there). Its Deferred is not kept: a failure nobody handles is logged.
    using Handler = std::function<Deferred<void>(LineStreamHandle)>;
    /// The default read_buffer_limit: 64 KiB of unread lines (32 bytes a line included).
    static constexpr std::size_t kDefaultReadBufferLimit = 64 * 1024;

    /// A stream without a handler: whoever builds it reads through handle() (e.g. a client's coroutine).
    /// `read_buffer_limit` is in bytes, as counted above.
    explicit LineStream(std::size_t read_buffer_limit = kDefaultReadBufferLimit);
    /// A stream that runs `handler` from connection_made; `read_buffer_limit` is in bytes, as counted above.
    explicit LineStream(Handler handler, std::size_t read_buffer_limit = kDefaultReadBufferLimit);
    ~LineStream() override;
    LineStream(const LineStream&) = delete;
    LineStream& operator=(const LineStream&) = delete;

    /// A handle that outlives this protocol (coroutines should keep this rather than the protocol).
    [[nodiscard]] LineStreamHandle handle() const { return LineStreamHandle(state_); }

    /// handle().read_line(): the next line, nullopt at a clean end (LineStreamHandle::read_line).
    Deferred<std::optional<std::string>> read_line() { return handle().read_line(); }
    /// handle().write_line(): queues `line` and the delimiter; dropped once the connection is closing.
    void write_line(std::string_view line) { handle().write_line(line); }
    /// handle().drain(): fires when the write buffer is below its watermark (LineStreamHandle::drain).
    Deferred<void> drain() { return handle().drain(); }
    /// handle().close(): flushes what is queued, then closes.
    void close() { handle().close(); }
    /// handle().closed(): fires at connection_lost, whatever the reason.
    Deferred<void> closed() { return handle().closed(); }

    /// Lines received and not yet read.
    [[nodiscard]] std::size_t buffered_lines() const noexcept;

    void connection_made() override;
    void line_received(std::string_view line) override;
    void line_length_exceeded(std::string_view line) override;
    void connection_lost(const Reason& reason) override;

private:
    friend struct detail::LineStreamState;
    std::shared_ptr<detail::LineStreamState> state_;
    Handler handler_;
};

}  // namespace weft::protocols
