#pragma once
// The small standard services of inetd (Twisted: twisted.protocols.wire): echo, discard, chargen, quote
// of the day, who, daytime and time.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "weft/producer.hpp"
#include "weft/protocol.hpp"
#include "weft/reason.hpp"
#include "weft/transport.hpp"

namespace weft::protocols {

/// Writes back whatever it receives (RFC 862; Twisted: Echo). Unlike Twisted's, it stops reading while
/// its output is backed up (Transport::pause_reading_while_backed_up), so a peer that sends without
/// reading cannot make it buffer without bound.
class Echo : public Protocol {
public:
    void connection_made() override { transport().pause_reading_while_backed_up(); }
    void data_received(std::string_view data) override { transport().write(data); }
};

/// Reads and ignores everything (RFC 863; Twisted: Discard).
class Discard : public Protocol {
public:
    void data_received(std::string_view data) override { (void)data; }
};

/// Sends the RFC 864 character pattern for as long as the client reads (Twisted: Chargen).
///
/// Contract: registers itself as a pull (non-streaming) producer at connection_made, so it writes only
/// when the transport's buffer has drained and asks for more: it never outruns a slow reader and holds at
/// most one block in the transport's buffer. Each block is one full cycle of the pattern (95 lines of 72
/// printable characters and CRLF, each line starting one character further on), shared between all
/// connections without copying. Input is ignored.
class Chargen : public Protocol, public Producer {
public:
    /// Lines in one pattern cycle, and so in one block.
    static constexpr std::size_t lines_per_cycle = 95;
    static constexpr std::size_t line_length = 72;  ///< characters, CRLF not included

    /// The block written on each request: one full cycle of the pattern.
    static const std::string& block();

    void connection_made() override;
    void connection_lost(const Reason& reason) override;
    void resume_producing() override;
    void stop_producing() override { stopped_ = true; }

private:
    bool stopped_ = false;
};

/// Sends a quote and closes (RFC 865; Twisted: QOTD).
class QOTD : public Protocol {
public:
    /// Sends `quote` as given (bytes, line end included) unless get_quote() is overridden.
    explicit QOTD(std::string quote = "An apple a day keeps the doctor away.\r\n") : quote_(std::move(quote)) {}
    void connection_made() override;
    /// The quote to send; override for a different one per connection.
    virtual std::string get_quote() { return quote_; }

private:
    std::string quote_;
};

/// Sends the list of active users and closes (RFC 866; Twisted: Who).
class Who : public Protocol {
public:
    /// Sends `users` as given (bytes, one user a line, line ends included) unless get_users() is overridden.
    explicit Who(std::string users = "root\r\n") : users_(std::move(users)) {}
    void connection_made() override;
    /// The text to send; override for a real list per connection. The default is the constructor's.
    virtual std::string get_users() { return users_; }

private:
    std::string users_;
};

/// Wall-clock time, injectable so that tests fix it. Daytime and Time are defined on wall-clock time,
/// which is why they (alone in weft) read it.
using WallClock = std::function<std::chrono::system_clock::time_point()>;

/// Sends the UTC date and time as text, "Sun Nov  6 08:49:37 1994\r\n" (C asctime), and closes
/// (RFC 867; Twisted: Daytime).
class Daytime : public Protocol {
public:
    /// Reads the time from `now` at connection_made; the default reads the system clock.
    explicit Daytime(WallClock now = [] { return std::chrono::system_clock::now(); }) : now_(std::move(now)) {}
    void connection_made() override;
    /// The text sent for time `t`.
    static std::string format(std::chrono::system_clock::time_point t);

private:
    WallClock now_;
};

/// Sends the time as 32 bits, big-endian, of seconds since 1900-01-01 00:00 UTC, and closes (RFC 868;
/// Twisted: Time).
class Time : public Protocol {
public:
    /// Reads the time from `now` at connection_made; the default reads the system clock.
    explicit Time(WallClock now = [] { return std::chrono::system_clock::now(); }) : now_(std::move(now)) {}
    void connection_made() override;
    /// RFC 868 seconds for `t`, modulo 2^32 (the field wraps in 2036, as the RFC's does).
    static std::uint32_t rfc868_seconds(std::chrono::system_clock::time_point t);

private:
    WallClock now_;
};

}  // namespace weft::protocols
