// weft-http-hello: the HTTP "Hello, World!" server of the benchmarks (issue 14), on weft::web. GET /
// answers 200 text/plain "Hello, World!" (keep-alive, pipelining as weft::web does them); with --static DIR,
// /static/... serves DIR through web::StaticFiles (sendfile). The access log is off, as nginx's is in the
// benchmark. Prints "listening on HOST:PORT" once bound; SIGINT/SIGTERM stop it (the reactor's handlers).
#include <exception>
#include <iostream>
#include <memory>
#include <string>

#include <boost/program_options.hpp>

#include "common/options.hpp"

#include "weft/error.hpp"
#include "weft/log.hpp"
#include "weft/reactor.hpp"
#include "weft/web/request.hpp"
#include "weft/web/resource.hpp"
#include "weft/web/site.hpp"
#include "weft/web/static_files.hpp"

int main(int argc, char* argv[]) {
    namespace po = boost::program_options;
    std::string host = "127.0.0.1";
    unsigned port = 8080;
    std::string static_dir;
    std::string log_level;
    po::options_description options("weft-http-hello: HTTP \"Hello, World!\" server (benchmark)\nOptions");
    options.add_options()
        ("help,h", "show this help")
        ("host", po::value(&host)->default_value(host), "address to listen on")
        ("port", weft::apps::number("--port", port, 0U, 65535U), "port to listen on (0 picks a free one)")
        ("static", po::value(&static_dir), "serve this directory under /static/ (web::StaticFiles)")
        ("log-level", po::value(&log_level), "trace, debug, info, warning, error or fatal");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, options), vm);
        po::notify(vm);
        if (vm.count("help")) {
            std::cout << options << "\n";
            return 0;
        }
        weft::init_logging(log_level);
    } catch (const std::exception& e) {
        std::cerr << "weft-http-hello: " << e.what() << "\n" << options << "\n";
        return 2;
    }

    try {
        weft::Reactor reactor;
        auto root = std::make_shared<weft::web::Resource>();
        root->on("GET", [](weft::web::Request& r) {
            r.set_header("Content-Type", "text/plain");
            r.finish("Hello, World!");
        });
        if (!static_dir.empty()) root->put_child("static", std::make_shared<weft::web::StaticFiles>(static_dir));
        weft::web::ServerOptions server_options;
        server_options.access_log = false;
        weft::web::Site site(reactor, root, server_options);
        weft::ListenOptions listen_options;
        listen_options.interface = host;
        listen_options.backlog = 1024;
        auto listener = reactor.listen_tcp(static_cast<std::uint16_t>(port), site, listen_options);
        std::cout << "listening on " << listener->address().to_string() << std::endl;
        reactor.run();
    } catch (const std::exception& e) {
        std::cerr << "weft-http-hello: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
