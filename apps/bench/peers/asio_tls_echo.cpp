// Benchmark peer: TLS echo server on raw Boost.Asio (asio::ssl::stream over a TCP socket, OpenSSL 3),
// single-threaded, shaped like asio_echo.cpp's raw echo and Asio's ssl/server.cpp example: one session
// object per connection with its own 16 KiB buffer, handshake, then read_some / write it all / read again.
// A peer's close_notify (read ends with eof) is answered with ours (async_shutdown) before the socket
// closes, so a client that waits for it is not left hanging.
//
// One deviation from Asio's defaults, for speed and fairness: Asio turns on SSL_MODE_RELEASE_BUFFERS on
// every stream, which makes OpenSSL free its record buffers whenever they are empty and allocate them
// again on the next record (two allocations per echoed block); --release-buffers keeps Asio's default.
//
// Binds 127.0.0.1 (or --host), prints "listening on HOST:PORT" once bound, exits on SIGINT/SIGTERM.
// Certificate and key: PEM files (--cert, --key), e.g. made with `openssl req -x509 -newkey ec
// -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out cert.pem -days 1 -subj /CN=localhost`.

#include <iostream>
#include <memory>
#include <string>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/program_options.hpp>
#include <openssl/ssl.h>

#include "common/options.hpp"

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, ssl::context& context, bool release_buffers)
        : stream_(std::move(socket), context) {
        if (!release_buffers) {
            SSL_clear_mode(stream_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
        }
    }
    void start() {
        stream_.async_handshake(ssl::stream_base::server, [self = shared_from_this()](const error_code& ec) {
            if (!ec) {
                self->do_read();
            }
        });
    }

private:
    void do_read() {
        stream_.async_read_some(asio::buffer(data_), [self = shared_from_this()](const error_code& ec, std::size_t n) {
            if (!ec) {
                self->do_write(n);
            } else if (ec == asio::error::eof) {
                self->do_shutdown();  // the client's close_notify: answer it
            }
        });
    }
    void do_write(std::size_t n) {
        asio::async_write(stream_, asio::buffer(data_, n), [self = shared_from_this()](const error_code& ec, std::size_t) {
            if (!ec) {
                self->do_read();
            }
        });
    }
    void do_shutdown() {
        stream_.async_shutdown([self = shared_from_this()](const error_code&) {});
    }
    ssl::stream<tcp::socket> stream_;
    char data_[16 * 1024];
};

class Server {
public:
    Server(asio::io_context& io, const tcp::endpoint& endpoint, ssl::context& context, bool release_buffers)
        : acceptor_(io, endpoint), context_(context), release_buffers_(release_buffers) {
        do_accept();
    }
    [[nodiscard]] tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

private:
    void do_accept() {
        acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
            if (!ec) {
                socket.set_option(tcp::no_delay(true));
                std::make_shared<Session>(std::move(socket), context_, release_buffers_)->start();
            }
            do_accept();
        });
    }
    tcp::acceptor acceptor_;
    ssl::context& context_;
    bool release_buffers_;
};

}  // namespace

int main(int argc, char** argv) {
    namespace po = boost::program_options;
    std::string host = "127.0.0.1";
    std::string cert;
    std::string key;
    unsigned short port = 0;
    bool release_buffers = false;
    po::options_description desc("bench-asio-tls-echo: Boost.Asio TLS echo server (benchmark peer)\nOptions");
    // clang-format off
    desc.add_options()
        ("help,h", "show this help")
        ("host", po::value(&host)->default_value(host), "address to bind")
        ("port", weft::apps::number("--port", port, static_cast<unsigned short>(0), static_cast<unsigned short>(65535)), "port (0 = pick a free one)")
        ("cert", po::value(&cert)->required(), "certificate chain, PEM")
        ("key", po::value(&key)->required(), "private key, PEM")
        ("release-buffers", po::bool_switch(&release_buffers), "keep Asio's SSL_MODE_RELEASE_BUFFERS");
    // clang-format on
    try {
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help") != 0U) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "bench-asio-tls-echo: " << e.what() << "\n";
        return 2;
    }
    try {
        ssl::context context(ssl::context::tls_server);
        context.use_certificate_chain_file(cert);
        context.use_private_key_file(key, ssl::context::pem);
        asio::io_context io(1);
        Server server(io, tcp::endpoint(asio::ip::make_address(host), port), context, release_buffers);
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&io](const error_code&, int) { io.stop(); });
        std::cout << "listening on " << host << ":" << server.local_endpoint().port() << std::endl;
        io.run();
    } catch (const std::exception& e) {
        std::cerr << "bench-asio-tls-echo: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
