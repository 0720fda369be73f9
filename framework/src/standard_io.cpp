#include "weft/standard_io.hpp"

#include <unistd.h>

#include "reactor_core.hpp"
#include "stdio/pipe_stream.hpp"
#include "stream/stream_transport.hpp"
#include "weft/error.hpp"
#include "weft/reactor.hpp"

namespace weft {
namespace detail {

/// The stream core over the two descriptors. Handlers hold it by shared_ptr, so it outlives the
/// StandardIO when one is still queued; once detached or disconnected they find nothing to do.
class StandardIOImpl final : public StreamTransport<PipeStream> {
public:
    using StreamTransport::StreamTransport;
};

}  // namespace detail

namespace {
std::unique_ptr<Protocol> checked(std::unique_ptr<Protocol> protocol, int in_fd, int out_fd) {
    if (!protocol) throw StateError("StandardIO needs a protocol");
    if (in_fd == out_fd) throw StateError("StandardIO needs two different descriptors");
    return protocol;
}
}  // namespace

StandardIO::StandardIO(Reactor& reactor, std::unique_ptr<Protocol> protocol)
    : StandardIO(reactor, std::move(protocol), STDIN_FILENO, STDOUT_FILENO) {}

StandardIO::StandardIO(Reactor& reactor, std::unique_ptr<Protocol> protocol, int in_fd, int out_fd) {
    auto checked_protocol = checked(std::move(protocol), in_fd, out_fd);
    detail::ReactorCore& core = reactor.core();
    detail::PipeStream pipes = [&] {
        try {
            return detail::PipeStream(core.io(), in_fd, out_fd, "stdio");
        } catch (const Error& e) {
            throw Error(std::string("StandardIO: ") + e.what());
        }
    }();
    impl_ = std::make_shared<detail::StandardIOImpl>(core, std::move(pipes), std::move(checked_protocol));
    impl_->keep_protocol_after_lost();
    // connection_made runs here, as in Twisted; reading starts on the next turn.
    impl_->start(nullptr, false);
}

StandardIO::~StandardIO() { impl_->detach(); }

Protocol& StandardIO::protocol() const noexcept { return *impl_->protocol(); }
bool StandardIO::lost() const noexcept { return impl_->lost(); }

// After start_tls the calls go through the TLS layer: top() is it, or the stdio stream itself.
void StandardIO::write(std::string_view data) { impl_->top().write(data); }
void StandardIO::write_sequence(std::span<const std::string_view> pieces) { impl_->top().write_sequence(pieces); }
void StandardIO::write_shared(std::shared_ptr<const std::string> data) { impl_->top().write_shared(std::move(data)); }
void StandardIO::lose_connection() { impl_->top().lose_connection(); }
void StandardIO::abort_connection() { impl_->top().abort_connection(); }
void StandardIO::lose_write_connection() { impl_->top().lose_write_connection(); }
Address StandardIO::peer() const { return impl_->top().peer(); }
Address StandardIO::host() const { return impl_->top().host(); }
std::uint64_t StandardIO::id() const noexcept { return impl_->top().id(); }
ConnectionState StandardIO::state() const noexcept { return impl_->top().state(); }
std::size_t StandardIO::buffered_bytes() const noexcept { return impl_->top().buffered_bytes(); }
void StandardIO::set_write_buffer_limits(std::size_t high, std::size_t low) { impl_->top().set_write_buffer_limits(high, low); }
void StandardIO::register_producer(Producer& producer, bool streaming) { impl_->top().register_producer(producer, streaming); }
void StandardIO::unregister_producer() { impl_->top().unregister_producer(); }
void StandardIO::pause_producing() { impl_->top().pause_producing(); }
void StandardIO::resume_producing() { impl_->top().resume_producing(); }
void StandardIO::pause_reading_while_backed_up() { impl_->top().pause_reading_while_backed_up(); }
void StandardIO::stop_producing() { impl_->top().stop_producing(); }

TlsTransport* StandardIO::as_tls() noexcept { return impl_->top().as_tls(); }
void StandardIO::start_tls(std::shared_ptr<TlsContext> context, std::string_view already_received) {
    impl_->top().start_tls(std::move(context), already_received);
}

}  // namespace weft
