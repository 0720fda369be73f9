#pragma once
// UnixConnection: the UNIX socket transport, the stream core over a connected UNIX stream socket.

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/local/stream_protocol.hpp>

#include "stream/socket_stream.hpp"
#include "stream/stream_transport.hpp"
#include "weft/address.hpp"
#include "weft/unix_transport.hpp"

namespace weft::detail {

using LocalSocket = boost::asio::basic_stream_socket<boost::asio::local::stream_protocol, boost::asio::io_context::executor_type>;

/// The Address of a UNIX socket endpoint: its path, "@name" for Linux's abstract namespace, "" unnamed.
Address unix_address(const boost::asio::local::stream_protocol::endpoint& ep);
/// The endpoint of a path as weft writes it ("@name": abstract). The caller checked it (unix_path_error).
boost::asio::local::stream_protocol::endpoint unix_endpoint(const std::string& path);
/// Why `path` cannot name a UNIX socket (empty, a NUL byte, longer than sun_path), or "" if it can.
std::string unix_path_error(const std::string& path);

class UnixStream : public SocketStream<boost::asio::local::stream_protocol, UnixTransport, Address> {
public:
    using SocketStream::SocketStream;
    [[nodiscard]] const Address& peer() const noexcept { return peer_; }
    [[nodiscard]] Address host() const;
    [[nodiscard]] std::string describe(std::uint64_t id) const {
        return "unix " + std::to_string(id) + " " + peer_.to_string();
    }
};

/// The UNIX socket Transport: as TCP's, plus the peer's credentials.
class UnixConnection final : public StreamTransport<UnixStream> {
public:
    UnixConnection(ReactorCore& core, LocalSocket socket, Address peer, std::unique_ptr<Protocol> protocol)
        : StreamTransport(core, UnixStream(std::move(socket), std::move(peer)), std::move(protocol)) {}

    // UnixTransport
    [[nodiscard]] std::optional<PeerCredentials> peer_credentials() const override;
};

}  // namespace weft::detail
