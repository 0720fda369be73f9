#pragma once
// DatagramProtocol: what users subclass to handle a UDP port's datagrams (Twisted: DatagramProtocol,
// ConnectedDatagramProtocol's connectionRefused).

#include <cstddef>
#include <string_view>

#include "weft/address.hpp"
#include "weft/udp_transport.hpp"

namespace weft {

/// A UDP port's behaviour. Subclass it and override the callbacks.
///
/// Contract: every callback runs on the reactor thread, never inside a call the protocol made into weft
/// (write() never delivers anything). start_protocol comes first (inside listen_udp, once the socket is
/// bound), then datagram_received / datagram_truncated / connection_refused any number of times, then
/// stop_protocol exactly once (on a later turn after stop_listening(), or during reactor shutdown); after
/// it the transport is gone. A callback that throws is logged (rate-limited) and the port carries on.
/// A protocol serves one port at a time.
class DatagramProtocol {
public:
    virtual ~DatagramProtocol() = default;
    DatagramProtocol() = default;
    DatagramProtocol(const DatagramProtocol&) = delete;
    DatagramProtocol& operator=(const DatagramProtocol&) = delete;

    /// Called by the framework (or a test) to attach the transport; calls start_protocol().
    void make_connection(UdpTransport& transport) {
        transport_ = &transport;
        start_protocol();
    }
    /// Called by the framework when the port stopped: calls stop_protocol(), then detaches the transport.
    void do_stop() {
        struct Detach {
            DatagramProtocol& p;
            ~Detach() { p.transport_ = nullptr; }
        } detach{*this};
        stop_protocol();
    }

    /// The port is listening; transport() is usable (Twisted: startProtocol).
    virtual void start_protocol() {}
    /// The port has stopped (Twisted: stopProtocol). Do not write after this.
    virtual void stop_protocol() {}
    /// One whole datagram from `from`. Both views are valid only during the call.
    virtual void datagram_received(std::string_view data, const Address& from) {
        (void)data;
        (void)from;
    }
    /// A datagram of `size` bytes, more than the port's max_packet_size, arrived from `from`: it is not
    /// delivered (never silently cut; Twisted would deliver its first maxPacketSize bytes).
    virtual void datagram_truncated(std::size_t size, const Address& from) {
        (void)size;
        (void)from;
    }
    /// Connected UDP: the peer's host answered with ICMP "port unreachable" (Twisted: connectionRefused).
    virtual void connection_refused() {}

    /// Valid between make_connection and the end of stop_protocol.
    [[nodiscard]] UdpTransport& transport() const noexcept { return *transport_; }
    /// True between make_connection and the end of stop_protocol: while transport() may be used.
    [[nodiscard]] bool has_transport() const noexcept { return transport_ != nullptr; }

private:
    UdpTransport* transport_ = nullptr;
};

}  // namespace weft
