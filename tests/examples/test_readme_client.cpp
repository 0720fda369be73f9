// The README's client example (readme_client.cpp) against a real weft-echo in line mode, and the README's
// copy of it checked against the compiled one.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "support/child_process.hpp"

#ifndef WEFT_ECHO_BINARY
#error "WEFT_ECHO_BINARY must name weft-echo"
#endif

using weft_test::ChildProcess;
using namespace std::chrono_literals;

namespace {
std::string between_markers(const std::string& path, const std::string& begin, const std::string& end) {
    std::ifstream in(path);
    REQUIRE(in);
    std::stringstream all;
    all << in.rdbuf();
    const std::string text = all.str();
    const auto b = text.find(begin);
    REQUIRE(b != std::string::npos);
    const auto start = text.find('\n', b + begin.size()) + 1;  // the line after the marker
    const auto e = text.find(end, start);
    REQUIRE(e != std::string::npos);
    return text.substr(start, e - start);
}
}  // namespace

TEST_CASE("the README's client example talks to weft-echo and exits 0", "[example]") {
    ChildProcess server({WEFT_ECHO_BINARY, "--mode", "line", "--listen", "tcp:0:interface=127.0.0.1"});
    const auto port = server.read_listening_port();
    REQUIRE(port != 0);
    ChildProcess client({WEFT_README_CLIENT_BINARY, "tcp:127.0.0.1:" + std::to_string(port)});
    CHECK(client.read_line(10s) == std::optional<std::string>("hello -> hello"));
    CHECK(client.read_line(10s) == std::optional<std::string>("world -> world"));
    const auto status = client.wait(10s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("the README's client example reports a refused connection and exits 1", "[example]") {
    // Port 1 on loopback: nothing listens there (it is below 1024 and no test binds it).
    ChildProcess client({WEFT_README_CLIENT_BINARY, "tcp:127.0.0.1:1"});
    const auto status = client.wait(20s);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 1);
}

TEST_CASE("README.md shows the client example as it is compiled", "[example]") {
    const std::string compiled = between_markers(WEFT_README_CLIENT_SOURCE, "// README-BEGIN", "// README-END");
    const std::string shown = between_markers(WEFT_README, "<!-- client example: tests/examples/readme_client.cpp -->\n```cpp", "```");
    CHECK(shown == compiled);
}
