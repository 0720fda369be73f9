#pragma once
// UdpTransport: a bound UDP socket with its protocol (Twisted: udp.Port, IUDPTransport,
// IMulticastTransport), and UdpOptions for Reactor::listen_udp.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "weft/address.hpp"
#include "weft/error.hpp"

namespace weft {

/// A datagram longer than UDP can carry (65,507 bytes of payload over IPv4, 65,527 over IPv6), or one
/// the kernel refused as too long (Twisted: MessageLengthError). write() throws it for the first kind;
/// the second (EMSGSIZE at send time, e.g. larger than the path MTU with fragmentation forbidden) only
/// counts the datagram as dropped, since it is sent after write() returned.
class MessageLengthError : public Error {
public:
    /// `size`: the datagram's length; `limit`: the most UDP allows. Both in bytes; the message names both.
    MessageLengthError(std::size_t size, std::size_t limit)
        : Error("datagram of " + std::to_string(size) + " bytes is longer than UDP allows (" + std::to_string(limit) +
                " bytes)") {}
};

/// An address a UDP call cannot use: not a numeric IPv4/IPv6 address (weft never resolves names here, as
/// Twisted's write() refuses host names), an IPv6 address on an IPv4 socket, a UNIX address.
class InvalidAddressError : public Error {
public:
    /// The message quotes `address` and says `why` it cannot be used.
    InvalidAddressError(const std::string& address, const std::string& why)
        : Error("invalid address \"" + address + "\": " + why) {}
};

/// A socket option of a UDP port failed (multicast membership, TTL, interface, broadcast): says which
/// and the operating system's reason.
class UdpError : public Error {
public:
    /// `what` names the call (e.g. "set_ttl(300)"); the message appends `code`'s text.
    UdpError(const std::string& what, std::error_code code) : Error(what + ": " + code.message()), code_(code) {}
    /// The operating system's error (EINVAL, EADDRNOTAVAIL, ...).
    [[nodiscard]] std::error_code code() const noexcept { return code_; }

private:
    std::error_code code_;
};

/// join_group or leave_group failed (Twisted: MulticastJoinError).
class MulticastJoinError : public UdpError {
public:
    /// As UdpError's: the call and the operating system's error.
    using UdpError::UdpError;
};

/// Options of Reactor::listen_udp (Twisted: listenUDP's interface and maxPacketSize, listenMulticast's
/// listenMultiple).
struct UdpOptions {
    /// Numeric address to bind: "" = every IPv4 interface (0.0.0.0); an IPv6 address ("::", "::1") makes
    /// an IPv6 socket ("::" also receives IPv4, whose senders then read as plain IPv4 addresses).
    std::string interface;
    /// The longest datagram delivered whole (Twisted's default, 8192). A longer one is never cut: it is
    /// reported to datagram_truncated() with its real size and counted (truncated_datagrams()).
    std::size_t max_packet_size = 8192;
    /// SO_BROADCAST: sending to a broadcast address is allowed (set_broadcast_allowed() changes it later).
    bool broadcast = false;
    /// SO_REUSEADDR: several sockets may bind the same port; each member of a multicast group then gets
    /// every datagram sent to the group (Twisted: listenMulticast(listenMultiple=True)). All of them must
    /// set it.
    bool reuse_address = false;
    /// SO_RCVBUF / SO_SNDBUF in bytes (the kernel doubles it and caps it at net.core.rmem_max/wmem_max);
    /// 0 keeps the system default. A larger receive buffer absorbs longer bursts before the kernel drops.
    /// @{
    std::size_t receive_buffer_size = 0;
    std::size_t send_buffer_size = 0;
    /// @}
    /// The send queue's bounds: what write() queues and the kernel has not taken yet. A datagram that
    /// would exceed either is dropped (write() returns false) and counted (dropped_datagrams()).
    /// @{
    std::size_t send_queue_datagrams = 1024;
    std::size_t send_queue_bytes = 1024 * 1024;
    /// @}
    /// Datagrams delivered per loop turn at most; the rest waits for the next turn, so that a flood on one
    /// port cannot starve timers and other ports (Twisted bounds each doRead by maxThroughput, 256 KiB).
    std::size_t max_datagrams_per_turn = 256;
};

/// A bound UDP socket and its DatagramProtocol, returned by Reactor::listen_udp. The reactor holds it from
/// listen_udp until it stops (stop_listening() or reactor shutdown): the handle may be dropped. Release
/// handles before the reactor is destroyed (they hold its socket).
///
/// Contract (docs/udp.md):
/// - write() never sends inside the call and never calls the protocol back. It queues the datagram; the
///   datagrams written during one receive batch leave together right after it, those written at other
///   times at the end of the turn, in batches of up to 64 per sendmmsg. UDP has no backpressure: when
///   the kernel's send buffer is full (EAGAIN) the queue is kept and sent once the socket is writable;
///   when the queue itself is full (UdpOptions::send_queue_*) the new datagram is dropped, counted in
///   dropped_datagrams(), logged (rate-limited) and write() returns false. A datagram the kernel refuses
///   when it is sent (no route, EACCES for broadcast without permission, EMSGSIZE) is dropped the same
///   way. write() returns false without counting when the port has stopped.
/// - Bad arguments throw at once: InvalidAddressError for an address that is not numeric or not of the
///   socket's family, MessageLengthError for a datagram longer than UDP allows, StateError for write(data)
///   on a port that is not connected or connect() twice (as Twisted).
/// - After connect(), the socket only exchanges datagrams with that address; an ICMP "port unreachable"
///   from it surfaces as connection_refused() on the protocol (on the next receive or send).
/// - Every call is made on the loop thread.
class UdpTransport {
public:
    virtual ~UdpTransport() = default;

    /// Queues `datagram` for `to` (numeric host and port). True if queued, false if dropped (queue full)
    /// or the port has stopped. On an IPv6 socket an IPv4 address is sent to as IPv4 (mapped). On a connected
    /// port `to` must be the connected address (StateError otherwise, as Twisted asserts).
    virtual bool write(std::string_view datagram, const Address& to) = 0;
    /// Connected UDP: queues `datagram` for the connected address (StateError if not connected).
    virtual bool write(std::string_view datagram) = 0;
    /// Connects the socket to host:port (a numeric address; Twisted: connect). From then on only that
    /// peer's datagrams arrive, and its ICMP errors come as connection_refused(). Once per port.
    virtual void connect(const std::string& host, std::uint16_t port) = 0;
    /// The address given to connect(), if any.
    [[nodiscard]] virtual std::optional<Address> connected_address() const = 0;

    /// The bound address (Twisted: getHost); the real port when 0 was asked for.
    [[nodiscard]] virtual Address host() const = 0;
    /// The bound port, the real one when 0 was asked for (host().port).
    [[nodiscard]] virtual std::uint16_t port() const noexcept = 0;
    /// Closes the socket at once (what is queued gets one last non-blocking send; the kernel's refusals
    /// are dropped and counted); stop_protocol() runs on a later turn (Twisted: stopListening). Idempotent.
    virtual void stop_listening() = 0;
    /// True from listen_udp until stop_listening() or the reactor's shutdown. The socket option calls
    /// below (connect, broadcast, multicast) throw StateError once it is false.
    [[nodiscard]] virtual bool listening() const noexcept = 0;
    /// The number in this port's log records: `[udp ID HOST:PORT]`.
    [[nodiscard]] virtual std::uint64_t id() const noexcept = 0;
    /// The longest datagram delivered whole, in bytes (UdpOptions::max_packet_size).
    [[nodiscard]] virtual std::size_t max_packet_size() const noexcept = 0;

    /// Datagrams written but never sent: the send queue was full, or the kernel refused them.
    [[nodiscard]] virtual std::uint64_t dropped_datagrams() const noexcept = 0;
    /// Datagrams received longer than max_packet_size (reported to datagram_truncated, not delivered).
    [[nodiscard]] virtual std::uint64_t truncated_datagrams() const noexcept = 0;
    /// What the send queue holds now: datagrams and their bytes.
    /// @{
    [[nodiscard]] virtual std::size_t queued_datagrams() const noexcept = 0;
    [[nodiscard]] virtual std::size_t queued_bytes() const noexcept = 0;
    /// @}

    /// SO_BROADCAST (Twisted: setBroadcastAllowed / getBroadcastAllowed). Throws UdpError.
    /// @{
    virtual void set_broadcast_allowed(bool allowed) = 0;
    [[nodiscard]] virtual bool broadcast_allowed() const = 0;
    /// @}

    /// Joins the multicast group `group` (a numeric multicast address of the socket's family) on
    /// `interface`: for IPv4 a local numeric address ("" = the kernel picks by route), for IPv6 an
    /// interface name or index ("lo", "1"; "" = the kernel picks). Throws MulticastJoinError (Twisted's
    /// joinGroup returns a Deferred that fails with it) or InvalidAddressError.
    virtual void join_group(const std::string& group, const std::string& interface = "") = 0;
    /// Leaves a group joined with join_group (same arguments; Twisted: leaveGroup). Throws
    /// MulticastJoinError (e.g. not a member) or InvalidAddressError.
    virtual void leave_group(const std::string& group, const std::string& interface = "") = 0;
    /// Multicast time to live / hop limit, 0-255 (default 1: the local network only).
    /// set_ttl throws UdpError (EINVAL) outside 0-255.
    /// @{
    virtual void set_ttl(int ttl) = 0;
    [[nodiscard]] virtual int ttl() const = 0;
    /// @}
    /// Whether our own multicast datagrams come back to the sockets of this host that joined the group
    /// (default on, as the kernel has it).
    /// @{
    virtual void set_loopback_mode(bool enabled) = 0;
    [[nodiscard]] virtual bool loopback_mode() const = 0;
    /// @}
    /// The interface multicast datagrams leave by: IPv4 a local numeric address ("" = by route), IPv6 an
    /// interface name or index. outgoing_interface() reads it back ("0.0.0.0" / "" when unset).
    /// @{
    virtual void set_outgoing_interface(const std::string& interface) = 0;
    [[nodiscard]] virtual std::string outgoing_interface() const = 0;
    /// @}

protected:
    UdpTransport() = default;
    /// For implementations only; users hold the port through the pointer listen_udp returns.
    /// @{
    UdpTransport(const UdpTransport&) = default;
    UdpTransport& operator=(const UdpTransport&) = default;
    /// @}
};

}  // namespace weft
