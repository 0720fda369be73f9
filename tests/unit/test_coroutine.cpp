// Coroutines over Deferreds (weft/coroutine.hpp): the applicable cases of Twisted's
// twisted/test/test_defer.py (EnsureDeferredTests), twisted/internet/test/test_coroutines.py (AwaitTests)
// and test_inlinecb.py (CancellationTests), each named after its original, plus weft's own: where a
// coroutine resumes, bounded stack, frames destroyed with what they await, and the fast path's allocations.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/allocation_counter.hpp"
#include "support/deferred_results.hpp"
#include "support/log_capture.hpp"
#include "weft/coroutine.hpp"
#include "weft/testing/clock.hpp"

using namespace std::chrono_literals;
using weft::CancelledError;
using weft::Coroutine;
using weft::Deferred;
using weft::Failure;
using weft::testing::Clock;

namespace {

struct GenericError : std::runtime_error {
    explicit GenericError(const std::string& what = "generic error") : std::runtime_error(what) {}
};

using weft_test::failure_of;
using weft_test::result_of;
template <class T>
bool has_result(const Deferred<T>& d) {
    return d.called() && !d.paused();
}

/// Sets a flag when destroyed: shows when a coroutine's frame (holding it as a local) goes.
struct Sentinel {
    bool* destroyed;
    explicit Sentinel(bool& flag) : destroyed(&flag) {}
    Sentinel(const Sentinel&) = delete;
    Sentinel& operator=(const Sentinel&) = delete;
    ~Sentinel() { *destroyed = true; }
};

}  // namespace

// ---- Twisted's AwaitTests / EnsureDeferredTests ----------------------------------------------------------

TEST_CASE("test_basic: a coroutine awaits a Deferred that has fired and gets its value", "[coroutine]") {
    auto run = []() -> Coroutine<std::string> {
        Deferred<std::string> d;
        d.callback("foo");
        auto res = co_await std::move(d);
        co_return res;
    };
    CHECK(result_of(weft::ensure_deferred(run())) == "foo");
}

TEST_CASE("test_ensureDeferred: a coroutine awaits another coroutine", "[coroutine]") {
    auto run2 = []() -> Coroutine<std::string> {
        Deferred<std::string> d;
        d.callback("foo");
        co_return co_await std::move(d);
    };
    auto run = [&]() -> Coroutine<std::string> { co_return co_await run2(); };
    CHECK(result_of(weft::ensure_deferred(run())) == "foo");
}

TEST_CASE("test_ensureDeferredCoroutine: a Coroutine does not run until ensure_deferred starts it", "[coroutine]") {
    bool ran = false;
    auto run = [&]() -> Coroutine<std::string> {
        ran = true;
        co_return co_await weft::succeed(std::string("foo"));
    };
    Coroutine<std::string> c = run();
    CHECK_FALSE(ran);
    Deferred<std::string> d = weft::ensure_deferred(std::move(c));
    CHECK(ran);
    CHECK(result_of(d) == "foo");
    CHECK_THROWS_AS(weft::ensure_deferred(std::move(c)), std::logic_error);  // NOLINT: moved-from on purpose
}

TEST_CASE("test_passesThroughDeferreds: ensure_deferred of a Deferred is that Deferred", "[coroutine]") {
    Deferred<int> d1;
    Deferred<int> d2 = weft::ensure_deferred(d1);
    CHECK(d1 == d2);
}

TEST_CASE("test_exception: an exception escaping the body fails the Deferred with that exception", "[coroutine]") {
    auto run = []() -> Coroutine<int> {
        co_await weft::succeed(std::string("foo"));
        throw std::invalid_argument("Oh no!");
    };
    auto f = failure_of(weft::ensure_deferred(run()));
    REQUIRE(f);
    CHECK(f->check<std::invalid_argument>());
    CHECK(f->what() == "Oh no!");
}

TEST_CASE("test_twoDeep: nested coroutines sleeping on the Clock resume in order", "[coroutine]") {
    Clock clock;
    std::vector<int> sections;
    auto runone = [&]() -> Coroutine<std::string> {
        sections.push_back(2);
        co_await weft::sleep(clock, 1s);
        sections.push_back(3);
        co_return "Yay!";
    };
    auto run = [&]() -> Coroutine<std::string> {
        sections.push_back(1);
        auto result = co_await runone();
        sections.push_back(4);
        co_await weft::sleep(clock, 1s);
        sections.push_back(5);
        co_return result;
    };
    auto d = weft::ensure_deferred(run());
    clock.advance(900ms);
    CHECK(sections == std::vector<int>{1, 2});
    clock.advance(100ms);
    CHECK(sections == std::vector<int>{1, 2, 3, 4});
    clock.advance(900ms);
    CHECK(sections == std::vector<int>{1, 2, 3, 4});
    clock.advance(100ms);
    CHECK(sections == std::vector<int>{1, 2, 3, 4, 5});
    CHECK(result_of(d) == "Yay!");
}

// ---- weft's: values, failures, the two kinds ----------------------------------------------------------------

TEST_CASE("a failure comes out of co_await as the original exception, so try/catch works", "[coroutine]") {
    Deferred<int> source;
    std::string caught;
    auto run = [&]() -> Coroutine<int> {
        try {
            co_await Deferred<int>(source);
        } catch (const GenericError& e) {
            caught = e.what();
            co_return -1;
        }
        co_return 0;
    };
    auto d = weft::ensure_deferred(run());
    CHECK_FALSE(d.called());
    source.errback(Failure(GenericError("boom")));
    CHECK(caught == "boom");
    CHECK(result_of(d) == -1);
}

TEST_CASE("a fired failure is thrown at once, and a Deferred awaited from inside its own callback waits its turn",
          "[coroutine]") {
    auto failing = []() -> Deferred<int> {
        try {
            co_await weft::fail<int>(Failure(GenericError("already failed")));
        } catch (const GenericError& e) {
            co_return static_cast<int>(std::string(e.what()).size());
        }
        co_return 0;
    };
    CHECK(result_of(failing()) == 14);

    // Inside d's first callback d is running: awaiting it queues the coroutine after that callback.
    Deferred<int> d;
    std::vector<std::string> log;
    std::optional<Deferred<int>> inner;
    auto await_d = [&]() -> Deferred<int> {
        log.push_back("await");
        int v = co_await Deferred<int>(d);
        log.push_back("resumed with " + std::to_string(v));
        co_return v;
    };
    d.add_callback([&](int v) {
        inner = await_d();
        log.push_back("first callback returns");
        return v * 10;
    });
    d.callback(4);
    CHECK(log == std::vector<std::string>{"await", "first callback returns", "resumed with 40"});
    CHECK(result_of(*inner) == 40);
}

TEST_CASE("a function returning Deferred<T> is a coroutine that starts at once", "[coroutine]") {
    Deferred<int> source;
    std::vector<std::string> log;
    auto fetch = [&](int add) -> Deferred<int> {
        log.push_back("started");
        int v = co_await Deferred<int>(source);
        log.push_back("resumed");
        co_return v + add;
    };
    Deferred<int> d = fetch(1);
    CHECK(log == std::vector<std::string>{"started"});
    CHECK_FALSE(d.called());
    source.callback(41);
    CHECK(result_of(d) == 42);

    auto nothing = [&]() -> Deferred<void> {
        co_await weft::succeed();
        log.push_back("void");
    };
    bool done = false;
    nothing().add_callback([&] { done = true; });
    CHECK(done);
    CHECK(log.back() == "void");
}

TEST_CASE("co_await of a Deferred<void>, of a Deferred paused on a chained one, and of one the chain moved past",
          "[coroutine]") {
    Deferred<void> v;
    Deferred<int> inner;
    Deferred<int> outer = weft::succeed(1);
    outer.add_callback([inner](int) { return inner; });  // called, but paused until inner fires
    REQUIRE(outer.called());
    REQUIRE(outer.paused());
    auto run = [&]() -> Deferred<int> {
        co_await Deferred<void>(v);
        co_return co_await Deferred<int>(outer);
    };
    auto d = run();
    v.callback();
    CHECK_FALSE(d.called());
    inner.callback(7);
    CHECK(result_of(d) == 7);

    // outer's chain is a Deferred<void> now (the coroutine took its value): awaiting it as an int is a
    // logic error, thrown at the co_await.
    auto again = [&]() -> Deferred<int> { co_return co_await Deferred<int>(outer); };
    auto f = failure_of(again());
    REQUIRE(f);
    CHECK(f->check<std::logic_error>());

    auto empty = []() -> Deferred<int> {
        Deferred<int> a;
        Deferred<int> b = std::move(a);
        b.callback(1);
        co_return co_await std::move(a);  // NOLINT: moved-from on purpose
    };
    auto g = failure_of(empty());
    REQUIRE(g);
    CHECK(g->check<std::logic_error>());
}

TEST_CASE("a coroutine's unhandled failure is logged when its Deferred is let go", "[coroutine]") {
    weft_test::LogCapture logs;
    auto run = []() -> Deferred<int> {
        co_await weft::succeed();
        throw GenericError("nobody handles me");
    };
    { auto d = run(); }
    CHECK(logs.any_contains("nobody handles me"));
}

// ---- re-entrancy and the stack ----------------------------------------------------------------------------

TEST_CASE("a coroutine resumes inside the callback() that fires what it awaits", "[coroutine][reentrancy]") {
    Deferred<int> source;
    std::vector<std::string> log;
    auto run = [&]() -> Deferred<void> {
        log.push_back("before await");
        int v = co_await Deferred<int>(source);
        log.push_back("resumed with " + std::to_string(v));
    };
    auto d = run();
    log.push_back("before callback");
    source.callback(3);
    log.push_back("after callback");
    CHECK(log == std::vector<std::string>{"before await", "before callback", "resumed with 3", "after callback"});
    CHECK(has_result(d));
}

TEST_CASE("its Deferred fires after the frame is gone, inside the call that ended the coroutine",
          "[coroutine][reentrancy][lifetime]") {
    Deferred<int> source;
    bool frame_gone = false;
    bool frame_gone_in_callback = false;
    auto run = [&]() -> Deferred<int> {
        Sentinel s(frame_gone);
        co_return co_await Deferred<int>(source);
    };
    auto d = run();
    d.add_callback([&](int v) {
        frame_gone_in_callback = frame_gone;
        return v;
    });
    source.callback(5);
    CHECK(frame_gone_in_callback);
    CHECK(result_of(d) == 5);
}

TEST_CASE("100000 awaits of fired Deferreds in a loop run in constant stack", "[coroutine][reentrancy]") {
    auto run = []() -> Deferred<long> {
        long sum = 0;
        for (int i = 0; i < 100000; ++i) sum += co_await weft::succeed(1L);
        co_return sum;
    };
    CHECK(result_of(run()) == 100000);
}

TEST_CASE("100000 awaits of Deferreds fired one by one from outside run in constant stack", "[coroutine][reentrancy]") {
    std::vector<Deferred<int>> pending;
    auto run = [&]() -> Deferred<long> {
        long sum = 0;
        for (int i = 0; i < 100000; ++i) {
            Deferred<int> d;
            pending.push_back(d);
            sum += co_await std::move(d);
        }
        co_return sum;
    };
    auto result = run();
    // Each callback() resumes the coroutine, which queues the next Deferred and suspends: no nesting.
    for (std::size_t i = 0; i < pending.size(); ++i) pending[i].callback(1);
    CHECK(pending.size() == 100000);
    CHECK(result_of(result) == 100000);
}

TEST_CASE("two coroutines handing each other Deferreds 100000 times run in constant stack", "[coroutine][reentrancy]") {
    std::optional<Deferred<int>> to_a;
    std::optional<Deferred<int>> to_b;
    auto a = [&]() -> Deferred<int> {
        int n = 0;
        while (n < 100000) {
            to_a.emplace();
            Deferred<int> wait = *to_a;
            if (to_b) std::exchange(to_b, std::nullopt)->callback(n);  // resumes b, which suspends again
            n = co_await std::move(wait) + 1;
        }
        co_return n;
    };
    auto b = [&]() -> Deferred<int> {
        int n = 0;
        while (n < 100000) {
            to_b.emplace();
            Deferred<int> wait = *to_b;
            if (to_a) std::exchange(to_a, std::nullopt)->callback(n);
            n = co_await std::move(wait) + 1;
        }
        co_return n;
    };
    auto da = a();
    auto db = b();
    // The pair ping-pongs until one reaches the end; release the other.
    if (to_a) to_a->callback(100000);
    if (to_b) to_b->callback(100000);
    CHECK(has_result(da));
    CHECK(has_result(db));
}

// ---- Twisted's CancellationTests (test_inlinecb.py) ---------------------------------------------------------

namespace {

struct UntranslatedError : std::runtime_error {
    UntranslatedError() : std::runtime_error("untranslated") {}
};
struct TranslatedError : std::runtime_error {
    TranslatedError() : std::runtime_error("translated") {}
};
struct DontFail : std::runtime_error {
    int actual_value;
    explicit DontFail(int actual) : std::runtime_error("dont fail"), actual_value(actual) {}
};

/// Twisted's sampleInlineCB / stackedInlineCB: G awaits C (from get_child), optionally through a stacked
/// coroutine and after a first Deferred.
struct Sample {
    std::function<Deferred<int>()> get_child;
    bool stacked = false;
    std::optional<Deferred<int>> first;

    Deferred<int> stacked_cb() { co_return co_await get_child(); }

    Deferred<int> sample_cb() {
        int x = 0;
        try {
            if (stacked) {
                if (first) co_await Deferred<int>(*first);
                x = co_await stacked_cb();
            } else {
                x = co_await get_child();
            }
        } catch (const UntranslatedError&) {
            throw TranslatedError();
        } catch (const DontFail& df) {
            x = df.actual_value - 2;
        }
        co_return x + 1;
    }
};

void for_each_variant(const std::function<void(bool stacked, bool second)>& test) {
    test(false, false);
    test(true, false);
    test(true, true);
}

}  // namespace

TEST_CASE("test_CascadeCancellingOnCancel: cancelling G's Deferred cancels the Deferred G awaits",
          "[coroutine][cancel]") {
    for_each_variant([](bool stacked, bool second) {
        bool child_cancelled = false;
        Sample s;
        s.get_child = [&] {
            Deferred<int> d;
            d.add_errback([&](Failure f) -> int {
                child_cancelled = f.check<CancelledError>();
                f.rethrow();
            });
            return d;
        };
        s.stacked = stacked;
        if (second) s.first.emplace();
        auto d = s.sample_cb();
        if (s.first) s.first->callback(1);
        d.cancel();
        CHECK(child_cancelled);
        failure_of(d);
    });
}

TEST_CASE("test_ErrbackCancelledErrorOnCancel: the awaited Deferred's CancelledError fails G's Deferred",
          "[coroutine][cancel]") {
    for_each_variant([](bool stacked, bool second) {
        Sample s;
        s.get_child = [] { return Deferred<int>(); };
        s.stacked = stacked;
        if (second) s.first.emplace();
        auto d = s.sample_cb();
        if (s.first) s.first->callback(1);
        d.cancel();
        auto f = failure_of(d);
        REQUIRE(f);
        CHECK(f->check<CancelledError>());
    });
}

TEST_CASE("test_ErrorToErrorTranslation: G catches the cancelled Deferred's error and throws another",
          "[coroutine][cancel]") {
    for_each_variant([](bool stacked, bool second) {
        Deferred<int> a([](Deferred<int>& it) { it.errback(Failure(UntranslatedError())); });
        Sample s;
        s.get_child = [a] { return a; };
        s.stacked = stacked;
        if (second) s.first.emplace();
        auto d = s.sample_cb();
        if (s.first) s.first->callback(1);
        d.cancel();
        auto f = failure_of(d);
        REQUIRE(f);
        CHECK(f->check<TranslatedError>());
    });
}

TEST_CASE("test_ErrorToSuccessTranslation: G catches the cancelled Deferred's error and returns a value",
          "[coroutine][cancel]") {
    for_each_variant([](bool stacked, bool second) {
        Deferred<int> a([](Deferred<int>& it) { it.errback(Failure(DontFail(4321))); });
        Sample s;
        s.get_child = [a] { return a; };
        s.stacked = stacked;
        if (second) s.first.emplace();
        auto d = s.sample_cb();
        std::vector<int> results;
        auto end = d.add_callback([&](int v) { results.push_back(v); });
        if (s.first) s.first->callback(1);
        d.cancel();
        CHECK(results == std::vector<int>{4320});
    });
}

TEST_CASE("test_AsynchronousCancellation: G's Deferred waits until the cancelled Deferred reaches G",
          "[coroutine][cancel]") {
    for_each_variant([](bool stacked, bool second) {
        Deferred<int> more;
        Sample s;
        s.get_child = [&] {
            Deferred<int> d;
            return d.add_errback([&](Failure f) {
                f.trap<CancelledError>();
                return more;
            });
        };
        s.stacked = stacked;
        if (second) s.first.emplace();
        auto d = s.sample_cb();
        if (s.first) s.first->callback(1);
        d.cancel();
        CHECK_FALSE(has_result(d));
        more.callback(6543);
        CHECK(result_of(d) == 6544);
    });
}

// ---- weft's: cancellation, timeouts, lifetimes ---------------------------------------------------------------

TEST_CASE("a coroutine that catches the cancel and awaits more decides its Deferred's result",
          "[coroutine][cancel]") {
    Clock clock;
    std::vector<std::string> log;
    auto run = [&]() -> Deferred<std::string> {
        try {
            co_await weft::sleep(clock, 10s);
        } catch (const CancelledError&) {
            log.push_back("cancelled");
        }
        co_await weft::sleep(clock, 1s);  // cleanup that takes time
        co_return "cleaned up";
    };
    auto d = run();
    d.cancel();
    CHECK(log == std::vector<std::string>{"cancelled"});
    CHECK(d.called());
    CHECK_FALSE(has_result(d));  // held until the coroutine ends, as Twisted's
    clock.advance(1s);
    CHECK(result_of(d) == "cleaned up");
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("a second cancel reaches what the coroutine awaits after catching the first", "[coroutine][cancel]") {
    Clock clock;
    int cancels = 0;
    auto run = [&]() -> Deferred<std::string> {
        for (;;) {
            try {
                co_await weft::sleep(clock, 10s);
                co_return "slept";
            } catch (const CancelledError&) {
                if (++cancels == 2) throw;
            }
        }
    };
    auto d = run();
    d.cancel();
    CHECK(cancels == 1);
    CHECK_FALSE(has_result(d));
    d.cancel();
    CHECK(cancels == 2);
    auto f = failure_of(d);
    REQUIRE(f);
    CHECK(f->check<CancelledError>());
    CHECK(clock.pending_calls().empty());
}

TEST_CASE("a cancel while the body runs cancels its next await", "[coroutine][cancel]") {
    Clock clock;
    Deferred<void> go;
    std::optional<Deferred<void>> self;
    bool cancelled_at_sleep = false;
    auto run = [&]() -> Deferred<void> {
        co_await Deferred<void>(go);
        self->cancel();  // from inside the body (through a callback it called, say): nothing is awaited now
        try {
            co_await weft::sleep(clock, 1s);
        } catch (const CancelledError&) {
            cancelled_at_sleep = true;
            throw;
        }
    };
    self = run();
    go.callback();
    CHECK(cancelled_at_sleep);
    CHECK(clock.pending_calls().empty());
    auto f = failure_of(*self);
    REQUIRE(f);
    CHECK(f->check<CancelledError>());
}

TEST_CASE("a timeout: co_await add_timeout(d, 2s, clock) throws TimeoutError at the deadline", "[coroutine][timeout]") {
    Clock clock;
    Deferred<int> never;
    std::string seen;
    auto run = [&]() -> Deferred<int> {
        try {
            co_return co_await weft::add_timeout(Deferred<int>(never), 2s, clock);
        } catch (const weft::TimeoutError& e) {
            seen = e.what();
        }
        co_return -1;
    };
    auto d = run();
    clock.advance(1s);
    CHECK_FALSE(d.called());
    clock.advance(1s);
    CHECK(seen == "the Deferred timed out");
    CHECK(result_of(d) == -1);
    CHECK(never.called());  // cancelled, with TimeoutError
}

TEST_CASE("cancelling a coroutine asleep cancels its timer", "[coroutine][cancel]") {
    Clock clock;
    auto run = [&]() -> Deferred<void> { co_await weft::sleep(clock, 5s); };
    auto d = run();
    CHECK(clock.pending_calls().size() == 1);
    d.cancel();
    CHECK(clock.pending_calls().empty());
    auto f = failure_of(d);
    REQUIRE(f);
    CHECK(f->check<CancelledError>());
}

TEST_CASE("a suspended frame is owned by what it awaits, and holds its result", "[coroutine][lifetime]") {
    bool frame_gone = false;
    auto source = std::make_unique<Deferred<int>>();
    auto run = [&]() -> Deferred<int> {
        Sentinel s(frame_gone);
        co_return co_await Deferred<int>(*source);
    };
    SECTION("callbacks added to a result nobody keeps still run") {
        int got = 0;
        run().add_callback([&](int v) { got = v; });
        CHECK_FALSE(frame_gone);
        source->callback(8);
        CHECK(frame_gone);
        CHECK(got == 8);
    }
    SECTION("the result goes first, then the source: the frame goes with the source") {
        { auto d = run(); }
        CHECK_FALSE(frame_gone);  // the source may still fire: the coroutine runs on, unobserved
        source.reset();
        CHECK(frame_gone);  // ASan: no leak
    }
    SECTION("the source goes first: the frame goes, the result never fires, a cancel fails it plainly") {
        auto d = run();
        source.reset();
        CHECK(frame_gone);
        CHECK_FALSE(d.called());
        d.cancel();
        auto f = failure_of(d);
        REQUIRE(f);
        CHECK(f->check<CancelledError>());
    }
}

TEST_CASE("a Deferred only the coroutine knows is kept by its result, so a cancel can fire it",
          "[coroutine][lifetime][cancel]") {
    bool cancelled = false;
    auto run = [&]() -> Deferred<int> {
        try {
            co_return co_await Deferred<int>([](Deferred<int>&) {});
        } catch (const CancelledError&) {
            cancelled = true;
            throw;
        }
    };
    auto d = run();
    d.cancel();
    CHECK(cancelled);
    CHECK(failure_of(d));
}

TEST_CASE("destroying the Clock under a sleeping coroutine destroys the coroutine",
          "[coroutine][lifetime]") {
    bool frame_gone = false;
    std::optional<Deferred<void>> d;
    {
        Clock clock;
        auto run = [&]() -> Deferred<void> {
            Sentinel s(frame_gone);
            co_await weft::sleep(clock, 1s);
        };
        d = run();
    }
    CHECK(frame_gone);  // the timer held the sleep's Deferred, which held the frame (ASan: no leak)
    CHECK_FALSE(d->called());
}

TEST_CASE("a chain of coroutines awaiting each other goes when the innermost awaited Deferred goes",
          "[coroutine][lifetime]") {
    bool inner_gone = false;
    bool outer_gone = false;
    auto source = std::make_unique<Deferred<int>>();
    auto inner = [&]() -> Coroutine<int> {
        Sentinel s(inner_gone);
        co_return co_await Deferred<int>(*source);
    };
    auto outer = [&]() -> Coroutine<int> {
        Sentinel s(outer_gone);
        co_return co_await inner();
    };
    { auto d = weft::ensure_deferred(outer()); }
    CHECK_FALSE(inner_gone);
    source.reset();
    CHECK(inner_gone);
    CHECK(outer_gone);
}

TEST_CASE("a Coroutine never started is destroyed without running", "[coroutine][lifetime]") {
    bool ran = false;
    auto run = [&]() -> Coroutine<int> {
        ran = true;
        co_return 1;
    };
    { Coroutine<int> c = run(); }
    CHECK_FALSE(ran);
}

// ---- allocations -----------------------------------------------------------------------------------------

TEST_CASE("awaiting a fired Deferred allocates nothing: a coroutine costs its frame and its Deferred",
          "[coroutine][alloc]") {
    if (!WEFT_COUNT_ALLOCATIONS) {
        WARN("skipped under AddressSanitizer: operator new is the sanitizer's, not counted");
        return;
    }
    Deferred<int> a = weft::succeed(1);
    Deferred<int> b = weft::succeed(2);
    Deferred<int> c = weft::succeed(3);
    auto run = [&]() -> Deferred<int> {
        int sum = co_await std::move(a);
        sum += co_await std::move(b);
        sum += co_await std::move(c);
        co_return sum;
    };
    int got = 0;
    const auto before = weft_test::allocations.load();
    run().add_callback([&](int v) { got = v; });
    const auto used = weft_test::allocations.load() - before;
    CHECK(got == 6);
    CHECK(used == 2);  // the frame, and the result's shared state; the three awaits: none

    auto lazy = [](Deferred<int> x) -> Coroutine<int> { co_return co_await std::move(x); };
    Deferred<int> e = weft::succeed(4);
    const auto before2 = weft_test::allocations.load();
    weft::ensure_deferred(lazy(std::move(e))).add_callback([&](int v) { got = v; });
    CHECK(weft_test::allocations.load() - before2 == 2);
    CHECK(got == 4);

    // A suspension costs nothing either: the link that resumes the coroutine is kept inside the awaited
    // Deferred, inline.
    Deferred<int> later;
    auto wait = [&]() -> Deferred<int> { co_return co_await Deferred<int>(later); };
    const auto before3 = weft_test::allocations.load();
    wait().add_callback([&](int v) { got = v; });
    later.callback(9);
    CHECK(weft_test::allocations.load() - before3 == 2);
    CHECK(got == 9);
}
