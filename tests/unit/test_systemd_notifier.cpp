// systemd's notify protocol (issue 16): systemd_notify, systemd_watchdog_interval and SystemdNotifier,
// against a datagram socket playing systemd's part. Time is a weft::testing::Clock.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/log_capture.hpp"
#include "weft/systemd_notifier.hpp"
#include "weft/testing/clock.hpp"

using namespace std::chrono_literals;

namespace {

/// systemd's end of NOTIFY_SOCKET: a datagram socket bound to a path in a fresh directory, or to an
/// abstract name.
class NotifySocket {
public:
    explicit NotifySocket(bool abstract = false) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (abstract) {
            name_ = "@weft-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++);
        } else {
            char dir[] = "/tmp/weft-notify-XXXXXX";
            REQUIRE(::mkdtemp(dir) != nullptr);
            dir_ = dir;
            name_ = dir_ + "/notify";
        }
        std::memcpy(addr.sun_path, name_.data(), name_.size());
        if (abstract) addr.sun_path[0] = '\0';
        const auto length =
            static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() + (abstract ? 0 : 1));
        REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), length) == 0);
    }
    ~NotifySocket() {
        ::close(fd_);
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    [[nodiscard]] const std::string& name() const { return name_; }
    /// The messages waiting now (never waits: every send under test has returned).
    std::vector<std::string> received() {
        std::vector<std::string> out;
        char buffer[4096];
        for (;;) {
            const auto n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n < 0) break;
            out.emplace_back(buffer, static_cast<std::size_t>(n));
        }
        return out;
    }

private:
    static int& counter() {
        static int n = 0;
        return n;
    }
    int fd_ = -1;
    std::string dir_;
    std::string name_;
};

/// An environment of its own, for the lookups.
struct Env {
    std::map<std::string, std::string> vars;
    weft::EnvironmentLookup lookup() const {
        return [this](const std::string& name) -> std::optional<std::string> {
            const auto it = vars.find(name);
            if (it == vars.end()) return std::nullopt;
            return it->second;
        };
    }
};

}  // namespace

TEST_CASE("systemd_notify without NOTIFY_SOCKET sends nothing and says so", "[systemd][notify]") {
    Env env;
    CHECK_FALSE(weft::systemd_notify("READY=1", env.lookup()));
    env.vars["NOTIFY_SOCKET"] = "";
    CHECK_FALSE(weft::systemd_notify("READY=1", env.lookup()));
}

TEST_CASE("systemd_notify sends one datagram to a path or an abstract NOTIFY_SOCKET", "[systemd][notify]") {
    const bool abstract = GENERATE(false, true);
    NotifySocket systemd(abstract);
    Env env;
    env.vars["NOTIFY_SOCKET"] = systemd.name();
    CHECK(weft::systemd_notify("READY=1\nSTATUS=listening on tcp:127.0.0.1:1", env.lookup()));
    CHECK(systemd.received() == std::vector<std::string>{"READY=1\nSTATUS=listening on tcp:127.0.0.1:1"});
}

TEST_CASE("systemd_notify refuses a NOTIFY_SOCKET that is no socket address", "[systemd][notify]") {
    Env env;
    env.vars["NOTIFY_SOCKET"] = "run/notify";
    CHECK_THROWS_WITH(weft::systemd_notify("READY=1", env.lookup()),
                      Catch::Contains("NOTIFY_SOCKET=\"run/notify\" is neither an absolute path nor @name"));
    env.vars["NOTIFY_SOCKET"] = "/" + std::string(200, 'x');
    CHECK_THROWS_WITH(weft::systemd_notify("READY=1", env.lookup()), Catch::Contains("over the 107"));
}

TEST_CASE("systemd_notify to a socket nobody listens on fails with a warning", "[systemd][notify]") {
    weft_test::LogCapture log;
    Env env;
    env.vars["NOTIFY_SOCKET"] = "/nonexistent-weft-dir/notify";
    CHECK_FALSE(weft::systemd_notify("READY=1", env.lookup()));
    CHECK(log.any_contains("cannot send \"READY=1\" to /nonexistent-weft-dir/notify"));
}

TEST_CASE("systemd_notify never blocks: a full socket drops the message", "[systemd][notify]") {
    NotifySocket systemd;  // never read until the end
    Env env;
    env.vars["NOTIFY_SOCKET"] = systemd.name();
    weft_test::LogCapture log;
    int sent = 0;
    int dropped = 0;
    // A UNIX datagram socket queues a bounded number of datagrams (net.unix.max_dgram_qlen, 512 by default);
    // a blocking send would hang here once it is full.
    for (int i = 0; i < 5000 && dropped == 0; ++i) {
        (weft::systemd_notify("WATCHDOG=1", env.lookup()) ? sent : dropped) += 1;
    }
    CHECK(sent > 0);
    CHECK(dropped == 1);
    CHECK(log.any_contains("cannot send \"WATCHDOG=1\""));
    CHECK(systemd.received().size() == static_cast<std::size_t>(sent));
}

TEST_CASE("systemd_watchdog_interval reads WATCHDOG_USEC for this process", "[systemd][notify]") {
    Env env;
    CHECK_FALSE(weft::systemd_watchdog_interval(env.lookup(), 42).has_value());
    env.vars["WATCHDOG_USEC"] = "2500000";
    CHECK(weft::systemd_watchdog_interval(env.lookup(), 42) == weft::Duration(2500ms));
    env.vars["WATCHDOG_PID"] = "42";
    CHECK(weft::systemd_watchdog_interval(env.lookup(), 42) == weft::Duration(2500ms));
    env.vars["WATCHDOG_PID"] = "43";  // meant for another process
    CHECK_FALSE(weft::systemd_watchdog_interval(env.lookup(), 42).has_value());
    env.vars["WATCHDOG_PID"] = "x";
    CHECK_THROWS_WITH(weft::systemd_watchdog_interval(env.lookup(), 42), Catch::Contains("WATCHDOG_PID=\"x\""));
    env.vars.erase("WATCHDOG_PID");
    env.vars["WATCHDOG_USEC"] = "0";
    CHECK_THROWS_WITH(weft::systemd_watchdog_interval(env.lookup(), 42), Catch::Contains("WATCHDOG_USEC=\"0\""));
    env.vars["WATCHDOG_USEC"] = "99999999999999999";
    CHECK_THROWS_AS(weft::systemd_watchdog_interval(env.lookup(), 42), weft::SystemdError);
}

TEST_CASE("SystemdNotifier: ready, status, watchdog pings every half interval, stopping", "[systemd][notify]") {
    NotifySocket systemd;
    Env env;
    env.vars["NOTIFY_SOCKET"] = systemd.name();
    env.vars["WATCHDOG_USEC"] = "1000000";
    env.vars["WATCHDOG_PID"] = "7";
    weft::testing::Clock clock;
    weft::SystemdNotifier notifier(clock, env.lookup(), 7);
    REQUIRE(notifier.enabled());
    CHECK(notifier.watchdog_interval() == weft::Duration(500ms));
    CHECK(systemd.received().empty());
    CHECK(clock.pending_calls().empty());  // no pings before ready

    notifier.ready("listening on tcp:127.0.0.1:5000");
    notifier.ready("again");  // once
    CHECK(systemd.received() ==
          std::vector<std::string>{"READY=1\nSTATUS=listening on tcp:127.0.0.1:5000", "WATCHDOG=1"});
    clock.advance(499ms);
    CHECK(systemd.received().empty());
    clock.advance(1ms);
    CHECK(systemd.received() == std::vector<std::string>{"WATCHDOG=1"});
    clock.advance(1s);
    CHECK(systemd.received() == std::vector<std::string>{"WATCHDOG=1", "WATCHDOG=1"});
    CHECK(notifier.watchdog_pings() == 4);

    notifier.status("3 online");
    notifier.stopping();
    notifier.stopping();
    CHECK(systemd.received() == std::vector<std::string>{"STATUS=3 online", "STOPPING=1"});
    clock.advance(10s);
    CHECK(systemd.received().empty());  // no pings once stopping
    notifier.ready();
    CHECK(systemd.received().empty());  // nor READY after STOPPING
}

TEST_CASE("SystemdNotifier without a watchdog or without NOTIFY_SOCKET", "[systemd][notify]") {
    weft::testing::Clock clock;
    {
        NotifySocket systemd;
        Env env;
        env.vars["NOTIFY_SOCKET"] = systemd.name();
        env.vars["WATCHDOG_USEC"] = "1000000";
        env.vars["WATCHDOG_PID"] = "8";  // another process's watchdog
        weft::SystemdNotifier notifier(clock, env.lookup(), 7);
        CHECK_FALSE(notifier.watchdog_interval().has_value());
        notifier.ready();
        CHECK(systemd.received() == std::vector<std::string>{"READY=1"});
        CHECK(clock.pending_calls().empty());
    }
    Env none;
    weft::SystemdNotifier notifier(clock, none.lookup(), 7);
    CHECK_FALSE(notifier.enabled());
    notifier.ready("x");
    notifier.stopping();
    CHECK(clock.pending_calls().empty());
}
