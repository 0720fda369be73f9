#pragma once
// ProcessImpl: the transport of one child process: its pipes, its reaper, and the ProcessProtocol's
// callbacks in Twisted's order.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "process/child_launcher.hpp"
#include "process/child_reaper.hpp"
#include "stream/write_queue.hpp"
#include "weft/process_protocol.hpp"
#include "weft/process_transport.hpp"
#include "weft/reactor.hpp"

namespace weft::detail {

class ReactorCore;

/// One child process as its protocol sees it.
///
/// Each pipe is read or written on its own: a pipe the parent reads is read into the reactor's shared
/// buffer when readable (posted again after a full buffer, so a chatty child cannot starve the loop) and
/// delivered to child_data_received; a pipe the parent writes has a WriteQueue, flushed by one posted
/// handler per turn with writev, waiting for writability when the child does not read. A pipe the parent
/// writes is also watched for the child closing its end (epoll reports an error on the write end), as
/// Twisted's ProcessWriter does, so that a child that exits without reading its stdin still ends.
/// Every callback is posted or runs from a handler: none runs inside a call into the transport.
///
/// Lifetime: the reactor keeps the process in its registry from spawn until process_ended (or until the
/// reactor is destroyed); the shared_ptr spawn_process returns is a handle that may be dropped.
class ProcessImpl final : public ProcessTransport, public std::enable_shared_from_this<ProcessImpl> {
public:
    ProcessImpl(Reactor& reactor, std::unique_ptr<ProcessProtocol> owned, ProcessProtocol* protocol,
                LaunchedChild child, std::string name);
    ~ProcessImpl() override;

    /// Registers with the reactor and posts connection_made, after which reading and reaping begin.
    void start();
    /// The reactor is shutting down: close the pipes (flushing what the parent writes) and call `done`
    /// once they are all closed. The child is not signalled and its exit is not waited for.
    void shut_down(std::function<void()> done);
    /// The reactor is going away without a shutdown: release everything, calling nothing back.
    void detach() noexcept;
    [[nodiscard]] bool ended() const noexcept { return ended_; }

    // ProcessTransport
    void write(std::string_view data) override { write_to(0, data, false); }
    void write_sequence(std::span<const std::string_view> pieces) override;
    void write_to_child(int child_fd, std::string_view data) override { write_to(child_fd, data, true); }
    void close_stdin() override { close_child_fd(0); }
    void close_stdout() override { close_child_fd(1); }
    void close_stderr() override { close_child_fd(2); }
    void close_child_fd(int child_fd) override;
    void lose_connection() override;
    void signal_process(int signo) override;
    void signal_process(std::string_view name) override;
    [[nodiscard]] int pid() const noexcept override;
    [[nodiscard]] std::optional<ProcessStatus> status() const noexcept override { return reaper_->status(); }
    [[nodiscard]] std::size_t buffered_bytes() const noexcept override { return buffered_; }
    void set_write_buffer_limits(std::size_t high, std::size_t low) override;
    void register_producer(Producer& producer, bool streaming) override;
    void unregister_producer() override;
    void pause_reading_while_backed_up() override;
    // Producer
    void pause_producing() override { reading_paused_ = true; }
    void resume_producing() override;
    void stop_producing() override { lose_connection(); }

private:
    struct Pipe {
        explicit Pipe(boost::asio::io_context& io, int fd, bool parent_writes);
        boost::asio::posix::stream_descriptor descriptor;
        bool parent_writes;
        bool lost_delivered = false;  // child_connection_lost has run
        // reading
        bool read_pending = false;  // a read is posted or a readability wait is queued
        // writing
        WriteQueue queue;
        bool closing = false;        // close once the queue is flushed
        bool flush_pending = false;  // a flush is posted
        bool write_waiting = false;  // a writability wait is queued
    };

    Pipe* open_pipe(int child_fd) noexcept;
    void write_to(int child_fd, std::string_view data, bool must_exist);
    void after_queued();

    bool reading_allowed() const noexcept { return !reading_paused_ && !backlog_paused_; }
    void post_read(int child_fd);
    void read_some(int child_fd);
    void wait_readable(int child_fd);
    void rearm_reading();

    void schedule_flush(int child_fd);
    void flush(int child_fd);
    void wait_writable(int child_fd);
    void watch_reader_gone(int child_fd);
    void after_flush();

    /// Closes the pipe now (dropping what it still queues) and posts child_connection_lost.
    void close_pipe(int child_fd, const char* why);
    void deliver_lost(int child_fd);
    void exited(ProcessStatus status);
    void maybe_end();

    /// Runs a protocol (or producer) callback; one that throws is logged and every pipe is closed at once.
    template <class F>
    void call_protocol(const char* what, F&& fn);

    Reactor& reactor_;
    ReactorCore& core_;
    std::unique_ptr<ProcessProtocol> owned_;
    ProcessProtocol* protocol_;
    std::shared_ptr<ChildReaper> reaper_;
    std::map<int, std::unique_ptr<Pipe>> pipes_;
    std::string name_;  // for log lines: "[process PID NAME]"
    int pid_;

    std::size_t buffered_ = 0;  // the sum of the pipes' queues
    std::size_t high_water_ = 64 * 1024;
    std::size_t low_water_ = 16 * 1024;
    Producer* producer_ = nullptr;
    bool streaming_ = false;
    bool producer_paused_ = false;

    bool reading_paused_ = false;      // pause_producing()
    bool backpressure_reads_ = false;  // pause_reading_while_backed_up()
    bool backlog_paused_ = false;      // ... and the output is above the high watermark
    bool started_ = false;             // connection_made has run
    bool exited_delivered_ = false;
    bool ended_ = false;
    std::function<void()> shutdown_done_;
    std::optional<Reactor::TriggerId> trigger_;
};

}  // namespace weft::detail
