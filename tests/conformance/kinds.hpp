#pragma once
// The transport kinds the conformance suite runs on. Each kind is a fixture: a Reactor and open(a, b),
// which connects two ends and attaches a protocol of type A recording into Side `a` and one of type B
// recording into `b` (connection_made may run inside open() or on a later turn, as the kind does it);
// open_echo(near) connects `near` to a peer that behaves like `cat`. A kind also says what its peer sees of
// an abort. To add a kind: write its fixture here and add it to PAIR_KINDS (both ends are weft transports)
// or only to ECHO_KINDS (the far end is something else, such as a child process).

#include <deque>
#include <memory>
#include <vector>

#include "conformance.hpp"
#include "support/loop.hpp"
#include "support/pipe.hpp"
#include "weft/standard_io.hpp"

namespace conformance {

/// TCP over 127.0.0.1: `a` is the accepted end, `b` the connecting one.
struct TcpKind {
    static constexpr bool abort_is_error_at_peer = true;  // the peer reads a reset (ECONNRESET)

    weft::Reactor reactor;

    template <class A = HalfPeer, class B = HalfPeer>
    void open(Side& a, Side& b) {
        auto& server = factories_.emplace_back(std::make_unique<weft_test::LambdaFactory>(
            [&a](const weft::Address&) -> std::unique_ptr<weft::Protocol> { return std::make_unique<A>(a); }));
        ports_.push_back(reactor.listen_tcp(0, *server, {"127.0.0.1"}));
        auto& client = clients_.emplace_back(std::make_unique<weft_test::LambdaClientFactory>(
            [&b](const weft::Address&) -> std::unique_ptr<weft::Protocol> { return std::make_unique<B>(b); }));
        client->on_end = [c = client.get()] { CHECK_FALSE(c->failed); };
        connectors_.push_back(reactor.connect_tcp("127.0.0.1", ports_.back()->port(), *client));
    }

    void open_echo(Side& near) {
        Side& peer = peers_.emplace_back();
        make_echo(peer);
        open<HalfPeer, HalfPeer>(near, peer);
    }

private:
    std::vector<std::unique_ptr<weft_test::LambdaFactory>> factories_;
    std::vector<std::unique_ptr<weft_test::LambdaClientFactory>> clients_;
    std::vector<std::shared_ptr<weft::ListeningPort>> ports_;
    std::vector<std::shared_ptr<weft::Connector>> connectors_;
    std::deque<Side> peers_;
};

/// Two pipes and two StandardIOs on one reactor: `a` reads pipe 1 and writes pipe 2, `b` the other way.
/// connection_made runs inside open() (StandardIO's constructor), reading starts on the next turn.
struct PipeKind {
    static constexpr bool abort_is_error_at_peer = false;  // a pipe has no reset: the peer reads EOF

    weft::Reactor reactor;

    template <class A = HalfPeer, class B = HalfPeer>
    void open(Side& a, Side& b) {
        const weft_test::Pipe to_a = weft_test::make_pipe();
        const weft_test::Pipe to_b = weft_test::make_pipe();
        ios_.push_back(std::make_unique<weft::StandardIO>(reactor, std::make_unique<A>(a), to_a.read, to_b.write));
        ios_.push_back(std::make_unique<weft::StandardIO>(reactor, std::make_unique<B>(b), to_b.read, to_a.write));
    }

    void open_echo(Side& near) {
        Side& peer = peers_.emplace_back();
        make_echo(peer);
        open<HalfPeer, HalfPeer>(near, peer);
    }

private:
    std::deque<Side> peers_;
    std::vector<std::unique_ptr<weft::StandardIO>> ios_;  // destroyed before the reactor
};

}  // namespace conformance

// Kinds whose both ends are weft transports: every case runs on them.
#define CONFORMANCE_PAIR_KINDS conformance::TcpKind, conformance::PipeKind
// Kinds the echo cases run on: the pair kinds (with a `cat`-like weft peer) and those whose far end is not
// a weft transport.
#define CONFORMANCE_ECHO_KINDS CONFORMANCE_PAIR_KINDS
