#include "unix/unix_connector.hpp"

#include "reactor_core.hpp"
#include "unix/unix_port.hpp"

namespace weft::detail {

UnixConnector::UnixConnector(ReactorCore& core, std::string path, ClientFactory& factory, UnixConnectOptions options)
    : ConnectorBase(core, factory, options.timeout), path_(std::move(path)), options_(options), socket_(core.io()) {
    use_tls(options_.tls, "");
}

std::string UnixConnector::destination() const { return Address::unix_socket(path_).to_string(); }

void UnixConnector::start_attempt() {
    // Already on a later turn than connect() (ConnectorBase posts the attempt): failing here is no re-entrancy.
    if (const std::string why = unix_path_error(path_); !why.empty()) {
        return fail(Reason::error("cannot connect to " + destination() + ": " + why));
    }
    const bool abstract = path_.front() == '@';
    if (options_.check_pid && !abstract && !unix_lock_holder(path_)) {
        return fail(Reason::lost(std::make_error_code(std::errc::connection_refused),
                                       "cannot connect to " + destination() + ": no live process holds " + path_ +
                                           ".lock (check_pid)"));
    }
    boost::system::error_code ec;
    socket_ = LocalSocket(core_.io());
    socket_.open(boost::asio::local::stream_protocol(), ec);
    if (ec) return fail(Reason::lost(ec, "cannot connect to " + destination() + ": " + ec.message()));
    socket_.async_connect(unix_endpoint(path_), [self = self(), attempt = attempt()](const boost::system::error_code& e) {
        if (!self->current(attempt)) return;
        if (e) {
            boost::system::error_code ignored;
            self->socket_.close(ignored);
            return self->fail(Reason::lost(e, "cannot connect to " + self->destination() + ": " + e.message()));
        }
        // A UNIX server whose backlog is full makes connect() say EAGAIN, which Asio takes for "in
        // progress"; the unconnected socket then polls writable with no error. Only a socket with a peer
        // is connected.
        boost::system::error_code peer_ec;
        self->socket_.remote_endpoint(peer_ec);
        if (peer_ec) {
            boost::system::error_code ignored;
            self->socket_.close(ignored);
            return self->fail(Reason::lost(std::make_error_code(std::errc::resource_unavailable_try_again),
                                           "cannot connect to " + self->destination() +
                                               ": the server's backlog is full"));
        }
        auto protocol = self->make_protocol(Address::unix_socket(self->path_));
        if (!protocol) return;  // the attempt has failed (or was stopped) already
        auto connection = std::make_shared<UnixConnection>(self->core_, std::move(self->socket_),
                                                           Address::unix_socket(self->path_), std::move(protocol));
        self->attach(connection);
        connection->start(self);
    });
}

void UnixConnector::abandon_attempt() noexcept {
    boost::system::error_code ec;
    socket_.close(ec);
}

}  // namespace weft::detail
