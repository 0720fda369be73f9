#include "tcp_port.hpp"

#include <cerrno>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include "reactor_core.hpp"
#include "tcp_connection.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"

namespace weft::detail {

TcpPort::TcpPort(ReactorCore& core, Factory& factory)
    : core_(core), factory_(factory), acceptor_(core.io()), backoff_timer_(core.io()) {}

// No factory call here: a port still listening is destroyed only with a reactor that was never shut
// down, and by then the factory (often declared after the reactor) may already be gone.
TcpPort::~TcpPort() = default;

Address TcpPort::address() const { return {bound_.address().to_string(), bound_.port()}; }

void TcpPort::start(std::uint16_t port, const ListenOptions& options) {
    const std::string iface = options.interface.empty() ? "0.0.0.0" : options.interface;
    const std::string where = (iface.find(':') != std::string::npos ? "[" + iface + "]" : iface) + ":" +
                              std::to_string(port);
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(iface, ec);
    if (ec) throw BindError(where, std::make_error_code(std::errc::invalid_argument));
    asio::ip::tcp::endpoint ep(addr, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec && options.reuse_address) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(options.backlog, ec);
    if (!ec) acceptor_.non_blocking(true, ec);
    if (ec) {
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        throw BindError(where, ec);
    }
    bound_ = acceptor_.local_endpoint(ec);
    listening_ = true;
    run_guarded("start_factory", [this] { factory_.do_start(); });
    WEFT_LOG(info) << "listening on " << address().to_string();
    accept();
}

void TcpPort::accept() {
    // A wait, not async_accept: the accept itself is done below, several per turn, and the pending wait's
    // memory is a small fixed-size operation (idle connections later reuse blocks of that size).
    acceptor_.async_wait(asio::socket_base::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (!self->listening_ || ec == asio::error::operation_aborted) return;
        if (ec) {
            if (self->accept_failed(ec)) self->accept();
            return;
        }
        self->accept_pending();
    });
}

void TcpPort::accept_pending() {
    for (std::size_t i = 0; i < max_accepts_per_turn; ++i) {
        if (!listening_) return;
        Socket socket(core_.io());
        boost::system::error_code ec;
        acceptor_.accept(socket, ec);  // the acceptor is non-blocking: would_block when none is pending
        if (ec == asio::error::would_block || ec == asio::error::try_again) return accept();
        if (ec) {
            if (!accept_failed(ec)) return;
            continue;
        }
        accepted(std::move(socket));
    }
    // More may be pending, and the edge-triggered wait will not fire again for them: go on next turn,
    // after the handlers (and the flush) this burst queued.
    asio::post(core_.io(), [self = shared_from_this()] { self->accept_pending(); });
}

bool TcpPort::accept_failed(const boost::system::error_code& ec) {
    ++core_.stats.accept_errors;
    // A peer that gave up before we accepted (ECONNABORTED, EPROTO) is nothing to wait for.
    if (ec == asio::error::connection_aborted || ec.value() == EPROTO) {
        if (aborted_log_.allow(core_.now())) {
            WEFT_LOG(debug) << "accept on " << address().to_string() << " failed: " << ec.message() << "; carrying on"
                            << LogRateLimiter::note(aborted_log_);
        }
        return true;
    }
    // Out of resources, or an error that would only repeat (EPERM, EINVAL): back off rather than spin.
    backoff_ = std::min<std::chrono::milliseconds>(
        max_accept_backoff, backoff_.count() == 0 ? std::chrono::milliseconds(min_accept_backoff) : backoff_ * 2);
    if (failed_log_.allow(core_.now())) {
        WEFT_LOG(warning) << "accept on " << address().to_string() << " failed: " << ec.message()
                          << "; pausing accepts for " << backoff_.count() << " ms" << LogRateLimiter::note(failed_log_);
    }
    backoff_timer_.expires_after(backoff_);
    backoff_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& e) {
        if (!e && self->listening_) self->accept_pending();
    });
    return false;
}

void TcpPort::accepted(Socket socket) {
    backoff_ = std::chrono::milliseconds(0);
    ++core_.stats.accepted;
    boost::system::error_code peer_ec;
    const auto peer_ep = socket.remote_endpoint(peer_ec);
    if (peer_ec) return;  // the peer is already gone
    const Address peer{peer_ep.address().to_string(), peer_ep.port()};
    std::unique_ptr<Protocol> protocol;
    run_guarded("build_protocol", [&] { protocol = factory_.build_protocol(peer); });
    if (!protocol) {
        if (refused_log_.allow(core_.now())) {
            WEFT_LOG(info) << "connection from " << peer.to_string() << " refused by the factory"
                           << LogRateLimiter::note(refused_log_);
        }
        boost::system::error_code ignored;
        socket.close(ignored);
        return;
    }
    protocol->set_factory(&factory_);
    auto connection = std::make_shared<TcpConnection>(core_, std::move(socket), peer_ep, std::move(protocol));
    connection->start();
}

void TcpPort::stop_listening() {
    if (!listening_) return;
    listening_ = false;
    boost::system::error_code ec;
    acceptor_.close(ec);
    backoff_timer_.cancel();
    WEFT_LOG(info) << "stopped listening on " << address().to_string();
    run_guarded("stop_factory", [this] { factory_.do_stop(); });
}

}  // namespace weft::detail
