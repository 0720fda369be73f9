#include "tls/tls_layer.hpp"

#include <climits>
#include <utility>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "reactor_core.hpp"
#include "tls/tls_context_impl.hpp"
#include "weft/error.hpp"
#include "weft/log.hpp"

// OpenSSL's API is largely macros with C casts inside (SSL_set_tlsext_host_name, BIO_get_mem_data, ...).
#pragma GCC diagnostic ignored "-Wold-style-cast"

namespace weft::detail {

namespace {
/// Plaintext held beyond this is encrypted at once rather than at the end of the turn: the transport below
/// then counts it, and a producer writing in a loop is paused within write() (four full records).
constexpr std::size_t encrypt_now_above = 64 * 1024;

long long milliseconds(Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }
}  // namespace

std::unique_ptr<Protocol> wrap_in_tls(ReactorCore& core, std::unique_ptr<Protocol> inner,
                                      std::shared_ptr<TlsContext> context, TlsStart start) {
    auto layer = std::make_unique<TlsLayer>(core, std::move(context), std::move(start));
    layer->wrap(std::move(inner));
    return layer;
}

TlsLayer::TlsLayer(ReactorCore& core, std::shared_ptr<TlsContext> context, TlsStart start)
    : core_(core), context_(std::move(context)), start_(std::move(start)) {
    if (!context_) throw StateError("TLS: no TlsContext");
    call_later_ = [&core](Duration d, std::function<void()> fn) { return core.call_later(d, std::move(fn)); };
    ssl_ = SSL_new(context_->impl().ctx.get());
    if (ssl_ == nullptr) throw TlsError("TLS: cannot create a connection: " + openssl_errors("SSL_new failed"));
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    if (in == nullptr || out == nullptr) {
        BIO_free(in);
        BIO_free(out);
        SSL_free(ssl_);
        throw TlsError("TLS: cannot create memory BIOs");
    }
    BIO_set_mem_eof_return(in, -1);  // an empty input BIO means "wait for more", not EOF
    SSL_set_bio(ssl_, in, out);
    flusher_ = std::make_shared<Flusher>();
    flusher_->layer = this;
}

void TlsLayer::wrap(std::unique_ptr<Protocol> inner) noexcept {
    inner_ = std::move(inner);
    inner_half_ = dynamic_cast<HalfCloseable*>(inner_.get());
    inner_listener_ = dynamic_cast<TlsHandshakeListener*>(inner_.get());
}

void TlsLayer::adopt_producer(Producer& producer, bool streaming, bool paused) {
    register_producer(producer, streaming);
    below_paused_ = paused && streaming;
}

TlsLayer::~TlsLayer() {
    flusher_->layer = nullptr;  // a flush already queued for this turn finds nobody
    if (handshake_timer_.active()) handshake_timer_.cancel();
    SSL_free(ssl_);
}

std::string TlsLayer::describe() const { return "tls " + std::to_string(id()) + " " + peer().to_string(); }

// -- the transport below ----------------------------------------------------------------------------

void TlsLayer::connection_made() {
    const bool server = context_->is_server();
    WEFT_LOG(debug) << "[" << describe() << "] TLS " << (server ? "server" : "client") << " handshake begins"
                    << (start_.on_live_connection ? " (start_tls)" : "");
    {
        InnerCall call(*this);
        if (start_.on_live_connection) {
            inner_->transport_ = this;  // the protocol is connected already: it only changes transports
        } else {
            inner_->make_connection(*this);  // as Twisted: the protocol is connected before the handshake
        }
    }
    if (server) {
        SSL_set_accept_state(ssl_);
    } else if (!configure_client()) {
        return;
    }
    start_handshake_timer();
    if (!server && !failed_) advance_handshake();  // the ClientHello
    if (!start_.already_received.empty()) feed(std::exchange(start_.already_received, {}));
    progress();
}

bool TlsLayer::configure_client() {
    SSL_set_connect_state(ssl_);
    std::string name = context_->server_name();  // the context's name wins over the host connected to
    if (name.empty()) name = start_.server_name;
    if (name.empty()) name = peer().host;
    const auto& options = context_->impl().client_options;
    if (options.insecure_skip_certificate_verification) {
        WEFT_LOG(warning) << "[" << describe() << "] TLS certificate verification is OFF "
                          << "(insecure_skip_certificate_verification): the peer is not authenticated";
    } else if (name.empty()) {
        // An empty name would check no name at all: any certificate the CAs signed would do.
        fail("TLS: no server name to verify the certificate against (set TlsClientOptions::server_name)");
        return false;
    } else if (is_ip_address(name) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str()) != 1
                                    : SSL_set1_host(ssl_, name.c_str()) != 1) {
        fail("TLS: cannot verify against the server name \"" + name + "\": " + openssl_errors("a bad name"));
        return false;
    }
    if (!is_ip_address(name) && !name.empty()) SSL_set_tlsext_host_name(ssl_, name.c_str());
    if (options.resume_sessions) {
        session_key_ = name + "|" + peer().to_string();
        SSL_set_app_data(ssl_, &session_key_);
        if (SSL_SESSION* s = context_->impl().session_for(session_key_)) {
            SSL_set_session(ssl_, s);  // takes its own reference
            // A TLS 1.3 ticket is for one connection (RFC 8446 C.4: reuse links the connections, and a
            // server with single-use tickets refuses it): this one gets new tickets from the server.
            if (SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION) context_->impl().forget_session(session_key_);
        }
    }
    return true;
}

void TlsLayer::data_received(std::string_view data) {
    feed(data);
    progress();
}

void TlsLayer::feed(std::string_view ciphertext) {
    if (failed_ || lost_) return;
    BIO* in = SSL_get_rbio(ssl_);
    while (!ciphertext.empty()) {
        const int n = static_cast<int>(std::min<std::size_t>(ciphertext.size(), INT_MAX));
        if (BIO_write(in, ciphertext.data(), n) != n) return fail("TLS: out of memory buffering input");
        ciphertext.remove_prefix(static_cast<std::size_t>(n));
    }
    if (!handshake_done_ && !advance_handshake()) return;
    read_plaintext();
}

bool TlsLayer::advance_handshake() {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
        on_handshake_done();
        return true;
    }
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return false;
    std::string why = openssl_errors("the peer broke off the handshake");
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) why += " (" + std::string(X509_verify_cert_error_string(verify)) + ")";
    fail("TLS handshake failed: " + why);
    return false;
}

void TlsLayer::on_handshake_done() {
    handshake_done_ = true;
    if (handshake_timer_.active()) handshake_timer_.cancel();
    WEFT_LOG(debug) << "[" << describe() << "] TLS handshake done: " << protocol_version() << " " << cipher()
                    << (session_reused() ? ", resumed" : "")
                    << (negotiated_protocol().empty() ? "" : ", ALPN " + negotiated_protocol());
    if (inner_listener_ != nullptr) {
        InnerCall call(*this);
        inner_listener_->handshake_completed();
    }
}

void TlsLayer::read_plaintext() {
    char* buffer = core_.tls_buffer();
    for (;;) {
        // Several records into one buffer, so the protocol gets one call for what arrived together.
        std::size_t filled = 0;
        int err = SSL_ERROR_NONE;
        while (filled < ReactorCore::tls_buffer_size) {
            ERR_clear_error();
            const int n = SSL_read(ssl_, buffer + filled, static_cast<int>(ReactorCore::tls_buffer_size - filled));
            if (n <= 0) {
                err = SSL_get_error(ssl_, n);
                break;
            }
            filled += static_cast<std::size_t>(n);
        }
        if (filled > 0 && !lost_ && below_is_open()) {
            InnerCall call(*this);
            inner_->data_received(std::string_view(buffer, filled));
        }
        if (err == SSL_ERROR_NONE) continue;  // the buffer filled up: there may be more
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
        if (err == SSL_ERROR_ZERO_RETURN) return on_close_notify();
        return fail("TLS error: " + openssl_errors("the connection's TLS state broke"));
    }
}

void TlsLayer::on_close_notify() {
    if (std::exchange(close_notify_received_, true)) return;
    WEFT_LOG(debug) << "[" << describe() << "] TLS close_notify received";
    if (inner_half_ != nullptr && !lose_requested_) {
        InnerCall call(*this);
        inner_half_->read_connection_lost();
        return;
    }
    lose_connection();  // answer with our close_notify and close: a clean end
}

void TlsLayer::read_connection_lost() {
    // The transport's EOF. After close_notify it is expected: a HalfCloseable protocol heard of the
    // half-close then and closes when it is done (any other is closing already).
    if (close_notify_received_) return;
    // Before it, the stream may have been cut.
    if (!failed_) {
        reason_ = handshake_done_
                      ? Reason::error("TLS: the peer closed the connection without close_notify (truncated?)")
                      : Reason::error("TLS handshake failed: the peer closed the connection during the handshake");
        WEFT_LOG(debug) << "[" << describe() << "] " << reason_->to_string();
        held_.clear();
    }
    if (!below_closed_) {
        below_closed_ = true;
        transport().lose_connection();
    }
}

void TlsLayer::write_connection_lost() {
    if (inner_half_ != nullptr) {
        InnerCall call(*this);
        inner_half_->write_connection_lost();
    }
    progress();  // what it wrote or closed in there
}

void TlsLayer::connection_lost(const Reason& reason) {
    if (!reason_ && reason.clean() && below_write_shut_ && !close_notify_received_ && !lose_requested_) {
        // Our write side was shut and the peer's EOF came (the transport closed then) without its
        // close_notify: not a clean end, whatever the transport below saw.
        reason_ = Reason::error("TLS: the peer closed the connection without close_notify (truncated?)");
    }
    lost_ = true;
    flusher_->layer = nullptr;
    if (handshake_timer_.active()) handshake_timer_.cancel();
    told_ = reason_ ? *reason_ : reason;
    inner_->connection_lost(*told_);
}

// -- output -----------------------------------------------------------------------------------------

void TlsLayer::progress() {
    if (failed_ || lost_) return;
    if (handshake_done_) {
        encrypt_held();
        release_held_pause();
        if (failed_ || lost_) return;
        if ((lose_requested_ || write_shutdown_requested_) && !close_notify_sent_) {
            close_notify_sent_ = true;
            ERR_clear_error();
            SSL_shutdown(ssl_);  // queues close_notify; the peer's is not waited for (Twisted neither)
        }
    } else if (lose_requested_ && held_.empty() && !below_closed_) {
        // Nothing of ours to protect: a close during the handshake need not wait for it.
        send_output();
        below_closed_ = true;
        transport().lose_connection();
        return;
    }
    send_output();
    if (!close_notify_sent_) return;
    if (lose_requested_ && !below_closed_) {
        below_closed_ = true;
        transport().lose_connection();
    } else if (write_shutdown_requested_ && !below_write_shut_ && !below_closed_) {
        below_write_shut_ = true;
        transport().lose_write_connection();
    }
}

void TlsLayer::encrypt_held() {
    if (held_.empty()) return;
    ERR_clear_error();
    // One SSL_write for the turn: OpenSSL cuts it into full 16 KiB records.
    std::string_view rest = held_;
    while (!rest.empty()) {
        const int n = static_cast<int>(std::min<std::size_t>(rest.size(), INT_MAX));
        const int r = SSL_write(ssl_, rest.data(), n);
        if (r <= 0) return fail("TLS error while encrypting: " + openssl_errors("SSL_write failed"));
        rest.remove_prefix(static_cast<std::size_t>(r));
    }
    held_.clear();
    if (held_.capacity() > encrypt_now_above) std::string().swap(held_);  // a burst's memory goes back
}

void TlsLayer::send_output() {
    BIO* out = SSL_get_wbio(ssl_);
    char* data = nullptr;
    const long n = BIO_get_mem_data(out, &data);
    if (n <= 0) return;
    transport().write(std::string_view(data, static_cast<std::size_t>(n)));  // copied into the transport's queue
    (void)BIO_reset(out);
}

void TlsLayer::schedule_flush() {
    if (flush_scheduled_ || lost_) return;
    flush_scheduled_ = true;
    core_.schedule_flush(flusher_);
}

void TlsLayer::Flusher::run_scheduled_flush() {
    if (layer == nullptr) return;
    layer->flush_scheduled_ = false;
    try {
        layer->progress();  // may resume the protocol's producer, which may throw: it ends this connection only
    } catch (const std::exception& e) {
        WEFT_LOG(error) << "[" << layer->describe() << "] resume_producing threw: " << e.what() << "; aborting this connection";
        layer->abort_connection();
    } catch (...) {
        WEFT_LOG(error) << "[" << layer->describe() << "] resume_producing threw; aborting this connection";
        layer->abort_connection();
    }
}

void TlsLayer::fail(std::string message) {
    if (failed_) return;
    failed_ = true;
    held_.clear();
    if (handshake_timer_.active()) handshake_timer_.cancel();
    WEFT_LOG(info) << "[" << describe() << "] " << message;
    reason_ = Reason::error(std::move(message));
    send_output();  // the alert OpenSSL queued tells the peer why
    if (!below_closed_) {
        below_closed_ = true;
        transport().lose_connection();
    }
}

void TlsLayer::start_handshake_timer() {
    const Duration timeout = context_->handshake_timeout();
    if (timeout <= Duration::zero()) return;
    handshake_timer_ = call_later_(timeout, [this, timeout] {
        if (handshake_done_ || failed_ || lost_) return;
        failed_ = true;
        reason_ = Reason::error("TLS handshake timed out after " + std::to_string(milliseconds(timeout)) + " ms");
        WEFT_LOG(info) << "[" << describe() << "] " << reason_->to_string();
        transport().abort_connection();
    });
}

// -- the user's protocol's transport ----------------------------------------------------------------

bool TlsLayer::below_is_open() const noexcept {
    const auto s = transport().state();
    return s != ConnectionState::disconnected;
}

bool TlsLayer::writing_allowed() const noexcept {
    if (lose_requested_ || write_shutdown_requested_ || failed_ || lost_) return false;
    const auto s = transport().state();
    return s == ConnectionState::connected || s == ConnectionState::read_half_closed;
}

void TlsLayer::write(std::string_view data) {
    if (data.empty() || !writing_allowed()) return;
    held_.append(data);
    after_write();
}

void TlsLayer::write_sequence(std::span<const std::string_view> pieces) {
    if (!writing_allowed()) return;
    const std::size_t before = held_.size();
    for (auto p : pieces) held_.append(p);
    if (held_.size() != before) after_write();
}

void TlsLayer::after_write() {
    if (held_.size() > encrypt_now_above && handshake_done_) {
        encrypt_held();
        send_output();  // the transport below pauses a streaming producer now if it is above its watermark
    } else if (inner_depth_ == 0) {
        schedule_flush();  // inside a callback of ours: encrypted when it returns
    }
    // Held before the handshake (or within a turn) counts too: a producer writing in a loop stops here.
    if (producer_ != nullptr && streaming_ && !held_paused_ && held_.size() > high_water_) {
        held_paused_ = true;
        if (!below_paused_) producer_->pause_producing();
    }
}

void TlsLayer::release_held_pause() {
    if (!held_paused_ || held_.size() > low_water_) return;
    held_paused_ = false;
    if (!below_paused_ && producer_ != nullptr) producer_->resume_producing();
}

void TlsLayer::write_shared(std::shared_ptr<const std::string> data) {
    if (data) write(*data);  // encryption copies it anyway
}

void TlsLayer::lose_connection() {
    if (lose_requested_ || lost_) return;
    if (failed_ || transport().state() == ConnectionState::disconnected) return;
    lose_requested_ = true;
    // Not now: progress() may resume the protocol's producer, which must not run inside this call.
    if (inner_depth_ == 0) schedule_flush();
}

void TlsLayer::abort_connection() {
    if (lost_) return;
    held_.clear();
    failed_ = true;  // nothing more is sent or delivered
    transport().abort_connection();
}

void TlsLayer::lose_write_connection() {
    if (!writing_allowed()) return;
    write_shutdown_requested_ = true;
    if (inner_depth_ == 0) schedule_flush();
}

Address TlsLayer::peer() const { return transport().peer(); }
Address TlsLayer::host() const { return transport().host(); }
std::uint64_t TlsLayer::id() const noexcept { return transport().id(); }

ConnectionState TlsLayer::state() const noexcept {
    const auto below = transport().state();
    if (below == ConnectionState::disconnected) return below;
    if (lose_requested_ || failed_) return ConnectionState::disconnecting;
    if (close_notify_received_ && inner_half_ != nullptr && below == ConnectionState::connected) {
        return ConnectionState::read_half_closed;
    }
    return below;
}

std::size_t TlsLayer::buffered_bytes() const noexcept { return held_.size() + transport().buffered_bytes(); }

void TlsLayer::set_write_buffer_limits(std::size_t high, std::size_t low) {
    transport().set_write_buffer_limits(high, low);  // checks them
    high_water_ = high;
    low_water_ = low;
}
TcpTransport* TlsLayer::as_tcp() noexcept { return transport().as_tcp(); }
UnixTransport* TlsLayer::as_unix() noexcept { return transport().as_unix(); }

void TlsLayer::start_tls(std::shared_ptr<TlsContext>, std::string_view) {
    throw StateError("start_tls: this connection already speaks TLS");
}

void TlsLayer::register_producer(Producer& producer, bool streaming) {
    if (producer_ != nullptr) throw StateError("cannot register a producer: another one was never unregistered");
    producer_ = &producer;
    streaming_ = streaming;
    held_paused_ = false;
    below_paused_ = false;
    transport().register_producer(membrane_, streaming);  // stops it at once on a closed transport
}

void TlsLayer::unregister_producer() {
    if (producer_ == nullptr) return;
    producer_ = nullptr;
    transport().unregister_producer();
}

void TlsLayer::pause_reading_while_backed_up() { transport().pause_reading_while_backed_up(); }
void TlsLayer::pause_producing() { transport().pause_producing(); }
void TlsLayer::resume_producing() { transport().resume_producing(); }
void TlsLayer::stop_producing() { lose_connection(); }

// The producer is paused while the transport below is backed up or we hold too much plaintext: either one.
void TlsLayer::Membrane::pause_producing() {
    if (layer.producer_ == nullptr) return;
    if (!layer.streaming_) return layer.producer_->pause_producing();
    if (std::exchange(layer.below_paused_, true) || layer.held_paused_) return;
    layer.producer_->pause_producing();
}
void TlsLayer::Membrane::resume_producing() {
    if (layer.producer_ == nullptr) return;
    if (!layer.streaming_) return layer.producer_->resume_producing();  // a pull producer: more, please
    layer.below_paused_ = false;
    if (!layer.held_paused_) layer.producer_->resume_producing();
}
void TlsLayer::Membrane::stop_producing() {
    if (Producer* p = std::exchange(layer.producer_, nullptr)) p->stop_producing();
}

// -- TlsTransport -----------------------------------------------------------------------------------

std::string TlsLayer::protocol_version() const { return handshake_done_ ? SSL_get_version(ssl_) : ""; }

std::string TlsLayer::cipher() const {
    const char* name = handshake_done_ ? SSL_get_cipher_name(ssl_) : nullptr;
    return name != nullptr ? name : "";
}

std::string TlsLayer::negotiated_protocol() const {
    const unsigned char* data = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl_, &data, &len);
    return data != nullptr ? std::string(reinterpret_cast<const char*>(data), len) : std::string();
}

std::string TlsLayer::server_name() const {
    const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
    return name != nullptr ? name : "";
}

bool TlsLayer::session_reused() const noexcept { return handshake_done_ && SSL_session_reused(ssl_) == 1; }

std::string TlsLayer::peer_certificate_subject() const {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (cert == nullptr) return "";
    std::string out;
    if (BIO* bio = BIO_new(BIO_s_mem())) {
        X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        if (n > 0) out.assign(data, static_cast<std::size_t>(n));
        BIO_free(bio);
    }
    X509_free(cert);
    return out;
}

}  // namespace weft::detail
