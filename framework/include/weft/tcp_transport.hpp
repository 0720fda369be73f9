#pragma once
// TcpTransport: what a TCP connection offers beyond Transport (Twisted: ITCPTransport).

#include "weft/transport.hpp"

namespace weft {

/// A TCP connection's transport. Reach it from any transport with `transport().as_tcp()` (nullptr when
/// the connection is not TCP, e.g. a UNIX socket or stdio).
class TcpTransport : public Transport {
public:
    /// TCP_NODELAY (Nagle off). TCP connections start with it on: weft gathers each turn's writes into one
    /// system call itself (Twisted leaves it off). Returns false if the socket refused the option.
    virtual bool set_tcp_nodelay(bool enabled) = 0;
    /// SO_KEEPALIVE. Returns false if the socket refused the option.
    virtual bool set_tcp_keepalive(bool enabled) = 0;

    [[nodiscard]] TcpTransport* as_tcp() noexcept override { return this; }

protected:
    TcpTransport() = default;
};

}  // namespace weft
