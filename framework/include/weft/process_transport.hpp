#pragma once
// ProcessTransport: a ProcessProtocol's handle on its child process (Twisted: IProcessTransport).

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "weft/process_status.hpp"
#include "weft/producer.hpp"

namespace weft {

/// The parent's side of a child process: its pipes and its pid.
///
/// Contract:
/// - write() never blocks and never calls back into the protocol: bytes are queued for the child's stdin
///   and leave at the end of the turn. Writes to a closed (or never opened) stdin are ignored.
/// - Output is bounded as on a Transport (each pipe is a stream of weft's one stream core): a producer
///   registered for stdin is paused while its buffer is above the high watermark and resumed at the low
///   one (streaming), or asked for more each time the buffer is empty (pull). A child that writes faster
///   than the protocol consumes is held by pause_producing() (the transport is the producer of the
///   protocol's input): the child then blocks on its full pipe, and nothing is buffered here.
/// - close_* and lose_connection() never call back inside the call: child_connection_lost comes on a later
///   turn. Closing a pipe the parent writes flushes what is queued first (as long as the child takes to
///   read it; only the reactor's shutdown bounds it); closing one it reads drops what the child has not yet
///   written. A pipe whose child end closes (the child exits, or closes it) is closed too, whether or
///   not the parent writes to it.
/// - signal_process() goes through a pidfd, so a recycled pid is never signalled; once the child has been
///   reaped it throws ProcessExitedAlready.
/// - The transport outlives the process only as a handle: after process_ended every call is a no-op
///   (signal_process throws ProcessExitedAlready), and pid() is 0.
class ProcessTransport : public Producer {
public:
    /// Queues bytes for the child's stdin (copied).
    virtual void write(std::string_view data) = 0;
    /// Queues several pieces in order as one write (Twisted: writeSequence).
    virtual void write_sequence(std::span<const std::string_view> pieces) = 0;
    /// Queues bytes for the child's descriptor `child_fd`, which must be a pipe the parent writes
    /// (Twisted: writeToChild). Throws StateError for a descriptor that is not one.
    virtual void write_to_child(int child_fd, std::string_view data) = 0;

    /// Flushes what is queued for stdin, then closes it: the child reads EOF (Twisted: closeStdin).
    virtual void close_stdin() = 0;
    /// Closes the pipe of the child's stdout (Twisted: closeStdout).
    virtual void close_stdout() = 0;
    /// Closes the pipe of the child's stderr (Twisted: closeStderr).
    virtual void close_stderr() = 0;
    /// Closes the pipe of the child's descriptor `child_fd` (Twisted: closeChildFD); nothing if there is
    /// none or it is closed already.
    virtual void close_child_fd(int child_fd) = 0;
    /// Closes every pipe (pipes the parent writes after flushing them). The child is not signalled.
    virtual void lose_connection() = 0;

    /// Sends signal `signo` to the child (Twisted: signalProcess). Throws ProcessExitedAlready once it
    /// has been reaped.
    virtual void signal_process(int signo) = 0;
    /// The same with a signal's name: "KILL", "TERM", "INT", "SIGHUP"... Throws Error for an unknown name.
    virtual void signal_process(std::string_view name) = 0;
    /// The child's process id; 0 once it has been reaped (Twisted: pid becomes None).
    [[nodiscard]] virtual int pid() const noexcept = 0;
    /// How the child ended, once it has been reaped.
    [[nodiscard]] virtual std::optional<ProcessStatus> status() const noexcept = 0;

    /// Bytes queued for the child's pipes and not yet taken by the kernel.
    [[nodiscard]] virtual std::size_t buffered_bytes() const noexcept = 0;
    /// Watermarks for a registered streaming producer: paused above `high`, resumed at or below `low`.
    /// Defaults: 64 KiB and 16 KiB. Requires low <= high.
    virtual void set_write_buffer_limits(std::size_t high, std::size_t low) = 0;
    /// Registers the producer that feeds the child's stdin (Twisted: registerProducer). Throws
    /// StateError if one is already registered; with stdin closed the producer is stopped instead.
    virtual void register_producer(Producer& producer, bool streaming) = 0;
    /// Forgets the registered producer without stopping it (Twisted: unregisterProducer); a no-op when
    /// none is registered or stdin is not a pipe.
    virtual void unregister_producer() = 0;

    // Producer: pause_producing()/resume_producing() stop and restart reading every pipe the parent reads
    // (Twisted: pauseProducing/resumeProducing); stop_producing() is lose_connection().

protected:
    ProcessTransport() = default;
    /// For implementations only; users reach it through ProcessProtocol::transport().
    /// @{
    ProcessTransport(const ProcessTransport&) = default;
    ProcessTransport& operator=(const ProcessTransport&) = default;
    /// @}
};

}  // namespace weft
