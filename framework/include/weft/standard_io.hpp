#pragma once
// StandardIO: stdin/stdout as a weft transport (Twisted: twisted.internet.stdio.StandardIO), so a
// terminal program runs its keyboard and its sockets on one reactor, without threads.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "weft/protocol.hpp"
#include "weft/transport.hpp"

namespace weft {

class Reactor;

namespace detail {
class StandardIOImpl;
}

/// A Transport whose input is a readable descriptor (stdin) and whose output a writable one (stdout).
///
/// Contract:
/// - The constructor attaches the protocol (connection_made runs inside it, as in Twisted) and reading
///   starts on the reactor's next turn. Bytes read go to data_received; writes never block: they are
///   buffered and leave in one write at the end of the loop turn, the rest when the descriptor is writable.
/// - EOF on the input: a HalfCloseable protocol gets read_connection_lost() and may go on writing;
///   any other protocol is lost (connection_lost) once its pending output is flushed.
/// - lose_write_connection() flushes, then closes the output, so the reader sees EOF.
///   lose_connection() stops reading, flushes, then closes both; abort_connection() drops the output.
///   connection_lost comes exactly once, on a later loop turn, never inside a call into the transport.
///   After it the protocol stays alive (protocol() still works) until the StandardIO is destroyed.
/// - A write error (EPIPE: nobody reads the output any more) loses the connection with Reason::lost.
///   (weft ignores SIGPIPE for the process from the first Reactor on, so that write cannot kill it.)
/// - At reactor shutdown it is lost after flushing, like every connection (bounded by the shutdown
///   timeout). Otherwise lose_connection() waits for the output's reader as long as it takes (a pager
///   that is not scrolled, as in Twisted): unlike a socket's, a pipe's close has no disconnect timeout.
/// - The protocol's transport() is the stdio stream itself (the same state machine as TCP's); the calls
///   below forward to it.
/// - The descriptors are owned: they are closed when the connection ends, and their file status flags
///   (made non-blocking while in use) are restored first. On a terminal, stdin, stdout and stderr are one
///   open file sharing those flags: the input keeps it non-blocking until it closes too, and stderr is
///   non-blocking meanwhile. Descriptors 0-2 are not left free but pointed at /dev/null, so a later
///   socket can never become "stdout".
/// - Regular files work as input and output too (they are never waited on).
/// - Destroying it while connected closes the descriptors without calling connection_lost. The reactor
///   must outlive it. peer() and host() are {"stdio", 0}; as_tcp() and as_unix() are nullptr.
class StandardIO final : public Transport {
public:
    /// The process's stdin (0) and stdout (1).
    StandardIO(Reactor& reactor, std::unique_ptr<Protocol> protocol);
    /// Any pair of descriptors, e.g. pipes in a test: reads `in_fd`, writes `out_fd`. Takes ownership of
    /// both, which must differ.
    StandardIO(Reactor& reactor, std::unique_ptr<Protocol> protocol, int in_fd, int out_fd);
    ~StandardIO() override;
    StandardIO(const StandardIO&) = delete;
    StandardIO& operator=(const StandardIO&) = delete;

    /// The protocol given to the constructor (also after start_tls), owned by this StandardIO and kept after
    /// connection_lost until it is destroyed.
    [[nodiscard]] Protocol& protocol() const noexcept;
    /// True once connection_lost has been delivered.
    [[nodiscard]] bool lost() const noexcept;

    // Transport
    void write(std::string_view data) override;
    void write_sequence(std::span<const std::string_view> pieces) override;
    /// Copies the bytes: a terminal is not a broadcast target.
    void write_shared(std::shared_ptr<const std::string> data) override;
    void lose_connection() override;
    void abort_connection() override;
    void lose_write_connection() override;
    [[nodiscard]] Address peer() const override;
    [[nodiscard]] Address host() const override;
    [[nodiscard]] std::uint64_t id() const noexcept override;
    [[nodiscard]] ConnectionState state() const noexcept override;
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override;
    void set_write_buffer_limits(std::size_t high, std::size_t low) override;
    void register_producer(Producer& producer, bool streaming) override;
    void unregister_producer() override;
    /// Pauses/resumes reading the input; stop_producing() loses the connection.
    void pause_producing() override;
    void resume_producing() override;
    void pause_reading_while_backed_up() override;
    void stop_producing() override;
    /// After start_tls, the TLS side; every call above then goes through TLS.
    [[nodiscard]] TlsTransport* as_tls() noexcept override;
    void start_tls(std::shared_ptr<TlsContext> context, std::string_view already_received = {}) override;

private:
    std::shared_ptr<detail::StandardIOImpl> impl_;
};

}  // namespace weft
