// Benchmark peer: line chat server on raw Boost.Asio, single-threaded, shaped like Asio's chat_server
// example (a room of participants; each session has its own read buffer and a queue of outgoing messages
// with one write in flight). One difference from the example: when a write completes, everything queued
// meanwhile goes out in one gathered write instead of one write per message.
//
// Wire protocol (identical to weft-chat's basic subset): client lines end with "\n" (a "\r" before it
// is dropped); server lines end with "\r\n". On connect: "Welcome to the chat server, NAME" to the
// newcomer and "* NAME joined" to everyone else; a line goes to everyone, sender included, as
// "NAME: text"; on disconnect the others get "* NAME left". NAME is the client's ip:port.

#include <algorithm>
#include <cstring>
#include <deque>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio.hpp>
#include <boost/program_options.hpp>

#include "common/options.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

using Message = std::shared_ptr<const std::string>;

class Participant {
public:
    virtual ~Participant() = default;
    virtual void deliver(const Message& msg) = 0;
};

class Room {
public:
    void join(const std::shared_ptr<Participant>& p) { participants_.insert(p); }
    void leave(const std::shared_ptr<Participant>& p) { participants_.erase(p); }
    void deliver(const std::string& text, const Participant* except = nullptr) {
        auto msg = std::make_shared<const std::string>(text + "\r\n");
        for (const auto& p : participants_) {
            if (p.get() != except) {
                p->deliver(msg);
            }
        }
    }

private:
    std::set<std::shared_ptr<Participant>> participants_;
};

class Session : public Participant, public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, Room& room) : socket_(std::move(socket)), room_(room) {
        error_code ec;
        auto ep = socket_.remote_endpoint(ec);
        name_ = ec ? std::string("unknown") : ep.address().to_string() + ":" + std::to_string(ep.port());
    }
    void start() {
        deliver(std::make_shared<const std::string>("Welcome to the chat server, " + name_ + "\r\n"));
        room_.deliver("* " + name_ + " joined", this);
        room_.join(shared_from_this());
        do_read();
    }
    void deliver(const Message& msg) override {
        queue_.push_back(msg);
        if (!writing_) {
            do_write();
        }
    }

private:
    static constexpr std::size_t kMaxLine = 16 * 1024;

    void do_read() {
        if (buffer_.size() - used_ < 1024) {
            buffer_.resize(std::max<std::size_t>(4096, buffer_.size() * 2));  // 4 KiB, doubled for long lines
        }
        socket_.async_read_some(asio::buffer(buffer_.data() + used_, buffer_.size() - used_),
                                [self = shared_from_this()](error_code ec, std::size_t n) {
                                    if (ec) {
                                        self->close();
                                    } else {
                                        self->on_read(n);
                                    }
                                });
    }
    void on_read(std::size_t n) {
        used_ += n;
        std::size_t start = 0;
        while (auto* nl = static_cast<char*>(std::memchr(buffer_.data() + start, '\n', used_ - start))) {
            auto end = static_cast<std::size_t>(nl - buffer_.data());
            std::string_view line(buffer_.data() + start, end - start);
            if (!line.empty() && line.back() == '\r') {
                line.remove_suffix(1);
            }
            room_.deliver(name_ + ": " + std::string(line));
            start = end + 1;
        }
        std::memmove(buffer_.data(), buffer_.data() + start, used_ - start);
        used_ -= start;
        if (used_ > kMaxLine) {
            close();
            return;
        }
        do_read();
    }
    void do_write() {
        writing_ = true;
        in_flight_.assign(queue_.begin(), queue_.end());
        queue_.clear();
        buffers_.clear();
        for (const auto& m : in_flight_) {
            buffers_.emplace_back(asio::buffer(*m));
        }
        asio::async_write(socket_, buffers_, [self = shared_from_this()](error_code ec, std::size_t) {
            self->writing_ = false;
            self->in_flight_.clear();
            if (ec) {
                self->close();
            } else if (!self->queue_.empty()) {
                self->do_write();
            }
        });
    }
    void close() {
        if (closed_) {
            return;
        }
        closed_ = true;
        error_code ignored;
        socket_.close(ignored);
        room_.leave(shared_from_this());
        room_.deliver("* " + name_ + " left");
    }

    tcp::socket socket_;
    Room& room_;
    std::string name_;
    std::vector<char> buffer_;
    std::size_t used_ = 0;
    std::deque<Message> queue_;
    std::vector<Message> in_flight_;
    std::vector<asio::const_buffer> buffers_;
    bool writing_ = false;
    bool closed_ = false;
};

class Server {
public:
    Server(asio::io_context& io, const tcp::endpoint& endpoint) : acceptor_(io, endpoint) { do_accept(); }
    [[nodiscard]] tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

private:
    void do_accept() {
        acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
            if (!ec) {
                socket.set_option(tcp::no_delay(true));
                std::make_shared<Session>(std::move(socket), room_)->start();
            }
            do_accept();
        });
    }
    tcp::acceptor acceptor_;
    Room room_;
};

}  // namespace

int main(int argc, char** argv) {
    namespace po = boost::program_options;
    std::string host = "127.0.0.1";
    unsigned short port = 0;
    po::options_description desc("bench-asio-chat: Boost.Asio line chat server (benchmark peer)\nOptions");
    desc.add_options()("help,h", "show this help")("host", po::value(&host)->default_value(host), "address to bind")(
        "port", weft::apps::number("--port", port, static_cast<unsigned short>(0), static_cast<unsigned short>(65535)), "port (0 = pick a free one)");
    try {
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help") != 0U) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "bench-asio-chat: " << e.what() << "\n";
        return 2;
    }
    try {
        asio::io_context io(1);
        Server server(io, tcp::endpoint(asio::ip::make_address(host), port));
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&io](error_code, int) { io.stop(); });
        std::cout << "listening on " << host << ":" << server.local_endpoint().port() << std::endl;
        io.run();
    } catch (const std::exception& e) {
        std::cerr << "bench-asio-chat: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
