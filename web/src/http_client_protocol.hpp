#pragma once
// HttpClientProtocol: one client connection of the Agent (Twisted: HTTP11ClientProtocol). Private.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "weft/deferred.hpp"
#include "weft/delayed_call.hpp"
#include "weft/protocol.hpp"
#include "weft/reactor_time.hpp"
#include "weft/web/agent.hpp"

namespace weft::web::detail {

class ResponseParser;  // Boost.Beast's basic_parser, kept inside http_client_protocol.cpp

/// The failure of a request on a reused connection that ended before any byte of the response came:
/// the server probably closed the idle connection as the request went out, so an idempotent request may
/// be sent again on a new connection.
class StaleConnection : public ResponseFailed {
public:
    using ResponseFailed::ResponseFailed;
};

/// What the protocol tells the pool: it is reusable (after a complete response both sides keep open),
/// or it is gone (closing, lost).
class ConnectionPool {
public:
    virtual ~ConnectionPool() = default;
    virtual void connection_idle(class HttpClientProtocol& connection) = 0;
    virtual void connection_gone(class HttpClientProtocol& connection) = 0;
};

struct ClientLimits {
    std::uint64_t max_body_bytes = 0;
    std::size_t max_header_bytes = 0;
};

/// Sends one request at a time and reads its response with Beast's response parser.
class HttpClientProtocol final : public Protocol {
public:
    HttpClientProtocol(std::weak_ptr<ConnectionPool> pool, std::string key, ClientLimits limits);
    ~HttpClientProtocol() override;

    /// Writes `request` (serialised whole) and fires with its response. `head`: the response has no body.
    /// `reused`: the connection served a request before (a failure before any response byte is then a
    /// StaleConnection). Cancelling aborts the connection.
    Deferred<Response> send(std::string request, bool head, bool close_after, bool reused);

    void connection_made() override {}
    void data_received(std::string_view data) override;
    void connection_lost(const Reason& reason) override;

    [[nodiscard]] const std::string& key() const noexcept { return key_; }
    /// Closes an idle connection after `timeout` on `time`.
    void start_idle_timer(ReactorTime& time, Duration timeout);
    /// Closes the connection (idle or not); the pool hears connection_gone.
    void close();

    struct Exchange;

private:
    void parse();
    void complete();
    void fail(Failure failure);
    void gone();

    std::weak_ptr<ConnectionPool> pool_;
    std::string key_;
    ClientLimits limits_;
    std::unique_ptr<ResponseParser> parser_;
    std::shared_ptr<Exchange> current_;
    std::string input_;
    bool lost_ = false;
    bool closing_ = false;
    bool gone_ = false;
    DelayedCall idle_timer_;
};

}  // namespace weft::web::detail
