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
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "process/child_launcher.hpp"
#include "process/child_reaper.hpp"
#include "support/log_capture.hpp"
#include "support/loop.hpp"
#include "support/pipe.hpp"
#include "weft/error.hpp"
#include "weft/process_options.hpp"
#include "weft/process_protocol.hpp"
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
    // The parent's ends of cat's pipes live until the check: closing its stdin would let it exit on EOF
    // before the check (a race seen in CI).
    std::map<int, weft::detail::UniqueFd> pipes;
    {
        weft::Reactor reactor;
        LaunchedChild c = launch_child("/bin/cat", {"cat"}, {});
        pid = c.pid;
        pipes = std::move(c.pipes);
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

// -- spawn_process, ProcessProtocol and ProcessTransport ----------------------------------------------

namespace {

/// A ProcessProtocol that records every callback in order and runs optional hooks.
struct ProcessRecorder : weft::ProcessProtocol {
    std::vector<std::string> events;
    std::map<int, std::string> data;  // per child descriptor
    std::optional<ProcessStatus> exited;
    std::optional<ProcessStatus> ended;
    int ended_calls = 0;
    std::function<void(ProcessRecorder&)> on_made;
    std::function<void(ProcessRecorder&, int, std::string_view)> on_data;
    std::function<void(ProcessRecorder&)> on_exited;
    std::function<void(ProcessRecorder&)> on_ended;

    void connection_made() override {
        events.push_back("made");
        if (on_made) on_made(*this);
    }
    void child_data_received(int fd, std::string_view d) override {
        data[fd].append(d);
        if (on_data) on_data(*this, fd, d);
        weft::ProcessProtocol::child_data_received(fd, d);  // Twisted's dispatch to out/err_received
    }
    void out_received(std::string_view) override {
        if (events.back() != "out") events.push_back("out");
    }
    void err_received(std::string_view) override {
        if (events.back() != "err") events.push_back("err");
    }
    void child_connection_lost(int fd) override {
        events.push_back("lost " + std::to_string(fd));
        weft::ProcessProtocol::child_connection_lost(fd);
    }
    void in_connection_lost() override { events.push_back("in lost"); }
    void out_connection_lost() override { events.push_back("out lost"); }
    void err_connection_lost() override { events.push_back("err lost"); }
    void process_exited(const ProcessStatus& s) override {
        events.push_back("exited");
        exited = s;
        if (on_exited) on_exited(*this);
    }
    void process_ended(const ProcessStatus& s) override {
        events.push_back("ended");
        ended = s;
        ++ended_calls;
        if (on_ended) on_ended(*this);
    }
    bool saw(const std::string& e) const { return std::find(events.begin(), events.end(), e) != events.end(); }
    std::size_t position(const std::string& e) const {
        return static_cast<std::size_t>(std::find(events.begin(), events.end(), e) - events.begin());
    }
};

/// Spawns with a borrowed recorder that stops the reactor at process_ended, and runs the loop (bounded).
std::shared_ptr<weft::ProcessTransport> spawn_and_run(weft::Reactor& reactor, ProcessRecorder& p, const std::string& exe,
                                                      std::vector<std::string> args, ProcessOptions options = {}) {
    auto previous = p.on_ended;
    p.on_ended = [&reactor, previous](ProcessRecorder& r) {
        if (previous) previous(r);
        reactor.stop();
    };
    auto t = reactor.spawn_process(p, exe, std::move(args), std::move(options));
    REQUIRE(run_bounded(reactor));
    return t;
}

}  // namespace

TEST_CASE("spawn_process: cat echoes stdin; Twisted's order of callbacks, process_ended last and once", "[process]") {
    weft::Reactor reactor;
    ProcessRecorder p;
    p.on_made = [](ProcessRecorder& r) {
        r.transport().write("hello, ");
        r.transport().write("cat\n");
        r.transport().close_stdin();
    };
    spawn_and_run(reactor, p, "/bin/cat", {"cat"});
    CHECK(p.data[1] == "hello, cat\n");
    REQUIRE(p.ended);
    CHECK(p.ended->done());
    CHECK(p.exited == p.ended);
    CHECK(p.ended_calls == 1);
    INFO(Catch::Detail::stringify(p.events));
    CHECK(p.events.front() == "made");
    CHECK(p.events.back() == "ended");
    for (const char* e : {"lost 0", "in lost", "lost 1", "out lost", "lost 2", "err lost", "out", "exited"}) CHECK(p.saw(e));
    CHECK(p.position("lost 0") < p.position("in lost"));  // the dispatcher calls the named one
    CHECK(p.position("out") < p.position("lost 1"));
}

TEST_CASE("spawn_process: connection_made comes on a later turn, not inside spawn_process", "[process]") {
    weft::Reactor reactor;
    ProcessRecorder p;
    auto t = reactor.spawn_process(p, "/bin/true", {"true"});
    CHECK(p.events.empty());
    CHECK(t->pid() > 0);
    CHECK(reactor.connection_count() == 3);  // its three pipes are live transports of the reactor
    p.on_ended = [&](ProcessRecorder&) { reactor.stop(); };
    REQUIRE(run_bounded(reactor));
    CHECK(p.events.front() == "made");
    CHECK(t->pid() == 0);  // reaped (Twisted: pid becomes None)
    CHECK(reactor.connection_count() == 0);
    CHECK(t->status() == ProcessStatus::exited(0));
}

TEST_CASE("spawn_process: stdout and stderr go to out_received and err_received; the exit code is reported", "[process]") {
    weft::Reactor reactor;
    ProcessRecorder p;
    spawn_and_run(reactor, p, "/bin/sh", {"sh", "-c", "echo out; echo err >&2; exit 3"});
    CHECK(p.data[1] == "out\n");
    CHECK(p.data[2] == "err\n");
    CHECK(p.saw("out"));
    CHECK(p.saw("err"));
    REQUIRE(p.ended);
    CHECK_FALSE(p.ended->done());
    CHECK(p.ended->exit_code() == 3);
}

TEST_CASE("spawn_process: a child that never reads its stdin still ends (the parent sees its end close)", "[process]") {
    weft::Reactor reactor;
    ProcessRecorder p;
    spawn_and_run(reactor, p, "/bin/true", {"true"});  // stdin is never closed by us
    CHECK(p.saw("in lost"));
    CHECK(p.ended == ProcessStatus::exited(0));
}

TEST_CASE("spawn_process: a child that closes its stdin early loses only that pipe; its output still arrives", "[process]") {
    weft::Reactor reactor;
    ProcessRecorder p;
    p.on_made = [](ProcessRecorder& r) {
        // head reads a first block, prints the first line and exits: the rest of our writes fail (EPIPE).
        r.transport().write("first line\n");
        r.transport().write(std::string(4 * 1024 * 1024, 'x'));
    };
    spawn_and_run(reactor, p, "/usr/bin/head", {"head", "-n", "1"});
    CHECK(p.data[1] == "first line\n");
    CHECK(p.saw("in lost"));
    CHECK(p.ended == ProcessStatus::exited(0));
}

TEST_CASE("spawn_process: other descriptors reach child_data_received and child_connection_lost; write_to_child", "[process]") {
    weft::Reactor reactor;
    ProcessRecorder p;
    ProcessOptions options;
    options.child_fds = {{0, ChildFd::to_child()}, {1, ChildFd::from_child()}, {3, ChildFd::from_child()},
                         {4, ChildFd::to_child()}};
    p.on_made = [](ProcessRecorder& r) {
        r.transport().write_to_child(4, "via four\n");
        r.transport().close_child_fd(4);
        CHECK_THROWS_AS(r.transport().write_to_child(3, "x"), weft::StateError);  // a pipe the parent reads
        CHECK_THROWS_AS(r.transport().write_to_child(9, "x"), weft::StateError);  // no such descriptor
    };
    spawn_and_run(reactor, p, "/bin/sh", {"sh", "-c", "read line <&4; echo \"three: $line\" >&3"}, options);
    CHECK(p.data[3] == "three: via four\n");
    CHECK(p.saw("lost 3"));
    CHECK(p.saw("lost 4"));
    CHECK_FALSE(p.saw("err lost"));  // the child has no stderr pipe
    CHECK(p.ended == ProcessStatus::exited(0));
}

TEST_CASE("spawn_process: process_exited can come before process_ended, which waits for a grandchild's pipe", "[process]") {
    weft::Reactor reactor;
    ProcessRecorder p;
    ProcessOptions options;
    options.child_fds = {{1, ChildFd::from_child()}, {3, ChildFd::to_child()}};
    // The shell exits at once; the cat it leaves behind keeps stdout open until fd 3 reaches its EOF.
    p.on_exited = [](ProcessRecorder& r) {
        CHECK_FALSE(r.saw("lost 1"));
        r.transport().write_to_child(3, "from the grandchild\n");
        r.transport().close_child_fd(3);
    };
    spawn_and_run(reactor, p, "/bin/sh", {"sh", "-c", "cat <&3 & exit 0"}, options);
    CHECK(p.position("exited") < p.position("lost 1"));
    CHECK(p.data[1] == "from the grandchild\n");
    CHECK(p.events.back() == "ended");
    CHECK(p.ended == ProcessStatus::exited(0));
}

TEST_CASE("spawn_process: signal_process by name and number; after the end it is ProcessExitedAlready", "[process]") {
    weft::Reactor reactor;
    ProcessRecorder p;
    p.on_made = [](ProcessRecorder& r) {
        CHECK_THROWS_AS(r.transport().signal_process("NOSUCHSIGNAL"), weft::Error);
        r.transport().signal_process("TERM");
    };
    auto t = spawn_and_run(reactor, p, "/bin/cat", {"cat"});  // waits on its stdin for ever
    REQUIRE(p.ended);
    CHECK(*p.ended == ProcessStatus::killed(SIGTERM));
    CHECK(p.ended->to_string() == "killed by SIGTERM");
    CHECK_THROWS_AS(t->signal_process(SIGKILL), weft::ProcessExitedAlready);
    CHECK_THROWS_AS(t->signal_process("KILL"), weft::ProcessExitedAlready);
    t->write("ignored after the end");
    t->close_stdin();
    t->lose_connection();
}

TEST_CASE("spawn_process: close_stdout makes a writing child die of SIGPIPE (its default action)", "[process]") {
    weft::Reactor reactor;
    ProcessRecorder p;
    p.on_data = [](ProcessRecorder& r, int fd, std::string_view) {
        if (fd == 1) r.transport().close_stdout();
    };
    spawn_and_run(reactor, p, "/usr/bin/yes", {"yes"});
    CHECK(p.saw("out lost"));
    CHECK(p.ended == ProcessStatus::killed(SIGPIPE));
}

TEST_CASE("spawn_process: a flooding child is held by pause_producing, not buffered", "[process]") {
    weft::Reactor reactor;
    ProcessRecorder p;
    constexpr std::size_t total = 4 * 1024 * 1024;  // far more than a pipe holds: the child cannot finish while paused
    std::size_t at_pause = 0;
    bool resumed = false;
    p.on_data = [&](ProcessRecorder& r, int fd, std::string_view) {
        if (fd != 1 || at_pause != 0) return;
        at_pause = r.data[1].size();
        r.transport().pause_producing();
        reactor.call_later(200ms, [&] {
            // Paused: nothing more was read, and the child, blocked on its full pipe, has not finished.
            CHECK(r.data[1].size() == at_pause);
            CHECK_FALSE(r.exited);
            resumed = true;
            r.transport().resume_producing();
        });
    };
    spawn_and_run(reactor, p, "/usr/bin/head", {"head", "-c", std::to_string(total), "/dev/zero"});
    CHECK(resumed);  // the process could not end while paused
    CHECK(at_pause <= 64 * 1024);
    CHECK(p.data[1].size() == total);
    CHECK(p.ended == ProcessStatus::exited(0));
}

TEST_CASE("spawn_process: writes to a child that does not read pause a streaming producer at the high watermark", "[process]") {
    weft::Reactor reactor;
    ProcessRecorder p;
    struct Feeder : weft::Producer {
        weft::ProcessTransport* t = nullptr;
        std::size_t written = 0;
        std::size_t limit = 2 * 1024 * 1024;
        bool paused = false;
        int pauses = 0;
        std::size_t max_buffered = 0;
        bool stopped = false;
        void pause_producing() override {
            paused = true;
            ++pauses;
        }
        void resume_producing() override {
            paused = false;
            const std::string chunk(16 * 1024, 'x');
            while (!paused && written < limit) {
                t->write(chunk);
                written += chunk.size();
                max_buffered = std::max(max_buffered, t->buffered_bytes());
            }
            if (written >= limit) {
                t->unregister_producer();
                t->close_stdin();
            }
        }
        void stop_producing() override { stopped = true; }
    } feeder;
    p.on_made = [&](ProcessRecorder& r) {
        // cat's output is not read until the feeder has been paused: cat blocks, then so does its stdin.
        r.transport().pause_producing();
        feeder.t = &r.transport();
        r.transport().register_producer(feeder, true);
        feeder.resume_producing();
    };
    // Check on each loop turn whether the feeder got paused; then let cat's output flow.
    std::function<void()> poll_paused = [&] {
        if (feeder.pauses > 0) return p.transport().resume_producing();
        reactor.call_later(1ms, poll_paused);
    };
    reactor.call_soon(poll_paused);
    spawn_and_run(reactor, p, "/bin/cat", {"cat"});
    CHECK(feeder.pauses >= 1);
    CHECK(feeder.max_buffered <= 64 * 1024 + 16 * 1024);
    CHECK(p.data[1].size() == feeder.limit);
    CHECK(p.ended == ProcessStatus::exited(0));
}

TEST_CASE("spawn_process: a callback that throws closes the pipes; process_ended still comes", "[process]") {
    LogCapture log;
    weft::Reactor reactor;
    ProcessRecorder p;
    p.on_data = [](ProcessRecorder&, int, std::string_view) { throw std::runtime_error("protocol bug"); };
    spawn_and_run(reactor, p, "/bin/sh", {"sh", "-c", "echo first; exec cat"});  // cat ends at its stdin's EOF
    CHECK(p.saw("lost 0"));
    CHECK(p.saw("lost 1"));
    CHECK(p.ended == ProcessStatus::exited(0));
    CHECK(p.ended_calls == 1);
    CHECK(log.any_contains("child_data_received threw: protocol bug; closing its pipes"));
}

TEST_CASE("spawn_process: a missing executable throws SpawnError and calls nothing", "[process]") {
    weft::Reactor reactor;
    ProcessRecorder p;
    CHECK_THROWS_AS(reactor.spawn_process(p, "/nonexistent/weft-nope", {"nope"}), weft::SpawnError);
    reactor.call_soon([&] { reactor.stop(); });
    REQUIRE(run_bounded(reactor));
    CHECK(p.events.empty());
}

TEST_CASE("spawn_process: an owned protocol is destroyed after process_ended", "[process]") {
    weft::Reactor reactor;
    bool destroyed = false;
    struct Owned : ProcessRecorder {
        bool* flag;
        explicit Owned(bool* f) : flag(f) {}
        ~Owned() override { *flag = true; }
    };
    auto owned = std::make_unique<Owned>(&destroyed);
    owned->on_ended = [&](ProcessRecorder&) {
        CHECK_FALSE(destroyed);
        reactor.stop();
    };
    std::weak_ptr<weft::ProcessTransport> weak = reactor.spawn_process(std::move(owned), "/bin/true", {"true"});
    CHECK_FALSE(weak.expired());  // the reactor keeps it while it runs, though we dropped our handle
    REQUIRE(run_bounded(reactor));
    CHECK(destroyed);
    CHECK(weak.expired());
}

TEST_CASE("spawn_process: an owned protocol is destroyed after process_ended even if the handle is kept", "[process]") {
    weft::Reactor reactor;
    bool destroyed = false;
    struct Owned : ProcessRecorder {
        bool* flag;
        explicit Owned(bool* f) : flag(f) {}
        ~Owned() override { *flag = true; }
    };
    auto owned = std::make_unique<Owned>(&destroyed);
    owned->on_ended = [&](ProcessRecorder&) { reactor.stop(); };
    auto handle = reactor.spawn_process(std::move(owned), "/bin/true", {"true"});
    REQUIRE(run_bounded(reactor));
    CHECK(destroyed);
    CHECK(handle->status() == ProcessStatus::exited(0));
}

TEST_CASE("spawn_process: reactor shutdown closes the child's pipes, flushing its stdin", "[process]") {
    TempDir dir;
    weft::Reactor reactor;
    ProcessRecorder p;
    pid_t pid = 0;
    p.on_made = [&](ProcessRecorder& r) {
        pid = r.transport().pid();
        r.transport().write("last words\n");
        reactor.stop();
    };
    reactor.spawn_process(p, "/bin/sh", {"sh", "-c", "cat > " + dir.path + "/got"});
    REQUIRE(run_bounded(reactor));
    CHECK(p.saw("in lost"));
    CHECK(p.saw("out lost"));
    CHECK(p.saw("err lost"));
    // The child got its input and EOF: it ends by itself (the reactor does not wait for that).
    REQUIRE(pid > 0);
    siginfo_t info{};
    REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED) == 0);
    CHECK(info.si_code == CLD_EXITED);
    CHECK(info.si_status == 0);
    std::ifstream got(dir.path + "/got");
    CHECK(std::string(std::istreambuf_iterator<char>(got), {}) == "last words\n");
}

TEST_CASE("spawn_process: a reactor destroyed first leaves the child running and calls nothing back", "[process]") {
    ProcessRecorder p;
    pid_t pid = 0;
    // The child reads a pipe the test holds (fd 3), not its stdin: the reactor's end closes stdin, and
    // the child must still be running afterwards for as long as the test says, however slow the test.
    int hold[2];
    REQUIRE(::pipe2(hold, O_CLOEXEC) == 0);
    {
        weft::Reactor reactor;
        weft::ProcessOptions options;
        options.child_fds.insert_or_assign(3, weft::ChildFd::inherit(hold[0]));
        pid = reactor.spawn_process(p, "/bin/sh", {"sh", "-c", "cat <&3 >/dev/null"}, options)->pid();
    }
    ::close(hold[0]);
    CHECK(p.events.empty());
    siginfo_t info{};
    REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0);
    CHECK(info.si_pid == 0);  // still running: nobody killed it
    ::close(hold[1]);         // now it reads EOF and ends on its own
    REQUIRE(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED) == 0);
    CHECK(info.si_status == 0);
}
