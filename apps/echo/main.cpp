// weft-echo: an echo server. Raw mode echoes bytes as they come; line mode echoes each "\n"-terminated
// line (LineOnlyReceiver). The smallest complete weft server, and a benchmark peer.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include <boost/program_options.hpp>

#include "common/listen.hpp"
#include "common/options.hpp"

#include "weft/datagram_protocol.hpp"
#include "weft/error.hpp"
#include "weft/factory.hpp"
#include "weft/log.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/reactor.hpp"
#include "weft/reactor_pool.hpp"
#include "weft/version.hpp"

namespace {

/// Echoes every byte back as it arrives. Reading pauses while the echo is backed up (the peer does not
/// read), so such a peer costs its socket buffers, not our memory.
class RawEcho : public weft::Protocol {
    void connection_made() override { transport().pause_reading_while_backed_up(); }
    void data_received(std::string_view data) override { transport().write(data); }
};

/// Echoes every line back, delimiter included; reading pauses while the echo is backed up, as RawEcho's.
/// A line longer than `max_line` bytes, its "\n" included (as weft-chat counts), is logged and ends the
/// connection.
class LineEcho : public weft::protocols::LineOnlyReceiver {
public:
    explicit LineEcho(std::size_t max_line) : max_line_(max_line) {
        set_delimiter("\n");
        // LineOnlyReceiver's max_length does not count the delimiter; --max-line does (as weft-chat's).
        set_max_length(max_line - 1);
    }

private:
    void connection_made() override { transport().pause_reading_while_backed_up(); }
    void line_received(std::string_view line) override { send_line(line); }
    void line_length_exceeded(std::string_view /*line*/) override {
        WEFT_LOG(warning) << "[conn " << transport().id() << " " << transport().peer().to_string()
                          << "] line too long (more than " << max_line_ << " bytes with its newline); closing";
        transport().lose_connection();
    }

    std::size_t max_line_;
};

/// Writes every datagram back to its sender (both modes: a datagram is its own message). Replies leave
/// in batches (sendmmsg) right after each receive batch; when the send queue is full the reply is
/// dropped, as UDP may (docs/udp.md).
class DatagramEcho : public weft::DatagramProtocol {
    void datagram_received(std::string_view data, const weft::Address& from) override { transport().write(data, from); }
};

/// --threads N > 1: the same server on a ReactorPool. The echo protocols share nothing, so the factory
/// builds them on any reactor's thread as it is.
int serve_on_pool(unsigned threads, const std::vector<weft::ServerEndpoint>& endpoints, weft::Factory& factory) {
    try {
        weft::ReactorPool pool(threads);
        weft::SystemdNotifier systemd(pool.at(0));
        const auto listeners = weft::apps::listen_all(pool, endpoints, factory, [](const weft::UdpServerEndpoint&) {
            return std::make_unique<DatagramEcho>();
        });
        pool.at(0).on_signal(SIGUSR2, [&] { weft::apps::reload_tls_on(pool, listeners); });
        weft::apps::notify_systemd(pool.at(0), systemd, listeners.addresses);
        pool.run();
    } catch (const weft::Error& e) {
        std::cerr << "weft-echo: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char* argv[]) {
    namespace po = boost::program_options;
    std::string host = "127.0.0.1";
    std::string mode = "raw";
    std::string log_level;
    unsigned port = 7;
    std::size_t max_line = 16384;
    unsigned threads = 1;
    std::vector<std::string> listen;
    std::vector<weft::ServerEndpoint> endpoints;
    po::options_description options("weft-echo: echo server\nOptions");
    options.add_options()
        ("help,h", "show this help")
        ("version", "print \"weft-echo VERSION\" and exit")
        ("host", po::value(&host)->default_value(host), "address to listen on (0.0.0.0, ::, 127.0.0.1, ...)")
        ("port", weft::apps::number("--port", port, 0U, 65535U), "port to listen on (0 picks a free one)")
        ("listen", po::value(&listen)->composing(),
         "where to listen, as an endpoint (repeatable): tcp:PORT[:interface=ADDR], tcp6:PORT, unix:PATH, fd:N, "
         "ssl:PORT:private_key=KEY.pem:cert_key=CERT.pem, systemd:domain=INET:index=0, "
         "udp:PORT[:interface=ADDR][:max_packet_size=N] (echoes datagrams; docs/endpoints.md); with --listen, "
         "--host/--port add a TCP endpoint only when given")
        ("mode", po::value(&mode)->default_value(mode), "raw (echo bytes) or line (echo \\n-terminated lines)")
        ("max-line", weft::apps::number("--max-line", max_line, std::size_t{2}, std::size_t{16} << 20),
         "line mode: longest line in bytes, its \\n included (2 to 16 MiB)")
        ("threads", weft::apps::number("--threads", threads, 1U, 256U),
         "reactors, each on its own thread (1 to 256): TCP endpoints get a SO_REUSEPORT socket per reactor, "
         "others one acceptor handing connections round-robin (docs/reactor-pool.md); udp: stays on the first")
        ("log-level", po::value(&log_level), "trace, debug, info, warning, error or fatal (default: $WEFT_LOG_LEVEL or info)");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, options), vm);
        po::notify(vm);
        if (vm.count("help")) {
            std::cout << options << "\n";
            return 0;
        }
        if (vm.count("version")) {
            std::cout << "weft-echo " << weft::version() << "\n";
            return 0;
        }
        if (mode != "raw" && mode != "line") throw po::error("--mode must be raw or line");
        endpoints = weft::apps::listen_endpoints(vm, listen, host, port);
        weft::init_logging(log_level);
    } catch (const std::exception& e) {
        std::cerr << "weft-echo: " << e.what() << "\n" << options << "\n";
        return 2;
    }

    auto factory = mode == "raw" ? weft::Factory::for_protocol<RawEcho>()
                                 : weft::Factory::for_protocol<LineEcho>(max_line);
    if (threads > 1) return serve_on_pool(threads, endpoints, *factory);
    weft::Reactor reactor;
    try {
        weft::SystemdNotifier systemd(reactor);  // Type=notify under systemd (apps/common/listen.hpp)
        const auto listeners = weft::apps::listen_all(reactor, endpoints, *factory, [](const weft::UdpServerEndpoint&) {
            return std::make_unique<DatagramEcho>();
        });
        // With ssl: listeners, SIGUSR2 reads their certificates again (rotation without a restart).
        if (!listeners.tls_contexts.empty()) {
            reactor.on_signal(SIGUSR2, [&] { weft::apps::reload_tls(listeners.tls_contexts); });
        }
        weft::apps::notify_systemd(reactor, systemd, listeners);
        reactor.run();
    } catch (const weft::Error& e) {
        std::cerr << "weft-echo: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
