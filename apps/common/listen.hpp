#pragma once
// --listen ENDPOINT (repeatable) for the servers, with --host/--port as the TCP shorthand: every app
// listens the same way and prints one "listening on ..." line per endpoint.

#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <boost/program_options.hpp>

#include "weft/datagram_protocol.hpp"
#include "weft/endpoint.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"
#include "weft/reactor.hpp"
#include "weft/reactor_pool.hpp"
#include "weft/string_endpoints.hpp"
#include "weft/systemd_notifier.hpp"
#include "weft/tls_context.hpp"

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

/// What listen_all started: stream ports, UDP ports, and the TLS contexts of ssl: ones (for reload_tls).
struct Listeners {
    std::vector<std::shared_ptr<ListeningPort>> ports;
    std::vector<std::shared_ptr<UdpTransport>> datagram_ports;
    std::vector<std::shared_ptr<TlsContext>> tls_contexts;
    /// What each "listening on" line said, in order (for systemd's STATUS=).
    std::vector<std::string> addresses;
};

/// Makes the protocol of one UDP endpoint (a server that serves datagrams passes one to listen_all).
using DatagramProtocolMaker = std::function<std::unique_ptr<DatagramProtocol>(const UdpServerEndpoint&)>;

/// Listens on one udp: endpoint with a protocol from `datagram`; weft::Error if the server serves none.
inline std::shared_ptr<UdpTransport> listen_datagrams(Reactor& reactor, const UdpServerEndpoint& udp,
                                                      const DatagramProtocolMaker& datagram) {
    if (!datagram) throw Error("--listen " + to_string(ServerEndpoint(udp)) + ": this server does not serve datagrams (udp:)");
    UdpOptions options;
    options.interface = udp.interface;
    options.max_packet_size = udp.max_packet_size;
    return reactor.listen_udp(udp.port, datagram(udp), options);
}

/// Listens on every endpoint, stream ones with one factory (one chat room over all of them), udp ones
/// with a protocol from `datagram` each, and prints "listening on ADDRESS" for each: HOST:PORT for TCP,
/// ssl:HOST:PORT for TLS, unix:PATH for UNIX sockets, udp:HOST:PORT for UDP. With a `scheme` ("http"),
/// the lines say what is served there instead: http:HOST:PORT, https:HOST:PORT for TLS, http:unix:PATH.
/// Throws what listen_on and listen_udp throw (BindError, SystemdError, TlsError), or weft::Error for a udp
/// endpoint when `datagram` is empty.
inline Listeners listen_all(Reactor& reactor, const std::vector<ServerEndpoint>& endpoints, Factory& factory,
                            const DatagramProtocolMaker& datagram = {}, std::string_view scheme = {}) {
    Listeners listeners;
    try {
        for (const auto& endpoint : endpoints) {
            if (const auto* udp = std::get_if<UdpServerEndpoint>(&endpoint)) {
                listeners.datagram_ports.push_back(listen_datagrams(reactor, *udp, datagram));
                listeners.addresses.push_back("udp:" + listeners.datagram_ports.back()->host().to_string());
                std::cout << "listening on " << listeners.addresses.back() << std::endl;
                continue;
            }
            if (const auto* ssl = std::get_if<SslServerEndpoint>(&endpoint)) {
                auto context = tls_context_for(*ssl);
                ListenOptions options;
                options.interface = ssl->tcp.interface;
                options.backlog = ssl->tcp.backlog;
                listeners.ports.push_back(reactor.listen_ssl(ssl->tcp.port, factory, context, options));
                listeners.tls_contexts.push_back(std::move(context));
                listeners.addresses.push_back((scheme.empty() ? std::string("ssl") : std::string(scheme) + "s") + ":" +
                                              listeners.ports.back()->address().to_string());
                std::cout << "listening on " << listeners.addresses.back() << std::endl;
                continue;
            }
            listeners.ports.push_back(listen_on(reactor, endpoint, factory));
            listeners.addresses.push_back((scheme.empty() ? std::string() : std::string(scheme) + ":") +
                                          listeners.ports.back()->address().to_string());
            std::cout << "listening on " << listeners.addresses.back() << std::endl;
        }
    } catch (...) {
        // All or none.
        for (const auto& port : listeners.ports) port->stop_listening();
        for (const auto& port : listeners.datagram_ports) port->stop_listening();
        throw;
    }
    return listeners;
}

/// listen_all for a ReactorPool (--threads N): every stream endpoint with every reactor
/// (ReactorPool::listen's automatic strategy: SO_REUSEPORT for TCP, one acceptor otherwise), udp ones on
/// reactor 0. The TLS contexts are listed per reactor: reload_tls_on(pool, ...) reloads each on its thread.
/// Call before pool.start().
struct PoolListeners {
    std::vector<std::shared_ptr<PoolPort>> ports;
    std::vector<std::shared_ptr<UdpTransport>> datagram_ports;
    std::vector<std::string> addresses;
};

inline PoolListeners listen_all(ReactorPool& pool, const std::vector<ServerEndpoint>& endpoints, Factory& factory,
                                const DatagramProtocolMaker& datagram = {}) {
    PoolListeners listeners;
    try {
        for (const auto& endpoint : endpoints) {
            if (const auto* udp = std::get_if<UdpServerEndpoint>(&endpoint)) {
                listeners.datagram_ports.push_back(listen_datagrams(pool.at(0), *udp, datagram));
                listeners.addresses.push_back("udp:" + listeners.datagram_ports.back()->host().to_string());
            } else {
                listeners.ports.push_back(pool.listen(endpoint, factory));
                const bool ssl = std::holds_alternative<SslServerEndpoint>(endpoint);
                listeners.addresses.push_back((ssl ? "ssl:" : "") + listeners.ports.back()->address().to_string());
            }
            std::cout << "listening on " << listeners.addresses.back() << std::endl;
        }
    } catch (...) {
        for (const auto& port : listeners.ports) {
            for (const auto& p : port->ports()) p->stop_listening();
        }
        for (const auto& port : listeners.datagram_ports) port->stop_listening();
        throw;
    }
    return listeners;
}

/// Tells systemd (Type=notify units; without NOTIFY_SOCKET it does nothing) that the server is ready once
/// the loop runs, with the addresses as its STATUS=, and that it is stopping when shutdown begins; sends
/// the watchdog's pings when the unit has WatchdogSec=. `notifier` must live as long as `reactor` runs.
inline void notify_systemd(Reactor& reactor, SystemdNotifier& notifier, const std::vector<std::string>& addresses) {
    std::string status = "listening on";
    for (const auto& address : addresses) status += " " + address;
    reactor.call_when_running([&notifier, status] { notifier.ready(status); });
    reactor.add_system_event_trigger(TriggerPhase::before, SystemEvent::shutdown, [&notifier] { notifier.stopping(); });
}

inline void notify_systemd(Reactor& reactor, SystemdNotifier& notifier, const Listeners& listeners) {
    notify_systemd(reactor, notifier, listeners.addresses);
}

/// Reads every TLS certificate and key again (certificate rotation, on SIGUSR2): new handshakes use the new
/// files; one that cannot be used is logged and the old certificate stays.
inline void reload_tls(const std::vector<std::shared_ptr<TlsContext>>& contexts) {
    for (const auto& context : contexts) {
        try {
            context->reload();
            WEFT_LOG(info) << "TLS certificates reloaded";
        } catch (const TlsError& e) {
            WEFT_LOG(error) << "TLS certificates not reloaded, the old ones stay: " << e.what();
        }
    }
}

/// Reloads every ssl: listener's certificates, each reactor's context on that reactor's thread.
inline void reload_tls_on(ReactorPool& pool, const PoolListeners& listeners) {
    for (const auto& port : listeners.ports) {
        for (std::size_t i = 0; i < port->tls_contexts().size(); ++i) {
            pool.at(i).call_from_thread([context = port->tls_contexts()[i]] { reload_tls({context}); });
        }
    }
}

}  // namespace weft::apps
