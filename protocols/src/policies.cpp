#include "weft/protocols/policies.hpp"

#include <stdexcept>
#include <utility>
#include <vector>

#include "weft/error.hpp"
#include "weft/log.hpp"

namespace weft::protocols {

namespace {

void cancel_quietly(DelayedCall& call) noexcept {
    try {
        if (call.active()) call.cancel();
    } catch (const Error&) {
        // Already run or cancelled by someone else: nothing left to stop.
    }
    call = {};
}

Duration from_seconds(double s) { return to_duration(std::chrono::duration<double>(s)); }

}  // namespace

// ---------------------------------------------------------------------------------------------- TimeoutMixin

TimeoutMixin::~TimeoutMixin() { cancel_quietly(call_); }

std::optional<Duration> TimeoutMixin::set_timeout(std::optional<Duration> period) {
    const auto previous = period_;
    period_ = period;
    if (call_.active()) {
        if (period) {
            call_.reset(*period);
        } else {
            cancel_quietly(call_);
        }
    } else if (period) {
        call_ = time_->call_later(*period, [this] {
            call_ = {};
            timeout_connection();
        });
    }
    return previous;
}

void TimeoutMixin::reset_timeout() {
    if (call_.active() && period_) call_.reset(*period_);
}

void TimeoutMixin::timeout_connection() {
    // A mixin does not know its protocol; the usual case is a class that is both.
    if (auto* protocol = dynamic_cast<Protocol*>(this); protocol != nullptr && protocol->has_transport()) {
        protocol->transport().lose_connection();
    }
}

// ------------------------------------------------------------------------------------------- ProtocolWrapper

ProtocolWrapper::ProtocolWrapper(WrappingFactory& factory, std::unique_ptr<Protocol> wrapped)
    : wrapping_factory_(&factory), wrapped_(std::move(wrapped)) {
    if (!wrapped_) throw std::invalid_argument("ProtocolWrapper: no protocol to wrap");
}

ProtocolWrapper::~ProtocolWrapper() { release(); }

void ProtocolWrapper::release() noexcept {
    if (std::exchange(released_, true)) return;
    wrapping_factory_->unregister_protocol(*this);
}

void ProtocolWrapper::connection_made() {
    wrapping_factory_->register_protocol(*this);
    wrapped_->make_connection(*this);
}

void ProtocolWrapper::data_received(std::string_view data) { wrapped_->data_received(data); }

void ProtocolWrapper::connection_lost(const Reason& reason) {
    release();
    wrapped_->connection_lost(reason);
    lost_ = true;
}

void ProtocolWrapper::read_connection_lost() {
    if (auto* half = dynamic_cast<HalfCloseable*>(wrapped_.get()); half != nullptr) {
        half->read_connection_lost();
    } else {
        lose_connection();  // what the framework does for a protocol that is not half-closeable
    }
}

void ProtocolWrapper::write_connection_lost() {
    if (auto* half = dynamic_cast<HalfCloseable*>(wrapped_.get()); half != nullptr) half->write_connection_lost();
}

void ProtocolWrapper::write(std::string_view data) {
    if (has_transport() && !lost_) transport().write(data);
}

void ProtocolWrapper::write_sequence(std::span<const std::string_view> pieces) {
    if (has_transport() && !lost_) transport().write_sequence(pieces);
}

void ProtocolWrapper::write_shared(std::shared_ptr<const std::string> data) {
    if (has_transport() && !lost_) transport().write_shared(std::move(data));
}

void ProtocolWrapper::lose_connection() {
    if (has_transport() && !lost_) transport().lose_connection();
}

void ProtocolWrapper::abort_connection() {
    if (has_transport() && !lost_) transport().abort_connection();
}

void ProtocolWrapper::lose_write_connection() {
    if (has_transport() && !lost_) transport().lose_write_connection();
}

Address ProtocolWrapper::peer() const { return has_transport() && !lost_ ? transport().peer() : Address{}; }

Address ProtocolWrapper::host() const { return has_transport() && !lost_ ? transport().host() : Address{}; }

std::uint64_t ProtocolWrapper::id() const noexcept { return has_transport() && !lost_ ? transport().id() : 0; }

ConnectionState ProtocolWrapper::state() const noexcept {
    if (lost_) return ConnectionState::disconnected;
    if (!has_transport()) return ConnectionState::connecting;
    return transport().state();
}

std::size_t ProtocolWrapper::buffered_bytes() const noexcept {
    return has_transport() && !lost_ ? transport().buffered_bytes() : 0;
}

void ProtocolWrapper::set_write_buffer_limits(std::size_t high, std::size_t low) {
    if (has_transport() && !lost_) transport().set_write_buffer_limits(high, low);
}

TcpTransport* ProtocolWrapper::as_tcp() noexcept { return has_transport() && !lost_ ? transport().as_tcp() : nullptr; }

UnixTransport* ProtocolWrapper::as_unix() noexcept { return has_transport() && !lost_ ? transport().as_unix() : nullptr; }

void ProtocolWrapper::register_producer(Producer& producer, bool streaming) {
    if (!has_transport() || lost_) {
        producer.stop_producing();  // as a closed transport does
        return;
    }
    transport().register_producer(producer, streaming);
}

void ProtocolWrapper::pause_reading_while_backed_up() {
    if (has_transport() && !lost_) transport().pause_reading_while_backed_up();
}

void ProtocolWrapper::unregister_producer() {
    if (has_transport() && !lost_) transport().unregister_producer();
}

void ProtocolWrapper::pause_producing() {
    if (has_transport() && !lost_) transport().pause_producing();
}

void ProtocolWrapper::resume_producing() {
    if (has_transport() && !lost_) transport().resume_producing();
}

void ProtocolWrapper::stop_producing() {
    if (has_transport() && !lost_) transport().stop_producing();
}

// ------------------------------------------------------------------------------------------- WrappingFactory

std::unique_ptr<Protocol> WrappingFactory::build_from(Factory& factory, const Address& peer) {
    auto protocol = factory.build_protocol(peer);
    if (protocol) protocol->set_factory(&factory);
    return protocol;
}

std::unique_ptr<Protocol> WrappingFactory::build_protocol(const Address& peer) {
    auto inner = build_from(*wrapped_, peer);
    if (!inner) return nullptr;
    return wrap(std::move(inner), peer);
}

std::unique_ptr<ProtocolWrapper> WrappingFactory::wrap(std::unique_ptr<Protocol> wrapped, const Address& peer) {
    (void)peer;
    return std::make_unique<ProtocolWrapper>(*this, std::move(wrapped));
}

void WrappingFactory::register_protocol(ProtocolWrapper& protocol) { protocols_.insert(&protocol); }

void WrappingFactory::unregister_protocol(ProtocolWrapper& protocol) { protocols_.erase(&protocol); }

void WrappingFactory::started_connecting(Connector& connector) {
    if (auto* client = dynamic_cast<ClientFactory*>(wrapped_); client != nullptr) client->started_connecting(connector);
}

void WrappingFactory::client_connection_failed(Connector& connector, const Reason& reason) {
    if (auto* client = dynamic_cast<ClientFactory*>(wrapped_); client != nullptr) {
        client->client_connection_failed(connector, reason);
    }
}

void WrappingFactory::client_connection_lost(Connector& connector, const Reason& reason) {
    if (auto* client = dynamic_cast<ClientFactory*>(wrapped_); client != nullptr) {
        client->client_connection_lost(connector, reason);
    }
}

// ------------------------------------------------------------------------------ LimitTotalConnectionsFactory

std::unique_ptr<Protocol> LimitTotalConnectionsFactory::build_protocol(const Address& peer) {
    std::unique_ptr<Protocol> inner;
    if (!limit_ || count_ < *limit_) {
        inner = build_from(wrapped_factory(), peer);
    } else if (overflow_ != nullptr) {
        inner = build_from(*overflow_, peer);
    } else {
        WEFT_LOG(info) << "connection limit " << *limit_ << " reached: refusing " << peer.to_string();
        return nullptr;
    }
    if (!inner) return nullptr;
    auto wrapper = wrap(std::move(inner), peer);
    ++count_;
    return wrapper;
}

void LimitTotalConnectionsFactory::unregister_protocol(ProtocolWrapper& protocol) {
    WrappingFactory::unregister_protocol(protocol);
    if (count_ > 0) --count_;
}

namespace {

/// Writes the message and closes: what a connection over the limit hears.
class BusyProtocol final : public Protocol {
public:
    explicit BusyProtocol(const std::string& message) : message_(message) {}
    void connection_made() override {
        if (!message_.empty()) transport().write(message_);
        transport().lose_connection();
    }

private:
    const std::string& message_;
};

class BusyFactory final : public Factory {
public:
    explicit BusyFactory(std::string message) : message_(std::move(message)) {}
    std::unique_ptr<Protocol> build_protocol(const Address&) override { return std::make_unique<BusyProtocol>(message_); }

private:
    std::string message_;
};

/// Constructed before the limiting base (base-from-member): the base borrows what this owns, and this is
/// destroyed after it.
struct LimitOwned {
    std::shared_ptr<Factory> wrapped;
    std::unique_ptr<BusyFactory> busy;
};

class OwningLimitFactory final : private LimitOwned, public LimitTotalConnectionsFactory {
public:
    OwningLimitFactory(LimitOwned owned, std::size_t limit)
        : LimitOwned(std::move(owned)),
          LimitTotalConnectionsFactory(*LimitOwned::wrapped, limit, LimitOwned::busy.get()) {}
};

}  // namespace

std::unique_ptr<LimitTotalConnectionsFactory> limit_connections(std::shared_ptr<Factory> factory, std::size_t limit,
                                                                std::string busy_message) {
    if (!factory) throw std::invalid_argument("limit_connections: no factory");
    LimitOwned owned{std::move(factory), nullptr};
    if (!busy_message.empty()) owned.busy = std::make_unique<BusyFactory>(std::move(busy_message));
    return std::make_unique<OwningLimitFactory>(std::move(owned), limit);
}

// ------------------------------------------------------------------------------------ LimitConnectionsByPeer

std::unique_ptr<Protocol> LimitConnectionsByPeer::build_protocol(const Address& peer) {
    if (connections_from(peer.host) >= max_per_peer_) {
        WEFT_LOG(info) << "per-peer connection limit " << max_per_peer_ << " reached: refusing " << peer.to_string();
        return nullptr;
    }
    auto inner = build_from(wrapped_factory(), peer);
    if (!inner) return nullptr;
    auto wrapper = wrap(std::move(inner), peer);
    ++per_peer_[peer.host];
    host_of_[wrapper.get()] = peer.host;
    return wrapper;
}

void LimitConnectionsByPeer::unregister_protocol(ProtocolWrapper& protocol) {
    WrappingFactory::unregister_protocol(protocol);
    const auto it = host_of_.find(&protocol);
    if (it == host_of_.end()) return;
    if (const auto count = per_peer_.find(it->second); count != per_peer_.end() && --count->second == 0) {
        per_peer_.erase(count);
    }
    host_of_.erase(it);
}

std::size_t LimitConnectionsByPeer::connections_from(const std::string& host) const {
    const auto it = per_peer_.find(host);
    return it == per_peer_.end() ? 0 : it->second;
}

// ------------------------------------------------------------------------------------------- TimeoutProtocol

TimeoutProtocol::TimeoutProtocol(WrappingFactory& factory, std::unique_ptr<Protocol> wrapped, ReactorTime& time,
                                 std::optional<Duration> period)
    : ProtocolWrapper(factory, std::move(wrapped)), time_(&time), period_(period) {}

TimeoutProtocol::~TimeoutProtocol() { cancel_timeout(); }

void TimeoutProtocol::set_timeout(std::optional<Duration> period) {
    cancel_timeout();
    period_ = period;
    if (period) call_ = time_->call_later(*period, [this] {
        call_ = {};
        timeout_func();
    });
}

void TimeoutProtocol::cancel_timeout() noexcept {
    period_.reset();
    cancel_quietly(call_);
}

void TimeoutProtocol::reset_timeout() {
    if (call_.active() && period_) call_.reset(*period_);
}

void TimeoutProtocol::timeout_func() {
    WEFT_LOG(debug) << "connection " << id() << " to " << peer().to_string() << " timed out";
    lose_connection();
}

void TimeoutProtocol::connection_made() {
    set_timeout(period_);
    ProtocolWrapper::connection_made();
}

void TimeoutProtocol::data_received(std::string_view data) {
    reset_timeout();
    ProtocolWrapper::data_received(data);
}

void TimeoutProtocol::connection_lost(const Reason& reason) {
    cancel_timeout();
    ProtocolWrapper::connection_lost(reason);
}

void TimeoutProtocol::write(std::string_view data) {
    reset_timeout();
    ProtocolWrapper::write(data);
}

void TimeoutProtocol::write_sequence(std::span<const std::string_view> pieces) {
    reset_timeout();
    ProtocolWrapper::write_sequence(pieces);
}

void TimeoutProtocol::write_shared(std::shared_ptr<const std::string> data) {
    reset_timeout();
    ProtocolWrapper::write_shared(std::move(data));
}

std::unique_ptr<ProtocolWrapper> TimeoutFactory::wrap(std::unique_ptr<Protocol> wrapped, const Address& peer) {
    (void)peer;
    return std::make_unique<TimeoutProtocol>(*this, std::move(wrapped), *time_, period_);
}

// ---------------------------------------------------------------------------------------- ThrottlingProtocol

ThrottlingProtocol::ThrottlingProtocol(ThrottlingFactory& factory, std::unique_ptr<Protocol> wrapped)
    : ProtocolWrapper(factory, std::move(wrapped)), throttling_factory_(&factory) {}

ThrottlingProtocol::~ThrottlingProtocol() = default;

void ThrottlingProtocol::connection_made() {
    // A connection made while the factory throttles is throttled too.
    reads_throttled_ = throttling_factory_->reads_throttled();
    writes_throttled_ = throttling_factory_->writes_throttled();
    update_reading();
    ProtocolWrapper::connection_made();
}

void ThrottlingProtocol::data_received(std::string_view data) {
    throttling_factory_->register_read(data.size());
    ProtocolWrapper::data_received(data);
}

void ThrottlingProtocol::write(std::string_view data) {
    throttling_factory_->register_written(data.size());
    ProtocolWrapper::write(data);
}

void ThrottlingProtocol::write_sequence(std::span<const std::string_view> pieces) {
    std::size_t total = 0;
    for (const auto piece : pieces) total += piece.size();
    throttling_factory_->register_written(total);
    ProtocolWrapper::write_sequence(pieces);
}

void ThrottlingProtocol::write_shared(std::shared_ptr<const std::string> data) {
    if (data) throttling_factory_->register_written(data->size());
    ProtocolWrapper::write_shared(std::move(data));
}

void ThrottlingProtocol::register_producer(Producer& producer, bool streaming) {
    if (producer_ != nullptr) throw StateError("cannot register a producer: another one was never unregistered");
    producer_ = &producer;
    streaming_ = streaming;
    consumer_paused_ = producer_paused_ = pull_wanted_ = false;
    ProtocolWrapper::register_producer(gate_, streaming);
    update_writing();
}

void ThrottlingProtocol::unregister_producer() {
    producer_ = nullptr;
    ProtocolWrapper::unregister_producer();
}

void ThrottlingProtocol::pause_producing() {
    protocol_paused_reading_ = true;
    update_reading();
}

void ThrottlingProtocol::resume_producing() {
    protocol_paused_reading_ = false;
    update_reading();
}

void ThrottlingProtocol::throttle_reads() {
    reads_throttled_ = true;
    update_reading();
}

void ThrottlingProtocol::unthrottle_reads() {
    reads_throttled_ = false;
    update_reading();
}

void ThrottlingProtocol::throttle_writes() {
    writes_throttled_ = true;
    update_writing();
}

void ThrottlingProtocol::unthrottle_writes() {
    writes_throttled_ = false;
    update_writing();
}

void ThrottlingProtocol::update_reading() {
    const bool want = protocol_paused_reading_ || reads_throttled_;
    if (want == reading_paused_ || disconnecting()) return;
    reading_paused_ = want;
    if (want) {
        ProtocolWrapper::pause_producing();
    } else {
        ProtocolWrapper::resume_producing();
    }
}

void ThrottlingProtocol::update_writing() {
    if (producer_ == nullptr) return;
    if (streaming_) {
        const bool want = consumer_paused_ || writes_throttled_;
        if (want == producer_paused_) return;
        producer_paused_ = want;
        if (want) {
            producer_->pause_producing();
        } else {
            producer_->resume_producing();
        }
    } else if (!writes_throttled_ && std::exchange(pull_wanted_, false)) {
        producer_->resume_producing();
    }
}

void ThrottlingProtocol::WriteGate::pause_producing() {
    owner_->consumer_paused_ = true;
    owner_->update_writing();
}

void ThrottlingProtocol::WriteGate::resume_producing() {
    if (owner_->producer_ == nullptr) return;
    if (owner_->streaming_) {
        owner_->consumer_paused_ = false;
        owner_->update_writing();
    } else if (owner_->writes_throttled_) {
        owner_->pull_wanted_ = true;  // asked again once writes are unthrottled
    } else {
        owner_->producer_->resume_producing();
    }
}

void ThrottlingProtocol::WriteGate::stop_producing() {
    if (owner_->producer_ != nullptr) owner_->producer_->stop_producing();
}

// ----------------------------------------------------------------------------------------- ThrottlingFactory

ThrottlingFactory::ThrottlingFactory(Factory& wrapped, ReactorTime& time, ThrottlingOptions options)
    : WrappingFactory(wrapped), time_(&time), options_(options) {
    if ((options_.read_limit && *options_.read_limit == 0) || (options_.write_limit && *options_.write_limit == 0)) {
        throw std::invalid_argument("ThrottlingFactory: a bandwidth limit must be positive (std::nullopt: none)");
    }
}

ThrottlingFactory::~ThrottlingFactory() { cancel_timers(); }

std::unique_ptr<Protocol> ThrottlingFactory::build_protocol(const Address& peer) {
    if (count_ >= options_.max_connection_count) {
        WEFT_LOG(info) << "max connection count " << options_.max_connection_count << " reached: refusing "
                       << peer.to_string();
        return nullptr;
    }
    auto inner = build_from(wrapped_factory(), peer);
    if (!inner) return nullptr;
    auto wrapper = wrap(std::move(inner), peer);
    if (count_++ == 0) {
        if (options_.read_limit) check_read_bandwidth();
        if (options_.write_limit) check_write_bandwidth();
    }
    return wrapper;
}

std::unique_ptr<ProtocolWrapper> ThrottlingFactory::wrap(std::unique_ptr<Protocol> wrapped, const Address& peer) {
    (void)peer;
    return std::make_unique<ThrottlingProtocol>(*this, std::move(wrapped));
}

void ThrottlingFactory::unregister_protocol(ProtocolWrapper& protocol) {
    WrappingFactory::unregister_protocol(protocol);
    if (count_ > 0 && --count_ == 0) {
        // Nobody left to throttle: stop the clocks and forget the past second.
        cancel_timers();
        reads_throttled_ = writes_throttled_ = false;
        read_this_second_ = written_this_second_ = 0;
    }
}

void ThrottlingFactory::cancel_timers() noexcept {
    cancel_quietly(check_read_);
    cancel_quietly(check_write_);
    cancel_quietly(unthrottle_reads_);
    cancel_quietly(unthrottle_writes_);
}

void ThrottlingFactory::check_read_bandwidth() {
    if (read_this_second_ > *options_.read_limit) {
        throttle_reads();
        const double pause = static_cast<double>(read_this_second_) / static_cast<double>(*options_.read_limit) - 1.0;
        cancel_quietly(unthrottle_reads_);
        unthrottle_reads_ = time_->call_later(from_seconds(pause), [this] { unthrottle_reads(); });
    }
    read_this_second_ = 0;
    check_read_ = time_->call_later(std::chrono::seconds(1), [this] { check_read_bandwidth(); });
}

void ThrottlingFactory::check_write_bandwidth() {
    if (written_this_second_ > *options_.write_limit) {
        throttle_writes();
        const double pause =
            static_cast<double>(written_this_second_) / static_cast<double>(*options_.write_limit) - 1.0;
        cancel_quietly(unthrottle_writes_);
        unthrottle_writes_ = time_->call_later(from_seconds(pause), [this] { unthrottle_writes(); });
    }
    written_this_second_ = 0;
    check_write_ = time_->call_later(std::chrono::seconds(1), [this] { check_write_bandwidth(); });
}

namespace {
// Snapshot, so that a protocol reacting to (un)throttling cannot invalidate the iteration.
std::vector<ThrottlingProtocol*> throttling_protocols(const WrappingFactory& factory) {
    std::vector<ThrottlingProtocol*> out;
    out.reserve(factory.protocols().size());
    for (auto* p : factory.protocols()) out.push_back(static_cast<ThrottlingProtocol*>(p));
    return out;
}
}  // namespace

void ThrottlingFactory::throttle_reads() {
    WEFT_LOG(debug) << "throttling reads of " << protocols().size() << " connections";
    reads_throttled_ = true;
    for (auto* p : throttling_protocols(*this)) p->throttle_reads();
}

void ThrottlingFactory::unthrottle_reads() {
    WEFT_LOG(debug) << "no longer throttling reads";
    reads_throttled_ = false;
    for (auto* p : throttling_protocols(*this)) p->unthrottle_reads();
}

void ThrottlingFactory::throttle_writes() {
    WEFT_LOG(debug) << "throttling writes of " << protocols().size() << " connections";
    writes_throttled_ = true;
    for (auto* p : throttling_protocols(*this)) p->throttle_writes();
}

void ThrottlingFactory::unthrottle_writes() {
    WEFT_LOG(debug) << "no longer throttling writes";
    writes_throttled_ = false;
    for (auto* p : throttling_protocols(*this)) p->unthrottle_writes();
}

}  // namespace weft::protocols
