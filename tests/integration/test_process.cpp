// Child processes: launching (descriptors, environment, working directory, signals) and reaping through
// pidfds. Every wait is bounded by run_bounded; nothing sleeps.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "process/child_launcher.hpp"
#include "process/child_reaper.hpp"
#include "support/loop.hpp"
#include "support/pipe.hpp"
#include "weft/error.hpp"
#include "weft/process_options.hpp"
#include "weft/process_status.hpp"

using namespace weft_test;
using weft::ChildFd;
using weft::ProcessOptions;
using weft::ProcessStatus;
using weft::detail::ChildReaper;
using weft::detail::launch_child;
using weft::detail::LaunchedChild;

namespace {

/// Everything left in a non-blocking pipe end whose writers are all gone (the child has exited).
std::string drain(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0) {
            return out;
        } else if (errno != EINTR) {
            FAIL("read from the child's pipe: " << std::generic_category().message(errno));
        }
    }
}

/// Launches, waits (bounded) for the exit, returns the status and the child's stdout.
struct Run {
    ProcessStatus status = ProcessStatus::exited(-1);
    std::string out;
    std::string err;
};
Run run_child(const std::string& exe, std::vector<std::string> args, ProcessOptions options = {},
              std::string input = {}) {
    weft::Reactor reactor;
    LaunchedChild child = launch_child(exe, args, options);
    if (auto in = child.pipes.find(0); in != child.pipes.end()) {
        if (!input.empty()) REQUIRE(::write(in->second.get(), input.data(), input.size()) == static_cast<ssize_t>(input.size()));
        in->second.reset();  // EOF for the child
    }
    auto reaper = std::make_shared<ChildReaper>(reactor.context(), child.pid, std::move(child.pidfd));
    Run r;
    bool exited = false;
    reaper->start([&](ProcessStatus s) {
        r.status = s;
        exited = true;
        reactor.stop();
    });
    REQUIRE(run_bounded(reactor));
    REQUIRE(exited);
    if (auto out = child.pipes.find(1); out != child.pipes.end()) r.out = drain(out->second.get());
    if (auto err = child.pipes.find(2); err != child.pipes.end()) r.err = drain(err->second.get());
    return r;
}

struct TempDir {
    std::string path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "weft-process-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
        path = std::filesystem::canonical(tmpl).string();
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

/// The child's open descriptors from `ls -l /proc/self/fd`, leaving out the one ls reads the directory
/// through (it points at /proc/PID/fd).
std::set<int> child_fds_listed(const std::string& listing) {
    std::set<int> fds;
    std::istringstream in(listing);
    for (std::string line; std::getline(in, line);) {
        const auto arrow = line.find(" -> ");
        if (arrow == std::string::npos) continue;
        const std::string target = line.substr(arrow + 4);
        if (target.starts_with("/proc/") && target.ends_with("/fd")) continue;
        const auto name_start = line.rfind(' ', arrow - 1) + 1;
        fds.insert(std::stoi(line.substr(name_start, arrow - name_start)));
    }
    return fds;
}

}  // namespace

TEST_CASE("process status: Twisted's ProcessDone and ProcessTerminated, and their text", "[process]") {
    CHECK(ProcessStatus::exited(0).done());
    CHECK(ProcessStatus::exited(0).to_string() == "exit code 0");
    CHECK_FALSE(ProcessStatus::exited(3).done());
    CHECK(ProcessStatus::exited(3).exit_code() == 3);
    CHECK_FALSE(ProcessStatus::exited(3).signal());
    CHECK(ProcessStatus::exited(3).to_string() == "exit code 3");
    const auto killed = ProcessStatus::killed(SIGKILL);
    CHECK_FALSE(killed.done());
    CHECK(killed.signal() == SIGKILL);
    CHECK_FALSE(killed.exit_code());
    CHECK(killed.to_string() == "killed by SIGKILL");
    CHECK(ProcessStatus::killed(SIGSEGV, true).to_string() == "killed by SIGSEGV (core dumped)");
    CHECK(weft::signal_number("KILL") == SIGKILL);
    CHECK(weft::signal_number("TERM") == SIGTERM);
    CHECK(weft::signal_number("INT") == SIGINT);
    CHECK(weft::signal_number("sigterm") == SIGTERM);
    CHECK_FALSE(weft::signal_number("NOPE"));
    CHECK_FALSE(weft::signal_number("SIG"));
    CHECK(weft::signal_name(SIGRTMIN + 2) == "SIGRTMIN+2");
}

TEST_CASE("process: /bin/true exits 0 and /bin/false exits 1", "[process]") {
    CHECK(run_child("/bin/true", {"true"}).status == ProcessStatus::exited(0));
    CHECK(run_child("/bin/false", {"false"}).status == ProcessStatus::exited(1));
}

TEST_CASE("process: /bin/sh -c gets its arguments and its exit code is reported", "[process]") {
    const auto r = run_child("/bin/sh", {"sh", "-c", "echo \"$0|$1\"; echo oops >&2; exit 3", "zero", "one two"});
    CHECK(r.status == ProcessStatus::exited(3));
    CHECK(r.status.to_string() == "exit code 3");
    CHECK(r.out == "zero|one two\n");
    CHECK(r.err == "oops\n");
}

TEST_CASE("process: argv[0] is args[0], not the executable", "[process]") {
    const auto r = run_child("/bin/sh", {"not-sh", "-c", "echo $0"});
    CHECK(r.out == "not-sh\n");
}

TEST_CASE("process: an executable without a slash is found in PATH", "[process]") {
    CHECK(run_child("true", {"true"}).status.done());
}

TEST_CASE("process: /bin/cat copies its stdin pipe to its stdout pipe", "[process]") {
    const auto r = run_child("/bin/cat", {"cat"}, {}, "hello, child\n");
    CHECK(r.status.done());
    CHECK(r.out == "hello, child\n");
}

TEST_CASE("process: a child that kills itself is reported as killed by that signal", "[process]") {
    const auto r = run_child("/bin/sh", {"sh", "-c", "kill -KILL $$"});
    CHECK(r.status == ProcessStatus::killed(SIGKILL));
    CHECK(r.status.to_string() == "killed by SIGKILL");
    CHECK_FALSE(r.status.done());
}

TEST_CASE("process: a missing executable is an error naming it and the reason", "[process]") {
    try {
        launch_child("/nonexistent/weft-no-such-program", {"x"}, {});
        FAIL("no error");
    } catch (const weft::SpawnError& e) {
        CHECK(e.code() == std::errc::no_such_file_or_directory);
        CHECK_THAT(e.what(), Catch::Contains("/nonexistent/weft-no-such-program") && Catch::Contains("No such file"));
    }
    CHECK_THROWS_AS(launch_child("weft-no-such-program-in-path", {}, {}), weft::SpawnError);
}

TEST_CASE("process: a file without execute permission is an error naming it", "[process]") {
    TempDir dir;
    const std::string file = dir.path + "/not-executable";
    { std::ofstream(file) << "#!/bin/sh\nexit 0\n"; }
    REQUIRE(::chmod(file.c_str(), 0644) == 0);
    try {
        launch_child(file, {"x"}, {});
        FAIL("no error");
    } catch (const weft::SpawnError& e) {
        CHECK(e.code() == std::errc::permission_denied);
        CHECK_THAT(e.what(), Catch::Contains(file));
    }
}

TEST_CASE("process: bad arguments are errors, not a child", "[process]") {
    CHECK_THROWS_AS(launch_child("", {}, {}), weft::Error);
    CHECK_THROWS_AS(launch_child("/bin/true", {"true", std::string("a\0b", 3)}, {}), weft::Error);
    ProcessOptions bad_env;
    bad_env.env = std::map<std::string, std::string>{{"A=B", "1"}};
    CHECK_THROWS_AS(launch_child("/bin/true", {"true"}, bad_env), weft::Error);
    ProcessOptions bad_fd;
    bad_fd.child_fds = {{-1, ChildFd::from_child()}};
    CHECK_THROWS_AS(launch_child("/bin/true", {"true"}, bad_fd), weft::Error);
    bad_fd.child_fds = {{ProcessOptions::max_child_fd, ChildFd::from_child()}};
    CHECK_THROWS_AS(launch_child("/bin/true", {"true"}, bad_fd), weft::Error);
    ProcessOptions closed_fd;
    closed_fd.child_fds = {{0, ChildFd::inherit(999)}};
    try {
        launch_child("/bin/true", {"true"}, closed_fd);
        FAIL("no error");
    } catch (const weft::SpawnError& e) {
        CHECK(e.code() == std::errc::bad_file_descriptor);
        CHECK_THAT(e.what(), Catch::Contains("parent descriptor 999"));
    }
}

TEST_CASE("process: the child has only the descriptors it was given", "[process]") {
    // A descriptor of ours that is not close-on-exec, to show it is closed in the child anyway.
    const int leaky = ::open("/dev/null", O_RDONLY);
    REQUIRE(leaky >= 0);
    ProcessOptions options;
    const Pipe extra = make_pipe();
    options.child_fds = {{0, ChildFd::to_child()}, {1, ChildFd::from_child()}, {2, ChildFd::from_child()},
                         {5, ChildFd::inherit(extra.write)}, {7, ChildFd::from_child()}};
    const auto r = run_child("/bin/ls", {"ls", "-l", "/proc/self/fd/"}, options);
    ::close(leaky);
    ::close(extra.read);
    ::close(extra.write);
    CHECK(r.status.done());
    INFO(r.out);
    CHECK(child_fds_listed(r.out) == std::set<int>{0, 1, 2, 5, 7});
}

TEST_CASE("process: child descriptors whose sources collide are each set right", "[process]") {
    // Child 3 gets what the parent has at 4 and child 4 what it has at 3: dup2 in map order would
    // overwrite one source before it is used.
    auto high = [](int fd) {  // moves fd out of the way of 3 and 4
        const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 100);
        REQUIRE(moved >= 100);
        ::close(fd);
        return moved;
    };
    Pipe a = make_pipe();
    Pipe b = make_pipe();
    a = {high(a.read), high(a.write)};
    b = {high(b.read), high(b.write)};
    // Whatever the test process has at 3 and 4 is set aside and put back afterwards.
    const int saved3 = ::fcntl(3, F_DUPFD_CLOEXEC, 100);
    const int saved4 = ::fcntl(4, F_DUPFD_CLOEXEC, 100);
    REQUIRE(::dup3(a.write, 3, O_CLOEXEC) == 3);
    REQUIRE(::dup3(b.write, 4, O_CLOEXEC) == 4);
    ::close(a.write);
    ::close(b.write);
    ProcessOptions options;
    options.child_fds = {{1, ChildFd::from_child()}, {3, ChildFd::inherit(4)}, {4, ChildFd::inherit(3)}};
    const auto r = run_child("/bin/sh", {"sh", "-c", "echo to-three >&3; echo to-four >&4"}, options);
    for (auto [fd, saved] : {std::pair{3, saved3}, std::pair{4, saved4}}) {
        if (saved >= 0) {
            ::dup3(saved, fd, O_CLOEXEC);
            ::close(saved);
        } else {
            ::close(fd);
        }
    }
    CHECK(r.status.done());
    ::fcntl(a.read, F_SETFL, O_NONBLOCK);
    ::fcntl(b.read, F_SETFL, O_NONBLOCK);
    CHECK(drain(b.read) == "to-three\n");  // child 3 = parent 4 = b
    CHECK(drain(a.read) == "to-four\n");
    ::close(a.read);
    ::close(b.read);
}

TEST_CASE("process: the parent's ends are close-on-exec and non-blocking; the child's are blocking", "[process]") {
    weft::Reactor reactor;
    LaunchedChild c = launch_child("/bin/cat", {"cat", "/proc/self/fdinfo/0"}, {});
    REQUIRE(c.pipes.size() == 3);
    for (const auto& [n, fd] : c.pipes) {
        CHECK((::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC) != 0);
        CHECK((::fcntl(fd.get(), F_GETFL) & O_NONBLOCK) != 0);
    }
    auto reaper = std::make_shared<ChildReaper>(reactor.context(), c.pid, std::move(c.pidfd));
    reaper->start([&](ProcessStatus) { reactor.stop(); });
    REQUIRE(run_bounded(reactor));
    const std::string info = drain(c.pipes.at(1).get());
    // The child's stdin, as the child sees it: "flags:\t0100000" (octal) without O_NONBLOCK.
    const auto flags_at = info.find("flags:");
    REQUIRE(flags_at != std::string::npos);
    const auto flags = std::stoul(info.substr(flags_at + 6), nullptr, 8);
    CHECK((flags & O_NONBLOCK) == 0);
}

TEST_CASE("process: env replaces the parent's environment", "[process]") {
    ProcessOptions options;
    options.env = std::map<std::string, std::string>{{"WEFT_A", "1"}, {"WEFT_B", "two words"}};
    const auto r = run_child("/usr/bin/env", {"env"}, options);
    CHECK(r.status.done());
    CHECK(r.out == "WEFT_A=1\nWEFT_B=two words\n");
}

TEST_CASE("process: without env the child inherits the parent's environment", "[process]") {
    REQUIRE(::setenv("WEFT_PROCESS_TEST_INHERITED", "yes", 1) == 0);
    const auto r = run_child("/bin/sh", {"sh", "-c", "echo $WEFT_PROCESS_TEST_INHERITED"});
    ::unsetenv("WEFT_PROCESS_TEST_INHERITED");
    CHECK(r.out == "yes\n");
}

TEST_CASE("process: the child starts in the working directory", "[process]") {
    TempDir dir;
    ProcessOptions options;
    options.working_directory = dir.path;
    const auto r = run_child("/bin/pwd", {"pwd"}, options);
    CHECK(r.status.done());
    CHECK(r.out == dir.path + "\n");
}

TEST_CASE("process: a missing working directory is an error naming it", "[process]") {
    ProcessOptions options;
    options.working_directory = "/nonexistent/weft-no-such-dir";
    try {
        launch_child("/bin/true", {"true"}, options);
        FAIL("no error");
    } catch (const weft::SpawnError& e) {
        CHECK_THAT(e.what(), Catch::Contains("/nonexistent/weft-no-such-dir") && Catch::Contains("/bin/true"));
    }
}

TEST_CASE("process: the child has SIGPIPE at its default action and no signal blocked", "[process]") {
    // weft ignores SIGPIPE in this process; block one more signal here to see the mask is reset too.
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    struct sigaction old_pipe {};
    REQUIRE(::sigaction(SIGPIPE, &ign, &old_pipe) == 0);
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    sigset_t old_mask;
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &usr2, &old_mask) == 0);
    const auto r = run_child("/bin/cat", {"cat", "/proc/self/status"});
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    ::sigaction(SIGPIPE, &old_pipe, nullptr);
    auto field = [&](const std::string& name) {
        const auto at = r.out.find("\n" + name + ":\t");
        REQUIRE(at != std::string::npos);
        return std::stoull(r.out.substr(at + name.size() + 3), nullptr, 16);
    };
    CHECK((field("SigIgn") & (1ULL << (SIGPIPE - 1))) == 0);
    CHECK(field("SigBlk") == 0);
}

TEST_CASE("process: 200 short children are all reaped and none is left a zombie", "[process]") {
    weft::Reactor reactor;
    constexpr int count = 200;
    std::vector<std::shared_ptr<ChildReaper>> reapers;
    std::vector<pid_t> pids;
    int reaped = 0;
    ProcessOptions options;
    options.child_fds = {};  // nothing: /bin/true needs no descriptor
    for (int i = 0; i < count; ++i) {
        LaunchedChild c = launch_child("/bin/true", {"true"}, options);
        pids.push_back(c.pid);
        auto reaper = std::make_shared<ChildReaper>(reactor.context(), c.pid, std::move(c.pidfd));
        reaper->start([&](ProcessStatus s) {
            CHECK(s.done());
            if (++reaped == count) reactor.stop();
        });
        reapers.push_back(std::move(reaper));
    }
    REQUIRE(run_bounded(reactor));
    CHECK(reaped == count);
    for (pid_t pid : pids) {
        siginfo_t info{};
        CHECK(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) == -1);
        CHECK(errno == ECHILD);
    }
}

TEST_CASE("process: signal TERM ends a child through its pidfd; after reaping it is ProcessExitedAlready", "[process]") {
    weft::Reactor reactor;
    LaunchedChild c = launch_child("/bin/cat", {"cat"}, {});  // reads its stdin, which stays open
    auto reaper = std::make_shared<ChildReaper>(reactor.context(), c.pid, std::move(c.pidfd));
    std::optional<ProcessStatus> status;
    reaper->start([&](ProcessStatus s) {
        status = s;
        reactor.stop();
    });
    reactor.call_soon([&] { reaper->send_signal(*weft::signal_number("TERM")); });
    REQUIRE(run_bounded(reactor));
    REQUIRE(status);
    CHECK(*status == ProcessStatus::killed(SIGTERM));
    CHECK(status->to_string() == "killed by SIGTERM");
    CHECK_THROWS_AS(reaper->send_signal(SIGTERM), weft::ProcessExitedAlready);
}

TEST_CASE("process: destroying the reaper leaves the child running", "[process]") {
    pid_t pid = -1;
    {
        weft::Reactor reactor;
        LaunchedChild c = launch_child("/bin/cat", {"cat"}, {});
        pid = c.pid;
        auto reaper = std::make_shared<ChildReaper>(reactor.context(), c.pid, std::move(c.pidfd));
        reaper->start([](ProcessStatus) { FAIL("no exit expected"); });
    }
    siginfo_t info{};
    CHECK(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0);
    CHECK(info.si_pid == 0);  // still running
    ::kill(pid, SIGKILL);
    ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED);
}

TEST_CASE("process: an ignored SIGCHLD is refused, since the child's status would be lost", "[process]") {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    struct sigaction old {};
    REQUIRE(::sigaction(SIGCHLD, &ign, &old) == 0);
    CHECK_THROWS_AS(launch_child("/bin/true", {"true"}, {}), weft::StateError);
    ::sigaction(SIGCHLD, &old, nullptr);
}
