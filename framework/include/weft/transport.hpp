#pragma once
// Transport: one end of a connection as a protocol sees it (Twisted: ITransport, IConsumer and
// IPushProducer together). What only TCP or UNIX sockets have is in tcp_transport.hpp / unix_transport.hpp.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "weft/address.hpp"
#include "weft/connection_state.hpp"
#include "weft/error.hpp"
#include "weft/producer.hpp"

namespace weft {

class TcpTransport;
class TlsContext;
class TlsTransport;
class UnixTransport;

/// The protocol's handle on its connection. A protocol borrows it from make_connection until
/// connection_lost; after that it must not be used.
///
/// Contract:
/// - write()/write_sequence()/write_shared() never block and never call back into the protocol: bytes are
///   queued and leave at the end of the turn in gather-writes of up to 64 pieces each (small writes are
///   coalesced into one piece, so a turn's writes usually leave in one system call).
///   Writes after lose_connection()/abort_connection() are ignored.
/// - connection_lost is never delivered inside a call into the transport; it comes on a later loop turn.
/// - As a producer, the transport pauses/resumes *reading* (pause_producing/resume_producing);
///   stop_producing() loses the connection. With pause_reading_while_backed_up() it also stops reading
///   while its output is above the high watermark; the two pauses are independent (reading runs only
///   when neither holds it).
/// - As a consumer, it pauses a registered streaming producer when buffered_bytes() rises above the high
///   watermark and resumes it once the buffer drains to the low watermark; a pull producer is asked for
///   more (resume_producing) each time the buffer is empty. A registered producer is stopped when the
///   connection is lost.
class Transport : public Producer {
public:
    /// Queues bytes for sending (copied).
    virtual void write(std::string_view data) = 0;
    /// Queues several pieces in order as one write (Twisted: writeSequence).
    virtual void write_sequence(std::span<const std::string_view> pieces) = 0;
    /// Queues an immutable shared buffer: a broadcast to many transports shares one buffer, which the
    /// transport keeps alive until it is sent. A small buffer (under 512 bytes) is copied instead, as
    /// write() would: its own queue entry would cost more memory than its bytes.
    virtual void write_shared(std::shared_ptr<const std::string> data) = 0;

    /// Stop reading, flush what is buffered, then close (Twisted: loseConnection).
    virtual void lose_connection() = 0;
    /// Drop buffered output and close at once; TCP sends a reset (Twisted: abortConnection).
    virtual void abort_connection() = 0;
    /// Flush, then shut down the write side only; reading goes on (Twisted: loseWriteConnection).
    virtual void lose_write_connection() = 0;

    /// The remote address (Twisted: getPeer).
    [[nodiscard]] virtual Address peer() const = 0;
    /// The local address (Twisted: getHost).
    [[nodiscard]] virtual Address host() const = 0;
    /// A number unique among the reactor's connections, used in log lines.
    [[nodiscard]] virtual std::uint64_t id() const noexcept = 0;
    /// Where the connection is in its life (connection_state.hpp; docs/architecture.md has the transitions).
    [[nodiscard]] virtual ConnectionState state() const noexcept = 0;
    /// True once lose_connection/abort_connection was called or the connection closed (Twisted:
    /// transport.disconnecting): a protocol stops delivering buffered input when it sees this.
    [[nodiscard]] bool disconnecting() const noexcept {
        return state() == ConnectionState::disconnecting || state() == ConnectionState::disconnected;
    }
    /// Bytes queued and not yet accepted by the operating system. The memory the queue holds follows this
    /// figure whatever the write sizes (copies are packed into shared chunks, small shared buffers are
    /// copied rather than given an entry each), so a limit built on it bounds memory too.
    [[nodiscard]] virtual std::size_t buffered_bytes() const noexcept = 0;

    /// Watermarks for a registered streaming producer: paused above `high`, resumed at or below `low`.
    /// Defaults: 64 KiB and 16 KiB. Requires low <= high.
    virtual void set_write_buffer_limits(std::size_t high, std::size_t low) = 0;

    /// The TCP options of a TCP connection (Twisted: ITCPTransport), or nullptr for any other transport.
    /// A wrapping transport (ProtocolWrapper) answers with the one it wraps.
    [[nodiscard]] virtual TcpTransport* as_tcp() noexcept { return nullptr; }
    /// The UNIX socket side of a UNIX socket connection (peer credentials), or nullptr.
    [[nodiscard]] virtual UnixTransport* as_unix() noexcept { return nullptr; }
    /// The TLS side (version, ALPN, peer certificate) of a TLS connection, or nullptr.
    [[nodiscard]] virtual TlsTransport* as_tls() noexcept { return nullptr; }

    /// Starts TLS on this live connection (Twisted: startTLS; SMTP's and IMAP's STARTTLS): what was written
    /// before the call leaves in plaintext, what is written after it leaves encrypted, in order; the protocol
    /// stays the same and transport() becomes the TLS transport. The context's side (server or client)
    /// says who sends the first handshake message. `already_received` is input the protocol had read past
    /// its STARTTLS command (e.g. LineReceiver::clear_line_buffer()): it is the peer's first TLS bytes.
    /// Throws StateError on a connection that is closing, already has TLS, or cannot carry TLS.
    virtual void start_tls(std::shared_ptr<TlsContext> context, std::string_view already_received = {}) {
        (void)context;
        (void)already_received;
        throw StateError("start_tls: this transport cannot carry TLS");
    }

    /// Sends `count` bytes of the open file `fd` from `offset` with sendfile(2), the kernel copying them
    /// from the page cache to the socket, in order after everything written before. Only a plain TCP or
    /// UNIX socket connection whose write buffer is empty does it (buffered_bytes() == 0): anything else
    /// (TLS, pipes, output waiting, a closing connection) answers std::nullopt, and the caller writes the
    /// bytes instead. Otherwise it answers how many bytes the kernel took, possibly 0 or fewer than
    /// `count` when the socket is full; a registered pull producer is asked for more (resume_producing)
    /// once the socket can take more. A failed send closes the connection (0 is answered).
    virtual std::optional<std::size_t> send_file(int fd, std::uint64_t offset, std::size_t count) {
        (void)fd;
        (void)offset;
        (void)count;
        return std::nullopt;
    }

    /// Registers the producer that feeds this transport (Twisted: registerProducer). Throws StateError if
    /// one is already registered; on a closed transport the producer is stopped instead. The producer is
    /// borrowed: unregister it before it is destroyed.
    virtual void register_producer(Producer& producer, bool streaming) = 0;
    /// Forgets the registered producer without stopping it (Twisted: unregisterProducer); a no-op when
    /// none is registered. After it the producer is no longer paused, resumed or stopped by this transport.
    virtual void unregister_producer() = 0;

    /// Back-pressure for a protocol that writes in reply to what it reads (an echo, a proxy, a
    /// request/response server): from now on reading pauses while buffered_bytes() is above the high
    /// watermark and resumes once it drains to the low one (set_write_buffer_limits), so a peer that sends
    /// without reading fills its own socket buffers, not this process's memory. Without it such a protocol
    /// queues whatever the peer sends. Twisted spells it `transport.registerProducer(transport, True)`;
    /// here it is a setting of its own, so it takes no producer slot and is independent of
    /// pause_producing()/resume_producing(): reading runs only while neither holds it. Call it once, e.g.
    /// in connection_made. Input already read is still delivered: at most one read's worth (64 KiB on TCP)
    /// is written past the high watermark.
    virtual void pause_reading_while_backed_up() = 0;

protected:
    Transport() = default;
    /// For implementations only; a transport is used through a reference, never copied by users.
    /// @{
    Transport(const Transport&) = default;
    Transport& operator=(const Transport&) = default;
    /// @}
};

}  // namespace weft
