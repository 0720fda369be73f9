#pragma once
// ProcessImpl: the transport of one child process: one stream per pipe, its reaper, and the
// ProcessProtocol's callbacks in Twisted's order.

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "process/child_launcher.hpp"
#include "process/child_pipe.hpp"
#include "process/child_reaper.hpp"
#include "stream/stream_transport.hpp"
#include "weft/process_protocol.hpp"
#include "weft/process_transport.hpp"
#include "weft/reactor.hpp"

namespace weft::detail {

class ReactorCore;

/// One child process as its protocol sees it.
///
/// Each pipe is a StreamTransport<ChildPipe> of its own, in the reactor's registry of live transports
/// like any connection, so the one state machine does the reading (into the reactor's buffer, posted
/// again after a full one), the writing (write queue, one flush per turn, watermarks, producers), the
/// disconnect timeout and the reactor's shutdown. A small Protocol per pipe forwards its data and its
/// connection_lost here, where they become child_data_received(fd) and child_connection_lost(fd). One
/// stream for stdin and stdout together would not do: a child that closes its stdin early (head -n1)
/// would make our next write fail and close its stdout with it, losing output it had already written.
///
/// Lifetime: the reactor keeps the process (ReactorCore::add_process) from spawn until process_ended, or
/// until the reactor is destroyed; each pipe's protocol holds it too while that pipe lives. The shared_ptr
/// spawn_process returns is a handle that may be dropped.
class ProcessImpl final : public ProcessTransport, public std::enable_shared_from_this<ProcessImpl> {
public:
    ProcessImpl(Reactor& reactor, std::unique_ptr<ProcessProtocol> owned, ProcessProtocol* protocol,
                LaunchedChild child, std::string name);
    ~ProcessImpl() override;
    ProcessImpl(const ProcessImpl&) = delete;
    ProcessImpl& operator=(const ProcessImpl&) = delete;

    /// Registers with the reactor, starts a stream per pipe and posts connection_made, after which the
    /// pipes are read and the child is reaped.
    void start();
    /// The reactor is going away without a shutdown: release everything, calling nothing back.
    void detach() noexcept;

    // ProcessTransport
    void write(std::string_view data) override;
    void write_sequence(std::span<const std::string_view> pieces) override;
    void write_to_child(int child_fd, std::string_view data) override;
    void close_stdin() override { close_child_fd(0); }
    void close_stdout() override { close_child_fd(1); }
    void close_stderr() override { close_child_fd(2); }
    void close_child_fd(int child_fd) override;
    void lose_connection() override;
    void signal_process(int signo) override;
    void signal_process(std::string_view name) override;
    [[nodiscard]] int pid() const noexcept override;
    [[nodiscard]] std::optional<ProcessStatus> status() const noexcept override;
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override;
    void set_write_buffer_limits(std::size_t high, std::size_t low) override;
    void register_producer(Producer& producer, bool streaming) override;
    void unregister_producer() override;
    // Producer
    void pause_producing() override;
    void resume_producing() override;
    void stop_producing() override { lose_connection(); }

    /// From a pipe's protocol.
    void pipe_data(int child_fd, std::string_view data);
    void pipe_lost(int child_fd);

private:
    using PipeTransport = StreamTransport<ChildPipe>;
    struct Pipe {
        std::shared_ptr<PipeTransport> stream;
        bool parent_writes = false;
        bool lost = false;  // child_connection_lost has run
    };

    /// The stream of a pipe the parent writes, or nullptr.
    PipeTransport* writer(int child_fd) const noexcept;
    void exited(ProcessStatus status);
    void maybe_end();
    /// Closes every pipe at once (a callback threw): the protocol is in no state to go on.
    void abort_pipes() noexcept;

    /// Runs a ProcessProtocol callback; one that throws is logged and every pipe is closed.
    template <class F>
    void call_protocol(const char* what, F&& fn);

    ReactorCore& core_;
    std::unique_ptr<ProcessProtocol> owned_;
    ProcessProtocol* protocol_;
    std::shared_ptr<ChildReaper> reaper_;
    LaunchedChild child_;  // its pipes move into streams in start()
    std::map<int, Pipe> pipes_;
    std::string name_;  // "process PID EXECUTABLE": log lines and the pipes' addresses
    int pid_;
    bool exited_delivered_ = false;
    bool ended_ = false;
};

}  // namespace weft::detail
