#pragma once
// ProcessProtocol: what users subclass to talk to a child process (Twisted: ProcessProtocol).

#include <string_view>

#include "weft/process_status.hpp"
#include "weft/process_transport.hpp"

namespace weft {

/// One child process's behaviour. Subclass it and override the callbacks; pass it to
/// Reactor::spawn_process.
///
/// Contract (Twisted's ordering): every callback runs on the reactor thread, never inside a call into the
/// transport. connection_made comes first. Then, in any order as the child's descriptors deliver them:
/// child_data_received(fd, data) for each pipe the parent reads, child_connection_lost(fd) once per pipe
/// when it closes (the child closed or exited, or the parent closed it), and process_exited(status) once
/// when the child has exited and been reaped. process_ended(status) comes last, exactly once, when the
/// child has exited AND every pipe is closed; the transport must not be used after it. A child that
/// exits while a grandchild keeps one of its pipes open gets process_ended only when that pipe closes
/// (or the parent closes it: lose_connection()).
/// The default child_data_received sends descriptor 1 to out_received and 2 to err_received, and the
/// default child_connection_lost sends 0, 1, 2 to in_/out_/err_connection_lost, as Twisted's do:
/// override either the dispatcher or the named callbacks.
/// A callback that throws is logged; the process's pipes are closed (the child is not signalled) and
/// process_ended still comes once it has exited.
class ProcessProtocol {
public:
    virtual ~ProcessProtocol() = default;
    ProcessProtocol() = default;
    ProcessProtocol(const ProcessProtocol&) = delete;
    ProcessProtocol& operator=(const ProcessProtocol&) = delete;

    /// Called by the framework to attach the transport; calls connection_made().
    void make_connection(ProcessTransport& transport) {
        transport_ = &transport;
        connection_made();
    }

    /// The child has started; transport() is usable.
    virtual void connection_made() {}

    /// The child wrote `data` to its descriptor `child_fd` (a pipe the parent reads). The view is valid
    /// only during the call. Default: 1 -> out_received, 2 -> err_received, others ignored.
    virtual void child_data_received(int child_fd, std::string_view data) {
        if (child_fd == 1) {
            out_received(data);
        } else if (child_fd == 2) {
            err_received(data);
        }
    }
    /// The child wrote to its stdout.
    virtual void out_received(std::string_view data) { (void)data; }
    /// The child wrote to its stderr.
    virtual void err_received(std::string_view data) { (void)data; }

    /// The pipe of the child's descriptor `child_fd` is closed. Default: 0 -> in_connection_lost,
    /// 1 -> out_connection_lost, 2 -> err_connection_lost.
    virtual void child_connection_lost(int child_fd) {
        if (child_fd == 0) {
            in_connection_lost();
        } else if (child_fd == 1) {
            out_connection_lost();
        } else if (child_fd == 2) {
            err_connection_lost();
        }
    }
    /// The child's stdin is closed (close_stdin() flushed, or the child closed it or exited).
    virtual void in_connection_lost() {}
    /// The child's stdout is closed.
    virtual void out_connection_lost() {}
    /// The child's stderr is closed.
    virtual void err_connection_lost() {}

    /// The child has exited (it may still have pipes open, through grandchildren).
    virtual void process_exited(const ProcessStatus& status) { (void)status; }
    /// The child has exited and every pipe is closed: the last callback.
    virtual void process_ended(const ProcessStatus& status) { (void)status; }

    /// Valid from make_connection until process_ended returns.
    [[nodiscard]] ProcessTransport& transport() const noexcept { return *transport_; }
    /// True once make_connection attached a transport, i.e. once the child was spawned for this protocol.
    [[nodiscard]] bool has_transport() const noexcept { return transport_ != nullptr; }

private:
    ProcessTransport* transport_ = nullptr;
};

}  // namespace weft
