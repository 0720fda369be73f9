#include "weft/testing/memory_reactor.hpp"

#include "../connection_made_listener.hpp"
#include "weft/error.hpp"

namespace weft::testing {

MemoryPort::MemoryPort(Address address, Factory& factory) : address_(std::move(address)), factory_(factory) {
    factory_.do_start();
}

void MemoryPort::stop_listening() {
    ++stop_listening_calls_;
    if (!listening_) return;
    listening_ = false;
    factory_.do_stop();
}

MemoryConnector::MemoryConnector(Address server_address, ClientFactory& factory)
    : server_address_(std::move(server_address)), factory_(factory) {}

void MemoryConnector::connect() {
    if (state_ != State::disconnected) throw StateError("connect() on a connector that is not disconnected");
    ++connect_calls_;
    state_ = State::connecting;
    started_delivered_ = false;
    if (!factory_started_) {
        factory_started_ = true;
        factory_.do_start();
    }
}

void MemoryConnector::stop_connecting() {
    ++stop_connecting_calls_;
    if (state_ != State::connecting) throw StateError("stop_connecting(): not connecting");
}

void MemoryConnector::disconnect() {
    ++disconnect_calls_;
    if (state_ == State::connecting) return stop_connecting();
    if (state_ == State::connected && pump() != nullptr) pump()->client_transport().lose_connection();
}

void MemoryConnector::begin_outcome() {
    if (state_ != State::connecting) throw StateError("the connector to " + destination() + " is not connecting");
    if (started_delivered_) return;
    started_delivered_ = true;
    factory_.started_connecting(*this);
    if (state_ != State::connecting) throw StateError("the factory ended the attempt in started_connecting");
}

PairOptions MemoryConnector::default_options() const {
    PairOptions options;
    options.server_address = server_address_;
    if (server_address_.is_unix()) options.client_address = Address::unix_socket("");
    return options;
}

IOPump& MemoryConnector::complete(Protocol& server, std::optional<PairOptions> options) {
    begin_outcome();
    const PairOptions opts = options ? *options : default_options();
    auto client = factory_.build_protocol(opts.server_address);
    if (!client) {
        fail(Reason::error("the factory built no protocol for " + destination()));
        throw StateError("complete(): the client factory built no protocol");
    }
    if (client->factory() == nullptr) client->set_factory(&factory_);
    state_ = State::connected;
    return attach(std::make_unique<IOPump>(server, std::move(client), opts));
}

IOPump& MemoryConnector::complete(Factory& server_factory, std::optional<PairOptions> options) {
    begin_outcome();
    const PairOptions opts = options ? *options : default_options();
    auto server = server_factory.build_protocol(opts.client_address);
    if (!server) throw StateError("complete(): the server factory built no protocol");
    server->set_factory(&server_factory);
    auto client = factory_.build_protocol(opts.server_address);
    if (!client) {
        fail(Reason::error("the factory built no protocol for " + destination()));
        throw StateError("complete(): the client factory built no protocol");
    }
    if (client->factory() == nullptr) client->set_factory(&factory_);
    state_ = State::connected;
    return attach(std::make_unique<IOPump>(std::move(server), std::move(client), opts));
}

IOPump& MemoryConnector::attach(std::unique_ptr<IOPump> pump) {
    pump->on_lost(1, [this](const Reason& reason) { connection_lost(reason); });
    pumps_.push_back(std::move(pump));
    IOPump& attached = *pumps_.back();
    // The pair's constructor ran connection_made on both ends, as a real connection does before its first read.
    if (auto* listener = dynamic_cast<detail::ConnectionMadeListener*>(&factory_)) listener->connection_made(*this);
    return attached;
}

void MemoryConnector::fail(const Reason& reason) {
    begin_outcome();
    state_ = State::disconnected;
    factory_.client_connection_failed(*this, reason);
    settle();
}

void MemoryConnector::connection_lost(const Reason& reason) {
    state_ = State::disconnected;
    factory_.client_connection_lost(*this, reason);
    settle();
}

void MemoryConnector::settle() {
    if (state_ != State::disconnected || !factory_started_) return;  // the factory connected again
    factory_started_ = false;
    factory_.do_stop();
}

namespace {
Address listen_address(const std::string& interface, std::uint16_t port) {
    if (interface.empty()) return {"0.0.0.0", port};
    return {interface, port};
}
}  // namespace

std::shared_ptr<ListeningPort> MemoryReactor::listen_tcp(std::uint16_t port, Factory& factory, ListenOptions options) {
    const std::uint16_t bound = port != 0 ? port : next_port_++;
    auto handle = std::make_shared<MemoryPort>(listen_address(options.interface, bound), factory);
    tcp_servers.push_back({port, factory, std::move(options), handle});
    return handle;
}

std::shared_ptr<Connector> MemoryReactor::connect_tcp(std::string host, std::uint16_t port, ClientFactory& factory,
                                                      ConnectOptions options) {
    auto connector = std::make_shared<MemoryConnector>(Address{host, port}, factory);
    tcp_clients.push_back({std::move(host), port, factory, std::move(options), connector});
    connector->connect();
    return connector;
}

std::shared_ptr<ListeningPort> MemoryReactor::listen_unix(std::string path, Factory& factory, UnixListenOptions options) {
    auto handle = std::make_shared<MemoryPort>(Address::unix_socket(path), factory);
    unix_servers.push_back({std::move(path), factory, options, handle});
    return handle;
}

std::shared_ptr<Connector> MemoryReactor::connect_unix(std::string path, ClientFactory& factory,
                                                       UnixConnectOptions options) {
    auto connector = std::make_shared<MemoryConnector>(Address::unix_socket(path), factory);
    unix_clients.push_back({std::move(path), factory, options, connector});
    connector->connect();
    return connector;
}

std::shared_ptr<ListeningPort> MemoryReactor::adopt_stream_port(int fd, SocketFamily family, Factory& factory) {
    Address address;
    switch (family) {
        case SocketFamily::inet: address = {"0.0.0.0", 1234}; break;
        case SocketFamily::inet6: address = {"::", 1234}; break;
        case SocketFamily::unix_socket: address = Address::unix_socket(""); break;
    }
    auto handle = std::make_shared<MemoryPort>(std::move(address), factory);
    adopted.push_back({fd, family, factory, handle});
    return handle;
}

}  // namespace weft::testing
