#pragma once
// UnixTransport: what a UNIX socket connection offers beyond Transport.

#include <optional>
#include <sys/types.h>

#include "weft/transport.hpp"

namespace weft {

/// Who is at the other end of a UNIX socket, as the kernel recorded it when the connection was made
/// (SO_PEERCRED): not forgeable by the peer.
struct PeerCredentials {
    pid_t pid = 0;  ///< the peer's process id when it connected (or listened); it may have exited since
    uid_t uid = 0;  ///< the peer's effective user id
    gid_t gid = 0;  ///< the peer's effective group id
    /// All three fields equal.
    friend bool operator==(const PeerCredentials&, const PeerCredentials&) = default;
};

/// A UNIX socket connection's transport. Reach it with `transport().as_unix()` (nullptr otherwise).
class UnixTransport : public Transport {
public:
    /// The peer's process, user and group, read when the connection was made (so still there in
    /// connection_lost); empty if the kernel gave none.
    [[nodiscard]] virtual std::optional<PeerCredentials> peer_credentials() const = 0;

    [[nodiscard]] UnixTransport* as_unix() noexcept override { return this; }

protected:
    UnixTransport() = default;
};

}  // namespace weft
