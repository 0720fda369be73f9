// WriteQueue alone (framework/src/stream/write_queue.hpp): order, its memory rules as far as they show in
// gather()'s pieces and size(), and the gathered-write loop flush() against a scripted writer.
#include <catch2/catch.hpp>

#include <array>
#include <cerrno>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <malloc.h>
#include <sys/uio.h>

#include "stream/write_queue.hpp"
#include "support/fake_stream.hpp"

using weft::detail::WriteQueue;
using weft_test::ScriptedWriter;
using weft_test::WriteStep;

namespace {

/// `n` bytes that differ from call to call, so a reordering or a lost piece shows.
std::string bytes(std::size_t n, unsigned seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (seed * 7 + i * 13 + i / 29) % 26);
    return s;
}

std::vector<std::string_view> pieces_of(const WriteQueue& q) {
    std::vector<::iovec> iov(256);
    iov.resize(q.gather(iov));
    std::vector<std::string_view> out;
    for (const auto& v : iov) out.emplace_back(static_cast<const char*>(v.iov_base), v.iov_len);
    return out;
}

std::string contents(const WriteQueue& q) {
    std::string s;
    for (auto p : pieces_of(q)) s.append(p);
    return s;
}

std::shared_ptr<const std::string> shared(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

::iovec iov_of(const std::string& s) { return {const_cast<char*>(s.data()), s.size()}; }

}  // namespace

TEST_CASE("write queue: append, append_shared, gather and consume keep order", "[write_queue]") {
    WriteQueue q;
    CHECK(q.empty());
    CHECK(pieces_of(q).empty());
    const auto big = shared(bytes(3000, 1));
    q.append("abc");
    q.append("def");
    q.append_shared(big);
    q.append("ghi");
    const std::string first = "jk", second = "lmnop";
    const ::iovec seq[] = {iov_of(first), iov_of(second)};
    q.append(seq, 1, 2);  // from piece 1, byte 2: "nop"
    CHECK(q.size() == 3 + 3 + 3000 + 3 + 3);
    CHECK(contents(q) == "abcdef" + *big + "ghinop");
    auto p = pieces_of(q);
    REQUIRE(p.size() == 3);  // copies are packed around the shared buffer, which is referenced
    CHECK(p[0] == "abcdef");
    CHECK(p[1].data() == big->data());
    CHECK(p[2] == "ghinop");

    q.consume(4);  // inside the first chunk
    CHECK(pieces_of(q)[0] == "ef");
    CHECK(q.size() == 2 + 3000 + 6);
    q.consume(2 + 1000);  // through the first chunk into the shared buffer
    p = pieces_of(q);
    REQUIRE(p.size() == 2);
    CHECK(p[0].data() == big->data() + 1000);
    CHECK(p[0].size() == 2000);
    q.consume(2000 + 1);
    CHECK(contents(q) == "hinop");
    q.consume(5);
    CHECK(q.empty());
    CHECK(pieces_of(q).empty());

    // Usable again after emptying.
    q.append("again");
    CHECK(contents(q) == "again");
}

TEST_CASE("write queue: gather fills at most the room it is given", "[write_queue]") {
    WriteQueue q;
    std::vector<std::shared_ptr<const std::string>> held;
    for (unsigned i = 0; i < 5; ++i) {
        held.push_back(shared(bytes(600, i)));
        q.append_shared(held.back());
    }
    std::array<::iovec, 3> iov{};
    REQUIRE(q.gather(iov) == 3);
    CHECK(iov[2].iov_base == held[2]->data());
}

TEST_CASE("write queue: copies are packed into chunks that double from 64 bytes up to chunk_size", "[write_queue]") {
    WriteQueue q;
    // Small writes share one chunk; its bytes move only when it has to grow, to the next power of two.
    q.append(bytes(10, 0));
    const char* at = pieces_of(q)[0].data();
    q.append(bytes(54, 1));  // 64: fits the first 64-byte allocation
    REQUIRE(pieces_of(q).size() == 1);
    CHECK(pieces_of(q)[0].data() == at);
    q.append(bytes(1, 2));  // 65: grows to 128
    const char* grown = pieces_of(q)[0].data();
    CHECK(grown != at);
    q.append(bytes(63, 3));  // 128: fits
    CHECK(pieces_of(q)[0].data() == grown);
    q.append(bytes(1, 4));  // 129: grows to 256
    CHECK(pieces_of(q)[0].data() != grown);

    // A chunk grows up to exactly chunk_size and is then full: the next byte starts a new chunk.
    WriteQueue r;
    r.append(bytes(40000, 5));  // one allocation of 64 KiB
    const char* big = pieces_of(r)[0].data();
    r.append(bytes(WriteQueue::chunk_size - 40000, 6));
    REQUIRE(pieces_of(r).size() == 1);
    CHECK(pieces_of(r)[0].data() == big);
    CHECK(pieces_of(r)[0].size() == WriteQueue::chunk_size);
    r.append("x");
    auto p = pieces_of(r);
    REQUIRE(p.size() == 2);
    CHECK(p[0].data() == big);
    CHECK(p[1] == "x");
}

TEST_CASE("write queue: a large write is cut into chunk_size pieces", "[write_queue]") {
    WriteQueue q;
    const std::string data = bytes(3 * WriteQueue::chunk_size + 123, 7);
    q.append("head");
    q.append(data);
    auto p = pieces_of(q);
    REQUIRE(p.size() == 4);
    // The tail chunk is filled first: every chunk but the last is full.
    for (std::size_t i = 0; i + 1 < p.size(); ++i) CHECK(p[i].size() == WriteQueue::chunk_size);
    CHECK(p.back().size() == 4 + 123);
    CHECK(contents(q) == "head" + data);
    CHECK(q.size() == 4 + data.size());
}

TEST_CASE("write queue: shared buffers are referenced until sent and released as soon as they are", "[write_queue]") {
    WriteQueue q;
    std::vector<std::shared_ptr<const std::string>> held;
    for (unsigned i = 0; i < 100; ++i) {
        held.push_back(shared(bytes(WriteQueue::copy_shared_below + i, i)));
        q.append_shared(held.back());
        if (i % 10 == 0) q.append("|");  // copies between them go to chunks of their own
    }
    for (const auto& h : held) CHECK(h.use_count() == 2);
    std::string expected;
    for (unsigned i = 0; i < 100; ++i) {
        expected += *held[i];
        if (i % 10 == 0) expected += "|";
    }
    CHECK(contents(q) == expected);

    // Sending them one by one crosses the compaction points (a quarter of the entries spent): each is
    // released when it has gone, and what is left is unchanged.
    std::size_t sent = 0;
    for (unsigned i = 0; i < 100; ++i) {
        q.consume(held[i]->size() - 1);
        CHECK(held[i].use_count() == 2);  // one byte of it is still unsent
        q.consume(1);
        CHECK(held[i].use_count() == 1);
        sent += held[i]->size();
        if (i % 10 == 0) {
            q.consume(1);  // the "|" copied after it
            ++sent;
        }
        if (i + 1 < 100) CHECK(held[i + 1].use_count() == 2);
        CHECK(q.size() == expected.size() - sent);
        if (i % 7 == 0) CHECK(contents(q) == expected.substr(sent));
    }
    CHECK(q.empty());

    // The emptied queue (whose entries were freed) takes new writes.
    q.append("after");
    q.append_shared(held[0]);
    CHECK(contents(q) == "after" + *held[0]);
}

TEST_CASE("write queue: appends interleaved with consumes across compaction keep order", "[write_queue]") {
    WriteQueue q;
    std::string expected;
    std::vector<std::shared_ptr<const std::string>> held;
    for (unsigned i = 0; i < 200; ++i) {
        held.push_back(shared(bytes(600, i)));
        q.append_shared(held.back());
        expected += *held.back();
        if (i % 3 == 2) {  // send two entries' worth and a bit: the head moves on, compaction runs
            q.consume(1201);
            expected.erase(0, 1201);
        }
        REQUIRE(q.size() == expected.size());
    }
    CHECK(contents(q) == expected);
}

TEST_CASE("write queue: clear drops everything and releases shared buffers", "[write_queue]") {
    WriteQueue q;
    auto b = shared(bytes(1000, 1));
    q.append("x");
    q.append_shared(b);
    q.clear();
    CHECK(q.empty());
    CHECK(b.use_count() == 1);
    CHECK(pieces_of(q).empty());
}

TEST_CASE("write queue flush: a writer that takes everything gets it in one call", "[write_queue][flush]") {
    WriteQueue q;
    auto b = shared(bytes(2000, 3));
    q.append("hello ");
    q.append_shared(b);
    q.append(" world");
    ScriptedWriter w;
    const auto r = q.flush(w);
    CHECK(w.calls() == 1);
    CHECK(w.counts[0] == 3);
    CHECK(w.received == "hello " + *b + " world");
    CHECK(r.bytes == w.received.size());
    CHECK_FALSE(r.blocked);
    CHECK(r.error == 0);
    CHECK(q.empty());
    CHECK(b.use_count() == 1);

    // An empty queue and no tail: nothing is written.
    ScriptedWriter idle;
    CHECK(q.flush(idle).bytes == 0);
    CHECK(idle.calls() == 0);
}

TEST_CASE("write queue flush: short writes of every size keep order and lose nothing", "[write_queue][flush]") {
    const auto b = shared(bytes(700, 9));
    const std::string t1 = bytes(40, 10), t2 = bytes(900, 11);
    const std::string expected = "abc" + *b + "defgh" + t1 + t2;
    for (std::size_t k = 1; k <= expected.size() + 1; k += (k < 50 ? 1 : 37)) {
        INFO("writer takes " << k << " bytes per call");
        WriteQueue q;
        q.append("abc");
        q.append_shared(b);
        q.append("defgh");
        const ::iovec tail[] = {iov_of(t1), iov_of(t2)};
        ScriptedWriter w;
        w.otherwise = WriteStep::take(k);
        const auto r = q.flush(w, tail);
        CHECK(w.received == expected);
        CHECK(r.bytes == expected.size());
        CHECK_FALSE(r.blocked);
        CHECK(q.empty());
        CHECK(w.calls() == (expected.size() + k - 1) / k);
        // Each call is offered exactly what is left.
        std::size_t left = expected.size();
        for (std::size_t i = 0; i < w.calls(); ++i) {
            CHECK(w.offered[i] == left);
            left -= std::min(k, left);
        }
    }
}

TEST_CASE("write queue flush: would-block keeps the rest, tail included, for the next flush", "[write_queue][flush]") {
    WriteQueue q;
    q.append("0123456789");
    std::string tail_bytes = "TAIL-abcdefghij";
    const ::iovec tail[] = {iov_of(tail_bytes)};
    ScriptedWriter w;
    w.script = {WriteStep::take(4), WriteStep::would_block()};
    const auto r = q.flush(w, tail);
    CHECK(r.blocked);
    CHECK(r.error == 0);
    CHECK(r.bytes == 4);
    CHECK(w.calls() == 2);
    CHECK(q.size() == 6 + tail_bytes.size());  // the unsent tail was copied into the queue

    // The tail's memory is reused by the caller: what is sent next does not change.
    std::fill(tail_bytes.begin(), tail_bytes.end(), '#');
    const auto r2 = q.flush(w);
    CHECK_FALSE(r2.blocked);
    CHECK(w.received == "0123456789TAIL-abcdefghij");
    CHECK(q.empty());
}

TEST_CASE("write queue flush: a tail partly taken is copied from where the writer stopped", "[write_queue][flush]") {
    for (std::size_t taken = 0; taken <= 12; ++taken) {
        INFO("writer took " << taken << " bytes before blocking");
        WriteQueue q;
        std::string a = "abc", b = "defg", c = "hijkl";  // the tail alone: no queue before it
        const ::iovec tail[] = {iov_of(a), iov_of(b), iov_of(c)};
        ScriptedWriter w;
        w.script = {WriteStep::take(taken), WriteStep::would_block()};
        if (taken == 12) w.script = {WriteStep::take()};
        const auto r = q.flush(w, tail);
        CHECK(r.bytes == taken);
        CHECK(q.size() == 12 - taken);
        a = "XXX";
        b = "YYYY";
        c = "ZZZZZ";
        q.flush(w);
        CHECK(w.received == "abcdefghijkl");
    }
}

TEST_CASE("write queue flush: EINTR is retried", "[write_queue][flush]") {
    WriteQueue q;
    q.append("payload");
    ScriptedWriter w;
    w.script = {WriteStep::interrupted(), WriteStep::interrupted(), WriteStep::take(3), WriteStep::interrupted()};
    const auto r = q.flush(w);
    CHECK_FALSE(r.blocked);
    CHECK(r.error == 0);
    CHECK(w.received == "payload");
    CHECK(w.calls() == 5);
    CHECK(q.empty());
}

TEST_CASE("write queue flush: an error stops the loop and is reported with its errno", "[write_queue][flush]") {
    WriteQueue q;
    q.append("0123456789");
    std::string t = "tail";
    const ::iovec tail[] = {iov_of(t)};
    ScriptedWriter w;
    w.script = {WriteStep::take(3), WriteStep::fail(EPIPE), WriteStep::take()};
    const auto r = q.flush(w, tail);
    CHECK(r.error == EPIPE);
    CHECK_FALSE(r.blocked);
    CHECK(r.bytes == 3);
    CHECK(w.calls() == 2);  // nothing more was tried
    CHECK(w.received == "012");
    CHECK(q.size() == 7 + 4);  // what was not sent is still accounted for
}

TEST_CASE("write queue flush: the budget stops the loop once at least that much went out", "[write_queue][flush]") {
    WriteQueue q;
    q.append(bytes(10000, 1));
    ScriptedWriter w;
    w.otherwise = WriteStep::take(1000);
    const auto r = q.flush(w, {}, 2500);
    CHECK(w.calls() == 3);
    CHECK(r.bytes == 3000);
    CHECK_FALSE(r.blocked);
    CHECK(q.size() == 7000);
    // The rest goes on the next call.
    const auto r2 = q.flush(w);
    CHECK(r2.bytes == 7000);
    CHECK(w.received == bytes(10000, 1));

    // A budget already met by one write sends no second one.
    WriteQueue one;
    one.append(bytes(100, 2));
    ScriptedWriter w1;
    w1.otherwise = WriteStep::take(60);
    CHECK(one.flush(w1, {}, 1).bytes == 60);
    CHECK(w1.calls() == 1);
    CHECK(one.size() == 40);
}

TEST_CASE("write queue flush: more than max_iov pieces go out over several writes, in order", "[write_queue][flush]") {
    WriteQueue q;
    std::vector<std::shared_ptr<const std::string>> held;
    std::string expected;
    for (unsigned i = 0; i < 100; ++i) {
        held.push_back(shared(bytes(600, i)));
        q.append_shared(held.back());
        expected += *held.back();
    }
    // And a tail of 10 pieces after them.
    std::vector<std::string> tail_bytes;
    for (unsigned i = 0; i < 10; ++i) tail_bytes.push_back(bytes(20 + i, 200 + i));
    std::vector<::iovec> tail;
    for (const auto& t : tail_bytes) {
        tail.push_back(iov_of(t));
        expected += t;
    }
    ScriptedWriter w;
    q.flush(w, tail);
    CHECK(w.received == expected);
    REQUIRE(w.calls() == 2);
    CHECK(w.counts[0] == WriteQueue::max_iov);
    CHECK(w.counts[1] == 110 - WriteQueue::max_iov);

    // A queue of max_iov - 4 entries shares the first write with the first 4 tail pieces.
    WriteQueue r;
    std::string expected2;
    for (unsigned i = 0; i < WriteQueue::max_iov - 4; ++i) {
        r.append_shared(held[i]);
        expected2 += *held[i];
    }
    for (const auto& t : tail_bytes) expected2 += t;
    ScriptedWriter w2;
    r.flush(w2, tail);
    CHECK(w2.received == expected2);
    REQUIRE(w2.calls() == 2);
    CHECK(w2.counts[0] == WriteQueue::max_iov);
    CHECK(w2.counts[1] == 6);
}

TEST_CASE("write queue flush: random writes against a random short/blocking writer lose and reorder nothing",
          "[write_queue][flush]") {
    std::mt19937 rng(20261129);
    auto uniform = [&](std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng); };
    WriteQueue q;
    ScriptedWriter w;
    std::string written;  // everything handed to the queue or a flush, in order
    std::string scratch;  // the caller's reused tail memory
    std::size_t checked = 0;  // w.received is known good up to here
    for (int step = 0; step < 3000; ++step) {
        INFO("step " << step);
        const std::size_t op = uniform(0, 9);
        if (op < 4) {
            const std::size_t n = uniform(0, op == 0 ? 3 * WriteQueue::chunk_size : 300);
            const auto data = bytes(n, static_cast<unsigned>(step));
            q.append(data);
            written += data;
        } else if (op < 6) {
            auto b = shared(bytes(uniform(1, 5000), static_cast<unsigned>(step)));
            q.append_shared(b);
            written += *b;
        } else {
            // A flush, maybe with a tail of pieces in reused memory, through a writer whose every call
            // may take a little, a lot, nothing more (would block) or be interrupted.
            std::vector<::iovec> tail;
            scratch.assign(uniform(0, 3) == 0 ? 0 : uniform(1, 4000), '\0');
            for (std::size_t i = 0; i < scratch.size(); ++i) scratch[i] = static_cast<char>('A' + (step + i) % 26);
            for (std::size_t at = 0; at < scratch.size();) {
                const std::size_t n = std::min(scratch.size() - at, uniform(1, 1500));
                tail.push_back({scratch.data() + at, n});
                at += n;
            }
            written += scratch;
            w.script.clear();
            for (int i = 0; i < 200; ++i) {
                const std::size_t kind = uniform(0, 9);
                if (kind == 0) {
                    w.script.push_back(WriteStep::would_block());
                } else if (kind == 1) {
                    w.script.push_back(WriteStep::interrupted());
                } else {
                    w.script.push_back(WriteStep::take(uniform(1, kind < 5 ? 64 : 70000)));
                }
            }
            w.otherwise = WriteStep::would_block();
            const std::size_t before = w.received.size();
            const auto r = q.flush(w, tail, uniform(0, 1) == 0 ? SIZE_MAX : uniform(1, 100000));
            REQUIRE(r.error == 0);
            REQUIRE(r.bytes == w.received.size() - before);
            std::fill(scratch.begin(), scratch.end(), '#');  // the caller reuses the tail's memory
        }
        REQUIRE(w.received.size() + q.size() == written.size());
        // What arrived since the last check is the next part of what was written.
        REQUIRE(std::string_view(w.received).substr(checked) ==
                std::string_view(written).substr(checked, w.received.size() - checked));
        checked = w.received.size();
    }
    w.script.clear();
    w.otherwise = WriteStep::take();
    q.flush(w);
    CHECK(q.empty());
    CHECK(w.received == written);
}

TEST_CASE("write queue: copies followed by shared buffers hold at most 1.5x size() in heap", "[write_queue][memory]") {
    // Each copied write starts a chunk that doubles to fit it; the shared buffer after it ends that
    // chunk's time as the tail. Its spare room (up to its own size) must not stay allocated behind every
    // shared buffer, or a broadcast pattern holds up to twice what size() says (limits are built on it).
    // mallinfo2() counts the bytes in allocated blocks with their headers; a sanitizer's heap is not
    // glibc's, so the figure is only checked without one.
    auto copy_size = GENERATE(std::size_t{6}, std::size_t{257}, std::size_t{4097}, std::size_t{16385});
    const std::string copy(copy_size, 'c');
    const std::string body(WriteQueue::copy_shared_below, 's');
    auto heap = [] {
        const struct mallinfo2 m = ::mallinfo2();
        return m.uordblks + m.hblkhd;
    };
    WriteQueue q;
    const std::size_t before = heap();
    while (q.size() < (std::size_t{1} << 20)) {
        q.append(copy);
        q.append_shared(std::make_shared<const std::string>(body));  // held by the queue only
    }
    const double factor = static_cast<double>(heap() - before) / static_cast<double>(q.size());
    INFO("copies of " << copy_size << " B, each followed by a shared buffer: " << factor << "x size()");
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    CHECK(factor > 0.9);
    CHECK(factor <= 1.5);
#endif
}
