// systemd socket activation: systemd_listen_fds / _with_names against a fake environment, systemd_select.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "weft/systemd.hpp"

using weft::SystemdError;
using weft::SystemdFd;

namespace {

// A fake environment: only what the test sets is there.
weft::EnvironmentLookup environment(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
        const auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

std::string systemd_error(const weft::EnvironmentLookup& env, pid_t pid) {
    try {
        (void)weft::systemd_listen_fds_with_names(env, pid);
    } catch (const SystemdError& e) {
        return e.what();
    }
    FAIL("no SystemdError");
    return {};
}

}  // namespace

TEST_CASE("systemd_listen_fds: descriptors from 3 on, only for the process LISTEN_PID names", "[systemd]") {
    CHECK(weft::systemd_listen_fds(environment({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "2"}}), 42) == std::vector<int>{3, 4});
    CHECK(weft::systemd_listen_fds(environment({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "1"}}), 42) == std::vector<int>{3});
    // Meant for another process (a parent that did not unset them): none.
    CHECK(weft::systemd_listen_fds(environment({{"LISTEN_PID", "41"}, {"LISTEN_FDS", "2"}}), 42).empty());
    CHECK(weft::systemd_listen_fds(environment({{"LISTEN_FDS", "2"}}), 42).empty());
    CHECK(weft::systemd_listen_fds(environment({{"LISTEN_PID", "42"}}), 42).empty());
    CHECK(weft::systemd_listen_fds(environment({}), 42).empty());
    CHECK(weft::systemd_listen_fds(environment({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "1048576"}}), 42).size() == 1048576);
}

TEST_CASE("systemd_listen_fds: malformed LISTEN_PID and LISTEN_FDS are errors naming the variable", "[systemd]") {
    using Catch::Contains;
    CHECK_THAT(systemd_error(environment({{"LISTEN_PID", "abc"}, {"LISTEN_FDS", "1"}}), 42), Contains("LISTEN_PID=\"abc\""));
    CHECK_THAT(systemd_error(environment({{"LISTEN_PID", ""}}), 42), Contains("LISTEN_PID=\"\" is not a number"));
    CHECK_THAT(systemd_error(environment({{"LISTEN_PID", "0"}}), 42), Contains("LISTEN_PID=\"0\""));
    CHECK_THAT(systemd_error(environment({{"LISTEN_PID", "-42"}}), 42), Contains("LISTEN_PID"));
    CHECK_THAT(systemd_error(environment({{"LISTEN_PID", "99999999999999999999"}}), 42), Contains("LISTEN_PID"));
    CHECK_THAT(systemd_error(environment({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "x"}}), 42), Contains("LISTEN_FDS=\"x\""));
    // systemd's sd_listen_fds refuses 0 and negative counts too (-EINVAL).
    CHECK_THAT(systemd_error(environment({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "0"}}), 42), Contains("LISTEN_FDS=\"0\""));
    CHECK_THAT(systemd_error(environment({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "-1"}}), 42), Contains("LISTEN_FDS"));
    CHECK_THAT(systemd_error(environment({{"LISTEN_PID", "42"}, {"LISTEN_FDS", "1048577"}}), 42),
               Contains("LISTEN_FDS=\"1048577\" is not a number from 1 to 1048576"));
    CHECK_THAT(systemd_error(environment({{"LISTEN_PID", "42"}, {"LISTEN_FDS", " 1"}}), 42), Contains("LISTEN_FDS"));
}

TEST_CASE("systemd_listen_fds_with_names: LISTEN_FDNAMES, or \"unknown\" without it", "[systemd]") {
    CHECK(weft::systemd_listen_fds_with_names(
              environment({{"LISTEN_PID", "7"}, {"LISTEN_FDS", "2"}, {"LISTEN_FDNAMES", "web:admin"}}), 7) ==
          std::vector<SystemdFd>{{3, "web"}, {4, "admin"}});
    CHECK(weft::systemd_listen_fds_with_names(environment({{"LISTEN_PID", "7"}, {"LISTEN_FDS", "2"}}), 7) ==
          std::vector<SystemdFd>{{3, "unknown"}, {4, "unknown"}});
    // Separators are not coalesced: an empty name is a name.
    CHECK(weft::systemd_listen_fds_with_names(
              environment({{"LISTEN_PID", "7"}, {"LISTEN_FDS", "3"}, {"LISTEN_FDNAMES", "a::b"}}), 7) ==
          std::vector<SystemdFd>{{3, "a"}, {4, ""}, {5, "b"}});
    CHECK(weft::systemd_listen_fds_with_names(environment({{"LISTEN_PID", "8"}, {"LISTEN_FDS", "2"}}), 7).empty());
    CHECK_THAT(systemd_error(environment({{"LISTEN_PID", "7"}, {"LISTEN_FDS", "2"}, {"LISTEN_FDNAMES", "web"}}), 7),
               Catch::Contains("LISTEN_FDNAMES=\"web\" does not name the 2 descriptors"));
    CHECK_THAT(systemd_error(environment({{"LISTEN_PID", "7"}, {"LISTEN_FDS", "1"}, {"LISTEN_FDNAMES", "a:b:c"}}), 7),
               Catch::Contains("LISTEN_FDNAMES"));
}

TEST_CASE("systemd_listen_fds without arguments reads this process's environment", "[systemd]") {
    // Only this test touches the real environment, and it puts it back.
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("LISTEN_FDS", "2", 1);
    ::setenv("LISTEN_FDNAMES", "a:b", 1);
    const std::vector<int> fds = weft::systemd_listen_fds();
    const std::vector<SystemdFd> named = weft::systemd_listen_fds_with_names();
    ::setenv("LISTEN_PID", std::to_string(::getpid() + 1).c_str(), 1);
    const std::vector<int> other = weft::systemd_listen_fds();
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    CHECK(fds == std::vector<int>{3, 4});
    CHECK(named == std::vector<SystemdFd>{{3, "a"}, {4, "b"}});
    CHECK(other.empty());
    CHECK(weft::systemd_listen_fds().empty());
}

TEST_CASE("systemd_select picks a passed descriptor by index or by name", "[systemd]") {
    const std::vector<SystemdFd> passed{{3, "web"}, {4, "admin"}};
    CHECK(weft::systemd_select({"INET", 0, ""}, passed) == 3);
    CHECK(weft::systemd_select({"INET", 1, ""}, passed) == 4);
    CHECK(weft::systemd_select({"UNIX", 0, "admin"}, passed) == 4);
    const auto parsed = std::get<weft::SystemdServerEndpoint>(weft::parse_server_endpoint("systemd:domain=INET:name=web"));
    CHECK(weft::systemd_select(parsed, passed) == 3);
    CHECK_THROWS_WITH(weft::systemd_select({"INET", 2, ""}, passed),
                      Catch::Contains("systemd:domain=INET:index=2") && Catch::Contains("index 2 but systemd passed 2"));
    CHECK_THROWS_WITH(weft::systemd_select({"INET", 0, "db"}, passed),
                      Catch::Contains("no passed descriptor is named \"db\" (passed: web, admin)"));
    CHECK_THROWS_AS(weft::systemd_select({"INET", 0, ""}, {}), SystemdError);
}
