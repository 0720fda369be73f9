#include "udp/udp_port.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include "udp/multicast_options.hpp"
#include "udp/udp_buffers.hpp"
#include "weft/error.hpp"

namespace weft::detail {

namespace {
// The longest UDP payload: 65,535 less the UDP header (8) and, over IPv4, the IP header (20).
constexpr std::size_t max_ipv4_payload = 65507;
constexpr std::size_t max_ipv6_payload = 65527;
constexpr std::size_t max_packet_size_limit = 65536;

bool is_ipv4_destination(const DatagramAddress& a) {
    return a.sa.any.sa_family == AF_INET || IN6_IS_ADDR_V4MAPPED(&a.sa.v6.sin6_addr);
}

void check_length(std::size_t size, const DatagramAddress& to) {
    const std::size_t limit = is_ipv4_destination(to) ? max_ipv4_payload : max_ipv6_payload;
    if (size > limit) throw MessageLengthError(size, limit);
}

void check_range(const char* name, std::size_t value, std::size_t lo, std::size_t hi) {
    if (value < lo || value > hi) {
        throw Error(std::string("listen_udp: ") + name + " " + std::to_string(value) + " is out of range (" +
                    std::to_string(lo) + "-" + std::to_string(hi) + ")");
    }
}
}  // namespace

UdpPort::UdpPort(ReactorCore& core, DatagramProtocol& protocol, std::unique_ptr<DatagramProtocol> owned,
                 const UdpOptions& options)
    : core_(core),
      protocol_(protocol),
      owned_(std::move(owned)),
      options_(options),
      socket_(core.io()),
      id_(core.next_connection_id()),
      queue_(options.send_queue_datagrams, options.send_queue_bytes) {}

// No protocol call here: a port still listening is destroyed only with a reactor never shut down.
UdpPort::~UdpPort() = default;

std::string UdpPort::prefix() const { return "[udp " + std::to_string(id_) + " " + bound_.to_string() + "] "; }

void UdpPort::bind(std::uint16_t port) {
    const std::string iface = options_.interface.empty() ? "0.0.0.0" : options_.interface;
    const std::string where =
        "udp:" + (iface.find(':') != std::string::npos ? "[" + iface + "]" : iface) + ":" + std::to_string(port);
    boost::system::error_code ec;
    const auto addr = boost::asio::ip::make_address(iface, ec);
    if (ec) throw BindError(where + " (not a numeric address)", std::make_error_code(std::errc::invalid_argument));
    ipv6_ = addr.is_v6();
    const boost::asio::ip::udp::endpoint ep(addr, port);
    socket_.open(ep.protocol(), ec);
    if (!ec && options_.reuse_address) socket_.set_option(boost::asio::socket_base::reuse_address(true), ec);
    if (!ec && options_.broadcast) socket_.set_option(boost::asio::socket_base::broadcast(true), ec);
    if (!ec && options_.receive_buffer_size != 0) {
        socket_.set_option(boost::asio::socket_base::receive_buffer_size(static_cast<int>(options_.receive_buffer_size)), ec);
    }
    if (!ec && options_.send_buffer_size != 0) {
        socket_.set_option(boost::asio::socket_base::send_buffer_size(static_cast<int>(options_.send_buffer_size)), ec);
    }
    if (!ec) socket_.bind(ep, ec);
    if (!ec) socket_.non_blocking(true, ec);
    if (ec) {
        boost::system::error_code ignored;
        socket_.close(ignored);
        throw BindError(where, ec);
    }
    const auto local = socket_.local_endpoint(ec);
    bound_ = Address(local.address().to_string(), local.port());
}

void UdpPort::start() {
    listening_ = true;
    core_.add_udp(shared_from_this());
    WEFT_LOG(info) << "listening on udp:" << bound_.to_string();
    call_protocol("start_protocol", [this] { protocol_.make_connection(*this); });
    // The socket was registered with epoll when it was opened, before bind: whatever arrives raises an edge.
    if (listening_) wait_readable();
}

void UdpPort::detach() noexcept {
    listening_ = false;
    queue_.clear();
    boost::system::error_code ignored;
    socket_.close(ignored);
}

template <class F>
void UdpPort::call_protocol(const char* what, F&& fn) noexcept {
    try {
        std::forward<F>(fn)();
    } catch (const std::exception& e) {
        // A peer that can make the protocol throw can do it per datagram: one record per interval.
        if (core_.callback_error_log.allow(core_.now())) {
            WEFT_LOG(error) << prefix() << what << " threw: " << e.what() << "; the port carries on"
                            << LogRateLimiter::note(core_.callback_error_log);
        }
    } catch (...) {
        if (core_.callback_error_log.allow(core_.now())) {
            WEFT_LOG(error) << prefix() << what << " threw a non-std exception; the port carries on"
                            << LogRateLimiter::note(core_.callback_error_log);
        }
    }
}

void UdpPort::require_listening(const char* what) const {
    if (!listening_) throw StateError(std::string(what) + ": the UDP port is not listening");
}

// -- sending ----------------------------------------------------------------------------------------

bool UdpPort::write(std::string_view datagram, const Address& to) {
    WEFT_ASSERT_IN_LOOP(core_);
    if (!listening_) return false;
    if (to.is_unix()) throw InvalidAddressError(to.to_string(), "a UNIX socket address; a UDP port sends to IP addresses");
    const DatagramAddress* destination = nullptr;
    if (&to == current_from_) {
        destination = current_raw_;  // a reply to the datagram being delivered: its sender as the kernel gave it
    } else {
        if (!last_to_ || last_to_->host != to.host || last_to_->port != to.port) {
            last_raw_ = to_datagram_address(to.host, to.port, ipv6_);
            last_to_ = to;
        }
        destination = &last_raw_;
    }
    check_length(datagram.size(), *destination);
    return enqueue(datagram, destination);
}

bool UdpPort::write(std::string_view datagram) {
    WEFT_ASSERT_IN_LOOP(core_);
    if (!connected_) throw StateError("write(datagram): the UDP port is not connected (use write(datagram, address))");
    if (!listening_) return false;
    check_length(datagram.size(), connected_raw_);
    return enqueue(datagram, nullptr);
}

void UdpPort::connect(const std::string& host, std::uint16_t port) {
    WEFT_ASSERT_IN_LOOP(core_);
    require_listening("connect");
    if (connected_) throw StateError("connect: the UDP port is already connected (reconnecting is not supported)");
    const DatagramAddress to = to_datagram_address(host, port, ipv6_);
    if (::connect(fd(), to.get(), to.length) != 0) {
        throw UdpError("connect(" + Address(host, port).to_string() + ")", std::error_code(errno, std::system_category()));
    }
    connected_raw_ = to;
    connected_ = Address(host, port);
    WEFT_LOG(debug) << prefix() << "connected to " << connected_->to_string();
}

bool UdpPort::enqueue(std::string_view datagram, const DatagramAddress* to) {
    if (!queue_.fits(datagram.size())) {
        ++dropped_;
        if (drop_log_.allow(core_.now())) {
            WEFT_LOG(warning) << prefix() << "send queue full (" << queue_.size() << " datagrams, " << queue_.bytes()
                              << " bytes" << (blocked_ ? ", the socket's send buffer is full" : "")
                              << "); datagram of " << datagram.size() << " bytes dropped (" << dropped_
                              << " dropped so far)" << LogRateLimiter::note(drop_log_);
        }
        return false;
    }
    queue_.push(datagram, to);
    // Inside this port's own callbacks the batch's replies leave together right after it; otherwise
    // once at the end of the turn, with every other write of the turn.
    if (!in_receive_ && !blocked_ && !flush_scheduled_) {
        flush_scheduled_ = true;
        core_.schedule_flush(shared_from_this());
    }
    return true;
}

void UdpPort::run_scheduled_flush() {
    flush_scheduled_ = false;
    if (listening_ && !blocked_) flush(true);
}

void UdpPort::flush(bool callbacks) {
    auto& buffers = core_.udp_buffers();
    while (!queue_.empty()) {
        const std::size_t count = queue_.fill(buffers.send_messages.data(), buffers.send_iov.data(), UdpBuffers::max_batch);
        const int sent = send_for_testing_
                             ? send_for_testing_(fd(), buffers.send_messages.data(), static_cast<unsigned>(count),
                                                 MSG_DONTWAIT | MSG_NOSIGNAL)
                             : ::sendmmsg(fd(), buffers.send_messages.data(), static_cast<unsigned>(count),
                                          MSG_DONTWAIT | MSG_NOSIGNAL);
        ++core_.stats.datagram_send_calls;
        if (sent > 0) {
            queue_.pop(static_cast<std::size_t>(sent));
            continue;
        }
        const int error = errno;
        if (error == EINTR) continue;
        if (error == EAGAIN || error == EWOULDBLOCK) {
            // UDP has no backpressure: keep what is queued (its bounds drop the excess) until writable.
            if (callbacks) wait_writable();
            return;
        }
        if (error == ECONNREFUSED && connected_) {
            // An earlier datagram's ICMP error, reported on this send: this one was not sent; try it again.
            if (callbacks) {
                call_protocol("connection_refused", [this] { protocol_.connection_refused(); });
                if (!listening_) return;
            }
            continue;
        }
        drop_head(error);  // EMSGSIZE, ENETUNREACH, EACCES (broadcast not allowed), EPERM (firewall), ...
    }
}

void UdpPort::drop_head(int error) {
    ++dropped_;
    if (error_log_.allow(core_.now())) {
        const DatagramAddress* to = queue_.head_destination();
        const std::string where = to != nullptr ? to_address(*to).to_string()
                                                : (connected_ ? connected_->to_string() : std::string("?"));
        WEFT_LOG(warning) << prefix() << "datagram to " << where << " dropped: " << std::strerror(error) << " ("
                          << dropped_ << " dropped so far)" << LogRateLimiter::note(error_log_);
    }
    queue_.pop(1);
}

void UdpPort::wait_writable() {
    blocked_ = true;
    socket_.async_wait(Socket::wait_write, [self = shared_from_this()](const boost::system::error_code& ec) {
        self->blocked_ = false;
        if (ec || !self->listening_) return;
        self->flush(true);
    });
}

// -- receiving --------------------------------------------------------------------------------------

void UdpPort::wait_readable() {
    reading_ = true;
    socket_.async_wait(Socket::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
        self->reading_ = false;
        if (ec || !self->listening_) return;
        self->receive();
    });
}

void UdpPort::receive() {
    auto& buffers = core_.udp_buffers();
    const std::size_t slot = options_.max_packet_size;
    const std::size_t batch = std::min(UdpBuffers::batch_for(slot), options_.max_datagrams_per_turn);
    char* area = buffers.receive_area(slot * batch);
    std::size_t delivered = 0;
    while (listening_) {
        for (std::size_t i = 0; i < batch; ++i) {
            buffers.receive_iov[i] = ::iovec{area + i * slot, slot};
            ::msghdr& h = buffers.receive_messages[i].msg_hdr;
            h = ::msghdr{};
            h.msg_name = buffers.receive_names[i].get();
            h.msg_namelen = DatagramAddress::capacity;
            h.msg_iov = &buffers.receive_iov[i];
            h.msg_iovlen = 1;
        }
        // MSG_TRUNC: each msg_len is the datagram's real size, even when it did not fit its slot.
        const int n = ::recvmmsg(fd(), buffers.receive_messages.data(), static_cast<unsigned>(batch),
                                 MSG_TRUNC | MSG_DONTWAIT, nullptr);
        ++core_.stats.datagram_receive_calls;
        if (n < 0) {
            const int error = errno;
            if (error == EINTR) continue;
            if (error == EAGAIN || error == EWOULDBLOCK) break;
            if (error == ECONNREFUSED) {
                // Connected UDP: the peer's ICMP "port unreachable" for something we sent.
                if (connected_) call_protocol("connection_refused", [this] { protocol_.connection_refused(); });
                continue;
            }
            // An error that may repeat (ENOMEM, ...): wait for the next event instead of spinning.
            if (error_log_.allow(core_.now())) {
                WEFT_LOG(warning) << prefix() << "receive failed: " << std::strerror(error) << LogRateLimiter::note(error_log_);
            }
            break;
        }
        in_receive_ = true;
        for (int i = 0; i < n && listening_; ++i) {
            const ::mmsghdr& m = buffers.receive_messages[static_cast<std::size_t>(i)];
            DatagramAddress& from = buffers.receive_names[static_cast<std::size_t>(i)];
            from.length = m.msg_hdr.msg_namelen;
            const bool truncated = (m.msg_hdr.msg_flags & MSG_TRUNC) != 0 || m.msg_len > slot;
            deliver(std::string_view(area + static_cast<std::size_t>(i) * slot, truncated ? 0 : m.msg_len), m.msg_len,
                    truncated, from);
        }
        in_receive_ = false;
        if (listening_ && !blocked_ && !queue_.empty()) flush(true);  // the batch's replies, together
        delivered += static_cast<std::size_t>(n);
        if (static_cast<std::size_t>(n) < batch) break;  // recvmmsg stopped at EAGAIN: the socket is drained
        if (delivered >= options_.max_datagrams_per_turn) {
            // More may be waiting and the edge-triggered wait will not fire for it: go on next turn, after
            // the timers and other ports.
            reading_ = true;
            boost::asio::post(core_.io(), [self = shared_from_this()] {
                self->reading_ = false;
                if (self->listening_) self->receive();
            });
            return;
        }
    }
    if (listening_) wait_readable();
}

void UdpPort::deliver(std::string_view data, std::size_t size, bool truncated, const DatagramAddress& raw) {
    const Address from = to_address(raw);
    if (truncated) {
        ++truncated_;
        if (truncate_log_.allow(core_.now())) {
            WEFT_LOG(warning) << prefix() << "datagram of " << size << " bytes from " << from.to_string()
                              << " is longer than max_packet_size (" << options_.max_packet_size << "); not delivered"
                              << LogRateLimiter::note(truncate_log_);
        }
        call_protocol("datagram_truncated", [&] { protocol_.datagram_truncated(size, from); });
        return;
    }
    current_from_ = &from;
    current_raw_ = &raw;
    call_protocol("datagram_received", [&] { protocol_.datagram_received(data, from); });
    current_from_ = nullptr;
    current_raw_ = nullptr;
}

// -- stopping ---------------------------------------------------------------------------------------

void UdpPort::close() {
    listening_ = false;
    if (!queue_.empty()) {
        if (!blocked_) flush(false);  // one last non-blocking send of what the turn queued
        if (!queue_.empty()) {
            dropped_ += queue_.size();
            WEFT_LOG(info) << prefix() << queue_.size() << " queued datagrams dropped: the port stopped";
            queue_.clear();
        }
    }
    boost::system::error_code ignored;
    socket_.close(ignored);  // cancels the pending waits
    WEFT_LOG(info) << "stopped listening on udp:" << bound_.to_string();
    core_.remove_udp(shared_from_this());
}

void UdpPort::stop_listening() {
    WEFT_ASSERT_IN_LOOP(core_);
    if (!listening_) return;
    close();
    // On a later turn (Twisted: connectionLost is a callLater(0)): never inside the caller, which may be
    // the protocol itself.
    boost::asio::post(core_.io(), [self = shared_from_this()] {
        self->call_protocol("stop_protocol", [&] { self->protocol_.do_stop(); });
    });
}

void UdpPort::shutdown(bool force) {
    if (!listening_) return;
    if (force) queue_.clear();
    close();
    // The reactor's shutdown is no call of the protocol's own: tell it now, before the "after" triggers.
    call_protocol("stop_protocol", [this] { protocol_.do_stop(); });
}

// -- socket options ---------------------------------------------------------------------------------

void UdpPort::set_broadcast_allowed(bool allowed) {
    require_listening("set_broadcast_allowed");
    set_broadcast(fd(), allowed);
}
bool UdpPort::broadcast_allowed() const {
    require_listening("broadcast_allowed");
    return broadcast(fd());
}
void UdpPort::join_group(const std::string& group, const std::string& interface) {
    require_listening("join_group");
    set_membership(fd(), ipv6_, group, interface, true);
    WEFT_LOG(debug) << prefix() << "joined " << group << (interface.empty() ? "" : " on " + interface);
}
void UdpPort::leave_group(const std::string& group, const std::string& interface) {
    require_listening("leave_group");
    set_membership(fd(), ipv6_, group, interface, false);
    WEFT_LOG(debug) << prefix() << "left " << group << (interface.empty() ? "" : " on " + interface);
}
void UdpPort::set_ttl(int ttl) {
    require_listening("set_ttl");
    set_multicast_ttl(fd(), ipv6_, ttl);
}
int UdpPort::ttl() const {
    require_listening("ttl");
    return multicast_ttl(fd(), ipv6_);
}
void UdpPort::set_loopback_mode(bool enabled) {
    require_listening("set_loopback_mode");
    set_multicast_loop(fd(), ipv6_, enabled);
}
bool UdpPort::loopback_mode() const {
    require_listening("loopback_mode");
    return multicast_loop(fd(), ipv6_);
}
void UdpPort::set_outgoing_interface(const std::string& interface) {
    require_listening("set_outgoing_interface");
    set_multicast_interface(fd(), ipv6_, interface);
}
std::string UdpPort::outgoing_interface() const {
    require_listening("outgoing_interface");
    return multicast_interface(fd(), ipv6_);
}

// -- listen_udp -------------------------------------------------------------------------------------

std::shared_ptr<UdpPort> listen_udp(ReactorCore& core, std::uint16_t port, DatagramProtocol& protocol,
                                    std::unique_ptr<DatagramProtocol> owned, const UdpOptions& options) {
    check_range("max_packet_size", options.max_packet_size, 1, max_packet_size_limit);
    check_range("send_queue_datagrams", options.send_queue_datagrams, 1, std::size_t{1} << 24);
    check_range("send_queue_bytes", options.send_queue_bytes, 1, std::size_t{1} << 32);
    check_range("max_datagrams_per_turn", options.max_datagrams_per_turn, 1, std::size_t{1} << 24);
    if (protocol.has_transport()) throw StateError("listen_udp: the protocol already serves a UDP port");
    auto p = std::make_shared<UdpPort>(core, protocol, std::move(owned), options);
    p->bind(port);
    p->start();
    return p;
}

}  // namespace weft::detail
