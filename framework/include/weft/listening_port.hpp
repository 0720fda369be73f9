#pragma once
// ListeningPort: a bound, listening TCP socket (Twisted: IListeningPort).

#include <cstdint>

#include "weft/address.hpp"

namespace weft {

/// Returned by Reactor::listen_tcp. Accepting goes on until stop_listening() or reactor shutdown;
/// connections already accepted are not affected by stop_listening().
class ListeningPort {
public:
    virtual ~ListeningPort() = default;
    /// The bound port: the real one when 0 was asked for.
    [[nodiscard]] virtual std::uint16_t port() const noexcept = 0;
    /// The bound address (Twisted: getHost), with the real port when 0 was asked for; still answers after
    /// stop_listening().
    [[nodiscard]] virtual Address address() const = 0;
    /// Closes the listening socket; idempotent. The factory's stop_factory runs if this was its last port.
    virtual void stop_listening() = 0;
    /// True from the listen call until stop_listening() (or the reactor's shutdown) closed the socket.
    [[nodiscard]] virtual bool listening() const noexcept = 0;

protected:
    ListeningPort() = default;
    /// For implementations only; users hold a port through the pointer the reactor returns.
    /// @{
    ListeningPort(const ListeningPort&) = default;
    ListeningPort& operator=(const ListeningPort&) = default;
    /// @}
};

}  // namespace weft
