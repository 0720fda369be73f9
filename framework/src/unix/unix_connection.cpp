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
    // A file path needs its terminating NUL in sun_path; an abstract name ("@name") does not.
    const bool abstract = path.front() == '@';
    const std::size_t limit = abstract ? sun_path_size : sun_path_size - 1;
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

std::optional<PeerCredentials> UnixConnection::peer_credentials() const {
    ::ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(const_cast<UnixStream&>(backend()).socket().native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        return std::nullopt;
    }
    return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

}  // namespace weft::detail
