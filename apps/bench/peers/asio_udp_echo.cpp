// Benchmark peer: UDP echo server on raw Boost.Asio, single-threaded, as Asio's async_udp_echo_server
// example writes it: one receive_from into one buffer, send_to the sender, receive again. One datagram
// per completion handler, no batching: what a competent Asio user writes first.
// Binds 127.0.0.1 (or --host), prints "listening on HOST:PORT" once bound, exits on SIGINT/SIGTERM.

#include <iostream>
#include <string>

#include <boost/asio.hpp>
#include <boost/program_options.hpp>

#include "common/options.hpp"

namespace asio = boost::asio;
using udp = asio::ip::udp;
using boost::system::error_code;

namespace {

class Server {
public:
    Server(asio::io_context& io, const udp::endpoint& endpoint) : socket_(io, endpoint) { do_receive(); }
    [[nodiscard]] udp::endpoint local_endpoint() const { return socket_.local_endpoint(); }

private:
    void do_receive() {
        socket_.async_receive_from(asio::buffer(data_), sender_, [this](const error_code& ec, std::size_t n) {
            if (!ec) {
                do_send(n);
            } else {
                do_receive();  // e.g. ECONNREFUSED from an earlier send: UDP carries on
            }
        });
    }
    void do_send(std::size_t n) {
        socket_.async_send_to(asio::buffer(data_, n), sender_, [this](const error_code&, std::size_t) { do_receive(); });
    }
    udp::socket socket_;
    udp::endpoint sender_;
    char data_[64 * 1024];  // any datagram fits
};

}  // namespace

int main(int argc, char** argv) {
    namespace po = boost::program_options;
    std::string host = "127.0.0.1";
    unsigned short port = 0;
    po::options_description desc("bench-asio-udp-echo: Boost.Asio UDP echo server (benchmark peer)\nOptions");
    desc.add_options()("help,h", "show this help")("host", po::value(&host)->default_value(host), "address to bind")(
        "port", weft::apps::number("--port", port, static_cast<unsigned short>(0), static_cast<unsigned short>(65535)),
        "port (0 = pick a free one)");
    try {
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help") != 0U) {
            std::cout << desc << "\n";
            return 0;
        }
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "bench-asio-udp-echo: " << e.what() << "\n";
        return 2;
    }
    try {
        asio::io_context io(1);
        Server server(io, udp::endpoint(asio::ip::make_address(host), port));
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&io](const error_code&, int) { io.stop(); });
        std::cout << "listening on " << host << ":" << server.local_endpoint().port() << std::endl;
        io.run();
    } catch (const std::exception& e) {
        std::cerr << "bench-asio-udp-echo: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
