#pragma once
// Site: the HTTP/1.1 server as a weft Factory (Twisted: twisted.web.server.Site).

#include <memory>

#include "weft/factory.hpp"
#include "weft/reactor_time.hpp"
#include "weft/web/resource.hpp"
#include "weft/web/server_options.hpp"

namespace weft::web {

/// Serves a Resource tree over HTTP/1.1 on every connection it builds: listen with
/// `reactor.listen_tcp(port, site)` (or any stream endpoint).
///
/// Contract: each connection parses requests with Boost.Beast's parser, keeps the connection alive as
/// HTTP/1.1 and HTTP/1.0 say, answers pipelined requests in order, and enforces `options` (limits and
/// timeouts on `time`). The site, its root and `time` must outlive its connections.
class Site : public Factory {
public:
    /// Serves `root` (shared; throws std::invalid_argument if null) with `options`; `time` is borrowed and
    /// runs every connection's timeouts.
    Site(ReactorTime& time, std::shared_ptr<Resource> root, ServerOptions options = {});

    /// A new HTTP connection for `peer`; never nullptr (connection limits belong in a policies.hpp wrapper).
    std::unique_ptr<Protocol> build_protocol(const Address& peer) override;

    /// The root of the resource tree.
    [[nodiscard]] Resource& root() const noexcept { return *root_; }
    /// The limits and timeouts given to the constructor, applied to every connection.
    [[nodiscard]] const ServerOptions& options() const noexcept { return options_; }
    /// The ReactorTime the connections' timeouts run on.
    [[nodiscard]] ReactorTime& time() const noexcept { return *time_; }

    /// Finds the resource for `request` from the root, segment by segment (Twisted: getResourceFor).
    std::shared_ptr<Resource> resource_for(Request& request);

private:
    ReactorTime* time_;
    std::shared_ptr<Resource> root_;
    ServerOptions options_;
};

}  // namespace weft::web
