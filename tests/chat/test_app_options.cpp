// Every numeric option of every app is range-checked (issue 10, item 8): a value out of range, negative
// for an unsigned option ("-1" that Boost would wrap to the maximum), not finite (nan, inf) or too large
// to hold makes the program exit with status 2 and a message naming the option, before it listens.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "support/child_process.hpp"
#include "weft/version.hpp"

using weft_test::ChildProcess;
using namespace std::chrono_literals;

namespace {

struct Outcome {
    int status = -1;     // exit status, or -1 if it did not exit normally in time
    std::string output;  // stdout and stderr together
};

/// Runs `argv` with its stderr joined to its stdout and waits (bounded) for it to end.
Outcome run(std::vector<std::string> argv) {
    std::vector<std::string> shell{"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1"};
    shell.insert(shell.end(), argv.begin(), argv.end());
    ChildProcess child(std::move(shell));
    Outcome out;
    // read_line() gives nullopt at the end of the output (or after 10 s, if the child hung).
    while (auto line = child.read_line(10s)) out.output += *line + "\n";
    const auto status = child.wait(10s);
    if (status && WIFEXITED(*status)) out.status = WEXITSTATUS(*status);
    return out;
}

/// Each case: the arguments after the binary, and the option name the message must give.
using Cases = std::vector<std::pair<std::vector<std::string>, std::string>>;

void check_refused(const std::string& binary, const std::vector<std::string>& common, const Cases& cases) {
    for (const auto& [args, option] : cases) {
        std::vector<std::string> argv{binary};
        argv.insert(argv.end(), common.begin(), common.end());
        argv.insert(argv.end(), args.begin(), args.end());
        std::string shown;
        for (const auto& a : argv) shown += a + " ";
        INFO(shown);
        const Outcome out = run(argv);
        INFO("output: " << out.output);
        CHECK(out.status == 2);
        CHECK(out.output.find("'" + option + "'") != std::string::npos);
        CHECK(out.output.find("listening on") == std::string::npos);
    }
}

}  // namespace

TEST_CASE("weft-chat: every numeric option out of range exits 2 naming the option", "[options][process]") {
    check_refused(WEFT_CHAT_BINARY, {"--host", "127.0.0.1", "--port", "0"},
                  {
                      {{"--max-line", "-1"}, "--max-line"},  // wrapped to "no limit" before
                      {{"--max-line", "1"}, "--max-line"},
                      {{"--max-line", "1e3"}, "--max-line"},
                      {{"--send-buffer-limit", "9223372036854775809"}, "--send-buffer-limit"},  // overflowed
                      {{"--send-buffer-limit", "0"}, "--send-buffer-limit"},
                      {{"--shutdown-timeout", "inf"}, "--shutdown-timeout"},
                      {{"--shutdown-timeout", "nan"}, "--shutdown-timeout"},
                      {{"--shutdown-timeout", "-1"}, "--shutdown-timeout"},
                      {{"--idle-timeout", "nan"}, "--idle-timeout"},
                      {{"--idle-timeout", "inf"}, "--idle-timeout"},
                      {{"--idle-timeout", "1e300"}, "--idle-timeout"},
                      {{"--first-line-timeout", "nan"}, "--first-line-timeout"},
                      {{"--max-clients", "-1"}, "--max-clients"},
                      {{"--max-clients", "0"}, "--max-clients"},
                      {{"--max-clients", "18446744073709551616"}, "--max-clients"},
                      {{"--max-per-address", "-1"}, "--max-per-address"},
                      {{"--flood-limit", "-1"}, "--flood-limit"},
                      {{"--flood-limit", "ten"}, "--flood-limit"},
                      {{"--threads", "0"}, "--threads"},
                      {{"--threads", "257"}, "--threads"},
                      {{"--threads", "-1"}, "--threads"},
                      {{"--threads", "two"}, "--threads"},
                  });
    check_refused(WEFT_CHAT_BINARY, {}, {{{"--port", "65536"}, "--port"}, {{"--port", "-1"}, "--port"}});
}

TEST_CASE("weft-chat-client: a PORT out of range exits 2 naming it", "[options][process]") {
    check_refused(WEFT_CHAT_CLIENT_BINARY, {"127.0.0.1"},
                  {{{"0"}, "PORT"}, {{"65536"}, "PORT"}, {{"4294967297"}, "PORT"}, {{"1x"}, "PORT"}});
}

TEST_CASE("weft-echo: every numeric option out of range exits 2 naming the option", "[options][process]") {
    check_refused(WEFT_ECHO_BINARY, {"--host", "127.0.0.1"},
                  {
                      {{"--port", "-1"}, "--port"},
                      {{"--port", "65536"}, "--port"},
                      {{"--max-line", "-1"}, "--max-line"},
                      {{"--max-line", "0"}, "--max-line"},
                      {{"--max-line", "1"}, "--max-line"},  // no room for a line before its \n
                  });
}

#ifdef WEFT_BENCH_BINARY
TEST_CASE("weft-bench: every numeric option out of range exits 2 naming the option", "[options][process]") {
    check_refused(WEFT_BENCH_BINARY, {"--mode", "echo"},
                  {
                      {{"--port", "0"}, "--port"},
                      {{"--port", "-1"}, "--port"},
                      {{"--port", "1", "--connections", "-1"}, "--connections"},
                      {{"--port", "1", "--duration", "nan"}, "--duration"},
                      {{"--port", "1", "--duration", "0"}, "--duration"},
                      {{"--port", "1", "--warmup", "inf"}, "--warmup"},
                      {{"--port", "1", "--timeout", "1e300"}, "--timeout"},
                      {{"--port", "1", "--block", "-1"}, "--block"},
                      {{"--port", "1", "--window", "0"}, "--window"},
                      {{"--port", "1", "--messages", "-1"}, "--messages"},
                      {{"--port", "1", "--line-size", "-1"}, "--line-size"},
                      {{"--port", "1", "--pid", "-1"}, "--pid"},
                      {{"--port", "1", "--settle", "nan"}, "--settle"},
                      {{"--port", "1", "--connect-concurrency", "0"}, "--connect-concurrency"},
                  });
}

TEST_CASE("the bench peers: --port out of range exits 2 naming it", "[options][process]") {
    const Cases bad_port{{{"--port", "-1"}, "--port"}, {{"--port", "65536"}, "--port"}};
    check_refused(WEFT_BENCH_ASIO_ECHO_BINARY, {}, bad_port);
    check_refused(WEFT_BENCH_ASIO_CHAT_BINARY, {}, bad_port);
#ifdef WEFT_BENCH_UV_ECHO_BINARY
    check_refused(WEFT_BENCH_UV_ECHO_BINARY, {}, bad_port);
#endif
}
#endif

// --version (issue 16): every app prints exactly "NAME VERSION" and exits 0, even with options it would
// otherwise refuse (weft-chat-client's required HOST PORT, weft-bench's required --mode and --port).
TEST_CASE("weft::version() is the version the headers were generated with", "[options][version]") {
    CHECK(weft::version() == WEFT_VERSION_STRING);
    CHECK(std::string(WEFT_VERSION_STRING) == std::to_string(WEFT_VERSION_MAJOR) + "." +
                                                  std::to_string(WEFT_VERSION_MINOR) + "." +
                                                  std::to_string(WEFT_VERSION_PATCH));
}

TEST_CASE("every app: --version prints its name and version and exits 0", "[options][process][version]") {
    std::vector<std::pair<std::string, std::string>> apps{{WEFT_CHAT_BINARY, "weft-chat"},
                                                          {WEFT_CHAT_CLIENT_BINARY, "weft-chat-client"},
                                                          {WEFT_ECHO_BINARY, "weft-echo"}};
#ifdef WEFT_BENCH_BINARY
    apps.emplace_back(WEFT_BENCH_BINARY, "weft-bench");
#endif
    for (const auto& [binary, name] : apps) {
        INFO(binary);
        const Outcome out = run({binary, "--version"});
        CHECK(out.status == 0);
        // Nothing else on stdout or stderr: scripts read the version from this line.
        CHECK(out.output == name + " " + WEFT_VERSION_STRING + "\n");
    }
}

TEST_CASE("weft-chat refuses a udp: endpoint (it serves no datagrams) with exit status 1, naming it", "[options][process][udp]") {
    const Outcome out = run({WEFT_CHAT_BINARY, "--listen", "udp:0:interface=127.0.0.1", "--log-level", "error"});
    INFO("output: " << out.output);
    CHECK(out.status == 1);
    CHECK(out.output.find("--listen udp:0:interface=127.0.0.1: this server does not serve datagrams (udp:)") !=
          std::string::npos);
    CHECK(out.output.find("listening on") == std::string::npos);
}
