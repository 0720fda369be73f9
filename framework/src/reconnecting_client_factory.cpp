#include "weft/reconnecting_client_factory.hpp"

#include <algorithm>
#include <utility>

#include "weft/log.hpp"

namespace weft {

ReconnectingClientFactory::~ReconnectingClientFactory() {
    // Only the retry is cancelled: the connector may already be gone (a test's own, declared after the
    // factory), so it is not touched. Call stop_trying() first to let the reactor release it.
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
    if (call_.active()) call_.cancel();
    call_ = time_.call_later(std::chrono::duration<double>(delay_), [&connector] { connector.connect(); });
}

void ReconnectingClientFactory::stop_trying() {
    continue_trying_ = false;
    // Forgotten in any case: the reactor keeps a connector only while it connects, is connected or waits
    // for a retry, so a pointer kept past this call could outlive it.
    Connector* connector = std::exchange(connector_, nullptr);
    const bool had_retry = call_.active();
    if (had_retry) call_.cancel();
    if (connector == nullptr) return;
    if (connector->state() == Connector::State::connecting) {
        connector->stop_connecting();
    } else if (had_retry) {
        connector->retry_abandoned();  // it was waiting, disconnected, for the retry
    }
}

void ReconnectingClientFactory::reset_delay() {
    delay_ = initial_delay;
    delay_initialised_ = true;
    retries_ = 0;
    continue_trying_ = true;
}

}  // namespace weft
