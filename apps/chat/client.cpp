// weft-chat-client HOST PORT (or --connect ENDPOINT): a terminal chat client. The server connection and the terminal
// (weft::StandardIO) are two transports on one reactor: what is typed goes to the server as it is, each
// line from the server is printed. EOF on stdin half-closes the connection; the client exits once the
// server has closed it, after printing everything it sent.
#include <csignal>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <boost/program_options.hpp>

#include "chat_protocol.hpp"
#include "common/options.hpp"
#include "weft/client_factory.hpp"
#include "weft/error.hpp"
#include "weft/endpoint.hpp"
#include "weft/log.hpp"
#include "weft/protocols/basic.hpp"
#include "weft/reactor.hpp"
#include "weft/standard_io.hpp"
#include "weft/string_endpoints.hpp"
#include "weft/version.hpp"

namespace po = boost::program_options;

namespace {

/// What the two sides share. Lives in main() and outlives the reactor's run.
struct Session {
    weft::Reactor& reactor;
    weft::Transport* server = nullptr;  // the TCP transport while it is connected
    std::unique_ptr<weft::StandardIO> terminal;
    std::optional<weft::Reason> ended;
    bool connected = false;
    bool terminal_lost = false;

    /// The program is done once the server connection is over and everything it sent is printed.
    void maybe_stop() const {
        if (ended && (!terminal || terminal_lost)) reactor.stop();
    }
};

/// The terminal side: bytes typed go to the server unchanged (the server frames the lines).
class Keyboard final : public weft::Protocol, public weft::HalfCloseable {
public:
    explicit Keyboard(Session& session) : session_(session) {}

    void data_received(std::string_view data) override {
        if (session_.server != nullptr) session_.server->write(data);
    }
    // stdin is done: tell the server we are done too, and keep printing until it closes.
    void read_connection_lost() override {
        if (session_.server != nullptr) session_.server->lose_write_connection();
    }
    void connection_lost(const weft::Reason& reason) override {
        // stdout is gone (or we are shutting down): nobody would see the chat any more.
        if (!reason.clean()) WEFT_LOG(warning) << "terminal: " << reason.to_string();
        session_.terminal_lost = true;
        if (session_.server != nullptr) session_.server->lose_connection();
        session_.maybe_stop();
    }

private:
    Session& session_;
};

/// The server side: each line from the server is printed, made safe for the terminal first.
class ServerLink final : public weft::protocols::LineReceiver {
public:
    explicit ServerLink(Session& session) : session_(session) {
        set_delimiter("\n");
        set_max_length(64 * 1024 * 1024);  // "/who" on a big server is one long line
    }

    void connection_made() override {
        session_.server = &transport();
        session_.connected = true;
        if (auto* tcp = transport().as_tcp()) tcp->set_tcp_nodelay(true);
        session_.terminal = std::make_unique<weft::StandardIO>(session_.reactor, std::make_unique<Keyboard>(session_));
        // Backpressure both ways: a full socket stops reading the keyboard, a full terminal stops
        // reading the socket.
        transport().register_producer(*session_.terminal, true);
        session_.terminal->register_producer(transport(), true);
    }

    void line_received(std::string_view line) override {
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        std::string out;
        weft::chat::append_sanitized(out, line);  // a hostile server must not drive our terminal either
        out.push_back('\n');
        session_.terminal->write(out);
    }

    void connection_lost(const weft::Reason& reason) override {
        session_.server = nullptr;
        if (session_.terminal) session_.terminal->unregister_producer();
        session_.ended = reason;
        // The TCP transport has stopped its producer, the terminal: that flushes what we still have to print
        // and closes it; then we are done.
        if (session_.terminal) session_.terminal->lose_connection();
        session_.maybe_stop();
    }

private:
    Session& session_;
};

class ChatClientFactory final : public weft::ClientFactory {
public:
    explicit ChatClientFactory(Session& session) : session_(session) {}
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override {
        return std::make_unique<ServerLink>(session_);
    }
    void client_connection_failed(weft::Connector& connector, const weft::Reason& reason) override {
        (void)connector;  // the reason names the destination
        std::cerr << "weft-chat-client: " << reason.message() << '\n';
        session_.ended = reason;
        session_.maybe_stop();
    }

private:
    Session& session_;
};

}  // namespace

int main(int argc, char* argv[]) {
    std::string host;
    unsigned port = 0;
    std::string log_level;
    std::string connect;
    std::optional<weft::ClientEndpoint> endpoint;
    po::options_description desc("weft-chat-client HOST PORT | --connect ENDPOINT: a terminal chat client\n\nOptions");
    desc.add_options()
        ("help,h", "show this help")
        ("connect", po::value(&connect), "the server as an endpoint instead of HOST PORT: tcp:HOST:PORT, "
                                         "unix:PATH, unix:path=PATH:timeout=5, tls:HOST:PORT:ca=CA.pem "
                                         "(docs/endpoints.md)")
        ("version", "print \"weft-chat-client VERSION\" and exit")
        ("log-level", po::value(&log_level), "trace, debug, info, warning, error or fatal (default: warning)");
    po::options_description hidden;
    hidden.add_options()("host", po::value(&host))("port", weft::apps::optional_number("PORT", port, 1U, 65535U));
    po::options_description all;
    all.add(desc).add(hidden);
    po::positional_options_description positional;
    positional.add("host", 1).add("port", 1);
    try {
        po::variables_map vm;
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
        if (vm.count("help") != 0) {
            std::cout << desc << '\n';
            return 0;
        }
        if (vm.count("version") != 0) {
            std::cout << "weft-chat-client " << weft::version() << '\n';
            return 0;
        }
        po::notify(vm);
        if (vm.count("connect") != 0) {
            if (vm.count("host") != 0) throw po::error("give either HOST PORT or --connect, not both");
            try {
                endpoint = weft::parse_client_endpoint(connect);
            } catch (const weft::EndpointError& e) {
                throw po::error(std::string("--connect: ") + e.what());
            }
        } else {
            if (vm.count("host") == 0 || vm.count("port") == 0) throw po::error("the server is missing: HOST PORT or --connect");
            weft::TcpClientEndpoint tcp;
            tcp.host = host;
            tcp.port = static_cast<std::uint16_t>(port);
            endpoint = tcp;
        }
        weft::init_logging(log_level, weft::LogLevel::warning);
    } catch (const std::exception& e) {
        std::cerr << "weft-chat-client: " << e.what() << "\nusage: weft-chat-client HOST PORT | --connect ENDPOINT\n";
        return 2;
    }

    // A write to a closed stdout must be an error we handle (the terminal is lost), not a fatal signal.
    std::signal(SIGPIPE, SIG_IGN);
    weft::Reactor reactor;
    reactor.set_shutdown_timeout(std::chrono::seconds(5));
    Session session{.reactor = reactor, .server = nullptr, .terminal = nullptr, .ended = std::nullopt,
                    .connected = false, .terminal_lost = false};
    ChatClientFactory factory(session);
    try {
        weft::connect_to(reactor, *endpoint, factory);
    } catch (const weft::Error& e) {  // a tls: endpoint's CA or certificate file that cannot be used
        std::cerr << "weft-chat-client: " << e.what() << '\n';
        return 2;
    }
    reactor.run();
    session.terminal.reset();
    if (!session.ended) return 1;
    if (session.connected && !session.ended->clean()) {
        std::cerr << "weft-chat-client: connection lost: " << session.ended->message() << '\n';
    }
    return session.ended->clean() ? 0 : 1;
}
