#pragma once
// The conformance suite's vocabulary: a Side records what one end of a connection saw (it outlives the
// protocol, which the connection owns and destroys), Near is the handle the echo cases drive (a Transport,
// or a child's stdin/stdout), and when_stalled() tells a test that a flow has stopped moving, counted in
// loop turns, never in time.

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "weft/protocol.hpp"
#include "weft/reactor.hpp"

namespace conformance {

/// Bytes that differ from one offset to the next, so a reordered or dropped piece changes the checksum.
inline std::string pattern(std::size_t n, std::size_t seed = 0) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + ((i + seed) * 7 + (i + seed) / 13) % 26);
    return s;
}

/// FNV-1a over a stream fed in pieces: the same bytes in the same order give the same value whatever the
/// chunking.
struct Checksum {
    std::uint64_t value = 14695981039346656037ull;
    std::size_t count = 0;
    void add(std::string_view data) noexcept {
        for (unsigned char c : data) value = (value ^ c) * 1099511628211ull;
        count += data.size();
    }
    bool operator==(const Checksum&) const = default;
};

inline Checksum checksum_of(std::string_view data) {
    Checksum c;
    c.add(data);
    return c;
}

/// What the echo cases need of the end under test. For a connection it is the Transport; for a child
/// running `cat` it is the process transport (stdin written, stdout read).
class Near {
public:
    virtual ~Near() = default;
    virtual void write(std::string_view data) = 0;
    virtual void write_sequence(std::span<const std::string_view> pieces) = 0;
    virtual void write_shared(std::shared_ptr<const std::string> data) = 0;
    /// Our half-close: the peer reads EOF once what is queued has been sent.
    virtual void close_write() = 0;
    virtual void pause_reading() = 0;
    virtual void resume_reading() = 0;
    [[nodiscard]] virtual std::size_t buffered_bytes() const = 0;
};

class TransportNear final : public Near {
public:
    explicit TransportNear(weft::Transport& t) : t_(t) {}
    void write(std::string_view data) override { t_.write(data); }
    void write_sequence(std::span<const std::string_view> pieces) override { t_.write_sequence(pieces); }
    void write_shared(std::shared_ptr<const std::string> data) override { t_.write_shared(std::move(data)); }
    void close_write() override { t_.lose_write_connection(); }
    void pause_reading() override { t_.pause_producing(); }
    void resume_reading() override { t_.resume_producing(); }
    [[nodiscard]] std::size_t buffered_bytes() const override { return t_.buffered_bytes(); }

private:
    weft::Transport& t_;
};

/// What one end saw. Tests set the hooks before the connection opens and read the record after run().
struct Side {
    bool keep = true;   // append input to `received` (off for the 16 MiB cases: the checksum suffices)
    std::string received;
    Checksum sum;
    int made = 0;
    int lost_count = 0;
    int read_lost = 0;
    int write_lost = 0;
    std::optional<weft::Reason> lost;
    /// True while the test is inside a call into the transport: connection_lost must never see it set.
    bool in_call = false;
    bool lost_inside_call = false;
    weft::Transport* transport = nullptr;  // between connection_made and connection_lost
    std::unique_ptr<Near> near;            // the same, as the echo cases see it

    std::function<void(Side&)> on_made;
    std::function<void(Side&, std::string_view)> on_data;
    std::function<void(Side&)> on_read_lost;
    std::function<void(Side&)> on_write_lost;
    std::function<void(Side&, const weft::Reason&)> on_lost;

    weft::Transport& t() const {
        REQUIRE(transport != nullptr);
        return *transport;
    }
    Near& n() const {
        REQUIRE(near);
        return *near;
    }

    void record_made() {
        ++made;
        if (on_made) on_made(*this);
    }
    void record_data(std::string_view data) {
        if (keep) received.append(data);
        sum.add(data);
        if (on_data) on_data(*this, data);
    }
    void record_lost(const weft::Reason& reason) {
        if (in_call) lost_inside_call = true;
        ++lost_count;
        lost = reason;
        if (on_lost) on_lost(*this, reason);
        transport = nullptr;
        near.reset();
    }
};

/// connection_lost came once and never inside one of the test's calls into the transport.
inline void check_lost_once(const Side& side) {
    CHECK(side.lost_count == 1);
    CHECK_FALSE(side.lost_inside_call);
}

/// A plain protocol: the peer's EOF loses the connection once pending output is flushed.
struct PlainPeer : weft::Protocol {
    Side& side;
    explicit PlainPeer(Side& s) : side(s) {}
    void connection_made() override {
        side.transport = &transport();
        side.near = std::make_unique<TransportNear>(transport());
        side.record_made();
    }
    void data_received(std::string_view data) override { side.record_data(data); }
    void connection_lost(const weft::Reason& reason) override { side.record_lost(reason); }
};

/// A half-closeable protocol (Twisted: IHalfCloseableProtocol).
struct HalfPeer : PlainPeer, weft::HalfCloseable {
    using PlainPeer::PlainPeer;
    void read_connection_lost() override {
        ++side.read_lost;
        if (side.on_read_lost) side.on_read_lost(side);
    }
    void write_connection_lost() override {
        ++side.write_lost;
        if (side.on_write_lost) side.on_write_lost(side);
    }
};

/// What a `cat` would be, as a weft protocol: echoes, holds its reading while the echo backs up (as cat
/// blocks on a full stdout), and on EOF flushes the echo and closes.
inline void make_echo(Side& side, std::size_t high = 64 * 1024, std::size_t low = 16 * 1024) {
    side.keep = false;
    side.on_made = [high, low](Side& s) {
        s.t().set_write_buffer_limits(high, low);
        s.t().pause_reading_while_backed_up();
    };
    side.on_data = [](Side& s, std::string_view data) { s.t().write(data); };
    side.on_read_lost = [](Side& s) { s.t().lose_connection(); };
}

/// Calls `then` once `signature()` has stayed the same for `turns` consecutive loop turns: the flow it
/// sums up has stalled (a peer that does not read, a paused reader), as far as the loop can tell. A test
/// that acts on it stays correct if the flow moves on afterwards; it only proves less.
inline void when_stalled(weft::Reactor& reactor, std::function<std::uint64_t()> signature,
                         std::function<void()> then, int turns = 50) {
    struct Watch {
        weft::Reactor& reactor;
        std::function<std::uint64_t()> signature;
        std::function<void()> then;
        int turns;
        std::uint64_t last = 0;
        int same = 0;
        void step(std::shared_ptr<Watch> self) {
            const std::uint64_t now = signature();
            same = now == last ? same + 1 : 0;
            last = now;
            if (same >= turns) return then();
            reactor.call_soon([self] { self->step(self); });
        }
    };
    auto watch = std::make_shared<Watch>(Watch{reactor, std::move(signature), std::move(then), turns});
    watch->last = watch->signature();
    reactor.call_soon([watch] { watch->step(watch); });
}

/// Runs `fn` once both ends are made (after their own on_made hooks), whichever comes last: a kind may
/// make them in either order, inside open() or on later turns.
inline void on_both_made(Side& a, Side& b, std::function<void()> fn) {
    auto count = std::make_shared<int>(0);
    for (Side* s : {&a, &b}) {
        s->on_made = [previous = s->on_made, count, fn](Side& self) {
            if (previous) previous(self);
            if (++*count == 2) fn();
        };
    }
}

/// Stops the reactor after the `n`th call.
struct StopAfter {
    weft::Reactor& reactor;
    int n;
    int seen = 0;
    void operator()() {
        if (++seen == n) reactor.stop();
    }
};

}  // namespace conformance
