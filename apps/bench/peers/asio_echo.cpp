// Benchmark peer: echo server on raw Boost.Asio, single-threaded, written the way the Asio examples
// write them (one session object per connection, its own read buffer, shared_from_this lifetime).
//   --mode raw   echoes bytes back: read_some, write it all, read again (Asio's async_tcp_echo_server)
//   --mode line  echoes each "\n"-terminated line back: lines found in the read buffer are queued, and
//                the queue is written with one write in flight (the chat_server example's write queue)
// Binds 127.0.0.1 (or --host), prints "listening on HOST:PORT" once bound, exits on SIGINT/SIGTERM.

#include <algorithm>
#include <cstring>
#include <deque>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio.hpp>
#include <boost/program_options.hpp>

#include "common/options.hpp"

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

class RawSession : public std::enable_shared_from_this<RawSession> {
public:
    explicit RawSession(tcp::socket socket) : socket_(std::move(socket)) {}
    void start() { do_read(); }

private:
    void do_read() {
        socket_.async_read_some(asio::buffer(data_), [self = shared_from_this()](error_code ec, std::size_t n) {
            if (!ec) {
                self->do_write(n);
            }
        });
    }
    void do_write(std::size_t n) {
        asio::async_write(socket_, asio::buffer(data_, n), [self = shared_from_this()](error_code ec, std::size_t) {
            if (!ec) {
                self->do_read();
            }
        });
    }
    tcp::socket socket_;
    char data_[16 * 1024];
};

class LineSession : public std::enable_shared_from_this<LineSession> {
public:
    explicit LineSession(tcp::socket socket) : socket_(std::move(socket)) {}
    void start() { do_read(); }

private:
    static constexpr std::size_t kMaxLine = 16 * 1024;

    void do_read() {
        if (buffer_.size() - used_ < 1024) {
            buffer_.resize(std::max<std::size_t>(4096, buffer_.size() * 2));  // 4 KiB, doubled for long lines
        }
        socket_.async_read_some(asio::buffer(buffer_.data() + used_, buffer_.size() - used_),
                                [self = shared_from_this()](error_code ec, std::size_t n) {
                                    if (!ec) {
                                        self->on_read(n);
                                    }
                                });
    }
    void on_read(std::size_t n) {
        used_ += n;
        std::size_t start = 0;
        while (auto* nl = static_cast<char*>(std::memchr(buffer_.data() + start, '\n', used_ - start))) {
            auto end = static_cast<std::size_t>(nl - buffer_.data()) + 1;
            line_received(std::string_view(buffer_.data() + start, end - start - 1));
            start = end;
        }
        std::memmove(buffer_.data(), buffer_.data() + start, used_ - start);
        used_ -= start;
        if (used_ > kMaxLine) {
            return;  // line too long: drop the connection (the session dies with its last handler)
        }
        do_read();
    }
    void line_received(std::string_view line) {
        pending_.append(line);
        pending_.push_back('\n');
        if (!writing_) {
            do_write();
        }
    }
    void do_write() {
        writing_ = true;
        out_.swap(pending_);
        pending_.clear();
        asio::async_write(socket_, asio::buffer(out_), [self = shared_from_this()](error_code ec, std::size_t) {
            self->writing_ = false;
            if (!ec && !self->pending_.empty()) {
                self->do_write();
            }
        });
    }
    tcp::socket socket_;
    std::vector<char> buffer_;
    std::size_t used_ = 0;
    std::string pending_;
    std::string out_;
    bool writing_ = false;
};

class Server {
public:
    Server(asio::io_context& io, const tcp::endpoint& endpoint, bool line) : acceptor_(io, endpoint), line_(line) {
        do_accept();
    }
    [[nodiscard]] tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

private:
    void do_accept() {
        acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
            if (!ec) {
                socket.set_option(tcp::no_delay(true));
                if (line_) {
                    std::make_shared<LineSession>(std::move(socket))->start();
                } else {
                    std::make_shared<RawSession>(std::move(socket))->start();
                }
            }
            do_accept();
        });
    }
    tcp::acceptor acceptor_;
    bool line_;
};

}  // namespace

int main(int argc, char** argv) {
    namespace po = boost::program_options;
    std::string host = "127.0.0.1";
    std::string mode = "raw";
    unsigned short port = 0;
    po::options_description desc("bench-asio-echo: Boost.Asio echo server (benchmark peer)\nOptions");
    desc.add_options()("help,h", "show this help")("host", po::value(&host)->default_value(host), "address to bind")(
        "port", weft::apps::number("--port", port, static_cast<unsigned short>(0), static_cast<unsigned short>(65535)), "port (0 = pick a free one)")(
        "mode", po::value(&mode)->default_value(mode), "raw | line");
    try {
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help") != 0U) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "bench-asio-echo: " << e.what() << "\n";
        return 2;
    }
    try {
        if (mode != "raw" && mode != "line") {
            throw std::runtime_error("--mode must be raw or line");
        }
        asio::io_context io(1);
        Server server(io, tcp::endpoint(asio::ip::make_address(host), port), mode == "line");
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&io](error_code, int) { io.stop(); });
        std::cout << "listening on " << host << ":" << server.local_endpoint().port() << std::endl;
        io.run();
    } catch (const std::exception& e) {
        std::cerr << "bench-asio-echo: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
