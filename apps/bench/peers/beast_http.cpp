// Benchmark peer: HTTP "Hello, World!" server on Boost.Beast, single-threaded and asynchronous, written the
// way Beast's http_server_async example writes it: one session per connection, async_read of a request,
// async_write of the response, then the next read (keep-alive) or a shutdown. GET / (any target) answers
// 200 text/plain "Hello, World!". Pipelined requests are answered one after the other, in order, as the
// buffered parser finds them. Binds 127.0.0.1 (or --host), prints "listening on HOST:PORT" once bound,
// exits on SIGINT/SIGTERM.

#include <iostream>
#include <memory>
#include <string>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/program_options.hpp>

#include "common/options.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

class Session : public std::enable_shared_from_this<Session> {
public:
    explicit Session(tcp::socket socket) : stream_(std::move(socket)) {}
    void start() { do_read(); }

private:
    void do_read() {
        request_ = {};
        http::async_read(stream_, buffer_, request_, [self = shared_from_this()](error_code ec, std::size_t) {
            if (ec) {
                self->close();
                return;
            }
            self->respond();
        });
    }

    void respond() {
        response_ = {};
        response_.version(request_.version());
        response_.keep_alive(request_.keep_alive());
        if (request_.method() == http::verb::get || request_.method() == http::verb::head) {
            response_.result(http::status::ok);
            response_.set(http::field::content_type, "text/plain");
            response_.body() = "Hello, World!";
        } else {
            response_.result(http::status::method_not_allowed);
            response_.set(http::field::allow, "GET, HEAD");
        }
        response_.set(http::field::server, "beast");
        response_.prepare_payload();
        if (request_.method() == http::verb::head) response_.body().clear();
        http::async_write(stream_, response_, [self = shared_from_this()](error_code ec, std::size_t) {
            if (ec || !self->response_.keep_alive()) {
                self->close();
                return;
            }
            self->do_read();
        });
    }

    void close() {
        error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> request_;
    http::response<http::string_body> response_;
};

class Server {
public:
    Server(asio::io_context& io, const tcp::endpoint& endpoint) : acceptor_(io) {
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(asio::socket_base::reuse_address(true));
        acceptor_.bind(endpoint);
        acceptor_.listen(1024);
        do_accept();
    }
    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

private:
    void do_accept() {
        acceptor_.async_accept([this](error_code ec, tcp::socket socket) {
            if (!ec) {
                socket.set_option(tcp::no_delay(true));
                std::make_shared<Session>(std::move(socket))->start();
            }
            do_accept();
        });
    }
    tcp::acceptor acceptor_;
};

}  // namespace

int main(int argc, char* argv[]) {
    namespace po = boost::program_options;
    std::string host = "127.0.0.1";
    unsigned port = 0;
    po::options_description options("bench-beast-http: Boost.Beast HTTP hello server (benchmark peer)\nOptions");
    options.add_options()
        ("help,h", "show this help")
        ("host", po::value(&host)->default_value(host), "address to listen on")
        ("port", weft::apps::number("--port", port, 0U, 65535U), "port (0 picks a free one)");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, options), vm);
        po::notify(vm);
        if (vm.count("help")) {
            std::cout << options << "\n";
            return 0;
        }
    } catch (const std::exception& e) {
        std::cerr << "bench-beast-http: " << e.what() << "\n" << options << "\n";
        return 2;
    }
    try {
        asio::io_context io(1);
        Server server(io, tcp::endpoint(asio::ip::make_address(host), static_cast<unsigned short>(port)));
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&](error_code, int) { io.stop(); });
        const auto bound = server.local_endpoint();
        std::cout << "listening on " << bound.address().to_string() << ":" << bound.port() << std::endl;
        io.run();
    } catch (const std::exception& e) {
        std::cerr << "bench-beast-http: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
