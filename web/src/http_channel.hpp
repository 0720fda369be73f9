#pragma once
// HttpChannel: the per-connection HTTP/1.1 protocol behind Site (Twisted: HTTPChannel). Private.

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <deque>
#include <optional>
#include <memory>
#include <string>
#include <string_view>

#include "weft/address.hpp"
#include "weft/delayed_call.hpp"
#include "weft/protocol.hpp"
#include "weft/web/request.hpp"

namespace weft::web {
class Site;
}

namespace weft::web::detail {

class RequestParser;  // Boost.Beast's basic_parser, kept inside http_channel.cpp

/// Reads requests with Beast's parser from data_received, hands each complete one to the site, and
/// writes the responses in request order.
class HttpChannel final : public Protocol {
public:
    explicit HttpChannel(Site& site);
    ~HttpChannel() override;

    void connection_made() override;
    void data_received(std::string_view data) override;
    void connection_lost(const Reason& reason) override;

    /// A request's response is complete (Request::finish).
    void request_finished(Request& request);

    // Streamed responses (http_streaming.cpp).
    /// The request's response is streamed from now on (Request::start_streaming).
    void start_streaming(Request& request);
    /// A piece of a streamed body (Request::write).
    void response_data(Request& request, std::string_view data);
    void producer_registered(Request& request);
    void producer_unregistered(Request& request);
    std::optional<std::size_t> send_file(Request& request, int fd, std::uint64_t offset, std::size_t count);

    // Called by the parser.
    /// A request line was parsed: the request its parser fills in.
    std::shared_ptr<Request> request_started(std::string_view method, std::string_view target, int version);
    static Request::Init& init_of(Request& request) noexcept { return request.init(RequestKey{}); }
    void header_parsed(std::shared_ptr<Request> request, bool expect_continue);
    void body_received(std::string_view data);
    [[nodiscard]] std::size_t max_headers() const noexcept;

private:
    struct Slot {
        std::shared_ptr<Request> request;  // null for an error answer made by the channel
        std::string response;              // the serialised response once ready
        bool ready = false;
        bool send_continue = false;        // a 100 Continue is owed before the response
        bool close_after = false;
        bool with_body = false;            // the request's response body follows `response`
        int status = 0;
        std::size_t body_bytes = 0;
        std::string request_line;          // for the access log
        // A streamed response (Request::start_streaming): `response` is its head, `ready` means finished.
        bool streaming = false;
        bool head_sent = false;
        bool chunked = false;
        std::optional<std::uint64_t> length_left;  // identity framing: bytes the Content-Length still allows
        std::string pending;               // body bytes written before this response's turn
        bool held = false;                 // its push producer is paused until this response's turn
    };

    /// Forwards the transport's pause/resume/stop to the producer of the streamed response on the wire.
    class BodyRelay final : public Producer {
    public:
        explicit BodyRelay(HttpChannel& channel) : channel_(channel) {}
        void pause_producing() override;
        void resume_producing() override;
        void stop_producing() override;

    private:
        HttpChannel& channel_;
    };

    void process();
    void parse();
    bool check_header_bytes();
    [[nodiscard]] bool well_formed_version() const;
    void message_done();
    void render(const std::shared_ptr<Request>& request);
    void fail(int status, std::string_view message);
    /// Writes the ready responses at the front; `front_head`, if given, is the front slot's head (built
    /// on the caller's stack) in place of its stored `response`.
    void flush(std::string_view front_head = {});
    /// Builds the slot's response head into its `response` (for later, or a streamed response).
    void serialise(Slot& slot);
    template <class Out>
    void build_head(Slot& slot, Out& out);
    Slot* slot_of(const Request& request);
    void streamed_framing(Slot& slot, std::optional<std::string_view> declared_length, std::string& out);
    /// Sends a streamed response's head and what waited; true once it is finished (then it is popped).
    bool send_streamed(Slot& slot);
    void relay_to(Request* request);
    void update_body_timer();
    void linger();
    void update_timers();
    void cancel_timers();
    void log_access(const Slot& slot);
    /// The Date header's line for now ("Date: <IMF-fixdate>\r\n").
    std::string_view date_line();
    void switch_protocols(std::unique_ptr<Protocol> protocol);
    [[nodiscard]] std::size_t in_flight() const noexcept { return slots_.size(); }

    Site& site_;
    std::unique_ptr<RequestParser> parser_;
    std::string input_;
    std::size_t consumed_ = 0;     // of input_, by the parser
    std::size_t header_scan_ = 0;  // input_ is checked for obs-fold up to here
    bool line_consumed_ = false;   // Beast has taken the request line of the request being parsed
    std::size_t header_consumed_ = 0;  // header bytes of that request Beast has taken
    std::deque<Slot> slots_;
    std::string spare_;  // a sent response head's buffer, reused by serialise(); freed when the connection idles
    std::optional<Address> peer_;  // the transport's peer(), once asked
    std::shared_ptr<Request> parsing_;  // the request whose header is in and whose body is being read
    bool processing_ = false;
    bool again_ = false;
    bool closing_ = false;      // no more requests are read
    bool paused_ = false;       // reading paused for the in-flight bound
    bool failed_ = false;       // an error answer is queued: nothing more is read
    bool want_flush_ = false;   // a 100 Continue became due inside the parser
    bool flushing_ = false;
    bool flush_again_ = false;
    bool lost_ = false;
    bool upgrade_pending_ = false;  // an upgrade request awaits its answer: nothing more is parsed
    std::unique_ptr<Protocol> switched_;  // the protocol the connection was handed to after a 101
    DelayedCall idle_timer_;   // may outlive an idle spell: it checks idle_ when it runs out
    bool idle_ = false;        // nothing pending or owed since the idle timer was last (re)armed
    DelayedCall header_timer_;
    DelayedCall linger_timer_;
    DelayedCall body_timer_;
    BodyRelay relay_{*this};
    Request* relayed_ = nullptr;  // the request whose producer the transport drives through relay_
    std::time_t date_second_ = -1;  // the second date_ was formatted for
    char date_[40] = {};  // "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" (37)
    std::size_t date_length_ = 0;
};

}  // namespace weft::web::detail
