// Reactor::spawn_process: launch the child, then hand it to a ProcessImpl.
#include <memory>
#include <utility>

#include "process/child_launcher.hpp"
#include "process/process_impl.hpp"
#include "reactor_core.hpp"
#include "sigpipe.hpp"
#include "weft/error.hpp"
#include "weft/reactor.hpp"

namespace weft {

namespace {

std::shared_ptr<ProcessTransport> spawn(Reactor& reactor, std::unique_ptr<ProcessProtocol> owned,
                                        ProcessProtocol* protocol, std::string executable,
                                        std::vector<std::string> args, ProcessOptions options) {
    if (protocol == nullptr) throw StateError("spawn_process needs a protocol");
    detail::ignore_sigpipe_once();  // our end of the child's stdin fails with EPIPE when it goes
    detail::LaunchedChild child = detail::launch_child(executable, args, options);
    auto process = std::make_shared<detail::ProcessImpl>(reactor, std::move(owned), protocol, std::move(child),
                                                         std::move(executable));
    process->start();
    return process;
}

}  // namespace

std::shared_ptr<ProcessTransport> Reactor::spawn_process(std::unique_ptr<ProcessProtocol> protocol, std::string executable,
                                                         std::vector<std::string> args, ProcessOptions options) {
    ProcessProtocol* p = protocol.get();
    return spawn(*this, std::move(protocol), p, std::move(executable), std::move(args), std::move(options));
}

std::shared_ptr<ProcessTransport> Reactor::spawn_process(ProcessProtocol& protocol, std::string executable,
                                                         std::vector<std::string> args, ProcessOptions options) {
    return spawn(*this, nullptr, &protocol, std::move(executable), std::move(args), std::move(options));
}

}  // namespace weft
