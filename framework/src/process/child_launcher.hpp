#pragma once
// launch_child: starts a child process with exactly the descriptors it is given, without blocking the
// loop and without fork() in a process that has threads (posix_spawn: clone(CLONE_VM | CLONE_VFORK) + exec).

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "process/unique_fd.hpp"
#include "weft/process_options.hpp"

namespace weft::detail {

/// A started child: its pid, a pidfd for reaping and signalling it, and the parent's end of each pipe.
struct LaunchedChild {
    pid_t pid = -1;
    UniqueFd pidfd;
    /// Child descriptor number -> the parent's end of its pipe (O_CLOEXEC, O_NONBLOCK). Inherited
    /// descriptors have no entry.
    std::map<int, UniqueFd> pipes;
};

/// Starts `executable` with argv `args` (args[0] is argv[0], as Twisted's spawnProcess; empty args give
/// argv {executable}). An executable without a '/' is looked for in the parent's PATH. Throws SpawnError
/// naming the executable (or the working directory, or the descriptor) and the system's reason when it
/// cannot be started: glibc's posix_spawn reports a failed exec synchronously and reaps that child itself.
/// Throws Error for arguments that cannot be passed (a NUL byte, '=' in a variable's name, a child
/// descriptor out of range) and StateError when SIGCHLD is ignored (the kernel would then reap the child
/// and its status would be lost).
LaunchedChild launch_child(const std::string& executable, const std::vector<std::string>& args,
                           const ProcessOptions& options);

}  // namespace weft::detail
