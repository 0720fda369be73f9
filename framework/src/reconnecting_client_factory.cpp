#include "weft/reconnecting_client_factory.hpp"

#include <algorithm>
#include <utility>

#include "weft/log.hpp"

namespace weft {

ReconnectingClientFactory::~ReconnectingClientFactory() {
    // Cancelling releases the connector the retry held; the connector itself is not touched (it may be
    // gone already: a test's own, declared after the factory).
    if (call_.active()) call_.cancel();
}

void ReconnectingClientFactory::client_connection_failed(Connector& connector, const Reason& reason) {
    if (!continue_trying_) return;
    WEFT_LOG(debug) << "connection to " << connector.destination() << " failed (" << reason.message() << ")";
    retry(connector);
}

void ReconnectingClientFactory::client_connection_lost(Connector& connector, const Reason& reason) {
    if (!continue_trying_) return;
    WEFT_LOG(debug) << "connection to " << connector.destination() << " lost (" << reason.message() << ")";
    retry(connector);
}

void ReconnectingClientFactory::retry(Connector& connector) {
    // Twisted's algorithm: the first retry already waits initial_delay * factor.
    if (!continue_trying_) return;
    connector_ = &connector;
    if (!delay_initialised_) {
        delay_ = initial_delay;
        delay_initialised_ = true;
    }
    ++retries_;
    if (max_retries && retries_ > *max_retries) {
        WEFT_LOG(info) << "abandoning " << connector.destination() << " after " << *max_retries << " retries";
        connector_ = nullptr;  // no retry keeps it alive: it may be gone once this callback returns
        return;
    }
    delay_ = std::min(delay_ * factor, max_delay);
    if (jitter > 0) {
        std::normal_distribution<double> spread(delay_, delay_ * jitter);
        delay_ = std::max(0.0, spread(rng_));
    }
    WEFT_LOG(info) << "will retry " << connector.destination() << " in " << delay_ << " s";
    // The connector schedules (and is kept by) its own retry. A retry still scheduled for another
    // connector is dropped after, so that dropping it cannot take this one along.
    DelayedCall next = connector.retry_in(to_duration(std::chrono::duration<double>(delay_)), time_);
    if (call_.active() && !(call_ == next)) call_.cancel();
    call_ = std::move(next);
}

void ReconnectingClientFactory::stop_trying() {
    continue_trying_ = false;
    // connector_ is alive here: an attempt in progress is kept by the reactor, a connector waiting for
    // our retry by that retry. Cancelling the retry may let it go, so it is read before and not after.
    Connector* connector = std::exchange(connector_, nullptr);
    const bool connecting = connector != nullptr && connector->state() == Connector::State::connecting;
    if (call_.active()) call_.cancel();
    if (connecting) connector->stop_connecting();
}

void ReconnectingClientFactory::reset_delay() {
    delay_ = initial_delay;
    delay_initialised_ = true;
    retries_ = 0;
    continue_trying_ = true;
}

}  // namespace weft
