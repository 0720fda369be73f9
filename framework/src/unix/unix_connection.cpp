#include "unix/unix_connection.hpp"

#include <sys/socket.h>
#include <sys/un.h>

namespace weft::detail {

Address unix_address(const boost::asio::local::stream_protocol::endpoint& ep) {
    std::string path = ep.path();
    if (!path.empty() && path.front() == '\0') path.front() = '@';
    return Address::unix_socket(std::move(path));
}

boost::asio::local::stream_protocol::endpoint unix_endpoint(const std::string& path) {
    if (!path.empty() && path.front() == '@') {
        std::string abstract = path;
        abstract.front() = '\0';
        return boost::asio::local::stream_protocol::endpoint(abstract);
    }
    return boost::asio::local::stream_protocol::endpoint(path);
}

std::string unix_path_error(const std::string& path) {
    constexpr std::size_t sun_path_size = sizeof(::sockaddr_un::sun_path);  // 108 on Linux
    if (path.empty()) return "the path is empty";
    if (path.find('\0') != std::string::npos) return "the path holds a NUL byte";
    // A file path needs its terminating NUL in sun_path; Asio also refuses a 108-byte abstract name, so
    // both are held to 107 bytes (the '@' of an abstract name counted).
    const std::size_t limit = sun_path_size - 1;
    if (path.size() > limit) {
        return "the path is " + std::to_string(path.size()) + " bytes long; a UNIX socket's is at most " +
               std::to_string(limit);
    }
    return {};
}

Address UnixStream::host() const {
    boost::system::error_code ec;
    auto ep = socket().local_endpoint(ec);
    return ec ? Address::unix_socket("") : unix_address(ep);
}

UnixConnection::UnixConnection(ReactorCore& core, LocalSocket socket, Address peer, std::unique_ptr<Protocol> protocol)
    : StreamTransport(core, UnixStream(core, std::move(socket), std::move(peer)), std::move(protocol)) {
    // Read once, now: the kernel recorded them at connect time, and they must still be there in
    // connection_lost ("uid 1000 left"), after the socket is closed.
    ::ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(backend().socket().native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        credentials_ = PeerCredentials{cred.pid, cred.uid, cred.gid};
    }
}

}  // namespace weft::detail
