// weft-chat: the reference chat server. See docs/chat.md.
#include <sys/resource.h>

#include <csignal>

#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
#include <variant>
#include <vector>

#include <boost/program_options.hpp>

#include "chat_pool.hpp"
#include "chat_protocol.hpp"
#include "common/listen.hpp"
#include "common/options.hpp"
#include "web_chat.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"
#include "weft/reactor.hpp"
#include "weft/reactor_pool.hpp"
#include "weft/version.hpp"
#include "weft/web/site.hpp"

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

void log_stats(const char* state, const weft::chat::ChatStats& stats) {
    WEFT_LOG(info) << "chat: " << state << "; " << weft::chat::stats_summary(stats);
}

/// --threads N > 1: one room over a ReactorPool (docs/chat.md, "One room on N reactors"). The web face
/// (--http) is served by reactor 0, its browsers in reactor 0's shard of the same room.
int serve_on_pool(unsigned threads, const weft::chat::ChatOptions& options, double shutdown_timeout,
                  const std::vector<weft::ServerEndpoint>& endpoints,
                  const std::vector<weft::ServerEndpoint>& http_endpoints) {
    weft::ReactorPoolOptions pool_options;
    pool_options.shutdown_timeout = weft::to_duration(std::chrono::duration<double>(shutdown_timeout));
    weft::ReactorPool pool(threads, pool_options);
    weft::chat::ChatPool room(pool, options);
    weft::Reactor& first = pool.at(0);
    first.on_signal(SIGUSR1, [&room] {
        room.collect_stats([](const weft::chat::ChatStats& stats, std::size_t online) {
            log_stats(("running, " + std::to_string(online) + " online").c_str(), stats);
        });
    });
    weft::SystemdNotifier systemd(first);
    const auto listeners = weft::apps::listen_all(pool, endpoints, room);
    std::vector<std::string> addresses = listeners.addresses;
    weft::web::Site site(first, weft::chat::make_web_root(room.shard(0), first));
    weft::apps::Listeners web;
    if (!http_endpoints.empty()) {
        web = weft::apps::listen_all(first, http_endpoints, site, {}, "http");
        addresses.insert(addresses.end(), web.addresses.begin(), web.addresses.end());
    }
    first.on_signal(SIGUSR2, [&] {
        weft::apps::reload_tls_on(pool, listeners);
        weft::apps::reload_tls(web.tls_contexts);
    });
    weft::apps::notify_systemd(first, systemd, addresses);
    pool.run();
    log_stats("stopped", room.stats());
    return 0;
}

}  // namespace

int main(int argc, char* argv[]) {
    using weft::apps::number;
    std::string host = "0.0.0.0";
    unsigned port = 51423;
    weft::chat::ChatOptions options;
    double idle_timeout = std::chrono::duration<double>(options.idle_timeout).count();
    double first_line_timeout = std::chrono::duration<double>(options.first_line_timeout).count();
    double shutdown_timeout = 5;
    std::string log_level;
    unsigned threads = 1;
    std::vector<std::string> listen;
    std::vector<weft::ServerEndpoint> endpoints;
    std::vector<std::string> http;
    std::vector<weft::ServerEndpoint> http_endpoints;
    // Bounds: timeouts up to a year (a weft::Duration holds about 292 years); buffer limits up to 1 TiB,
    // so that hard_send_limit() (twice the limit) cannot overflow.
    constexpr double max_timeout = 365.0 * 24 * 3600;
    constexpr std::size_t max_bytes = std::size_t{1} << 40;

    po::options_description desc("weft-chat: a multi-client line chat server\n\nOptions");
    desc.add_options()
        ("help,h", "show this help")
        ("version", "print \"weft-chat VERSION\" and exit")
        ("host", po::value(&host)->default_value(host), "address to listen on (0.0.0.0, ::, 127.0.0.1, ...)")
        ("port,p", number("--port", port, 0U, 65535U), "TCP port; 0 picks a free one")
        ("listen", po::value(&listen)->composing(),
         "where to listen, as an endpoint (repeatable; one room over all): tcp:PORT[:interface=ADDR], "
         "tcp6:PORT, unix:PATH[:mode=660], fd:N, systemd:domain=INET:index=0, "
         "ssl:PORT:private_key=KEY.pem:cert_key=CERT.pem (docs/endpoints.md); "
         "with --listen, --host/--port add a TCP endpoint only when given")
        ("http", po::value(&http)->composing(),
         "also serve the room on the web at this endpoint (repeatable): the page at /, its WebSocket at /ws, "
         "/stats (JSON) and /healthz; e.g. tcp:8080, ssl:8443:private_key=KEY.pem:cert_key=CERT.pem")
        ("max-line", number("--max-line", options.max_line, std::size_t{2}, std::size_t{16} << 20),
         "longest line a client may send, in bytes, the \\n included (2 to 16 MiB)")
        ("max-clients", number("--max-clients", options.max_clients, std::size_t{1}, std::size_t{10'000'000}),
         "clients online at once; the next one gets '! server full'")
        ("max-per-address", number("--max-per-address", options.max_per_address, std::size_t{0},
                                   std::size_t{10'000'000}),
         "connections from one IP address at once (NAT puts many users behind one); 0 = no limit")
        ("send-buffer-limit", number("--send-buffer-limit", options.send_buffer_limit, std::size_t{1}, max_bytes),
         "bytes queued for one client before it is cut off as too slow")
        ("flood-limit", number("--flood-limit", options.flood_limit, std::size_t{0}, std::size_t{1'000'000}),
         "lines per second a client may send (and 1 KiB per line of bytes), with 5 s of it saved up; "
         "over it, its input is read at that rate; 0 = no limit")
        ("idle-timeout", number("--idle-timeout", idle_timeout, 0.0, max_timeout),
         "seconds without a complete line before a client is disconnected; 0 = never")
        ("first-line-timeout", number("--first-line-timeout", first_line_timeout, 0.0, max_timeout),
         "seconds a new client has to send its first complete line; 0 = no deadline")
        ("shutdown-timeout", number("--shutdown-timeout", shutdown_timeout, 0.0, max_timeout),
         "seconds SIGINT/SIGTERM waits for output to be flushed before closing anyway")
        ("threads", number("--threads", threads, 1U, 256U),
         "reactors, each on its own thread (1 to 256), one room over all: TCP endpoints get a SO_REUSEPORT "
         "socket per reactor, others one acceptor handing connections round-robin; --http stays on the first "
         "(docs/chat.md)")
        ("log-level", po::value(&log_level), "trace, debug, info, warning, error or fatal (default: "
                                             "$WEFT_LOG_LEVEL, else info)");

    try {
        po::variables_map vm;
        po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
        if (vm.count("help") != 0) {
            std::cout << desc << '\n';
            return 0;
        }
        if (vm.count("version") != 0) {
            std::cout << "weft-chat " << weft::version() << '\n';
            return 0;
        }
        po::notify(vm);
        endpoints = weft::apps::listen_endpoints(vm, listen, host, port);
        for (const auto& description : http) {
            try {
                http_endpoints.push_back(weft::parse_server_endpoint(description));
            } catch (const weft::EndpointError& e) {
                throw po::error(std::string("--http: ") + e.what());
            }
            if (std::holds_alternative<weft::UdpServerEndpoint>(http_endpoints.back())) {
                throw po::error("--http " + description + ": HTTP needs a stream endpoint, not udp:");
            }
        }
        weft::init_logging(log_level);
    } catch (const std::exception& e) {
        std::cerr << "weft-chat: " << e.what() << "\n(weft-chat --help lists the options)\n";
        return 2;
    }
    options.idle_timeout = weft::to_duration(std::chrono::duration<double>(idle_timeout));
    options.first_line_timeout = weft::to_duration(std::chrono::duration<double>(first_line_timeout));

    try {
        raise_descriptor_limit(options.max_clients);
        if (threads > 1) return serve_on_pool(threads, options, shutdown_timeout, endpoints, http_endpoints);
        weft::Reactor reactor;
        reactor.set_shutdown_timeout(weft::to_duration(std::chrono::duration<double>(shutdown_timeout)));
        weft::chat::ChatFactory room(reactor, options);
        // On SIGINT/SIGTERM the reactor runs this, then flushes and closes every connection.
        reactor.add_system_event_trigger(weft::TriggerPhase::before, weft::SystemEvent::shutdown,
                                         [&room] { room.shutting_down(); });
        // SIGUSR1 logs the statistics and changes nothing; the other signals are the reactor's (docs/chat.md).
        reactor.on_signal(SIGUSR1, [&] {
            log_stats(("running, " + std::to_string(room.client_count()) + " online").c_str(), room.stats());
        });
        // Type=notify under systemd: READY=1 once running, STOPPING=1 at shutdown, watchdog pings. Made
        // before listening, so that a malformed WATCHDOG_USEC stops the server before it binds.
        weft::SystemdNotifier systemd(reactor);
        auto listeners = weft::apps::listen_all(reactor, endpoints, room);
        // The web face (--http): the same room, reached through the page's WebSocket.
        weft::web::Site site(reactor, weft::chat::make_web_root(room, reactor));
        if (!http_endpoints.empty()) {
            auto web = weft::apps::listen_all(reactor, http_endpoints, site, {}, "http");
            for (auto& web_port : web.ports) listeners.ports.push_back(std::move(web_port));
            for (auto& context : web.tls_contexts) listeners.tls_contexts.push_back(std::move(context));
            for (auto& address : web.addresses) listeners.addresses.push_back(std::move(address));
        }
        // With ssl: listeners, SIGUSR2 reads their certificates again (rotation without a restart).
        if (!listeners.tls_contexts.empty()) {
            reactor.on_signal(SIGUSR2, [&] { weft::apps::reload_tls(listeners.tls_contexts); });
        }
        weft::apps::notify_systemd(reactor, systemd, listeners);
        reactor.run();
        log_stats("stopped", room.stats());
        return 0;
    } catch (const weft::BindError& e) {
        std::cerr << "weft-chat: " << e.what() << '\n';
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "weft-chat: " << e.what() << '\n';
        return 1;
    }
}
