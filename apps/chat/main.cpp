// weft-chat: the reference chat server. See docs/chat.md.
#include <sys/resource.h>

#include <csignal>

#include <cstdint>
#include <exception>
#include <iostream>
#include <string>

#include <boost/program_options.hpp>

#include "chat_protocol.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"
#include "weft/reactor.hpp"

namespace po = boost::program_options;

namespace {

// Every client is a descriptor: lift the soft limit as far as the hard one allows, so --max-clients is
// not capped by a default of 1024.
void raise_descriptor_limit(std::size_t wanted) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted + 32) {
        WEFT_LOG(warning) << "the descriptor limit (" << limit.rlim_cur << ") is below --max-clients (" << wanted
                          << "); connections beyond it will wait in the backlog";
    }
}

}  // namespace

int main(int argc, char* argv[]) {
    std::string host = "0.0.0.0";
    unsigned port = 51423;
    weft::chat::ChatOptions options;
    double idle_timeout = 0;
    double shutdown_timeout = 5;
    std::string log_level;

    po::options_description desc("weft-chat: a multi-client line chat server\n\nOptions");
    desc.add_options()
        ("help,h", "show this help")
        ("host", po::value(&host)->default_value(host), "address to listen on (0.0.0.0, ::, 127.0.0.1, ...)")
        ("port,p", po::value(&port)->default_value(port), "TCP port; 0 picks a free one")
        ("max-line", po::value(&options.max_line)->default_value(options.max_line),
         "longest line a client may send, in bytes, the \\n included")
        ("max-clients", po::value(&options.max_clients)->default_value(options.max_clients),
         "clients online at once; the next one gets '! server full'")
        ("send-buffer-limit", po::value(&options.send_buffer_limit)->default_value(options.send_buffer_limit),
         "bytes queued for one client before it is cut off as too slow")
        ("idle-timeout", po::value(&idle_timeout)->default_value(idle_timeout),
         "seconds without input before a client is disconnected; 0 = never")
        ("shutdown-timeout", po::value(&shutdown_timeout)->default_value(shutdown_timeout),
         "seconds SIGINT/SIGTERM waits for output to be flushed before closing anyway")
        ("log-level", po::value(&log_level), "trace, debug, info, warning, error or fatal (default: "
                                             "$WEFT_LOG_LEVEL, else info)");

    try {
        po::variables_map vm;
        po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
        if (vm.count("help") != 0) {
            std::cout << desc << '\n';
            return 0;
        }
        po::notify(vm);
        if (port > 65535) throw po::error("--port must be 0 to 65535");
        if (options.max_line < 2) throw po::error("--max-line must be at least 2");
        if (options.send_buffer_limit == 0) throw po::error("--send-buffer-limit must be positive");
        if (idle_timeout < 0 || shutdown_timeout < 0) throw po::error("timeouts must not be negative");
        weft::init_logging(log_level);
    } catch (const std::exception& e) {
        std::cerr << "weft-chat: " << e.what() << "\n(weft-chat --help lists the options)\n";
        return 2;
    }
    options.idle_timeout = weft::to_duration(std::chrono::duration<double>(idle_timeout));

    try {
        raise_descriptor_limit(options.max_clients);
        weft::Reactor reactor;
        reactor.set_shutdown_timeout(weft::to_duration(std::chrono::duration<double>(shutdown_timeout)));
        weft::chat::ChatFactory room(reactor, options);
        // On SIGINT/SIGTERM the reactor runs this, then flushes and closes every connection.
        reactor.add_system_event_trigger(weft::TriggerPhase::before, weft::SystemEvent::shutdown,
                                         [&room] { room.shutting_down(); });
        const auto log_stats = [&room](const char* state) {
            const auto& stats = room.stats();
            WEFT_LOG(info) << "chat: " << state << "; " << stats.joined << " joined, " << stats.lines_relayed
                           << " lines relayed, " << stats.cut_slow << " cut off as too slow, " << stats.cut_idle
                           << " idle, " << stats.refused_full << " refused (full)";
        };
        // SIGUSR1 logs the statistics and changes nothing; the other signals are the reactor's (docs/chat.md).
        reactor.on_signal(SIGUSR1, [&] { log_stats(("running, " + std::to_string(room.client_count()) + " online").c_str()); });
        auto listening = reactor.listen_tcp(static_cast<std::uint16_t>(port), room, {.interface = host});
        std::cout << "listening on " << listening->address().to_string() << std::endl;
        reactor.run();
        log_stats("stopped");
        return 0;
    } catch (const weft::BindError& e) {
        std::cerr << "weft-chat: " << e.what() << '\n';
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "weft-chat: " << e.what() << '\n';
        return 1;
    }
}
