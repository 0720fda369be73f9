// The "Writing servers" chapter's last program (docs/tutorial/servers.md, "Putting it all together"): a
// chat server, one LineReceiver per user and the users held by the program. test_programs.cpp runs it.
// tutorial:begin chat_protocol
#include <weft/factory.hpp>
#include <weft/protocols/basic.hpp>

#include <map>
#include <string>

class Chat;
using Users = std::map<std::string, Chat*, std::less<>>;

// Asks for a name, then relays each line to everyone else as "<name> line".
class Chat : public weft::protocols::LineReceiver {
public:
    explicit Chat(Users& users) : users_(users) {}

    void connection_made() override { send_line("What's your name?"); }
    void connection_lost(const weft::Reason&) override {
        if (!name_.empty()) users_.erase(name_);
    }
    void line_received(std::string_view line) override {
        if (name_.empty()) {
            handle_getname(line);
        } else {
            handle_chat(line);
        }
    }

private:
    void handle_getname(std::string_view name) {
        if (name.empty() || users_.contains(name)) {
            send_line("Name taken, please choose another.");
            return;
        }
        send_line("Welcome, " + std::string(name) + "!");
        name_ = name;
        users_[name_] = this;
    }
    void handle_chat(std::string_view message) {
        const std::string line = "<" + name_ + "> " + std::string(message);
        for (auto& [name, protocol] : users_) {
            if (protocol != this) protocol->send_line(line);
        }
    }

    Users& users_;
    std::string name_;  // empty until chosen: the state
};
// tutorial:end chat_protocol

// tutorial:begin chat_main
#include <weft/reactor.hpp>
#include <weft/string_endpoints.hpp>

#include <iostream>

int main(int argc, char* argv[]) {
    Users users;  // outlives the reactor, and so every connection
    weft::Reactor reactor;
    auto factory = weft::Factory::for_protocol<Chat>(users);  // Chat(Users&): users held by reference
    auto port = weft::server_from_string(reactor, argc > 1 ? argv[1] : "tcp:8123", *factory);
    std::cout << "listening on " << port->address().to_string() << std::endl;
    reactor.run();
}
// tutorial:end chat_main
