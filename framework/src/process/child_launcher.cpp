#include "process/child_launcher.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "weft/error.hpp"

extern char** environ;

namespace weft::detail {

namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

void check_no_nul(const std::string& s, const char* what) {
    if (s.find('\0') != std::string::npos) throw Error(std::string(what) + " contains a NUL byte");
}

/// The posix_spawn attribute and file-action objects, destroyed on every path out.
struct SpawnAttr {
    posix_spawnattr_t attr;
    SpawnAttr() {
        if (int e = posix_spawnattr_init(&attr); e != 0) throw SpawnError("posix_spawnattr_init", {e, std::generic_category()});
    }
    ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
    SpawnAttr(const SpawnAttr&) = delete;
    SpawnAttr& operator=(const SpawnAttr&) = delete;
};
struct SpawnActions {
    posix_spawn_file_actions_t actions;
    SpawnActions() {
        if (int e = posix_spawn_file_actions_init(&actions); e != 0) {
            throw SpawnError("posix_spawn_file_actions_init", {e, std::generic_category()});
        }
    }
    ~SpawnActions() { posix_spawn_file_actions_destroy(&actions); }
    SpawnActions(const SpawnActions&) = delete;
    SpawnActions& operator=(const SpawnActions&) = delete;
};

void check(int e, const char* what) {
    if (e != 0) throw SpawnError(what, {e, std::generic_category()});
}

}  // namespace

LaunchedChild launch_child(const std::string& executable, const std::vector<std::string>& args,
                           const ProcessOptions& options) {
    if (executable.empty()) throw Error("spawn_process: the executable is empty");
    check_no_nul(executable, "the executable's name");
    for (const auto& a : args) check_no_nul(a, "an argument");
    check_no_nul(options.working_directory, "the working directory");
    if (options.env) {
        for (const auto& [name, value] : *options.env) {
            if (name.empty() || name.find('=') != std::string::npos) {
                throw Error("environment variable name '" + name + "' is empty or contains '='");
            }
            check_no_nul(name, "an environment variable's name");
            check_no_nul(value, "an environment variable's value");
        }
    }
    int max_target = -1;
    for (const auto& [target, what] : options.child_fds) {
        if (target < 0 || target >= ProcessOptions::max_child_fd) {
            throw Error("child descriptor " + std::to_string(target) + " is out of range (0.." +
                        std::to_string(ProcessOptions::max_child_fd - 1) + ")");
        }
        if (what.kind() == ChildFd::Kind::inherit && what.parent_fd() < 0) {
            throw Error("child descriptor " + std::to_string(target) + ": no parent descriptor to inherit");
        }
        max_target = target;  // the map is ordered
    }
    // A child whose exit the kernel reaps itself (SIGCHLD ignored) leaves no status to report.
    struct sigaction chld {};
    if (sigaction(SIGCHLD, nullptr, &chld) == 0 && (chld.sa_flags & SA_SIGINFO) == 0 && chld.sa_handler == SIG_IGN) {
        throw StateError("spawn_process: SIGCHLD is ignored, so the kernel would reap the child and its exit "
                         "status would be lost; restore its default action first");
    }

    LaunchedChild child;
    // Each child descriptor's source is first duplicated above every target number: then the dup2s of the
    // file actions cannot overwrite a source another one still needs (child 0 <- parent 1 while child 1
    // <- parent 0), and closefrom(max_target + 1) drops the copies and every other descriptor in the child.
    // The copies are close-on-exec in the parent and closed when this returns.
    std::vector<std::pair<int, UniqueFd>> sources;
    for (const auto& [target, what] : options.child_fds) {
        UniqueFd child_end;
        int source = -1;
        if (what.kind() == ChildFd::Kind::inherit) {
            source = what.parent_fd();
        } else {
            int p[2];
            if (::pipe2(p, O_CLOEXEC) != 0) throw SpawnError("pipe for child descriptor " + std::to_string(target), last_error());
            const bool to_child = what.kind() == ChildFd::Kind::to_child;
            UniqueFd read_end(p[0]);
            UniqueFd write_end(p[1]);
            UniqueFd parent_end = to_child ? std::move(write_end) : std::move(read_end);
            child_end = to_child ? std::move(read_end) : std::move(write_end);
            // Only the parent's end: the child's is another open file description and stays blocking.
            const int flags = ::fcntl(parent_end.get(), F_GETFL);
            if (flags < 0 || ::fcntl(parent_end.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
                throw SpawnError("pipe for child descriptor " + std::to_string(target), last_error());
            }
            child.pipes.emplace(target, std::move(parent_end));
            source = child_end.get();
        }
        const int copy = ::fcntl(source, F_DUPFD_CLOEXEC, max_target + 1);
        if (copy < 0) {
            const auto ec = last_error();
            throw SpawnError(what.kind() == ChildFd::Kind::inherit
                                 ? "child descriptor " + std::to_string(target) + " (parent descriptor " +
                                       std::to_string(source) + ")"
                                 : "pipe for child descriptor " + std::to_string(target),
                             ec);
        }
        sources.emplace_back(target, UniqueFd(copy));
    }

    SpawnActions fa;
    int next_unset = 0;
    for (const auto& [target, copy] : sources) {
        // Descriptors below the highest target that the child is not given: closefrom does not reach them.
        for (; next_unset < target; ++next_unset) check(posix_spawn_file_actions_addclose(&fa.actions, next_unset), "posix_spawn_file_actions_addclose");
        check(posix_spawn_file_actions_adddup2(&fa.actions, copy.get(), target), "posix_spawn_file_actions_adddup2");
        next_unset = target + 1;
    }
    check(posix_spawn_file_actions_addclosefrom_np(&fa.actions, max_target + 1), "posix_spawn_file_actions_addclosefrom_np");
    if (!options.working_directory.empty()) {
        check(posix_spawn_file_actions_addchdir_np(&fa.actions, options.working_directory.c_str()),
              "posix_spawn_file_actions_addchdir_np");
    }

    // Every signal at its default action and none blocked: an ignored disposition survives exec (weft
    // ignores SIGPIPE), and so does the mask.
    SpawnAttr sa;
    sigset_t all;
    sigset_t none;
    sigfillset(&all);
    sigemptyset(&none);
    check(posix_spawnattr_setsigdefault(&sa.attr, &all), "posix_spawnattr_setsigdefault");
    check(posix_spawnattr_setsigmask(&sa.attr, &none), "posix_spawnattr_setsigmask");
    check(posix_spawnattr_setflags(&sa.attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK), "posix_spawnattr_setflags");

    std::vector<char*> argv;
    std::string argv0 = executable;
    if (args.empty()) {
        argv.push_back(argv0.data());
    } else {
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    std::vector<char*> envp;
    if (options.env) {
        env_strings.reserve(options.env->size());
        for (const auto& [name, value] : *options.env) env_strings.push_back(name + "=" + value);
        for (auto& e : env_strings) envp.push_back(e.data());
        envp.push_back(nullptr);
    }

    pid_t pid = -1;
    const bool search_path = executable.find('/') == std::string::npos;
    const int e = (search_path ? ::posix_spawnp : ::posix_spawn)(&pid, executable.c_str(), &fa.actions, &sa.attr,
                                                                argv.data(), options.env ? envp.data() : environ);
    if (e != 0) {
        const std::error_code ec{e, std::generic_category()};
        if (!options.working_directory.empty()) {
            struct stat st {};
            if (::stat(options.working_directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
                ::access(options.working_directory.c_str(), X_OK) != 0) {
                throw SpawnError("cannot start " + executable + " in working directory " + options.working_directory, ec);
            }
        }
        throw SpawnError("cannot start " + executable, ec);
    }
    child.pid = pid;
    // The child cannot have been reaped yet (only the pidfd reaps it and SIGCHLD is not ignored), so the
    // pid still names it even if it has already exited.
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) {
        const auto ec = last_error();
        ::kill(pid, SIGKILL);
        siginfo_t info{};
        ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED);
        throw SpawnError("pidfd_open for the child " + executable, ec);
    }
    child.pidfd.reset(pidfd);
    return child;
}

}  // namespace weft::detail
