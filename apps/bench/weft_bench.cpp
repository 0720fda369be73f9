// weft-bench: the load generator of weft's benchmark suite (issue 5).
//
// One C++20 program on raw Boost.Asio with a single-threaded io_context, so it shares no code with weft
// and costs every server the same. Modes:
//   pingpong   N sessions echo a block of B bytes back and forth for T seconds; MiB/s.
//   echo       N connections send 64-byte lines, up to W in flight each; lines/s, p50/p99 round trip.
//   chat       N chat clients each send M lines, up to W of their own un-echoed; deliveries/s, p50/p99.
//   broadcast  N chat clients; one line is broadcast R times; time until all N have it (median, max).
//   ws-chat    chat over WebSocket (Boost.Beast's client) to weft-chat --http's /ws; deliveries/s, p50/p99.
//   idle       N idle connections; growth of the server's VmRSS (--pid) per connection.
//   tls-pingpong   pingpong over TLS (boost::asio::ssl, OpenSSL 3), after every session's handshake.
//   tls-handshake  N at a time: connect, full TLS handshake, one small echo, close; handshakes/s.
//   udp-echo   N UDP sockets, W datagrams of B bytes in flight each; echoed datagrams/s, loss rate.
// The TLS modes do not verify the server's certificate (see TlsClient).
// Every mode prints one human line and one machine-readable `RESULT key=value ...` line on stdout, and
// its own CPU time (getrusage) next to the result, so one can see it was not the bottleneck.
// Bounded: every mode has a duration or a count, and --timeout ends the run with an error. A server
// that closes or resets a connection is an error. Errors go to stderr and the exit status is 2.

#include <netinet/udp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/program_options.hpp>
#include <openssl/ssl.h>

#include "common/options.hpp"
#include "weft/version.hpp"  // generated; only its macros are used (weft-bench does not link libweft)

namespace {

namespace asio = boost::asio;
namespace po = boost::program_options;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using udp = asio::ip::udp;
using TlsStream = ssl::stream<tcp::socket>;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

// One thread, no resolver, no signals, nothing posted from elsewhere: Asio's locks can all go. The client
// must not be the bottleneck (its CPU is reported), and this lightens it equally for every server.
constexpr int client_concurrency_hint = BOOST_ASIO_CONCURRENCY_HINT_UNSAFE;

struct Options {
    std::string mode;
    std::string host = "127.0.0.1";
    unsigned port = 0;
    int connections = 1;
    double duration = 3.0;
    double warmup = 0.5;
    double timeout = 60.0;
    std::size_t block = 1024;
    int window = 1;
    int messages = 100;
    std::size_t line_size = 64;
    long pid = 0;
    int connect_concurrency = 64;
    double settle = 1.0;
    bool nodelay = true;
    std::string label;
    std::string tls_groups = "P-256";
    double loss_timeout = 0.2;
    bool udp_gso = true;
};

[[noreturn]] void fail(const std::string& message) {
    std::cout.flush();
    std::cerr << "weft-bench: error: " << message << std::endl;
    std::_Exit(2);
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// ---------------------------------------------------------------------------------------------
// Latency histogram: log-linear buckets, 64 per power of two (about 1.5 % resolution), values in ns.
class Histogram {
public:
    void record(std::int64_t ns) {
        auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0));
        ++buckets_[index(v)];
        ++count_;
    }
    [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
    /// Value (ns) at quantile q in [0, 1]; 0 when empty.
    [[nodiscard]] double quantile(double q) const {
        if (count_ == 0) {
            return 0.0;
        }
        auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets_.size(); ++i) {
            seen += buckets_[i];
            if (seen >= rank) {
                return value(i);
            }
        }
        return value(buckets_.size() - 1);
    }

private:
    static constexpr std::size_t kBuckets = 64 * 60;
    static std::size_t index(std::uint64_t v) {
        if (v < 128) {
            return static_cast<std::size_t>(v);
        }
        int high = 63 - std::countl_zero(v);  // >= 7
        int shift = high - 6;
        auto idx = static_cast<std::size_t>(shift + 1) * 64 + static_cast<std::size_t>((v >> shift) - 64);
        return std::min(idx, kBuckets - 1);
    }
    static double value(std::size_t idx) {
        if (idx < 128) {
            return static_cast<double>(idx);
        }
        auto shift = static_cast<int>(idx / 64) - 1;
        auto low = static_cast<double>((idx % 64) + 64) * static_cast<double>(std::uint64_t{1} << shift);
        return low + static_cast<double>(std::uint64_t{1} << shift) / 2.0;  // bucket midpoint
    }
    std::array<std::uint64_t, kBuckets> buckets_{};
    std::uint64_t count_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Own CPU time (getrusage), to print next to each result.
class CpuMeter {
public:
    void start() {
        start_cpu_ = cpu_seconds();
        start_wall_ = Clock::now();
    }
    void stop() {
        cpu_ = cpu_seconds() - start_cpu_;
        wall_ = seconds_between(start_wall_, Clock::now());
    }
    [[nodiscard]] double cpu() const noexcept { return cpu_; }
    [[nodiscard]] double percent() const noexcept { return wall_ > 0 ? 100.0 * cpu_ / wall_ : 0.0; }
    [[nodiscard]] std::string human() const {
        char buf[96];
        std::snprintf(buf, sizeof buf, "client CPU %.2f s = %.0f %% of one core", cpu_, percent());
        return buf;
    }
    [[nodiscard]] std::string machine() const {
        char buf[96];
        std::snprintf(buf, sizeof buf, "client_cpu_s=%.3f client_cpu_pct=%.1f", cpu_, percent());
        return buf;
    }

private:
    static double cpu_seconds() {
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
        return tv(ru.ru_utime) + tv(ru.ru_stime);
    }
    double start_cpu_ = 0;
    Clock::time_point start_wall_;
    double cpu_ = 0;
    double wall_ = 0;
};

void raise_nofile(std::size_t needed) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fail(std::string("getrlimit: ") + std::strerror(errno));
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            fail(std::string("setrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
        }
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < needed) {
        fail("RLIMIT_NOFILE is " + std::to_string(rl.rlim_cur) + " (hard limit), need about " +
             std::to_string(needed) + " descriptors; raise it (ulimit -Hn)");
    }
}

/// VmRSS of a process in KiB, from /proc/PID/status.
long read_rss_kib(long pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    if (!in) {
        fail("cannot read /proc/" + std::to_string(pid) + "/status (is --pid the server's pid?)");
    }
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::strtol(line.c_str() + 6, nullptr, 10);
        }
    }
    fail("no VmRSS in /proc/" + std::to_string(pid) + "/status");
}

std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

// ---------------------------------------------------------------------------------------------
// Opens N connections with at most `concurrency` not yet ready at a time. A connection is "ready"
// when the mode says so (connected, welcomed by the chat server, echoed a probe...), which bounds the
// server's accept queue whatever its listen backlog.
class Connector {
public:
    using OnConnected = std::function<void(std::size_t index, tcp::socket socket)>;

    Connector(asio::io_context& io, const Options& opt, OnConnected on_connected, std::function<void()> on_all_ready)
        : io_(io), opt_(opt), on_connected_(std::move(on_connected)), on_all_ready_(std::move(on_all_ready)) {
        error_code ec;
        auto address = asio::ip::make_address(opt.host, ec);
        if (ec) {
            fail("bad --host " + opt.host + ": " + ec.message());
        }
        endpoint_ = tcp::endpoint(address, static_cast<unsigned short>(opt.port));
    }

    void start() {
        total_ = static_cast<std::size_t>(opt_.connections);
        auto first = std::min<std::size_t>(total_, static_cast<std::size_t>(std::max(1, opt_.connect_concurrency)));
        for (std::size_t i = 0; i < first; ++i) {
            connect_next();
        }
    }

    /// The mode calls this once per connection when it is ready.
    void ready() {
        ++ready_;
        if (ready_ == total_) {
            on_all_ready_();
        } else {
            connect_next();
        }
    }
    [[nodiscard]] std::size_t ready_count() const noexcept { return ready_; }

private:
    void connect_next() {
        if (started_ >= total_) {
            return;
        }
        auto index = started_++;
        auto socket = std::make_shared<tcp::socket>(io_);
        socket->async_connect(endpoint_, [this, index, socket](const error_code& ec) {
            if (ec) {
                fail("connect #" + std::to_string(index) + " to " + opt_.host + ":" + std::to_string(opt_.port) +
                     ": " + ec.message());
            }
            if (opt_.nodelay) {
                socket->set_option(tcp::no_delay(true));
            }
            on_connected_(index, std::move(*socket));
        });
    }

    asio::io_context& io_;
    const Options& opt_;
    tcp::endpoint endpoint_;
    OnConnected on_connected_;
    std::function<void()> on_all_ready_;
    std::size_t total_ = 0;
    std::size_t started_ = 0;
    std::size_t ready_ = 0;
};

std::string describe(const error_code& ec) {
    if (ec == asio::error::eof) {
        return "server closed the connection (EOF)";
    }
    return ec.message();
}

/// The overall timeout: whatever happens, the process ends by then.
void arm_timeout(asio::steady_timer& timer, const Options& opt, std::function<std::string()> progress) {
    timer.expires_after(std::chrono::milliseconds(static_cast<long>(opt.timeout * 1000)));
    timer.async_wait([&opt, progress = std::move(progress)](const error_code& ec) {
        if (!ec) {
            fail("timeout after " + fmt("%.1f", opt.timeout) + " s (" + progress() + ")");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// TLS client side (tls-pingpong, tls-handshake): one client context for the run.
//
// Certificate verification is OFF on purpose: weft-bench is a benchmark client that talks to a
// throw-away self-signed certificate on 127.0.0.1, and what it measures is the servers' cost. It must
// not be copied into anything that talks to a real peer.
class TlsClient {
public:
    explicit TlsClient(const Options& opt) : context_(ssl::context::tls_client) {
        context_.set_verify_mode(ssl::verify_none);
        SSL_CTX* ctx = context_.native_handle();
        // Every server gets the same key exchange: the client offers only these groups (default P-256,
        // which every peer accepts at once; Twisted's CertificateOptions allows P-256 only, so a client
        // offering X25519 first would cost Twisted an extra round trip, a HelloRetryRequest).
        if (SSL_CTX_set1_groups_list(ctx, opt.tls_groups.c_str()) != 1) {
            fail("--tls-groups '" + opt.tls_groups + "' is not a list of groups OpenSSL knows (e.g. P-256:X25519)");
        }
        // Never resumed (each handshake is a full one), but the server's session tickets are counted:
        // making them is part of a server's handshake cost, and servers differ in how many they send.
        SSL_CTX_set_ex_data(ctx, ex_index(), this);  // not app_data: Asio keeps its verify callback there
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, &TlsClient::on_new_session);
    }
    TlsClient(const TlsClient&) = delete;
    TlsClient& operator=(const TlsClient&) = delete;

    ssl::context& context() noexcept { return context_; }

    /// A new client stream over `socket`. Asio turns SSL_MODE_RELEASE_BUFFERS on, which frees and
    /// reallocates OpenSSL's record buffers around every record: off, to keep the client light.
    std::unique_ptr<TlsStream> wrap(tcp::socket socket) {
        auto stream = std::make_unique<TlsStream>(std::move(socket), context_);
        SSL_clear_mode(stream->native_handle(), SSL_MODE_RELEASE_BUFFERS);
        return stream;
    }
    std::unique_ptr<TlsStream> make(asio::io_context& io) {
        auto stream = std::make_unique<TlsStream>(io, context_);
        SSL_clear_mode(stream->native_handle(), SSL_MODE_RELEASE_BUFFERS);
        return stream;
    }

    /// Records what the first completed handshake negotiated.
    void note(TlsStream& stream) {
        if (!version_.empty()) {
            return;
        }
        SSL* s = stream.native_handle();
        version_ = SSL_get_version(s);
        const char* cipher = SSL_get_cipher_name(s);
        cipher_ = cipher != nullptr ? cipher : "?";
        const char* group = SSL_group_to_name(s, SSL_get_negotiated_group(s));
        group_ = group != nullptr ? group : "?";
    }
    [[nodiscard]] std::uint64_t tickets() const noexcept { return tickets_; }
    [[nodiscard]] std::string human() const { return version_ + " " + cipher_ + " " + group_; }
    [[nodiscard]] std::string machine() const {
        return "tls_version=" + version_ + " tls_cipher=" + cipher_ + " tls_group=" + group_;
    }

private:
    static int ex_index() {
        static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
        return index;
    }
    static int on_new_session(SSL* s, SSL_SESSION*) {
        auto* self = static_cast<TlsClient*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(s), ex_index()));
        ++self->tickets_;
        return 0;  // not kept: OpenSSL frees the session
    }
    ssl::context context_;
    std::uint64_t tickets_ = 0;
    std::string version_;
    std::string cipher_ = "?";
    std::string group_ = "?";
};

// ---------------------------------------------------------------------------------------------
// pingpong: each session writes a block, then writes back whatever it reads (the muduo / Asio test).
// tls-pingpong: the same over TLS, once every session's handshake is done.
//
// Stream: tcp::socket or TlsStream. setup(index, socket, ready) makes session `index`'s stream from the
// connected socket and calls ready() when it can carry data.
template <class Stream>
int run_pingpong_over(const Options& opt, const std::string& mode,
                      const std::function<std::unique_ptr<Stream>(tcp::socket)>& wrap,
                      const std::function<void(Stream&, std::function<void()>)>& handshake,
                      const std::function<std::string()>& human_extra, const std::function<std::string()>& machine_extra,
                      asio::io_context& io) {
    struct Session {
        Session(std::unique_ptr<Stream> s, std::size_t block) : stream(std::move(s)), buffer(block, 'p') {}
        std::unique_ptr<Stream> stream;
        std::vector<char> buffer;
    };
    std::vector<std::unique_ptr<Session>> sessions(static_cast<std::size_t>(opt.connections));
    std::uint64_t bytes_read = 0;
    bool stopping = false;

    std::function<void(Session&)> read;
    read = [&](Session& s) {
        s.stream->async_read_some(asio::buffer(s.buffer), [&, sp = &s](const error_code& ec, std::size_t n) {
            if (stopping) {
                return;
            }
            if (ec) {
                fail(mode + " read: " + describe(ec));
            }
            bytes_read += n;
            asio::async_write(*sp->stream, asio::buffer(sp->buffer.data(), n), [&, sp](const error_code& wec, std::size_t) {
                if (stopping) {
                    return;
                }
                if (wec) {
                    fail(mode + " write: " + describe(wec));
                }
                read(*sp);
            });
        });
    };

    CpuMeter cpu;
    Clock::time_point t0;
    std::uint64_t bytes0 = 0;
    asio::steady_timer phase(io);
    asio::steady_timer timeout(io);
    Connector connector(
        io, opt,
        [&](std::size_t i, tcp::socket socket) {
            sessions[i] = std::make_unique<Session>(wrap(std::move(socket)), opt.block);
            handshake(*sessions[i]->stream, [&] { connector.ready(); });
        },
        [&] {
            for (auto& s : sessions) {
                asio::async_write(*s->stream, asio::buffer(s->buffer), [&, sp = s.get()](const error_code& ec, std::size_t) {
                    if (stopping) {
                        return;
                    }
                    if (ec) {
                        fail(mode + " first write: " + describe(ec));
                    }
                    read(*sp);
                });
            }
            phase.expires_after(std::chrono::milliseconds(static_cast<long>(opt.warmup * 1000)));
            phase.async_wait([&](const error_code&) {
                t0 = Clock::now();
                bytes0 = bytes_read;
                cpu.start();
                phase.expires_after(std::chrono::milliseconds(static_cast<long>(opt.duration * 1000)));
                phase.async_wait([&](const error_code&) {
                    auto secs = seconds_between(t0, Clock::now());
                    cpu.stop();
                    auto bytes = bytes_read - bytes0;
                    stopping = true;
                    if (bytes == 0) {
                        fail(mode + ": no byte came back in " + fmt("%.2f", secs) + " s (server not responding)");
                    }
                    double mib_s = static_cast<double>(bytes) / secs / (1024.0 * 1024.0);
                    std::cout << mode << ": " << opt.connections << " sessions, " << opt.block << "-byte blocks, "
                              << fmt("%.2f", secs) << " s: " << fmt("%.1f", mib_s) << " MiB/s read by the client ("
                              << human_extra() << cpu.human() << ")\n";
                    std::cout << "RESULT mode=" << mode << " conns=" << opt.connections << " block=" << opt.block
                              << " secs=" << fmt("%.3f", secs) << " bytes=" << bytes << " mib_s=" << fmt("%.2f", mib_s)
                              << " " << machine_extra() << cpu.machine() << "\n";
                    std::cout.flush();
                    io.stop();
                });
            });
        });
    arm_timeout(timeout, opt, [&] { return std::to_string(connector.ready_count()) + " connected"; });
    connector.start();
    io.run();
    return 0;
}

int run_pingpong(const Options& opt) {
    asio::io_context io(client_concurrency_hint);
    return run_pingpong_over<tcp::socket>(
        opt, "pingpong", [](tcp::socket s) { return std::make_unique<tcp::socket>(std::move(s)); },
        [](tcp::socket&, const std::function<void()>& ready) { ready(); }, [] { return std::string(); },
        [] { return std::string(); }, io);
}

int run_tls_pingpong(const Options& opt) {
    asio::io_context io(client_concurrency_hint);
    TlsClient tls(opt);
    return run_pingpong_over<TlsStream>(
        opt, "tls-pingpong", [&](tcp::socket s) { return tls.wrap(std::move(s)); },
        [&](TlsStream& stream, std::function<void()> ready) {
            stream.async_handshake(ssl::stream_base::client, [&tls, &stream, ready = std::move(ready)](const error_code& ec) {
                if (ec) {
                    fail("tls-pingpong handshake: " + describe(ec));
                }
                tls.note(stream);
                ready();
            });
        },
        [&] { return tls.human() + "; "; }, [&] { return tls.machine() + " "; }, io);
}

// ---------------------------------------------------------------------------------------------
// tls-handshake: C connections at a time, each: connect, full TLS handshake (never resumed), one small
// echo, close_notify (and the server's in reply, or its close), close; then the next. Handshakes/s
// (whole cycles completed in the measured time) and p50/p99 from connect to the echo's return.
int run_tls_handshake(const Options& opt) {
    asio::io_context io(client_concurrency_hint);
    TlsClient tls(opt);
    error_code addr_ec;
    auto address = asio::ip::make_address(opt.host, addr_ec);
    if (addr_ec) {
        fail("bad --host " + opt.host + ": " + addr_ec.message());
    }
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(opt.port));
    static const std::string probe = "weft-bench tls-handshake probe\n";  // 31 bytes: one small record
    enum class Phase { idle, connecting, handshaking, echoing, closing };
    struct Slot {
        std::unique_ptr<TlsStream> stream;
        std::array<char, 64> in{};
        std::int64_t t0 = 0;
        Phase phase = Phase::idle;
    };
    std::vector<Slot> slots(static_cast<std::size_t>(opt.connections));
    bool stopping = false;
    bool measuring = false;
    std::uint64_t cycles = 0;
    std::uint64_t measured = 0;
    std::uint64_t unclean = 0;
    std::uint64_t tickets0 = 0;
    std::uint64_t measured_tickets = 0;
    Histogram hist;

    std::function<void(std::size_t)> start;
    auto where = [&](std::size_t i, const char* what, const error_code& ec) {
        fail("tls-handshake connection slot " + std::to_string(i) + ", " + what + ": " + describe(ec));
    };
    start = [&](std::size_t i) {
        if (stopping) {
            return;
        }
        auto& slot = slots[i];
        slot.stream = tls.make(io);
        slot.t0 = now_ns();
        slot.phase = Phase::connecting;
        TlsStream* sp = slot.stream.get();  // lives until this slot's next cycle replaces it
        sp->next_layer().async_connect(endpoint, [&, i, sp](const error_code& ec) {
            if (stopping) {
                return;
            }
            if (ec) {
                where(i, "connect", ec);
            }
            sp->next_layer().set_option(tcp::no_delay(opt.nodelay));
            slots[i].phase = Phase::handshaking;
            sp->async_handshake(ssl::stream_base::client, [&, i, sp](const error_code& hec) {
                if (stopping) {
                    return;
                }
                if (hec) {
                    where(i, "handshake", hec);
                }
                tls.note(*sp);
                slots[i].phase = Phase::echoing;
                asio::async_write(*sp, asio::buffer(probe), [&, i, sp](const error_code& wec, std::size_t) {
                    if (stopping) {
                        return;
                    }
                    if (wec) {
                        where(i, "write", wec);
                    }
                    asio::async_read(*sp, asio::buffer(slots[i].in.data(), probe.size()), [&, i, sp](const error_code& rec, std::size_t) {
                        if (stopping) {
                            return;
                        }
                        if (rec) {
                            where(i, "read of the echo", rec);
                        }
                        if (std::memcmp(slots[i].in.data(), probe.data(), probe.size()) != 0) {
                            fail("tls-handshake: slot " + std::to_string(i) + " got a wrong echo");
                        }
                        if (measuring) {
                            hist.record(now_ns() - slots[i].t0);
                        }
                        slots[i].phase = Phase::closing;
                        sp->async_shutdown([&, i, sp](const error_code& sec) {
                            if (stopping) {
                                return;
                            }
                            // The server's close_notify (no error), or its close without one (eof,
                            // stream_truncated, reset): either ends the connection; the latter is counted.
                            if (sec) {
                                ++unclean;
                            }
                            error_code ignored;
                            sp->lowest_layer().close(ignored);
                            slots[i].phase = Phase::idle;
                            ++cycles;
                            if (measuring) {
                                ++measured;
                            }
                            // Not from inside the old stream's own handler: the next cycle replaces it.
                            asio::post(io, [&, i] { start(i); });
                        });
                    });
                });
            });
        });
    };

    CpuMeter cpu;
    Clock::time_point t0;
    asio::steady_timer phase(io);
    asio::steady_timer timeout(io);
    for (std::size_t i = 0; i < slots.size(); ++i) {
        start(i);
    }
    phase.expires_after(std::chrono::milliseconds(static_cast<long>(opt.warmup * 1000)));
    phase.async_wait([&](const error_code&) {
        t0 = Clock::now();
        measuring = true;
        tickets0 = tls.tickets();
        cpu.start();
        phase.expires_after(std::chrono::milliseconds(static_cast<long>(opt.duration * 1000)));
        phase.async_wait([&](const error_code&) {
            auto secs = seconds_between(t0, Clock::now());
            cpu.stop();
            measuring = false;
            stopping = true;
            measured_tickets = tls.tickets() - tickets0;
            if (measured == 0) {
                fail("tls-handshake: no connection completed in " + fmt("%.2f", secs) + " s (" +
                     std::to_string(cycles) + " before)");
            }
            double rate = static_cast<double>(measured) / secs;
            double p50 = hist.quantile(0.50) / 1000.0;
            double p99 = hist.quantile(0.99) / 1000.0;
            double tickets_per = static_cast<double>(measured_tickets) / static_cast<double>(measured);
            std::cout << "tls-handshake: " << opt.connections << " at a time, " << fmt("%.2f", secs)
                      << " s: " << fmt("%.0f", rate) << " full handshakes/s (connect, handshake, echo, close), "
                      << "connect to echo p50 " << fmt("%.1f", p50) << " us, p99 " << fmt("%.1f", p99) << " us; "
                      << tls.human() << ", " << fmt("%.2f", tickets_per) << " session tickets per handshake, "
                      << unclean << " closes without close_notify (" << cpu.human() << ")\n";
            std::cout << "RESULT mode=tls-handshake conns=" << opt.connections << " secs=" << fmt("%.3f", secs)
                      << " handshakes=" << measured << " handshakes_s=" << fmt("%.1f", rate)
                      << " p50_us=" << fmt("%.1f", p50) << " p99_us=" << fmt("%.1f", p99)
                      << " tickets_per_handshake=" << fmt("%.2f", tickets_per) << " unclean_closes=" << unclean << " "
                      << tls.machine() << " " << cpu.machine() << "\n";
            std::cout.flush();
            io.stop();
        });
    });
    arm_timeout(timeout, opt, [&] {
        std::size_t count[5] = {};
        for (auto& s : slots) {
            ++count[static_cast<int>(s.phase)];
        }
        return std::to_string(cycles) + " connections done; now " + std::to_string(count[1]) + " connecting, " +
               std::to_string(count[2]) + " in the handshake, " + std::to_string(count[3]) + " waiting for the echo, " +
               std::to_string(count[4]) + " waiting for the server's close";
    });
    io.run();
    return 0;
}
// ---------------------------------------------------------------------------------------------
// Output with one write on the wire at a time: what is sent meanwhile gathers in `pending` and leaves in one
// write as soon as the one on the wire completes. Errors go to on_error, unless `stopping` is set by then.
template <class Socket>
class GatheredWrites {
public:
    using OnError = std::function<void(const std::string&)>;
    GatheredWrites(Socket& socket, OnError on_error) : socket_(socket), on_error_(std::move(on_error)) {}

    std::string pending;

    void stop_when(const bool& stopping) { stopping_ = &stopping; }
    void flush() {
        if (active_ || pending.empty()) {
            return;
        }
        active_ = true;
        writing_.swap(pending);
        pending.clear();
        asio::async_write(socket_, asio::buffer(writing_), [this](const error_code& ec, std::size_t) {
            active_ = false;
            if (stopping_ != nullptr && *stopping_) {
                return;
            }
            if (ec) {
                on_error_("write: " + describe(ec));
                return;
            }
            writing_.clear();
            flush();
        });
    }

private:
    Socket& socket_;
    OnError on_error_;
    std::string writing_;
    bool active_ = false;
    const bool* stopping_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// A line connection: read buffer split into lines, and a write queue with one write in flight
// (GatheredWrites).
class LineConn {
public:
    explicit LineConn(tcp::socket s) : socket(std::move(s)), out(socket, [this](const std::string& what) { on_error(what); }) {
        rbuf.resize(64 * 1024);
    }
    virtual ~LineConn() = default;
    LineConn(const LineConn&) = delete;
    LineConn& operator=(const LineConn&) = delete;

    tcp::socket socket;
    GatheredWrites<tcp::socket> out;

    void start_reading(const bool& stopping) {
        stopping_ = &stopping;
        out.stop_when(stopping);
        read();
    }
    void send(std::string_view data) {
        out.pending.append(data);
        out.flush();
    }
    /// When the read being split into lines completed.
    std::int64_t batch_ns = 0;

protected:
    virtual void on_line(std::string_view line) = 0;
    /// After the lines of one read: a place to send replies in one write.
    virtual void on_batch_end() {}
    virtual void on_error(const std::string& what) = 0;

private:
    void read() {
        if (rlen == rbuf.size()) {
            rbuf.resize(rbuf.size() * 2);  // a line longer than the buffer
        }
        socket.async_read_some(asio::buffer(rbuf.data() + rlen, rbuf.size() - rlen),
                               [this](const error_code& ec, std::size_t n) {
                                   if (*stopping_) {
                                       return;
                                   }
                                   if (ec) {
                                       on_error("read: " + describe(ec));
                                       return;
                                   }
                                   rlen += n;
                                   batch_ns = now_ns();  // one clock read per read: lines of a batch share it
                                   std::size_t start = 0;
                                   for (;;) {
                                       auto* nl = static_cast<const char*>(std::memchr(rbuf.data() + start, '\n', rlen - start));
                                       if (nl == nullptr) {
                                           break;
                                       }
                                       auto end = static_cast<std::size_t>(nl - rbuf.data());
                                       on_line(std::string_view(rbuf.data() + start, end - start));
                                       start = end + 1;
                                   }
                                   if (start > 0) {
                                       std::memmove(rbuf.data(), rbuf.data() + start, rlen - start);
                                       rlen -= start;
                                   }
                                   on_batch_end();
                                   read();
                               });
    }

private:
    std::vector<char> rbuf;
    std::size_t rlen = 0;
    const bool* stopping_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// echo: pipelined 64-byte lines; each line carries its connection and sequence number, checked on return.
int run_echo(const Options& opt) {
    if (opt.line_size < 32) {
        fail("--line-size must be at least 32 for echo");
    }
    struct Shared {
        const Options* opt;
        bool measuring = false;
        bool stopping = false;
        std::uint64_t lines = 0;
        Histogram hist;
    };
    Shared shared;
    shared.opt = &opt;

    class EchoConn : public LineConn {
    public:
        EchoConn(tcp::socket s, std::size_t id_, Shared& sh) : LineConn(std::move(s)), id(id_), shared(sh) {}
        void top_up() {
            bool added = false;
            std::int64_t now = 0;
            while (sent.size() < static_cast<std::size_t>(shared.opt->window)) {
                if (!added) {
                    now = now_ns();
                    added = true;
                }
                set_seq(next_seq++);
                out.pending.append(line);
                sent.push_back(now);
            }
            if (added) {
                out.flush();
            }
        }

    protected:
        void on_line(std::string_view got) override {
            if (sent.empty()) {
                fail("echo: connection " + std::to_string(id) + " got an unexpected line");
            }
            set_seq(recv_seq++);
            if (got.size() + 1 != line.size() || got.compare(0, kSeqEnd, std::string_view(line).substr(0, kSeqEnd)) != 0) {
                fail("echo: connection " + std::to_string(id) + " got a wrong line: '" + std::string(got.substr(0, 80)) + "'");
            }
            if (shared.measuring) {
                ++shared.lines;
                shared.hist.record(batch_ns - sent.front());
            }
            sent.pop_front();
        }
        void on_batch_end() override {
            if (!shared.stopping) {
                top_up();
            }
        }
        void on_error(const std::string& what) override { fail("echo: connection " + std::to_string(id) + " " + what); }

    private:
        // "e <id, 8 digits> <seq, 20 digits> xxx...\n"
        const std::size_t kSeqStart = 11;
        const std::size_t kSeqEnd = kSeqStart + 20;
        void make_template() {
            char head[16];
            int n = std::snprintf(head, sizeof head, "e %08zu ", id % 100000000);
            line.assign(head, static_cast<std::size_t>(n));
            line.append(20, '0');
            line.push_back(' ');
            line.resize(shared.opt->line_size - 1, 'x');
            line.push_back('\n');
        }
        void set_seq(std::uint64_t seq) {
            if (line.empty()) {
                make_template();
            }
            for (std::size_t i = kSeqEnd; i > kSeqStart; --i) {
                line[i - 1] = static_cast<char>('0' + seq % 10);
                seq /= 10;
            }
        }
        std::size_t id;
        Shared& shared;
        std::string line;
        std::deque<std::int64_t> sent;
        std::uint64_t next_seq = 0;
        std::uint64_t recv_seq = 0;
    };

    asio::io_context io(client_concurrency_hint);
    std::vector<std::unique_ptr<EchoConn>> conns(static_cast<std::size_t>(opt.connections));
    CpuMeter cpu;
    Clock::time_point t0;
    asio::steady_timer phase(io);
    asio::steady_timer timeout(io);
    Connector connector(
        io, opt,
        [&](std::size_t i, tcp::socket socket) {
            conns[i] = std::make_unique<EchoConn>(std::move(socket), i, shared);
            conns[i]->start_reading(shared.stopping);
            connector.ready();
        },
        [&] {
            for (auto& c : conns) {
                c->top_up();
            }
            phase.expires_after(std::chrono::milliseconds(static_cast<long>(opt.warmup * 1000)));
            phase.async_wait([&](const error_code&) {
                t0 = Clock::now();
                shared.measuring = true;
                cpu.start();
                phase.expires_after(std::chrono::milliseconds(static_cast<long>(opt.duration * 1000)));
                phase.async_wait([&](const error_code&) {
                    auto secs = seconds_between(t0, Clock::now());
                    cpu.stop();
                    shared.measuring = false;
                    shared.stopping = true;
                    if (shared.lines == 0) {
                        fail("echo: no line came back in " + fmt("%.2f", secs) + " s (server not responding)");
                    }
                    double rate = static_cast<double>(shared.lines) / secs;
                    double p50 = shared.hist.quantile(0.50) / 1000.0;
                    double p99 = shared.hist.quantile(0.99) / 1000.0;
                    std::cout << "echo: " << opt.connections << " conns, window " << opt.window << ", "
                              << opt.line_size << "-byte lines, " << fmt("%.2f", secs) << " s: " << fmt("%.0f", rate)
                              << " lines/s, round trip p50 " << fmt("%.1f", p50) << " us, p99 " << fmt("%.1f", p99)
                              << " us (" << cpu.human() << ")\n";
                    std::cout << "RESULT mode=echo conns=" << opt.connections << " window=" << opt.window
                              << " line=" << opt.line_size << " secs=" << fmt("%.3f", secs) << " lines=" << shared.lines
                              << " lines_s=" << fmt("%.1f", rate) << " p50_us=" << fmt("%.1f", p50)
                              << " p99_us=" << fmt("%.1f", p99) << " " << cpu.machine() << "\n";
                    std::cout.flush();
                    io.stop();
                });
            });
        });
    arm_timeout(timeout, opt, [&] { return std::to_string(connector.ready_count()) + " connected"; });
    connector.start();
    io.run();
    return 0;
}

// ---------------------------------------------------------------------------------------------
// chat, broadcast and ws-chat. Server lines: "Welcome to the chat server, NAME", "* NAME joined",
// "* NAME left", "NAME: text", each ending "\r\n" (over WebSocket: one text message per line, without it).
// Our text: "m <client> <seq> <send-ns> xxx...".
struct ChatShared {
    const Options* opt = nullptr;
    bool broadcast = false;
    bool stopping = false;
    bool measuring = false;
    std::uint64_t welcomes = 0;
    std::uint64_t joins = 0;
    std::uint64_t lefts = 0;
    std::uint64_t deliveries = 0;
    std::uint64_t own_echoes = 0;
    Histogram hist;
    // broadcast mode: how many clients have the current message, and its sequence number
    std::uint64_t current_seq = 0;
    std::uint64_t have_current = 0;
    std::function<void()> on_welcome;
    std::function<void(std::size_t, std::uint64_t)> on_own_echo;  // (client, seq)
    std::function<void()> on_delivery;
};

/// Reads the decimal number (1 to 18 digits) at `p` and the `separator` after it, which may also be the
/// end; returns where it stopped, or null. std::from_chars' general path cost the chat clients a tenth of
/// their CPU; the load generator must stay light.
const char* decimal(const char* p, const char* end, std::uint64_t& out, char separator) {
    const char* start = p;
    std::uint64_t value = 0;
    while (p < end && *p >= '0' && *p <= '9' && p - start < 18) {
        value = value * 10 + static_cast<std::uint64_t>(*p - '0');
        ++p;
    }
    if (p == start) {
        return nullptr;
    }
    out = value;
    if (p == end) {
        return p;
    }
    return *p == separator ? p + 1 : nullptr;
}

/// One chat client's side of the conversation, whatever carries its lines: it parses the server's lines
/// (handle_line) and makes its own (send_message); a transport subclass moves them (write_line).
class ChatClient {
public:
    ChatClient(std::size_t id_, ChatShared& sh) : id(id_), shared(sh) {}
    virtual ~ChatClient() = default;
    ChatClient(const ChatClient&) = delete;
    ChatClient& operator=(const ChatClient&) = delete;

    std::size_t id;
    bool welcomed = false;
    std::uint64_t sent = 0;
    std::uint64_t inflight = 0;

    void send_message(std::uint64_t seq) {
        char head[80];
        int n = std::snprintf(head, sizeof head, "m %zu %llu %lld ", id, static_cast<unsigned long long>(seq),
                              static_cast<long long>(now_ns()));
        std::string line(head, static_cast<std::size_t>(n));
        if (line.size() + 1 < shared.opt->line_size) {
            line.resize(shared.opt->line_size - 1, 'x');
        }
        ++sent;
        ++inflight;
        write_line(std::move(line));
    }

protected:
    /// Sends one line of ours (without its "\n").
    virtual void write_line(std::string line) = 0;

    /// One line from the server; `received_ns`: when the read that brought it completed.
    void handle_line(std::string_view line, std::int64_t received_ns) {
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        auto colon = line.find(": m ");
        if (colon != std::string_view::npos && line.substr(0, 1) != "*") {
            auto text = line.substr(colon + 4);
            std::uint64_t client = 0;
            std::uint64_t seq = 0;
            std::uint64_t sent_ns = 0;
            const char* end = text.data() + text.size();
            const char* p = decimal(text.data(), end, client, ' ');
            // Another client's line needs only its sender's number (and in broadcast its sequence number).
            if (p != nullptr && (client == id || shared.broadcast)) {
                p = decimal(p, end, seq, ' ');
                p = p != nullptr ? decimal(p, end, sent_ns, ' ') : nullptr;
            }
            if (p == nullptr) {
                fail(shared.opt->mode + ": client " + std::to_string(id) + " cannot parse '" +
                     std::string(line.substr(0, 100)) + "'");
            }
            ++shared.deliveries;
            if (shared.broadcast) {
                if (seq == shared.current_seq) {
                    ++shared.have_current;
                }
            }
            if (client == id) {
                if (inflight == 0) {
                    fail(shared.opt->mode + ": client " + std::to_string(id) + " got an echo it did not send");
                }
                --inflight;
                ++shared.own_echoes;
                if (shared.measuring) {
                    shared.hist.record(received_ns - static_cast<std::int64_t>(sent_ns));
                }
                shared.on_own_echo(id, seq);
            }
            if (shared.on_delivery) {
                shared.on_delivery();
            }
            return;
        }
        if (line.rfind("Welcome to the chat server, ", 0) == 0) {
            if (welcomed) {
                fail(shared.opt->mode + ": client " + std::to_string(id) + " welcomed twice");
            }
            welcomed = true;
            ++shared.welcomes;
            shared.on_welcome();
            return;
        }
        if (line.rfind("* ", 0) == 0) {
            if (line.ends_with(" joined")) {
                ++shared.joins;
                return;
            }
            if (line.ends_with(" left")) {
                ++shared.lefts;
                return;
            }
        }
        // Any other server line is ignored.
    }
    void client_error(const std::string& what) { fail(shared.opt->mode + ": client " + std::to_string(id) + " " + what); }

    ChatShared& shared;
};

/// chat, broadcast: the chat's lines over TCP as they are.
class TcpChatClient final : public ChatClient, public LineConn {
public:
    TcpChatClient(tcp::socket s, std::size_t id_, ChatShared& sh) : ChatClient(id_, sh), LineConn(std::move(s)) {
        start_reading(sh.stopping);
    }

protected:
    void write_line(std::string line) override {
        line.push_back('\n');
        send(line);
    }
    void on_line(std::string_view line) override { handle_line(line, batch_ns); }
    void on_error(const std::string& what) override { client_error(what); }
};

/// ws-chat's socket under Beast's WebSocket stream, which gives it the load generator's TCP habits:
/// - reads up to 64 KiB per system call and hands Beast what it asks for from that. Beast reads through a
///   1536-byte buffer of its own (one TCP frame): a recvmsg (and often an epoll_wait) per 18 chat lines,
///   where the TCP client's LineConn reads 64 KiB.
/// - Beast's (synchronous) frame writes are queued and leave as LineConn's lines do: at once when no write
///   is on the wire, else gathered until it completes. Beast allows one write at a time, so without this
///   each line would be a TCP segment and a server read of its own, where the TCP client's replies to one
///   read share a write.
/// - its socket's executor is the io_context's own, not the polymorphic any_io_executor that Beast's
///   composed operations would copy several times per message.
/// Only the handshake writes asynchronously, before any frame.
class BufferedSocket {
public:
    using Socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
    using executor_type = Socket::executor_type;

    BufferedSocket(tcp::socket s, GatheredWrites<Socket>::OnError on_error)
        : socket(adopt(std::move(s))), out_(socket, std::move(on_error)), buffer_(64 * 1024) {}

    executor_type get_executor() noexcept { return socket.get_executor(); }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return asio::async_initiate<Token, void(error_code, std::size_t)>(
            [this](auto handler, const MutableBuffers& into) {
                if (begin_ < end_) {
                    // Completed on a later turn, never inside the initiating call (Asio's rule).
                    const std::size_t n = take(into);
                    asio::post(socket.get_executor(), beast::bind_front_handler(std::move(handler), error_code{}, n));
                    return;
                }
                socket.async_read_some(asio::buffer(buffer_), [this, into, handler = std::move(handler)](
                                                                  const error_code& ec, std::size_t got) mutable {
                    begin_ = 0;
                    end_ = ec ? 0 : got;
                    const std::size_t n = ec ? 0 : take(into);
                    std::move(handler)(ec, n);
                });
            },
            token, buffers);
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return socket.async_write_some(buffers, std::forward<Token>(token));
    }

    template <class ConstBuffers>
    std::size_t write_some(const ConstBuffers& buffers, error_code& ec) {
        ec = {};
        const std::size_t n = asio::buffer_size(buffers);
        const std::size_t at = out_.pending.size();
        out_.pending.resize(at + n);
        asio::buffer_copy(asio::buffer(out_.pending.data() + at, n), buffers);
        out_.flush();
        return n;
    }
    template <class ConstBuffers>
    std::size_t write_some(const ConstBuffers& buffers) {
        error_code ec;
        return write_some(buffers, ec);
    }
    /// Beast's synchronous reads, after an asynchronous one (WsChatClient::read): from what was read ahead;
    /// with nothing left (a frame cut by the end of the last read), a blocking read for the rest, which
    /// the server sent with the frame's start (it writes whole frames).
    template <class MutableBuffers>
    std::size_t read_some(const MutableBuffers& into, error_code& ec) {
        ec = {};
        if (begin_ == end_) {
            begin_ = 0;
            end_ = socket.read_some(asio::buffer(buffer_), ec);
            if (ec) {
                end_ = 0;
                return 0;
            }
        }
        return take(into);
    }
    template <class MutableBuffers>
    std::size_t read_some(const MutableBuffers& into) {
        error_code ec;
        const std::size_t n = read_some(into, ec);
        if (ec) {
            throw boost::system::system_error(ec);
        }
        return n;
    }
    /// Bytes read ahead that Beast has not taken yet.
    [[nodiscard]] std::size_t buffered() const noexcept { return end_ - begin_; }

    Socket socket;

private:
    static Socket adopt(tcp::socket s) {
        const auto protocol = s.local_endpoint().protocol();
        const auto executor = *s.get_executor().target<asio::io_context::executor_type>();
        return Socket(executor, protocol, s.release());
    }
    template <class MutableBuffers>
    std::size_t take(const MutableBuffers& into) {
        const std::size_t n = asio::buffer_copy(into, asio::buffer(buffer_.data() + begin_, end_ - begin_));
        begin_ += n;
        return n;
    }
    GatheredWrites<Socket> out_;
    std::vector<char> buffer_;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

// Beast's closing handshake ends with a teardown of the layer below, and its timeouts close it: found by
// argument-dependent lookup.
[[maybe_unused]] void beast_close_socket(BufferedSocket& s) { beast::close_socket(s.socket); }
[[maybe_unused]] void teardown(beast::role_type role, BufferedSocket& s, error_code& ec) {
    websocket::teardown(role, s.socket, ec);
}
template <class Handler>
void async_teardown(beast::role_type role, BufferedSocket& s, Handler&& handler) {
    websocket::async_teardown(role, s.socket, std::forward<Handler>(handler));
}

/// ws-chat: the same lines as WebSocket text messages, one per line, to weft-chat's /ws (its web page's
/// endpoint), through Boost.Beast's client: an implementation independent of weft's, which masks every
/// frame as RFC 6455 requires of a client. No Origin header: weft-chat admits clients that are not
/// browsers, as nc on its TCP port.
class WsChatClient final : public ChatClient {
public:
    WsChatClient(tcp::socket s, std::size_t id_, ChatShared& sh)
        : ChatClient(id_, sh), ws_(std::move(s), [this](const std::string& what) {
              if (!shared.stopping) {
                  client_error(what);
              }
          }) {
        ws_.text(true);
        const auto& opt = *sh.opt;
        ws_.async_handshake(opt.host + ":" + std::to_string(opt.port), "/ws", [this](const error_code& ec) {
            if (shared.stopping) {
                return;
            }
            if (ec) {
                client_error("WebSocket handshake with /ws: " + describe(ec));
            }
            read();
        });
    }

protected:
    // Beast frames and masks the line; BufferedSocket takes the frame at once and sends it.
    void write_line(std::string line) override {
        error_code ec;
        ws_.write(asio::buffer(line), ec);
        if (ec) {
            client_error("write: " + describe(ec));
        }
    }

private:
    // One asynchronous read, then the messages already read ahead synchronously: Beast's asynchronous read
    // costs a handler allocation, a post and executor copies per message, several times what the TCP
    // client pays per line, and the load generator must not be what sets the pace.
    void read() {
        ws_.async_read(rbuf_, [this](const error_code& ec, std::size_t) {
            if (shared.stopping) {
                return;
            }
            if (ec) {
                client_error("read: " + describe(ec));
            }
            std::int64_t received_ns = now_ns();
            take_message(received_ns);
            while (ws_.next_layer().buffered() > 0 && !shared.stopping) {
                error_code rec;
                ws_.read(rbuf_, rec);
                if (rec) {
                    client_error("read: " + describe(rec));
                }
                take_message(received_ns);
            }
            if (!shared.stopping) {
                read();
            }
        });
    }
    void take_message(std::int64_t received_ns) {
        const auto data = rbuf_.cdata();
        handle_line(std::string_view(static_cast<const char*>(data.data()), data.size()), received_ns);
        rbuf_.clear();
    }

    websocket::stream<BufferedSocket, false> ws_;  // no permessage-deflate (off by default): compiled out
    beast::flat_buffer rbuf_;
};

enum class ChatTransport { plain, websocket };

int run_chat(const Options& opt, bool broadcast, ChatTransport transport = ChatTransport::plain) {
    ChatShared shared;
    shared.opt = &opt;
    shared.broadcast = broadcast;
    const auto n = static_cast<std::uint64_t>(opt.connections);
    const std::uint64_t expected_joins = n * (n - 1) / 2;  // one per pair: the earlier one hears the later
    const auto messages = static_cast<std::uint64_t>(opt.messages);
    const std::uint64_t expected_deliveries = n * n * messages;

    asio::io_context io(client_concurrency_hint);
    std::vector<std::unique_ptr<ChatClient>> clients(n);
    CpuMeter cpu;
    Clock::time_point t0;
    Clock::time_point setup_start = Clock::now();
    asio::steady_timer timeout(io);
    asio::steady_timer poll(io);
    std::vector<double> broadcast_ms;
    std::string phase_name = "connecting";
    double setup_secs = 0;
    bool ready_all = false;

    auto finish = [&] {
        auto secs = seconds_between(t0, Clock::now());
        cpu.stop();
        shared.measuring = false;
        shared.stopping = true;
        if (!broadcast) {
            double rate = static_cast<double>(shared.deliveries) / secs;
            double p50 = shared.hist.quantile(0.50) / 1000.0;
            double p99 = shared.hist.quantile(0.99) / 1000.0;
            std::cout << opt.mode << ": " << n << " clients x " << messages << " lines, window " << opt.window << ", "
                      << shared.deliveries << " deliveries in " << fmt("%.3f", secs) << " s: " << fmt("%.0f", rate)
                      << " deliveries/s, own echo p50 " << fmt("%.1f", p50) << " us, p99 " << fmt("%.1f", p99)
                      << " us (" << cpu.human() << "; setup " << fmt("%.2f", setup_secs) << " s)\n";
            std::cout << "RESULT mode=" << opt.mode << " conns=" << n << " messages=" << messages << " window=" << opt.window
                      << " secs=" << fmt("%.3f", secs) << " deliveries=" << shared.deliveries
                      << " deliveries_s=" << fmt("%.1f", rate) << " p50_us=" << fmt("%.1f", p50)
                      << " p99_us=" << fmt("%.1f", p99) << " setup_s=" << fmt("%.3f", setup_secs) << " "
                      << cpu.machine() << "\n";
        } else {
            std::sort(broadcast_ms.begin(), broadcast_ms.end());
            double median = broadcast_ms[broadcast_ms.size() / 2];
            double worst = broadcast_ms.back();
            std::cout << "broadcast: 1 line to " << n << " clients, " << broadcast_ms.size() << " times: median "
                      << fmt("%.2f", median) << " ms, max " << fmt("%.2f", worst) << " ms until all have it ("
                      << cpu.human() << "; setup " << fmt("%.2f", setup_secs) << " s)\n";
            std::cout << "RESULT mode=broadcast conns=" << n << " repeats=" << broadcast_ms.size()
                      << " median_ms=" << fmt("%.3f", median) << " max_ms=" << fmt("%.3f", worst)
                      << " setup_s=" << fmt("%.3f", setup_secs) << " "
                      << cpu.machine() << "\n";
        }
        std::cout.flush();
        io.stop();
    };

    std::uint64_t bc_seq = 0;
    std::int64_t bc_sent_ns = 0;
    auto broadcast_next = [&] {
        shared.current_seq = ++bc_seq;
        shared.have_current = 0;
        bc_sent_ns = now_ns();
        clients[0]->send_message(bc_seq);
    };

    shared.on_own_echo = [&](std::size_t id, std::uint64_t) {
        if (!broadcast && !shared.stopping) {
            auto& c = *clients[id];
            if (c.sent < messages && c.inflight < static_cast<std::uint64_t>(opt.window)) {
                c.send_message(c.sent);
            }
        }
    };
    shared.on_delivery = [&] {
        if (shared.stopping) {
            return;
        }
        if (broadcast) {
            if (shared.have_current == n) {
                broadcast_ms.push_back(static_cast<double>(now_ns() - bc_sent_ns) / 1e6);
                if (broadcast_ms.size() >= messages) {
                    finish();
                } else {
                    broadcast_next();
                }
            }
        } else if (shared.deliveries == expected_deliveries) {
            finish();
        }
    };

    Connector* connector_ptr = nullptr;
    shared.on_welcome = [&] { connector_ptr->ready(); };

    // After all are welcomed, wait for the join notices to drain, then measure.
    std::function<void()> wait_drained;
    wait_drained = [&] {
        if (shared.joins < expected_joins) {
            poll.expires_after(std::chrono::milliseconds(2));
            poll.async_wait([&](const error_code&) { wait_drained(); });
            return;
        }
        if (shared.joins > expected_joins || shared.lefts != 0) {
            fail(opt.mode + ": unexpected notices: " + std::to_string(shared.joins) + " joined (expected " +
                 std::to_string(expected_joins) + "), " + std::to_string(shared.lefts) + " left");
        }
        phase_name = "measuring";
        setup_secs = seconds_between(setup_start, Clock::now());
        t0 = Clock::now();
        cpu.start();
        shared.measuring = true;
        if (broadcast) {
            broadcast_next();
        } else {
            for (auto& c : clients) {
                while (c->sent < messages && c->inflight < static_cast<std::uint64_t>(opt.window)) {
                    c->send_message(c->sent);
                }
            }
            if (expected_deliveries == 0) {
                finish();
            }
        }
    };

    Connector connector(
        io, opt,
        [&](std::size_t i, tcp::socket socket) {
            if (transport == ChatTransport::websocket) {
                clients[i] = std::make_unique<WsChatClient>(std::move(socket), i, shared);
            } else {
                clients[i] = std::make_unique<TcpChatClient>(std::move(socket), i, shared);
            }
        },
        [&] {
            ready_all = true;
            phase_name = "draining join notices";
            wait_drained();
        });
    connector_ptr = &connector;
    arm_timeout(timeout, opt, [&] {
        return phase_name + ": " + std::to_string(shared.welcomes) + "/" + std::to_string(n) + " welcomed, " +
               std::to_string(shared.joins) + "/" + std::to_string(expected_joins) + " join notices, " +
               std::to_string(shared.deliveries) + " deliveries";
    });
    connector.start();
    io.run();
    (void)ready_all;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// idle: N connections, each sends one probe line and waits for any reply (so the server has surely
// accepted it and set it up), then stays idle. Server VmRSS before and after.
int run_idle(const Options& opt) {
    if (opt.pid <= 0) {
        fail("idle needs --pid (the server's process id)");
    }
    struct Idle {
        explicit Idle(tcp::socket s) : socket(std::move(s)) {}
        tcp::socket socket;
        std::array<char, 256> buf{};
        bool replied = false;
    };
    asio::io_context io(client_concurrency_hint);
    bool stopping = false;
    std::vector<std::unique_ptr<Idle>> conns(static_cast<std::size_t>(opt.connections));
    long before = read_rss_kib(opt.pid);
    CpuMeter cpu;
    cpu.start();
    auto t0 = Clock::now();
    asio::steady_timer timeout(io);
    asio::steady_timer settle(io);
    static const std::string probe = "i\n";
    std::function<void(Idle&, std::size_t)> read;
    Connector* connector_ptr = nullptr;
    read = [&](Idle& c, std::size_t i) {
        c.socket.async_read_some(asio::buffer(c.buf), [&, cp = &c, i](const error_code& ec, std::size_t) {
            if (stopping) {
                return;
            }
            if (ec) {
                fail("idle: connection " + std::to_string(i) + " " + describe(ec));
            }
            if (!cp->replied) {
                cp->replied = true;
                connector_ptr->ready();
            }
            read(*cp, i);
        });
    };
    Connector connector(
        io, opt,
        [&](std::size_t i, tcp::socket socket) {
            conns[i] = std::make_unique<Idle>(std::move(socket));
            auto* c = conns[i].get();
            asio::async_write(c->socket, asio::buffer(probe), [&, c, i](const error_code& ec, std::size_t) {
                if (ec && !stopping) {
                    fail("idle: probe write " + std::to_string(i) + ": " + describe(ec));
                }
                read(*c, i);
            });
        },
        [&] {
            auto connect_secs = seconds_between(t0, Clock::now());
            settle.expires_after(std::chrono::milliseconds(static_cast<long>(opt.settle * 1000)));
            settle.async_wait([&, connect_secs](const error_code&) {
                long after = read_rss_kib(opt.pid);
                cpu.stop();
                stopping = true;
                double per_conn = static_cast<double>(after - before) * 1024.0 / static_cast<double>(opt.connections);
                std::cout << "idle: " << opt.connections << " connections (set up in " << fmt("%.2f", connect_secs)
                          << " s): server VmRSS " << before << " KiB -> " << after << " KiB, "
                          << fmt("%.0f", per_conn) << " bytes per connection (" << cpu.human() << ")\n";
                std::cout << "RESULT mode=idle conns=" << opt.connections << " rss_before_kib=" << before
                          << " rss_after_kib=" << after << " bytes_per_conn=" << fmt("%.1f", per_conn)
                          << " connect_s=" << fmt("%.3f", connect_secs) << " " << cpu.machine() << "\n";
                std::cout.flush();
                io.stop();
            });
        });
    connector_ptr = &connector;
    arm_timeout(timeout, opt, [&] { return std::to_string(connector.ready_count()) + " connections ready"; });
    connector.start();
    io.run();
    return 0;
}

// ---------------------------------------------------------------------------------------------
// udp-echo: N connected UDP sockets, each keeping up to W datagrams of B bytes in flight; a datagram
// not echoed within --loss-timeout counts as lost and frees its place in the window. Echoed datagrams/s,
// the loss rate, p50/p99 round trip. The client works in batches (recvmmsg, and UDP GSO or sendmmsg, on
// the sockets' native handles, Asio only for readiness) so that it costs less than the servers it
// measures. On loopback the sender's system call also delivers the datagram into the receiver's socket,
// so sending is the client's largest cost: with GSO (UDP_SEGMENT) a batch goes down the stack as one
// buffer and is cut into datagrams only as it reaches the server's socket, which still receives them
// one by one, as from any other client.
//
// Datagram: [u32 socket][u32 magic][u64 sequence number][filler], checked on return. UDP on loopback
// keeps a socket's datagrams in order, so the answers come back in sequence order, with gaps for losses.
class UdpEchoClient {
public:
    static constexpr std::uint32_t kMagic = 0x57424455;  // "WBDU"
    static constexpr std::size_t kHeader = 16;
    static constexpr unsigned kBatch = 64;  // also the kernel's limit of segments in one GSO send
    static constexpr std::size_t kGsoBytes = 65000;  // one GSO send stays within a 64 KiB buffer

    UdpEchoClient(asio::io_context& io, const Options& opt)
        : opt_(opt), loss_ns_(static_cast<std::int64_t>(opt.loss_timeout * 1e9)), tick_(io) {
        if (opt.block < kHeader || opt.block > 65507) {
            fail("udp-echo: --block (the datagram size) must be from " + std::to_string(kHeader) + " to 65507");
        }
        error_code ec;
        auto address = asio::ip::make_address(opt.host, ec);
        if (ec) {
            fail("bad --host " + opt.host + ": " + ec.message());
        }
        const udp::endpoint server(address, static_cast<unsigned short>(opt.port));
        // One receive slot a byte longer than a datagram: a longer answer shows up as MSG_TRUNC.
        slot_size_ = opt.block + 1;
        rbuf_.resize(slot_size_ * kBatch);
        sbuf_.resize(opt.block * kBatch, 'u');
        for (int i = 0; i < opt.connections; ++i) {
            auto s = std::make_unique<Sock>(io);
            s->id = static_cast<std::uint32_t>(i);
            s->socket.open(server.protocol());
            s->socket.connect(server, ec);  // only the server's answers reach it, and ECONNREFUSED is reported
            if (ec) {
                fail("udp-echo: connect to " + opt.host + ":" + std::to_string(opt.port) + ": " + ec.message());
            }
            s->socket.non_blocking(true);
            if (opt.udp_gso) {
                int segment = static_cast<int>(opt.block);
                s->gso = ::setsockopt(s->socket.native_handle(), SOL_UDP, UDP_SEGMENT, &segment, sizeof segment) == 0;
            }
            socks_.push_back(std::move(s));
        }
    }

    void start() {
        for (auto& s : socks_) {
            top_up(*s);
            wait_readable(*s);
        }
        schedule_tick();
    }
    void set_measuring(bool on) {
        measuring_ = on;
        if (on) {
            echoed_ = lost_ = late_ = sent_ = 0;
        }
    }
    void stop() {
        stopping_ = true;
        tick_.cancel();
    }
    [[nodiscard]] std::uint64_t echoed() const noexcept { return echoed_; }
    [[nodiscard]] std::uint64_t lost() const noexcept { return lost_; }
    [[nodiscard]] std::uint64_t late() const noexcept { return late_; }
    [[nodiscard]] std::uint64_t sent() const noexcept { return sent_; }
    [[nodiscard]] std::uint64_t echoed_total() const noexcept { return echoed_total_; }
    [[nodiscard]] const Histogram& histogram() const noexcept { return hist_; }
    [[nodiscard]] bool gso() const noexcept {
        return std::all_of(socks_.begin(), socks_.end(), [](const auto& s) { return s->gso; });
    }

private:
    struct Pending {
        std::int64_t sent_ns;
        bool answered;
    };
    struct Sock {
        explicit Sock(asio::io_context& io) : socket(io) {}
        udp::socket socket;
        std::uint32_t id = 0;
        std::uint64_t next_seq = 0;   // the next to send
        std::uint64_t base_seq = 0;   // pending.front()'s
        std::deque<Pending> pending;  // base_seq, base_seq + 1, ...: front is always unanswered
        std::size_t inflight = 0;     // unanswered and not yet lost
        bool gso = false;             // UDP_SEGMENT set: one send() carries a batch
    };

    void wait_readable(Sock& s) {
        s.socket.async_wait(udp::socket::wait_read, [this, sp = &s](const error_code& ec) {
            if (stopping_ || ec == asio::error::operation_aborted) {
                return;
            }
            if (ec) {
                fail("udp-echo: wait: " + ec.message());
            }
            receive(*sp);
            top_up(*sp);
            wait_readable(*sp);
        });
    }

    void receive(Sock& s) {
        std::array<mmsghdr, kBatch> msgs{};
        std::array<iovec, kBatch> iov{};
        for (unsigned i = 0; i < kBatch; ++i) {
            iov[i].iov_base = rbuf_.data() + i * slot_size_;
            iov[i].iov_len = slot_size_;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        const int fd = s.socket.native_handle();
        for (int rounds = 0; rounds < 16; ++rounds) {  // bounded: the other sockets get their turn too
            int n = ::recvmmsg(fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    return;
                }
                if (errno == EINTR) {
                    continue;
                }
                if (errno == ECONNREFUSED) {
                    fail("udp-echo: socket " + std::to_string(s.id) + ": connection refused (no server on " +
                         opt_.host + ":" + std::to_string(opt_.port) + ", or it went away)");
                }
                fail(std::string("udp-echo: recvmmsg: ") + std::strerror(errno));
            }
            const std::int64_t now = now_ns();
            for (int i = 0; i < n; ++i) {
                const char* d = rbuf_.data() + static_cast<std::size_t>(i) * slot_size_;
                if (msgs[i].msg_len != opt_.block || (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0) {
                    fail("udp-echo: socket " + std::to_string(s.id) + " got a " + std::to_string(msgs[i].msg_len) +
                         "-byte datagram, sent " + std::to_string(opt_.block));
                }
                std::uint32_t id = 0;
                std::uint32_t magic = 0;
                std::uint64_t seq = 0;
                std::memcpy(&id, d, 4);
                std::memcpy(&magic, d + 4, 4);
                std::memcpy(&seq, d + 8, 8);
                if (id != s.id || magic != kMagic) {
                    fail("udp-echo: socket " + std::to_string(s.id) + " got a datagram it did not send");
                }
                answered(s, seq, now);
            }
            if (static_cast<unsigned>(n) < kBatch) {
                return;
            }
        }
    }

    void answered(Sock& s, std::uint64_t seq, std::int64_t now) {
        if (seq < s.base_seq || seq >= s.base_seq + s.pending.size()) {
            if (seq >= s.next_seq) {
                fail("udp-echo: socket " + std::to_string(s.id) + " got sequence number " + std::to_string(seq) +
                     ", never sent");
            }
            ++late_;  // answered after it was counted lost
            return;
        }
        auto& p = s.pending[seq - s.base_seq];
        if (p.answered) {
            fail("udp-echo: socket " + std::to_string(s.id) + " got datagram " + std::to_string(seq) + " twice");
        }
        p.answered = true;
        --s.inflight;
        ++echoed_total_;
        if (measuring_) {
            ++echoed_;
            hist_.record(now - p.sent_ns);
        }
        while (!s.pending.empty() && s.pending.front().answered) {
            s.pending.pop_front();
            ++s.base_seq;
        }
    }

    void top_up(Sock& s) {
        if (stopping_) {
            return;
        }
        const auto window = static_cast<std::size_t>(opt_.window);
        std::array<mmsghdr, kBatch> msgs{};
        std::array<iovec, kBatch> iov{};
        while (s.inflight < window) {
            auto count = static_cast<unsigned>(std::min<std::size_t>(window - s.inflight, kBatch));
            if (s.gso) {
                count = static_cast<unsigned>(std::min<std::size_t>(count, kGsoBytes / opt_.block));
            }
            for (unsigned i = 0; i < count; ++i) {
                char* d = sbuf_.data() + i * opt_.block;
                std::uint64_t seq = s.next_seq + i;
                std::memcpy(d, &s.id, 4);
                std::memcpy(d + 4, &kMagic, 4);
                std::memcpy(d + 8, &seq, 8);
                iov[i].iov_base = d;
                iov[i].iov_len = opt_.block;
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            int n = 0;
            if (s.gso && count > 1) {
                // The batch is contiguous in sbuf_: the kernel cuts it into count datagrams of opt_.block.
                auto sent = ::send(s.socket.native_handle(), sbuf_.data(), count * opt_.block, MSG_DONTWAIT);
                n = sent < 0 ? -1 : static_cast<int>(static_cast<std::size_t>(sent) / opt_.block);
                if (sent < 0 && (errno == EINVAL || errno == EIO || errno == ENOTSUP || errno == EOPNOTSUPP)) {
                    s.gso = false;  // this kernel or route will not segment: sendmmsg from now on
                    continue;
                }
            } else {
                n = ::sendmmsg(s.socket.native_handle(), msgs.data(), count, MSG_DONTWAIT);
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                    return;  // our own send buffer is full: the next answer or tick tries again
                }
                if (errno == EINTR) {
                    continue;
                }
                if (errno == ECONNREFUSED) {
                    fail("udp-echo: socket " + std::to_string(s.id) + ": connection refused (no server on " +
                         opt_.host + ":" + std::to_string(opt_.port) + ", or it went away)");
                }
                fail(std::string("udp-echo: sendmmsg: ") + std::strerror(errno));
            }
            const std::int64_t now = now_ns();
            for (int i = 0; i < n; ++i) {
                s.pending.push_back(Pending{now, false});
            }
            s.next_seq += static_cast<std::uint64_t>(n);
            s.inflight += static_cast<std::size_t>(n);
            if (measuring_) {
                sent_ += static_cast<std::uint64_t>(n);
            }
            if (static_cast<unsigned>(n) < count) {
                return;
            }
        }
    }

    // Every quarter of the loss timeout: what has waited longer is lost; the windows refill.
    void schedule_tick() {
        tick_.expires_after(std::chrono::nanoseconds(std::max<std::int64_t>(loss_ns_ / 4, 1'000'000)));
        tick_.async_wait([this](const error_code& ec) {
            if (ec || stopping_) {
                return;
            }
            const std::int64_t now = now_ns();
            for (auto& sp : socks_) {
                auto& s = *sp;
                while (!s.pending.empty() && now - s.pending.front().sent_ns > loss_ns_) {
                    s.pending.pop_front();  // the front is unanswered (answered fronts are popped at once)
                    ++s.base_seq;
                    --s.inflight;
                    if (measuring_) {
                        ++lost_;
                    }
                    while (!s.pending.empty() && s.pending.front().answered) {
                        s.pending.pop_front();
                        ++s.base_seq;
                    }
                }
                top_up(s);
            }
            schedule_tick();
        });
    }

    const Options& opt_;
    std::int64_t loss_ns_;
    asio::steady_timer tick_;
    std::vector<std::unique_ptr<Sock>> socks_;
    std::size_t slot_size_ = 0;
    std::vector<char> rbuf_;
    std::vector<char> sbuf_;
    bool measuring_ = false;
    bool stopping_ = false;
    std::uint64_t echoed_ = 0;
    std::uint64_t echoed_total_ = 0;
    std::uint64_t lost_ = 0;
    std::uint64_t late_ = 0;
    std::uint64_t sent_ = 0;
    Histogram hist_;
};

int run_udp_echo(const Options& opt) {
    asio::io_context io(client_concurrency_hint);
    UdpEchoClient client(io, opt);
    CpuMeter cpu;
    Clock::time_point t0;
    asio::steady_timer phase(io);
    asio::steady_timer timeout(io);
    client.start();
    phase.expires_after(std::chrono::milliseconds(static_cast<long>(opt.warmup * 1000)));
    phase.async_wait([&](const error_code&) {
        t0 = Clock::now();
        client.set_measuring(true);
        cpu.start();
        phase.expires_after(std::chrono::milliseconds(static_cast<long>(opt.duration * 1000)));
        phase.async_wait([&](const error_code&) {
            auto secs = seconds_between(t0, Clock::now());
            cpu.stop();
            client.set_measuring(false);
            client.stop();
            if (client.echoed() == 0) {
                fail("udp-echo: no datagram came back in " + fmt("%.2f", secs) + " s (" +
                     std::to_string(client.lost()) + " lost; server not responding?)");
            }
            double pps = static_cast<double>(client.echoed()) / secs;
            double loss_pct = 100.0 * static_cast<double>(client.lost()) /
                              static_cast<double>(client.echoed() + client.lost());
            double p50 = client.histogram().quantile(0.50) / 1000.0;
            double p99 = client.histogram().quantile(0.99) / 1000.0;
            std::cout << "udp-echo: " << opt.connections << " sockets, window " << opt.window << ", " << opt.block
                      << "-byte datagrams, " << fmt("%.2f", secs) << " s: " << fmt("%.0f", pps)
                      << " datagrams/s echoed, " << client.lost() << " lost (" << fmt("%.3f", loss_pct)
                      << " %), round trip p50 " << fmt("%.1f", p50) << " us, p99 " << fmt("%.1f", p99) << " us ("
                      << cpu.human() << ")\n";
            std::cout << "RESULT mode=udp-echo sockets=" << opt.connections << " window=" << opt.window
                      << " size=" << opt.block << " secs=" << fmt("%.3f", secs) << " sent=" << client.sent()
                      << " echoed=" << client.echoed() << " pps=" << fmt("%.1f", pps) << " lost=" << client.lost()
                      << " loss_pct=" << fmt("%.4f", loss_pct) << " late=" << client.late()
                      << " p50_us=" << fmt("%.1f", p50) << " p99_us=" << fmt("%.1f", p99)
                      << " gso=" << (client.gso() ? 1 : 0) << " " << cpu.machine() << "\n";
            std::cout.flush();
            io.stop();
        });
    });
    arm_timeout(timeout, opt, [&] { return std::to_string(client.echoed_total()) + " datagrams echoed"; });
    io.run();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    using weft::apps::number;
    using weft::apps::optional_number;
    Options opt;
    constexpr double max_seconds = 365.0 * 24 * 3600;  // what steady_timer's milliseconds hold easily
    po::options_description desc(
        "weft-bench: load generator for weft's benchmarks (raw Boost.Asio, one thread)\n"
        "Usage: weft-bench --mode MODE --port P [options]\nOptions");
    // clang-format off
    desc.add_options()
        ("help,h", "show this help")
        ("version", "print \"weft-bench VERSION\" and exit")
        ("mode", po::value(&opt.mode)->required(), "pingpong | echo | chat | ws-chat | broadcast | idle | tls-pingpong | tls-handshake | udp-echo")
        ("host", po::value(&opt.host)->default_value(opt.host), "server address")
        ("port", optional_number("--port", opt.port, 1U, 65535U)->required(), "server port")
        ("connections,n", number("--connections", opt.connections, 1, 1'000'000), "N: connections / sessions / chat clients; connections at a time (tls-handshake); sockets (udp-echo)")
        ("duration,t", number("--duration", opt.duration, 0.001, max_seconds), "T: measured seconds (pingpong, echo, tls-*, udp-echo)")
        ("warmup", number("--warmup", opt.warmup, 0.0, max_seconds), "seconds of load before measuring (pingpong, echo, tls-*, udp-echo)")
        ("block,b", number("--block", opt.block, std::size_t{1}, std::size_t{1} << 30), "B: block size in bytes (pingpong); datagram size (udp-echo)")
        ("window,w", number("--window", opt.window, 1, 1'000'000), "W: lines in flight per connection (echo, chat, ws-chat); datagrams per socket (udp-echo)")
        ("messages,m", number("--messages", opt.messages, 0, 1'000'000'000), "M: lines per client (chat, ws-chat); broadcasts (broadcast)")
        ("line-size", number("--line-size", opt.line_size, std::size_t{2}, std::size_t{16} << 20), "bytes per line sent, \\n included (echo, chat, ws-chat: the message is the line without it)")
        ("pid", optional_number("--pid", opt.pid, 1L, 4'194'304L), "server process id whose VmRSS is read (idle)")
        ("settle", number("--settle", opt.settle, 0.0, max_seconds), "seconds to wait before reading VmRSS (idle)")
        ("connect-concurrency", number("--connect-concurrency", opt.connect_concurrency, 1, 1'000'000), "connections being set up at once")
        ("nodelay", po::value(&opt.nodelay)->default_value(opt.nodelay), "TCP_NODELAY on the client's sockets")
        ("tls-groups", po::value(&opt.tls_groups)->default_value(opt.tls_groups), "key exchange groups the TLS client offers (OpenSSL list, e.g. P-256:X25519)")
        ("loss-timeout", number("--loss-timeout", opt.loss_timeout, 0.001, 60.0), "seconds after which an unanswered datagram counts as lost (udp-echo)")
        ("udp-gso", po::value(&opt.udp_gso)->default_value(opt.udp_gso), "send each batch as one UDP GSO buffer (UDP_SEGMENT) where the kernel allows; else sendmmsg (udp-echo)")
        ("timeout", number("--timeout", opt.timeout, 0.001, max_seconds), "overall limit in seconds; exceeding it is an error");
    // clang-format on
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help") != 0U) {
            std::cout << desc << "\n";
            return 0;
        }
        if (vm.count("version") != 0U) {
            // weft-bench does not link libweft (it is raw Asio), so it reports the version it was built as.
            std::cout << "weft-bench " << WEFT_VERSION_STRING << "\n";
            return 0;
        }
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "weft-bench: " << e.what() << "\n" << desc << "\n";
        return 2;
    }
    raise_nofile(static_cast<std::size_t>(opt.connections) + 64);
    try {
        if (opt.mode == "pingpong") {
            return run_pingpong(opt);
        }
        if (opt.mode == "echo") {
            return run_echo(opt);
        }
        if (opt.mode == "chat") {
            return run_chat(opt, false);
        }
        if (opt.mode == "ws-chat") {
            return run_chat(opt, false, ChatTransport::websocket);
        }
        if (opt.mode == "broadcast") {
            if (opt.messages < 1) {
                fail("broadcast needs --messages >= 1");
            }
            return run_chat(opt, true);
        }
        if (opt.mode == "idle") {
            return run_idle(opt);
        }
        if (opt.mode == "tls-pingpong") {
            return run_tls_pingpong(opt);
        }
        if (opt.mode == "tls-handshake") {
            return run_tls_handshake(opt);
        }
        if (opt.mode == "udp-echo") {
            return run_udp_echo(opt);
        }
    } catch (const std::exception& e) {
        fail(e.what());
    }
    std::cerr << "weft-bench: unknown --mode " << opt.mode << "\n";
    return 1;
}
