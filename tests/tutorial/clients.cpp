// The "Writing clients" chapter (docs/tutorial/clients.md): its clients, compiled here and run against
// servers on loopback (in this process, or weft-chat for the logging bot). The regions between the tutorial
// markers are copied into the chapter verbatim (test_snippets.cpp checks it).
#include <catch2/catch.hpp>

#include <sstream>

#include "support/child_process.hpp"
#include "support/loop.hpp"

#ifndef WEFT_CHAT_BINARY
#error "WEFT_CHAT_BINARY must name weft-chat"
#endif

// tutorial:begin welcome
#include <weft/protocol.hpp>

// Says hello and hangs up: lose_connection() sends what was written first.
class WelcomeMessage : public weft::Protocol {
public:
    void connection_made() override {
        transport().write("Hello server, I am the client!\r\n");
        transport().lose_connection();
    }
};
// tutorial:end welcome

// tutorial:begin greeter
#include <weft/deferred_endpoints.hpp>
#include <weft/reactor.hpp>

class Greeter : public weft::Protocol {
public:
    void send_message(std::string_view message) { transport().write("MESSAGE " + std::string(message) + "\n"); }
};

// Connects, greets twice and closes; the Deferred fails with weft::ConnectError if nobody answers.
weft::Deferred<void> greet(weft::Reactor& reactor, std::string_view endpoint) {
    return weft::connect_protocol(reactor, endpoint, std::make_unique<Greeter>()).add_callback([](Greeter* greeter) {
        greeter->send_message("Hello");
        greeter->send_message("This is sent in the same write");
        greeter->transport().lose_connection();
    });
}
// tutorial:end greeter

// tutorial:begin echo_client_factory
#include <weft/client_factory.hpp>

#include <ostream>

// Copies what the server sends to `out`.
class Printer : public weft::Protocol {
public:
    explicit Printer(std::ostream& out) : out_(out) {}
    void data_received(std::string_view data) override { out_ << data; }

private:
    std::ostream& out_;
};

// Hears every step of one connection attempt.
class EchoClientFactory : public weft::ClientFactory {
public:
    explicit EchoClientFactory(std::ostream& out) : out_(out) {}
    void started_connecting(weft::Connector&) override { out_ << "Started to connect.\n"; }
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override {
        out_ << "Connected.\n";
        return std::make_unique<Printer>(out_);
    }
    void client_connection_lost(weft::Connector&, const weft::Reason& reason) override {
        out_ << "Lost connection. Reason: " << reason.message() << '\n';
    }
    void client_connection_failed(weft::Connector&, const weft::Reason& reason) override {
        out_ << "Connection failed. Reason: " << reason.message() << '\n';
    }

private:
    std::ostream& out_;
};
// tutorial:end echo_client_factory

// tutorial:begin reconnecting
#include <weft/reconnecting_client_factory.hpp>

// Connects again after every loss or failure, waiting longer each time (exponential back-off).
class EchoReconnectingFactory : public weft::ReconnectingClientFactory {
public:
    EchoReconnectingFactory(weft::ReactorTime& time, std::ostream& out) : ReconnectingClientFactory(time), out_(out) {}
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override {
        out_ << "Connected.\n";
        reset_delay();  // this one worked: the next loss starts from initial_delay again
        return std::make_unique<Printer>(out_);
    }
    void client_connection_lost(weft::Connector& connector, const weft::Reason& reason) override {
        out_ << "Lost connection. Reason: " << reason.message() << '\n';
        ReconnectingClientFactory::client_connection_lost(connector, reason);  // schedules the retry
    }
    void client_connection_failed(weft::Connector& connector, const weft::Reason& reason) override {
        out_ << "Connection failed. Reason: " << reason.message() << '\n';
        ReconnectingClientFactory::client_connection_failed(connector, reason);
    }

private:
    std::ostream& out_;
};
// tutorial:end reconnecting

// tutorial:begin logbot
#include <weft/protocols/basic.hpp>

// Joins a weft-chat room under a nickname, logs every line it hears and answers the lines addressed to
// it ("alice: logbot: hello" is alice saying "logbot: hello").
class LogBot : public weft::protocols::LineReceiver {
public:
    LogBot(const std::string& nickname, std::ostream& log) : nickname_(nickname), log_(log) {}

    void connection_made() override {
        log_ << "[connected]\n";
        send_line("/nick " + nickname_);
    }
    void connection_lost(const weft::Reason& reason) override {
        log_ << "[disconnected: " << reason.message() << "]\n" << std::flush;
    }
    void line_received(std::string_view line) override {
        log_ << line << '\n' << std::flush;
        const auto colon = line.find(": ");
        if (colon == line.npos) return;  // a notice ("* ..."), an error ("! ..."), the welcome
        const auto sender = line.substr(0, colon);
        const auto text = line.substr(colon + 2);
        if (sender != nickname_ && text.starts_with(nickname_ + ": ")) {
            send_line(std::string(sender) + ": I am a log bot");
        }
    }

private:
    const std::string& nickname_;
    std::ostream& log_;
};

// What outlives each connection: the nickname and the log. Reconnects when the server goes away.
class LogBotFactory : public weft::ReconnectingClientFactory {
public:
    LogBotFactory(weft::ReactorTime& time, std::string nickname, std::ostream& log)
        : ReconnectingClientFactory(time), nickname_(std::move(nickname)), log_(log) {}
    std::unique_ptr<weft::Protocol> build_protocol(const weft::Address&) override {
        reset_delay();
        return std::make_unique<LogBot>(nickname_, log_);
    }

private:
    std::string nickname_;
    std::ostream& log_;
};
// tutorial:end logbot

// tutorial:begin logbot_service
#include <weft/client_service.hpp>

// The same bot kept connected by a ClientService, with no factory subclass: after a loss it connects again
// after about 1.5 s, 2.25 s, 3.4 s, ... up to a minute (backoff_policy's defaults, plus up to 1 s of jitter).
// `nickname` and `log` are held by reference: they must outlive the service.
std::unique_ptr<weft::ClientService> logbot_service(weft::Reactor& reactor, std::string_view endpoint,
                                                    const std::string& nickname, std::ostream& log) {
    std::shared_ptr<weft::Factory> factory = weft::ClientFactory::for_protocol<LogBot>(nickname, log);
    return std::make_unique<weft::ClientService>(reactor, endpoint, std::move(factory), weft::backoff_policy());
}
// tutorial:end logbot_service

namespace {
// The test's side: records lines and hands each to a callback.
struct LineClient : weft::protocols::LineReceiver {
    std::vector<std::string> lines;
    std::function<void(LineClient&, std::string_view)> on_line;
    std::function<void(LineClient&, const weft::Reason&)> on_lost;
    void line_received(std::string_view line) override {
        lines.emplace_back(line);
        if (on_line) on_line(*this, line);
    }
    void connection_lost(const weft::Reason& reason) override {
        if (on_lost) on_lost(*this, reason);
    }
};
}  // namespace

TEST_CASE("tutorial clients: WelcomeMessage says hello and closes", "[tutorial]") {
    weft::Reactor reactor;
    std::string received;
    weft_test::LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_lost = [&](weft_test::Recorder& r, const weft::Reason&) {
            received = r.received;
            reactor.stop();
        };
        return p;
    });
    auto port = reactor.listen_tcp(0, server, {.interface = "127.0.0.1"});
    auto client = weft::ClientFactory::for_protocol<WelcomeMessage>();
    reactor.connect_tcp("127.0.0.1", port->port(), *client);
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(received == "Hello server, I am the client!\r\n");
}

TEST_CASE("tutorial clients: greet connects with connect_protocol and sends two messages", "[tutorial]") {
    weft::Reactor reactor;
    std::string received;
    bool greeted = false;
    weft_test::LambdaFactory server([&](const weft::Address&) {
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_lost = [&](weft_test::Recorder& r, const weft::Reason&) {
            received = r.received;
            reactor.stop();
        };
        return p;
    });
    auto port = reactor.listen_tcp(0, server, {.interface = "127.0.0.1"});
    reactor.call_when_running([&] {
        greet(reactor, "tcp:127.0.0.1:" + std::to_string(port->port())).add_callback([&] { greeted = true; });
    });
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(greeted);
    CHECK(received == "MESSAGE Hello\nMESSAGE This is sent in the same write\n");
}

TEST_CASE("tutorial clients: greet fails with ConnectError when nobody listens", "[tutorial]") {
    weft::Reactor reactor;
    bool refused = false;
    reactor.call_when_running([&] {
        // Port 1 on loopback: nothing listens there (it is below 1024 and no test binds it).
        greet(reactor, "tcp:127.0.0.1:1").add_errback([&](weft::Failure f) {
            refused = f.check<weft::ConnectError>();
            reactor.stop();
        });
    });
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(refused);
}

namespace {
// EchoClientFactory, telling the test when an attempt has ended.
struct WatchedEchoFactory : EchoClientFactory {
    using EchoClientFactory::EchoClientFactory;
    std::function<void()> on_end;
    void client_connection_lost(weft::Connector& c, const weft::Reason& r) override {
        EchoClientFactory::client_connection_lost(c, r);
        on_end();
    }
    void client_connection_failed(weft::Connector& c, const weft::Reason& r) override {
        EchoClientFactory::client_connection_failed(c, r);
        on_end();
    }
};

// A server that says "hi" and closes; `accepted` counts its connections.
std::unique_ptr<weft::Factory> hi_server(int& accepted) {
    return weft::Factory::from_function([&accepted] {
        ++accepted;
        auto p = std::make_unique<weft_test::Recorder>();
        p->on_made = [](weft_test::Recorder& r) {
            r.transport().write("hi\n");
            r.transport().lose_connection();
        };
        return p;
    });
}
}  // namespace

TEST_CASE("tutorial clients: EchoClientFactory hears each step, and a refused attempt", "[tutorial]") {
    weft::Reactor reactor;
    int accepted = 0;
    auto server = hi_server(accepted);
    auto port = reactor.listen_tcp(0, *server, {.interface = "127.0.0.1"});
    std::ostringstream out;
    std::ostringstream refused_out;
    WatchedEchoFactory factory(out);
    WatchedEchoFactory refused(refused_out);
    int ended = 0;
    factory.on_end = refused.on_end = [&] {
        if (++ended == 2) reactor.stop();
    };
    reactor.connect_tcp("127.0.0.1", port->port(), factory);
    reactor.connect_tcp("127.0.0.1", 1, refused);  // nothing listens on port 1
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(out.str() == "Started to connect.\nConnected.\nhi\nLost connection. Reason: connection was closed cleanly\n");
    CHECK(refused_out.str().starts_with("Started to connect.\nConnection failed. Reason: "));
}

TEST_CASE("tutorial clients: EchoReconnectingFactory connects again after each loss", "[tutorial]") {
    weft::Reactor reactor;
    int accepted = 0;
    auto server = hi_server(accepted);
    auto port = reactor.listen_tcp(0, *server, {.interface = "127.0.0.1"});
    std::ostringstream out;
    struct Watched : EchoReconnectingFactory {
        using EchoReconnectingFactory::EchoReconnectingFactory;
        std::function<void()> on_lost;
        void client_connection_lost(weft::Connector& c, const weft::Reason& r) override {
            EchoReconnectingFactory::client_connection_lost(c, r);
            on_lost();
        }
    } factory(reactor, out);
    factory.initial_delay = 0.01;  // seconds: the first retry waits 0.01 * e
    int lost = 0;
    factory.on_lost = [&] {
        if (++lost < 3) return;
        factory.stop_trying();
        reactor.stop();
    };
    reactor.connect_tcp("127.0.0.1", port->port(), factory);
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(accepted == 3);
    std::string three;
    for (int i = 0; i < 3; ++i) three += "Connected.\nhi\nLost connection. Reason: connection was closed cleanly\n";
    CHECK(out.str() == three);
}

TEST_CASE("tutorial clients: LogBot logs weft-chat's room and answers what is addressed to it", "[tutorial]") {
    weft_test::ChildProcess chat({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0"});
    const auto port = chat.read_listening_port();
    REQUIRE(port != 0);
    weft::Reactor reactor;
    std::ostringstream log;
    LogBotFactory bot(reactor, "logbot", log);
    std::vector<std::string> alice_lines;
    // Alice joins and takes her name; then the bot joins; Alice talks to it and waits for its answer.
    auto alice = weft::ClientFactory::from_function([&] {
        auto p = std::make_unique<LineClient>();
        p->on_line = [&](LineClient& self, std::string_view line) {
            if (line.starts_with("Welcome to the chat server")) self.send_line("/nick alice");
            if (line.ends_with(" is now known as alice")) reactor.connect_tcp("127.0.0.1", port, bot);
            if (line.ends_with(" is now known as logbot")) self.send_line("logbot: hello");
            if (line == "logbot: alice: I am a log bot") {
                alice_lines = self.lines;
                bot.stop_trying();
                reactor.stop();
            }
        };
        return p;
    });
    reactor.connect_tcp("127.0.0.1", port, *alice);
    REQUIRE(weft_test::run_bounded(reactor));
    REQUIRE_FALSE(alice_lines.empty());
    CHECK(alice_lines.back() == "logbot: alice: I am a log bot");
    const std::string logged = log.str();
    CHECK(logged.starts_with("[connected]\nWelcome to the chat server, 127.0.0.1:"));
    // The bot's own answer comes back to it too, but the test may stop before the bot has read it.
    CHECK(logged.find("is now known as logbot\nalice: logbot: hello\n") != std::string::npos);
    CHECK(logged.find("[disconnected: ") != std::string::npos);  // the reactor's shutdown closed it
}

TEST_CASE("tutorial clients: logbot_service keeps the bot in weft-chat's room until stopped", "[tutorial]") {
    weft_test::ChildProcess chat({WEFT_CHAT_BINARY, "--host", "127.0.0.1", "--port", "0"});
    const auto port = chat.read_listening_port();
    REQUIRE(port != 0);
    weft::Reactor reactor;
    std::ostringstream log;
    const std::string nickname = "logbot";
    auto service = logbot_service(reactor, "tcp:127.0.0.1:" + std::to_string(port), nickname, log);
    bool stopped = false;
    // Alice joins, then the service starts the bot; once she sees it named, the service is stopped.
    auto alice = weft::ClientFactory::from_function([&] {
        auto p = std::make_unique<LineClient>();
        p->on_line = [&](LineClient&, std::string_view line) {
            if (line.starts_with("Welcome to the chat server")) service->start();
            if (line.ends_with(" is now known as logbot")) {
                service->stop().add_callback([&] {
                    stopped = true;
                    reactor.stop();
                });
            }
        };
        return p;
    });
    reactor.connect_tcp("127.0.0.1", port, *alice);
    REQUIRE(weft_test::run_bounded(reactor));
    CHECK(stopped);
    CHECK_FALSE(service->running());
    CHECK(log.str().starts_with("[connected]\n"));  // what the bot read before the stop depends on the turns
    CHECK(log.str().ends_with("[disconnected: connection was closed cleanly]\n"));
}
