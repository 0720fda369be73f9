#pragma once
// UnixConnector: an outgoing UNIX socket connection attempt (Twisted: connectUNIX).

#include <memory>
#include <string>

#include "connector_base.hpp"
#include "unix/unix_connection.hpp"
#include "weft/reactor_network.hpp"

namespace weft::detail {

/// Connects to a UNIX socket path ("@name": abstract). With check_pid, an attempt fails at once unless a
/// live process holds PATH.lock (the server's listen_unix lock).
class UnixConnector final : public ConnectorBase {
public:
    UnixConnector(ReactorCore& core, std::string path, ClientFactory& factory, UnixConnectOptions options);

    /// "unix:PATH".
    [[nodiscard]] std::string destination() const override;

private:
    void start_attempt() override;
    void abandon_attempt() noexcept override;
    std::shared_ptr<UnixConnector> self() { return std::static_pointer_cast<UnixConnector>(shared_from_this()); }

    std::string path_;
    UnixConnectOptions options_;
    LocalSocket socket_;
};

}  // namespace weft::detail
