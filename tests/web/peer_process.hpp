#pragma once
// A helper process a web test talks to (Python's http.server, openssl s_server, python3-websockets): started
// with spawn_process, ready once it says which port it listens on.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "weft/deferred.hpp"
#include "weft/failure.hpp"
#include "weft/process_protocol.hpp"
#include "weft/process_transport.hpp"
#include "weft/reactor.hpp"

namespace web_test {

/// A peer process: fires `ready` with the port from the first line of its output holding `marker`
/// ("port 4242", "ACCEPT 127.0.0.1:4242"), and `ended` when it is gone; `out` is the rest of its stdout
/// and stderr.
struct PeerProcess : weft::ProcessProtocol {
    std::string marker;
    std::string out;
    weft::Deferred<std::uint16_t> ready;
    weft::Deferred<void> ended;
    std::optional<weft::ProcessStatus> status;
    std::shared_ptr<weft::ProcessTransport> process;
    bool announced = false;
    bool exited = false;

    PeerProcess(weft::Reactor& reactor, std::string m, std::vector<std::string> argv) : marker(std::move(m)) {
        std::string executable = argv.front();
        process = reactor.spawn_process(*this, executable, std::move(argv));
    }
    void out_received(std::string_view data) override {
        out.append(data);
        if (announced) return;
        auto at = out.find(marker);
        if (at == std::string::npos) return;
        auto eol = out.find('\n', at);
        if (eol == std::string::npos) return;
        std::string line = out.substr(at, eol - at);
        out.erase(at, eol + 1 - at);  // `out` keeps what the peer says besides the announcement
        announced = true;
        auto port = static_cast<std::uint16_t>(std::stoi(line.substr(line.find_last_of(": ") + 1)));
        std::printf("peer listening on port %u\n", static_cast<unsigned>(port));
        ready.callback(port);
    }
    void err_received(std::string_view data) override { out.append(data); }
    void process_exited(const weft::ProcessStatus&) override { exited = true; }
    void process_ended(const weft::ProcessStatus& s) override {
        status = s;
        if (!announced) {
            announced = true;
            ready.errback(weft::Failure(std::runtime_error("the peer ended before listening: " + out)));
        }
        ended.callback();
    }
    /// Stops the peer and waits for it.
    weft::Deferred<void> stop() {
        if (!exited) process->signal_process("KILL");  // s_server -naccept 1 may have gone by itself
        return ended;
    }
};

}  // namespace web_test
