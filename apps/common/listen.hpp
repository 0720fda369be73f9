#pragma once
// --listen ENDPOINT (repeatable) for the servers, with --host/--port as the TCP shorthand: every app
// listens the same way and prints one "listening on ..." line per endpoint.

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "weft/endpoint.hpp"
#include "weft/reactor.hpp"
#include "weft/string_endpoints.hpp"

namespace weft::apps {

namespace po = boost::program_options;

/// The endpoints a server listens on: each --listen description, checked now (a bad one is a usage
/// error naming the field, exit status 2), plus tcp:PORT:interface=HOST when no --listen was given or
/// --host/--port were given explicitly.
inline std::vector<ServerEndpoint> listen_endpoints(const po::variables_map& vm, const std::vector<std::string>& listen,
                                                    const std::string& host, unsigned port) {
    std::vector<ServerEndpoint> endpoints;
    for (const auto& description : listen) {
        try {
            endpoints.push_back(parse_server_endpoint(description));
        } catch (const EndpointError& e) {
            throw po::error(std::string("--listen: ") + e.what());
        }
    }
    const bool shorthand = (vm.count("host") != 0 && !vm["host"].defaulted()) ||
                           (vm.count("port") != 0 && !vm["port"].defaulted());
    if (endpoints.empty() || shorthand) {
        TcpServerEndpoint tcp;
        tcp.port = static_cast<std::uint16_t>(port);
        tcp.interface = host;
        endpoints.insert(endpoints.begin(), tcp);
    }
    return endpoints;
}

/// Listens on every endpoint with one factory (one chat room over all of them) and prints
/// "listening on ADDRESS" for each: HOST:PORT for TCP, ssl:HOST:PORT for TLS, unix:PATH for UNIX sockets.
/// Throws what listen_on throws (BindError, SystemdError, TlsError).
inline std::vector<std::shared_ptr<ListeningPort>> listen_all(Reactor& reactor, const std::vector<ServerEndpoint>& endpoints,
                                                             Factory& factory) {
    std::vector<std::shared_ptr<ListeningPort>> ports;
    try {
        for (const auto& endpoint : endpoints) {
            ports.push_back(listen_on(reactor, endpoint, factory));
            const char* scheme = std::holds_alternative<SslServerEndpoint>(endpoint) ? "ssl:" : "";
            std::cout << "listening on " << scheme << ports.back()->address().to_string() << std::endl;
        }
    } catch (...) {
        for (const auto& port : ports) port->stop_listening();  // all or none
        throw;
    }
    return ports;
}

}  // namespace weft::apps
