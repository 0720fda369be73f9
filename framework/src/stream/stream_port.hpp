#pragma once
// StreamPort: a listening stream socket of any kind (TCP, UNIX) that accepts connections and builds a
// protocol for each (Twisted: IListeningPort).

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "reactor_core.hpp"
#include "tls/tls_layer.hpp"
#include "weft/tls_context.hpp"
#include "weft/factory.hpp"
#include "weft/listening_port.hpp"
#include "weft/log.hpp"

namespace weft::detail {

/// What differs between kinds of port is in `Kind` (TcpPortKind in tcp_port.hpp, UnixPortKind in
/// unix/unix_port.hpp):
///   using protocol_type = ...;                     // boost::asio::ip::tcp, boost::asio::local::stream_protocol
///   using Peer = ...;                              // the peer's address as the connection keeps it
///   static std::optional<Peer> peer_of(Socket&);   // nullopt: the peer is already gone
///   static Address address_of(const Peer&);
///   static void start_connection(ReactorCore&, Socket&&, const Peer&, std::unique_ptr<Protocol>);
///   void stopped() noexcept;                       // the port closed: remove its file, release its lock
/// Binding is the kind's own business (Reactor::listen_tcp, listen_unix): they bind acceptor() and call
/// start(). The accept loop is shared: several accepts per turn up to a cap, back-off on EMFILE.
/// Checks that `fd` is a listening stream socket of `domain` (AF_INET, AF_INET6, AF_UNIX) before a port
/// adopts it; throws BindError naming `what` otherwise.
void check_listening_socket(int fd, int domain, const std::string& what);

/// Builds the protocol of an accepted `socket` with `factory` and starts its connection on `core`: what a
/// port does with each socket it accepts, and what ReactorPool's acceptor strategy does on the reactor it
/// hands a socket to. A refusal (build_protocol returned nullptr) closes the socket, logged through
/// `refused_log`. The protocol's factory is `factory` unless build_protocol set one.
template <class Kind, class Socket>
void serve_accepted(ReactorCore& core, Socket socket, Factory& factory, const std::shared_ptr<TlsContext>& tls,
                    LogRateLimiter& refused_log) {
    const std::optional<typename Kind::Peer> peer = Kind::peer_of(socket);
    if (!peer) return;  // the peer is already gone
    const Address address = Kind::address_of(*peer);
    std::unique_ptr<Protocol> protocol;
    run_guarded("build_protocol", [&] { protocol = factory.build_protocol(address); });
    if (!protocol) {
        if (refused_log.allow(core.now())) {
            WEFT_LOG(info) << "connection from " << address.to_string() << " refused by the factory"
                           << LogRateLimiter::note(refused_log);
        }
        boost::system::error_code ignored;
        socket.close(ignored);
        return;
    }
    if (protocol->factory() == nullptr) protocol->set_factory(&factory);
    if (tls) protocol = wrap_in_tls(core, std::move(protocol), tls, {});
    Kind::start_connection(core, std::move(socket), *peer, std::move(protocol));
}

template <class Kind>
class StreamPort final : public ListeningPort, public std::enable_shared_from_this<StreamPort<Kind>> {
public:
    using Protocol_t = typename Kind::protocol_type;
    using Socket = boost::asio::basic_stream_socket<Protocol_t, boost::asio::io_context::executor_type>;
    using Acceptor = boost::asio::basic_socket_acceptor<Protocol_t, boost::asio::io_context::executor_type>;

    /// After EMFILE/ENFILE the port waits this long before accepting again, doubling up to the maximum:
    /// no busy loop while descriptors are exhausted, and accepting resumes by itself once they are back.
    static constexpr auto min_accept_backoff = std::chrono::milliseconds(10);
    static constexpr auto max_accept_backoff = std::chrono::milliseconds(1000);
    /// Connections accepted in one turn at most (Twisted's numberAccepts starts at 100). Accepting a burst
    /// in one turn lets the writes its connection_made calls cause (a chat room's join notices) leave in
    /// one flush pass instead of one per connection; the cap keeps a connect flood from hogging the loop.
    static constexpr std::size_t max_accepts_per_turn = 64;
    /// Records that repeat per connection under attack (failed accepts, refusals) are let through once
    /// per this interval per port, with the count of those held back.
    static constexpr auto repeated_log_interval = std::chrono::seconds(1);

    StreamPort(ReactorCore& core, Factory& factory, Kind kind)
        : core_(core), factory_(factory), kind_(std::move(kind)), acceptor_(core.io()), backoff_timer_(core.io()) {}
    // No factory call here: a port still listening is destroyed only with a reactor that was never shut
    // down, and by then the factory (often declared after the reactor) may already be gone.
    ~StreamPort() override {
        if (listening_) kind_.stopped();
    }
    StreamPort(const StreamPort&) = delete;
    StreamPort& operator=(const StreamPort&) = delete;

    Acceptor& acceptor() noexcept { return acceptor_; }
    Kind& kind() noexcept { return kind_; }
    /// Every connection accepted from now on speaks TLS with `context` (a server context; null: none).
    void use_tls(std::shared_ptr<TlsContext> context) {
        if (context && !context->is_server()) throw TlsError("a listening port needs a server TlsContext, not a client one");
        tls_ = std::move(context);
    }

    /// The acceptor is bound and listening at `bound`: start the factory and accept.
    void start(Address bound) {
        boost::system::error_code ec;
        acceptor_.non_blocking(true, ec);
        bound_ = std::move(bound);
        listening_ = true;
        core_.add_port(this->shared_from_this());
        run_guarded("start_factory", [this] { factory_.do_start(); });
        WEFT_LOG(info) << "listening on " << bound_.to_string() << (tls_ ? " (TLS)" : "");
        accept();
    }

    /// From now on every accepted socket goes to `hand_off` as a non-blocking descriptor, which it owns,
    /// instead of becoming a connection here (ReactorPool's acceptor strategy: another reactor serves it).
    /// Call on the port's reactor thread, or before it runs.
    void hand_off_to(std::function<void(int fd)> hand_off) { hand_off_ = std::move(hand_off); }
    [[nodiscard]] const std::shared_ptr<TlsContext>& tls() const noexcept { return tls_; }

    [[nodiscard]] std::uint16_t port() const noexcept override { return bound_.port; }
    [[nodiscard]] Address address() const override { return bound_; }
    [[nodiscard]] bool listening() const noexcept override { return listening_; }

    void stop_listening() override {
        if (!listening_) return;
        listening_ = false;
        boost::system::error_code ec;
        acceptor_.close(ec);
        backoff_timer_.cancel();
        kind_.stopped();
        WEFT_LOG(info) << "stopped listening on " << bound_.to_string();
        run_guarded("stop_factory", [this] { factory_.do_stop(); });
    }

private:
    /// Waits for the listening socket to be readable (a connection is pending).
    void accept() {
        // A wait, not async_accept: the accept itself is done below, several per turn, and the pending
        // wait's memory is a small fixed-size operation (idle connections later reuse blocks of that size).
        acceptor_.async_wait(Acceptor::wait_read, [self = this->shared_from_this()](const boost::system::error_code& ec) {
            if (!self->listening_ || ec == boost::asio::error::operation_aborted) return;
            if (ec) {
                if (self->accept_failed(ec)) self->accept();
                return;
            }
            self->accept_pending();
        });
    }

    /// Accepts what is pending, up to max_accepts_per_turn, then waits again (or continues next turn).
    void accept_pending() {
        for (std::size_t i = 0; i < max_accepts_per_turn; ++i) {
            if (!listening_) return;
            if (hand_off_) {
                // A plain accept4: the socket is registered only with the reactor that serves it.
                const int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                    const boost::system::error_code ec(errno, boost::system::system_category());
                    if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) return accept();
                    if (ec == boost::asio::error::interrupted) continue;
                    if (!accept_failed(ec)) return;
                    continue;
                }
                backoff_ = std::chrono::milliseconds(0);
                ++core_.stats.accepted;
                hand_off_(fd);
                continue;
            }
            Socket socket(core_.socket_context());  // with the EdgePoller, a context nobody runs
            boost::system::error_code ec;
            acceptor_.accept(socket, ec);  // the acceptor is non-blocking: would_block when none is pending
            if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) return accept();
            if (ec) {
                if (!accept_failed(ec)) return;
                continue;
            }
            accepted(std::move(socket));
        }
        // More may be pending, and the edge-triggered wait will not fire again for them: go on next turn,
        // after the handlers (and the flush) this burst queued.
        boost::asio::post(core_.io(), [self = this->shared_from_this()] { self->accept_pending(); });
    }

    /// False if accepting must pause (out of descriptors): the back-off timer then resumes it.
    bool accept_failed(const boost::system::error_code& ec) {
        ++core_.stats.accept_errors;
        // A peer that gave up before we accepted (ECONNABORTED, EPROTO) is nothing to wait for.
        if (ec == boost::asio::error::connection_aborted || ec.value() == EPROTO) {
            if (aborted_log_.allow(core_.now())) {
                WEFT_LOG(debug) << "accept on " << bound_.to_string() << " failed: " << ec.message() << "; carrying on"
                                << LogRateLimiter::note(aborted_log_);
            }
            return true;
        }
        // Out of resources, or an error that would only repeat (EPERM, EINVAL): back off rather than spin.
        backoff_ = std::min<std::chrono::milliseconds>(
            max_accept_backoff, backoff_.count() == 0 ? std::chrono::milliseconds(min_accept_backoff) : backoff_ * 2);
        if (failed_log_.allow(core_.now())) {
            WEFT_LOG(warning) << "accept on " << bound_.to_string() << " failed: " << ec.message()
                              << "; pausing accepts for " << backoff_.count() << " ms" << LogRateLimiter::note(failed_log_);
        }
        backoff_timer_.expires_after(backoff_);
        backoff_timer_.async_wait([self = this->shared_from_this()](const boost::system::error_code& e) {
            if (!e && self->listening_) self->accept_pending();
        });
        return false;
    }

    void accepted(Socket socket) {
        backoff_ = std::chrono::milliseconds(0);
        ++core_.stats.accepted;
        serve_accepted<Kind>(core_, std::move(socket), factory_, tls_, refused_log_);
    }

    ReactorCore& core_;
    Factory& factory_;
    Kind kind_;
    std::shared_ptr<TlsContext> tls_;
    Acceptor acceptor_;
    boost::asio::steady_timer backoff_timer_;
    std::chrono::milliseconds backoff_{0};
    LogRateLimiter aborted_log_{repeated_log_interval};  // ECONNABORTED/EPROTO (connect-then-RST floods)
    LogRateLimiter failed_log_{repeated_log_interval};   // EMFILE/ENFILE and other pausing errors
    LogRateLimiter refused_log_{repeated_log_interval};  // build_protocol returned nullptr
    Address bound_;
    bool listening_ = false;
    std::function<void(int fd)> hand_off_;
};

}  // namespace weft::detail
