// Deferred<T>: the applicable cases of Twisted's twisted/test/test_defer.py, each named after its original,
// plus weft's own: typed chains, the re-entrancy rules of docs/deferred.md, add_timeout on the Clock, the
// unhandled-error record, and the allocations of the fast path.
// GCC sees the replaced operator delete calling free() on memory from operator new and warns, though the
// replacement operator new below is malloc.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/allocation_counter.hpp"
#include "support/log_capture.hpp"
#include "weft/deferred.hpp"
#include "weft/testing/clock.hpp"

using namespace std::chrono_literals;
using weft::CancelledError;
using weft::Deferred;
using weft::Failure;
using weft::testing::Clock;

// Counts the operator new calls of this binary, for the allocation tests below and test_coroutine.cpp's
// (a replacement of the global operator new is per program, hence this binary of its own). Not under
// AddressSanitizer, whose own operator new must stay (it checks that new'd memory is deleted, not freed).
std::atomic<std::size_t> weft_test::allocations{0};
using weft_test::allocations;

#if WEFT_COUNT_ALLOCATIONS
void* operator new(std::size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace {

struct GenericError : std::runtime_error {
    GenericError() : std::runtime_error("generic error") {}
    explicit GenericError(const std::string& what) : std::runtime_error(what) {}
};

/// Twisted's successResultOf: the value d has now; fails the test if it has none or a failure. Ends d's
/// chain (the value is moved out).
template <class T>
T success_result_of(Deferred<T> d) {
    std::optional<T> value;
    std::optional<Failure> failure;
    d.add_callbacks([&](T v) { value.emplace(std::move(v)); }, [&](Failure f) { failure.emplace(std::move(f)); });
    INFO("failure: " << (failure ? failure->what() : std::string("none")));
    REQUIRE(value.has_value());
    return std::move(*value);
}
inline void success_result_of(Deferred<void> d) {
    bool ok = false;
    std::optional<Failure> failure;
    d.add_callbacks([&] { ok = true; }, [&](Failure f) { failure.emplace(std::move(f)); });
    INFO("failure: " << (failure ? failure->what() : std::string("none")));
    REQUIRE(ok);
}
/// Twisted's failureResultOf: the failure d has now (handled: it ends there).
template <class T>
Failure failure_result_of(Deferred<T> d) {
    std::optional<Failure> failure;
    bool succeeded = false;
    if constexpr (std::is_void_v<T>) {
        d.add_callbacks([&] { succeeded = true; }, [&](Failure f) { failure.emplace(std::move(f)); });
    } else {
        d.add_callbacks([&](T) { succeeded = true; }, [&](Failure f) { failure.emplace(std::move(f)); });
    }
    REQUIRE_FALSE(succeeded);
    REQUIRE(failure.has_value());
    return *failure;
}
/// Twisted's assertNoResult, without touching the chain.
template <class T>
bool has_result(const Deferred<T>& d) {
    return d.called() && !d.paused();
}

}  // namespace

// ---- Failure --------------------------------------------------------------------------------------------

TEST_CASE("Failure: what, check, trap, rethrow", "[deferred][failure]") {
    Failure f(GenericError("boom"));
    CHECK(f.what() == "boom");
    CHECK(f.check<GenericError>());
    CHECK(f.check<std::runtime_error>());  // a base matches, as Failure.check does with classes
    CHECK_FALSE(f.check<std::logic_error>());
    CHECK_NOTHROW(f.trap<std::runtime_error>());
    CHECK_THROWS_AS(f.trap<std::logic_error>(), GenericError);  // not trapped: the original goes on
    CHECK_THROWS_WITH(f.rethrow(), "boom");
    CHECK_THROWS_AS(Failure(std::exception_ptr{}), std::invalid_argument);
    CHECK(Failure(std::make_exception_ptr(42)).what() == "unknown exception");
}

// ---- DeferredTests --------------------------------------------------------------------------------------

TEST_CASE("testCallbackWithoutArgs: callback's value reaches the callback", "[deferred]") {
    Deferred<int> d;
    std::vector<int> got;
    d.add_callback([&](int v) { got.push_back(v); });
    CHECK(got.empty());
    d.callback(7);
    CHECK(got == std::vector<int>{7});
}

TEST_CASE("testTwoCallbacks: callbacks run in order, each getting the previous result", "[deferred]") {
    Deferred<int> d;
    std::vector<std::string> log;
    auto end = d.add_callback([&](int v) {
                    log.push_back("first " + std::to_string(v));
                    return std::to_string(v * 2);  // the chain becomes a Deferred<std::string>
                })
                   .add_callback([&](const std::string& s) {
                       log.push_back("second " + s);
                       return s.size();
                   });
    static_assert(std::is_same_v<decltype(end), Deferred<std::size_t>>);
    d.callback(21);
    CHECK(log == std::vector<std::string>{"first 21", "second 42"});
    CHECK(success_result_of(end) == 2);
}

TEST_CASE("move-only values, and values larger than the inline room, travel the chain", "[deferred]") {
    Deferred<std::unique_ptr<int>> d;
    auto end = d.add_callback([](std::unique_ptr<int> p) {
                    *p += 1;
                    return p;
                })
                   .add_callback([](std::unique_ptr<int> p) { return std::array<std::int64_t, 16>{*p}; });  // 128 bytes: boxed
    d.callback(std::make_unique<int>(41));
    CHECK(success_result_of(end)[0] == 42);

    std::vector<Deferred<std::unique_ptr<int>>> ds;
    ds.push_back(weft::succeed(std::make_unique<int>(1)));
    ds.emplace_back();
    auto all = weft::gather(ds);
    ds[1].callback(std::make_unique<int>(2));
    auto values = success_result_of(all);
    REQUIRE(values.size() == 2);
    CHECK(*values[0] + *values[1] == 3);
}

TEST_CASE("a Deferred<void> chain may turn into values and back", "[deferred]") {
    Deferred<void> d;
    auto end = d.add_callback([] { return 5; }).add_callback([](int) {}).add_callback([] { return std::string("x"); });
    d.callback();
    CHECK(success_result_of(end) == "x");
}

TEST_CASE("testImmediateSuccess / test_succeedMatchesManualSuccess", "[deferred]") {
    auto d = weft::succeed(std::string("success"));
    CHECK(has_result(d));
    CHECK(success_result_of(d) == "success");
    CHECK(has_result(weft::succeed()));
}

TEST_CASE("testImmediateFailure: fail() gives a Deferred that has failed", "[deferred]") {
    auto d = weft::fail<int>(Failure(GenericError("fail")));
    CHECK(failure_result_of(d).check<GenericError>());
}

TEST_CASE("testCallbackErrors: what a callback throws goes to the next errback", "[deferred]") {
    Deferred<int> d;
    std::vector<std::string> seen;
    bool skipped_ran = false;
    d.add_callback([](int) -> int { throw GenericError("from callback"); })
        .add_callback([&](int v) {
            skipped_ran = true;
            return v;
        })
        .add_errback([&](Failure f) {
            seen.push_back(f.what());
            return 0;
        });
    d.callback(1);
    CHECK_FALSE(skipped_ran);
    CHECK(seen == std::vector<std::string>{"from callback"});
}

TEST_CASE("an errback recovers by returning a value, or passes on by trap or by returning the Failure",
          "[deferred]") {
    Deferred<int> d;
    std::vector<std::string> log;
    auto end = d.add_errback([&](Failure f) -> int {
                    f.trap<std::logic_error>();  // not a logic_error: rethrown, passes on
                    log.push_back("trapped wrongly");
                    return -1;
                })
                   .add_errback([&](Failure f) -> Failure {
                       log.push_back("passing on " + f.what());
                       return f;
                   })
                   .add_errback([&](Failure f) {
                       f.trap<GenericError>();
                       log.push_back("recovered");
                       return 5;
                   })
                   .add_callback([](int v) { return v + 1; });
    d.errback(Failure(GenericError("oops")));
    CHECK(log == std::vector<std::string>{"passing on oops", "recovered"});
    CHECK(success_result_of(end) == 6);
}

TEST_CASE("add_callbacks: the errback does not see what the callback of the same pair throws; add_both sees both",
          "[deferred]") {
    Deferred<int> d;
    bool eb_ran = false;
    auto next = d.add_callbacks([](int) -> int { throw GenericError("cb"); },
                                [&](Failure) {
                                    eb_ran = true;
                                    return 0;
                                });
    int both_calls = 0;
    auto end = next.add_both([&](auto r) {
        ++both_calls;
        return r;  // an int goes on as a value, a Failure as a failure
    });
    d.callback(1);
    CHECK_FALSE(eb_ran);
    CHECK(both_calls == 1);
    CHECK(failure_result_of(end).what() == "cb");

    Deferred<void> v;
    std::vector<std::string> cleanup;
    v.add_both([&](auto... r) { cleanup.push_back(sizeof...(r) == 0 ? "value" : "failure"); });
    v.callback();
    CHECK(cleanup == std::vector<std::string>{"value"});
}

TEST_CASE("test_callbackReturnsDeferred: the chain waits for a Deferred a callback returns", "[deferred]") {
    Deferred<int> d;
    Deferred<std::string> inner;
    std::vector<std::string> results;
    d.add_callback([&](int) { return inner; }).add_callback([&](std::string s) { results.push_back(s); });
    d.callback(1);
    CHECK(results.empty());
    CHECK(d.paused());
    inner.callback("inner result");
    CHECK(results == std::vector<std::string>{"inner result"});
    CHECK_FALSE(d.paused());
}

TEST_CASE("test_errbackReturnsDeferred: an errback may recover through a Deferred", "[deferred]") {
    Deferred<int> d;
    Deferred<int> inner;
    std::vector<int> results;
    d.add_errback([&](Failure) { return inner; }).add_callback([&](int v) { results.push_back(v); });
    d.errback(Failure(GenericError()));
    CHECK(results.empty());
    inner.callback(42);
    CHECK(results == std::vector<int>{42});
}

TEST_CASE("test_innerCallbacksPreserved: the middle Deferred's callbacks run before the outer one gets the result",
          "[deferred]") {
    std::vector<std::string> results;
    std::vector<std::string> failures;
    Deferred<std::string> inner;
    auto cb = [&](std::string result) {
        results.push_back("start-of-cb " + result);
        auto d = weft::succeed(std::string("inner"));
        return d
            .add_callback([&](const std::string&) {
                results.push_back("firstCallback inner");
                return inner;
            })
            .add_callback([&](std::string r) {
                results.push_back("secondCallback " + r);
                return r + r;
            })
            .add_errback([&](Failure f) {
                failures.push_back(f.what());
                return std::string();
            });
    };
    auto outer = weft::succeed(std::string("outer")).add_callback(cb);
    inner.callback("orange");
    outer.add_callback([&](std::string r) { results.push_back(r); }).add_errback([&](Failure f) {
        failures.push_back(f.what());
    });
    CHECK(failures.empty());
    CHECK(results == std::vector<std::string>{"start-of-cb outer", "firstCallback inner", "secondCallback orange",
                                              "orangeorange"});
}

TEST_CASE("test_callbackOrderPreserved: a callback added after one that returned a Deferred runs after that one's chain",
          "[deferred]") {
    std::vector<std::string> results;
    std::vector<std::string> failures;
    Deferred<std::string> a;
    auto cb = [&](std::string result) {
        results.push_back("cb " + result);
        Deferred<void> d;
        auto returner = d.add_callback([&] {
                             results.push_back("firstCallback");
                             std::vector<Deferred<std::string>> list{a};
                             return weft::gather(std::move(list));
                         })
                            .add_callback([&](std::vector<std::string> r) { results.push_back("secondCallback " + r.at(0)); })
                            .add_errback([&](Failure f) { failures.push_back(f.what()); });
        d.callback();
        return returner;
    };
    Deferred<std::string> outer;
    outer.add_callback(cb).add_callback([&] { results.push_back("final"); }).add_errback([&](Failure f) {
        failures.push_back(f.what());
    });
    outer.callback("outer");
    CHECK(results == std::vector<std::string>{"cb outer", "firstCallback"});
    a.callback("withers");
    CHECK(failures.empty());
    CHECK(results == std::vector<std::string>{"cb outer", "firstCallback", "secondCallback withers", "final"});
}

TEST_CASE("test_reentrantRunCallbacks: a callback added by a callback goes to the end of the chain", "[deferred][reentrancy]") {
    Deferred<void> deferred;
    std::vector<int> called;
    deferred.add_callback([&] {
        called.push_back(1);
        deferred.add_callback([&] { called.push_back(3); });
    });
    deferred.add_callback([&] { called.push_back(2); });
    deferred.callback();
    CHECK(called == std::vector<int>{1, 2, 3});
}

TEST_CASE("test_nonReentrantCallbacks: a callback added by a running callback waits until it returns",
          "[deferred][reentrancy]") {
    Deferred<void> deferred;
    std::vector<int> called;
    std::vector<int> seen_inside;
    deferred.add_callback([&] {
        called.push_back(1);
        deferred.add_callback([&] { called.push_back(2); });
        seen_inside = called;
    });
    deferred.callback();
    CHECK(seen_inside == std::vector<int>{1});
    CHECK(called == std::vector<int>{1, 2});
}

TEST_CASE("test_reentrantRunCallbacksWithFailure: what a re-entrantly added callback throws is the failure",
          "[deferred][reentrancy]") {
    Deferred<void> deferred;
    deferred.add_callback([&] { deferred.add_callback([]() { throw GenericError("callback raised exception"); }); });
    deferred.callback();
    CHECK(failure_result_of(deferred).what() == "callback raised exception");
}

TEST_CASE("re-entrancy: callbacks run inside callback(); added to a fired Deferred they run inside add_callback",
          "[deferred][reentrancy]") {
    Deferred<int> d;
    std::vector<std::string> log;
    d.add_callback([&](int v) {
        log.push_back("cb1");
        return v;
    });
    log.push_back("before callback");
    d.callback(1);
    log.push_back("after callback");
    d.add_callback([&](int) { log.push_back("cb2"); });
    log.push_back("after add_callback");
    CHECK(log == std::vector<std::string>{"before callback", "cb1", "after callback", "cb2", "after add_callback"});
}

TEST_CASE("re-entrancy: a callback that fires another Deferred runs that one's callbacks at once", "[deferred][reentrancy]") {
    Deferred<void> a;
    Deferred<void> b;
    std::vector<std::string> log;
    b.add_callback([&] { log.push_back("b's callback"); });
    a.add_callback([&] {
        log.push_back("a before");
        b.callback();
        log.push_back("a after");
    });
    a.callback();
    CHECK(log == std::vector<std::string>{"a before", "b's callback", "a after"});
}

TEST_CASE("test_synchronousImplicitChain: a fired Deferred returned by a callback gives its result at once",
          "[deferred][chain]") {
    auto first = weft::succeed(5);
    Deferred<void> second;
    auto chained = second.add_callback([&] { return first; });
    second.callback();
    CHECK(has_result(chained));
    CHECK(success_result_of(chained) == 5);
    // Twisted leaves None in `first`; weft forbids adding to a Deferred that was handed on.
    CHECK_THROWS_AS(first.add_callback([](int) {}), std::logic_error);
}

TEST_CASE("test_asynchronousImplicitChain: the waiting Deferred gets the result when the chained one fires",
          "[deferred][chain]") {
    Deferred<int> first;
    Deferred<void> second;
    std::vector<int> second_result;
    second.add_callback([&] { return first; }).add_callback([&](int v) { second_result.push_back(v); });
    second.callback();
    CHECK(second_result.empty());
    first.callback(17);
    CHECK(second_result == std::vector<int>{17});
}

TEST_CASE("test_synchronousImplicitErrorChain / test_errorClearedByChaining: a chained failure moves, logged once at most",
          "[deferred][chain][log]") {
    weft_test::LogCapture log;
    {
        auto first = weft::fail<void>(Failure(GenericError("First Deferred's Failure")));
        Deferred<void> second;
        auto chained = second.add_callback([&] { return first; });
        second.callback();
        CHECK(failure_result_of(chained).check<GenericError>());
    }
    // The failure was handed to `second`, which handled it: nobody reports it.
    CHECK_FALSE(log.any_contains("First Deferred's Failure"));
}

TEST_CASE("test_asynchronousImplicitErrorChain: the chained Deferred's failure becomes the waiting one's",
          "[deferred][chain]") {
    Deferred<void> first;
    Deferred<void> second;
    std::vector<std::string> second_error;
    second.add_callback([&] { return first; }).add_errback([&](Failure f) { second_error.push_back(f.what()); });
    second.callback();
    first.errback(Failure(GenericError("First Deferred's Failure")));
    CHECK(second_error == std::vector<std::string>{"First Deferred's Failure"});
}

TEST_CASE("test_doubleAsynchronousImplicitChaining: chaining is transitive", "[deferred][chain]") {
    Deferred<int> first;
    Deferred<void> second;
    auto second_chain = second.add_callback([&] { return first; });
    Deferred<void> third;
    std::vector<int> third_result;
    third.add_callback([&] { return second_chain; }).add_callback([&](int v) { third_result.push_back(v); });
    second.callback();
    third.callback();
    CHECK(third_result.empty());
    first.callback(99);
    CHECK(third_result == std::vector<int>{99});
}

TEST_CASE("test_boundedStackDepth: a long chain of chained Deferreds fires in constant stack", "[deferred][chain]") {
    // d[0] waits on d[1], which waits on d[2], ... : firing the last one runs them all. Recursion would
    // need 200,000 nested frames and overflow the stack.
    constexpr int depth = 200000;
    std::vector<Deferred<int>> ds;
    ds.reserve(depth);
    for (int i = 0; i < depth; ++i) ds.emplace_back();
    std::vector<Deferred<int>> chains;
    chains.reserve(depth);
    for (int i = 0; i < depth; ++i) chains.push_back(ds[i].add_callback([](int v) { return v; }));
    for (int i = 0; i + 1 < depth; ++i) {
        auto next = chains[i + 1];
        ds[i].add_callback([next](int) { return next; });
        // Deferred<int> -> Deferred<int>: the chain type of ds[i] stays int.
    }
    for (int i = 0; i + 1 < depth; ++i) ds[i].callback(0);
    int got = -1;
    chains[0].add_callback([&](int v) { got = v; });
    CHECK(got == -1);
    ds[depth - 1].callback(12345);
    CHECK(got == 12345);
}

TEST_CASE("test_resultOfDeferredResultOfDeferredOfFiredDeferredCalled: nested fired Deferreds unwind", "[deferred][chain]") {
    auto first = weft::succeed(1);
    auto second = weft::succeed().add_callback([first] { return first; });
    Deferred<void> third;
    auto end = third.add_callback([second] { return second; });
    third.callback();
    CHECK(success_result_of(end) == 1);
}

TEST_CASE("test_circularChainException: a callback returning its own Deferred fails the chain", "[deferred][chain]") {
    Deferred<void> d;
    auto chain = d.add_callback([&] { return d; });
    d.callback();
    CHECK(failure_result_of(chain).check<std::logic_error>());
}

TEST_CASE("adding through a handle whose type the chain has moved past is a logic_error", "[deferred]") {
    Deferred<int> d;
    auto s = d.add_callback([](int v) { return std::to_string(v); });
    CHECK_THROWS_AS(d.add_callback([](int) {}), std::logic_error);
    CHECK_THROWS_AS(d.add_errback([](Failure) { return 0; }), std::logic_error);
    std::string got;
    s.add_callback([&](std::string v) { got = v; });  // the current handle works
    d.callback(3);  // firing goes through the original type
    CHECK(got == "3");
}

// ---- AlreadyCalledTests -----------------------------------------------------------------------------------

TEST_CASE("testAlreadyCalled_CC / _CE / _EC / _EE: a second fire is an AlreadyCalledError", "[deferred]") {
    {
        Deferred<int> d;
        d.callback(1);
        CHECK_THROWS_AS(d.callback(2), weft::AlreadyCalledError);
        CHECK_THROWS_AS(d.errback(Failure(GenericError())), weft::AlreadyCalledError);
    }
    {
        Deferred<int> d;
        d.add_errback([](Failure) { return 0; });
        d.errback(Failure(GenericError()));
        CHECK_THROWS_AS(d.errback(Failure(GenericError())), weft::AlreadyCalledError);
        CHECK_THROWS_AS(d.callback(2), weft::AlreadyCalledError);
    }
}

// ---- DeferredCancellerTests ---------------------------------------------------------------------------------

TEST_CASE("test_noCanceller: cancel() without a canceller fails the Deferred with CancelledError", "[deferred][cancel]") {
    Deferred<int> d;
    d.cancel();
    CHECK(failure_result_of(d).check<CancelledError>());
}

TEST_CASE("test_raisesAfterCancelAndCallback: the source's first fire after a cancel is ignored, a second raises",
          "[deferred][cancel]") {
    Deferred<int> d;
    std::vector<std::string> errors;
    d.add_errback([&](Failure f) {
        errors.push_back(f.what());
        return 0;
    });
    d.cancel();
    CHECK_NOTHROW(d.callback(1));  // the source did not know
    CHECK_THROWS_AS(d.callback(2), weft::AlreadyCalledError);
    CHECK(errors.size() == 1);
}

TEST_CASE("test_noCancellerMultipleCancel: a second cancel does nothing", "[deferred][cancel]") {
    Deferred<int> d;
    int errbacks = 0;
    d.add_errback([&](Failure) {
        ++errbacks;
        return 0;
    });
    d.cancel();
    d.cancel();
    CHECK(errbacks == 1);
}

TEST_CASE("test_simpleCanceller / test_cancellerArg / test_cancellerMultipleCancel: the canceller runs once, with the Deferred",
          "[deferred][cancel]") {
    int canceller_calls = 0;
    Deferred<int>* seen = nullptr;
    Deferred<int> d([&](Deferred<int>& arg) {
        ++canceller_calls;
        seen = &arg;
        CHECK_FALSE(arg.called());
    });
    d.cancel();
    d.cancel();
    CHECK(canceller_calls == 1);
    CHECK(seen != nullptr);
    CHECK(failure_result_of(d).check<CancelledError>());  // the canceller did not fire it
    // A canceller that did not fire the Deferred leaves the source's fire an error (Twisted's rule).
    CHECK_THROWS_AS(d.callback(1), weft::AlreadyCalledError);
}

TEST_CASE("test_cancellerThatErrbacks / test_cancellerThatCallbacks: what the canceller fires wins", "[deferred][cancel]") {
    Deferred<int> e([](Deferred<int>& self) { self.errback(Failure(GenericError("canceller's error"))); });
    e.cancel();
    CHECK(failure_result_of(e).what() == "canceller's error");

    Deferred<int> c([](Deferred<int>& self) { self.callback(7); });
    c.cancel();
    CHECK(success_result_of(c) == 7);
}

TEST_CASE("test_cancelAfterCallback / test_cancelAfterErrback: cancelling a fired Deferred changes nothing",
          "[deferred][cancel]") {
    int canceller_calls = 0;
    Deferred<int> d([&](Deferred<int>&) { ++canceller_calls; });
    d.callback(3);
    d.cancel();
    CHECK(canceller_calls == 0);
    CHECK(success_result_of(d) == 3);

    Deferred<int> e;
    e.errback(Failure(GenericError("original")));
    e.cancel();
    CHECK(failure_result_of(e).what() == "original");
}

TEST_CASE("test_cancelNestedDeferred: cancelling a Deferred paused on a chained one cancels that one", "[deferred][cancel]") {
    int inner_cancelled = 0;
    Deferred<int> inner([&](Deferred<int>&) { ++inner_cancelled; });
    Deferred<void> outer;
    auto chain = outer.add_callback([&] { return inner; });
    outer.callback();
    REQUIRE(outer.paused());
    chain.cancel();
    CHECK(inner_cancelled == 1);
    CHECK(failure_result_of(chain).check<CancelledError>());
}

// ---- add_timeout ------------------------------------------------------------------------------------------------

TEST_CASE("add_timeout: at the deadline the Deferred is cancelled and fails with TimeoutError", "[deferred][timeout]") {
    Clock clock;
    int cancelled = 0;
    Deferred<int> d([&](Deferred<int>&) { ++cancelled; });
    weft::add_timeout(d, 10s, clock);
    clock.advance(9999ms);
    CHECK_FALSE(d.called());
    clock.advance(1ms);
    CHECK(cancelled == 1);
    CHECK(failure_result_of(d).check<weft::TimeoutError>());
}

TEST_CASE("add_timeout: a Deferred fired in time keeps its result and the timer is cancelled", "[deferred][timeout]") {
    Clock clock;
    Deferred<int> d;
    weft::add_timeout(d, 10s, clock);
    CHECK(clock.pending_calls().size() == 1);
    clock.advance(5s);
    d.callback(4);
    CHECK(clock.pending_calls().empty());
    clock.advance(10s);
    CHECK(success_result_of(d) == 4);
}

TEST_CASE("add_timeout: a failure in time is not turned into a TimeoutError; a canceller's value wins",
          "[deferred][timeout]") {
    Clock clock;
    Deferred<int> d;
    weft::add_timeout(d, 1s, clock);
    d.errback(Failure(GenericError("early")));
    CHECK(clock.pending_calls().empty());
    CHECK(failure_result_of(d).what() == "early");

    Deferred<int> c([](Deferred<int>& self) { self.callback(-1); });
    weft::add_timeout(c, 1s, clock);
    clock.advance(1s);
    CHECK(success_result_of(c) == -1);

    // A CancelledError from a cancel() before the deadline stays a CancelledError.
    Deferred<int> x;
    weft::add_timeout(x, 1s, clock);
    x.cancel();
    CHECK(clock.pending_calls().empty());
    CHECK(failure_result_of(x).check<CancelledError>());
}

TEST_CASE("add_timeout: the timer keeps the chain alive, so its errbacks run though nobody else holds it",
          "[deferred][timeout]") {
    Clock clock;
    std::vector<std::string> log;
    {
        Deferred<int> d;
        weft::add_timeout(d, 1s, clock);
        d.add_errback([&](Failure f) {
            log.push_back(f.what());
            return 0;
        });
    }
    clock.advance(1s);
    CHECK(log == std::vector<std::string>{"the Deferred timed out"});
}

// ---- gather / DeferredList / first_of ------------------------------------------------------------------------

TEST_CASE("test_gatherResults: values in input order, whatever order they come in", "[deferred][gather]") {
    Deferred<int> a;
    Deferred<int> b;
    auto all = weft::gather(std::vector<Deferred<int>>{a, b, weft::succeed(3)});
    b.callback(2);
    CHECK_FALSE(all.called());
    a.callback(1);
    CHECK(success_result_of(all) == std::vector<int>{1, 2, 3});
    CHECK(success_result_of(weft::gather(std::vector<Deferred<int>>{})).empty());
}

TEST_CASE("test_gatherResults: the first failure fails the result at once", "[deferred][gather]") {
    Deferred<int> a;
    Deferred<int> b;
    auto all = weft::gather(std::vector<Deferred<int>>{a, b}, true);
    b.errback(Failure(GenericError("b failed")));
    CHECK(failure_result_of(all).what() == "b failed");
    a.callback(1);  // later results are ignored
}

TEST_CASE("test_gatherResultsWithConsumeErrors / testDeferredListDontConsumeErrors: unconsumed failures stay unhandled in their chains",
          "[deferred][gather][log]") {
    weft_test::LogCapture log;
    {
        auto all = weft::gather(std::vector<Deferred<int>>{weft::fail<int>(Failure(GenericError("kept error")))});
        CHECK(failure_result_of(all).what() == "kept error");
    }
    CHECK(log.any_contains("kept error"));  // the input's own chain still had it, and nobody handled it
    {
        auto all = weft::gather(std::vector<Deferred<int>>{weft::fail<int>(Failure(GenericError("consumed error")))}, true);
        CHECK(failure_result_of(all).what() == "consumed error");
        auto list =
            weft::deferred_list(std::vector<Deferred<int>>{weft::fail<int>(Failure(GenericError("consumed too")))}, true);
        CHECK_FALSE(success_result_of(list).at(0).success());
    }
    CHECK_FALSE(log.any_contains("consumed error"));
    CHECK_FALSE(log.any_contains("consumed too"));
}

TEST_CASE("test_cancelGatherResults: cancelling the result cancels the inputs", "[deferred][gather][cancel]") {
    Deferred<int> a;
    Deferred<int> b;
    auto all = weft::gather(std::vector<Deferred<int>>{a, b}, true);
    all.cancel();
    CHECK(failure_result_of(all).check<CancelledError>());
    CHECK(a.called());
    CHECK(b.called());
}

TEST_CASE("testDeferredList / testDeferredListWithAlreadyFiredDeferreds: every outcome, in input order",
          "[deferred][gather]") {
    Deferred<std::string> a;
    Deferred<std::string> b;
    auto list = weft::deferred_list(std::vector<Deferred<std::string>>{a, weft::succeed(std::string("fired")), b}, true);
    a.callback("1");
    CHECK_FALSE(list.called());
    b.errback(Failure(GenericError("2")));
    auto outcomes = success_result_of(list);
    REQUIRE(outcomes.size() == 3);
    CHECK(outcomes[0].success());
    CHECK(*outcomes[0].value == "1");
    CHECK(*outcomes[1].value == "fired");
    CHECK_FALSE(outcomes[2].success());
    CHECK(outcomes[2].failure->what() == "2");
}

TEST_CASE("testEmptyDeferredList / testDeferredListEmpty: fires at once with nothing", "[deferred][gather]") {
    CHECK(success_result_of(weft::deferred_list(std::vector<Deferred<int>>{})).empty());
    success_result_of(weft::gather(std::vector<Deferred<void>>{}));
}

TEST_CASE("test_cancelDeferredList: cancelling the list cancels its inputs, whose outcomes are CancelledError",
          "[deferred][gather][cancel]") {
    Deferred<void> a;
    Deferred<void> b;
    auto list = weft::deferred_list(std::vector<Deferred<void>>{a, b}, true);
    a.callback();
    list.cancel();
    auto outcomes = success_result_of(list);
    CHECK(outcomes.at(0).success());
    CHECK(outcomes.at(1).failure->check<CancelledError>());
}

TEST_CASE("RaceTests.test_success: first_of gives the first success and cancels the rest", "[deferred][first_of]") {
    std::vector<int> cancelled;
    std::vector<Deferred<int>> ds;
    for (int i = 0; i < 3; ++i) ds.emplace_back([&cancelled, i](Deferred<int>&) { cancelled.push_back(i); });
    auto first = weft::first_of(ds);
    ds[0].errback(Failure(GenericError("loser")));
    CHECK_FALSE(first.called());
    ds[1].callback(11);
    auto r = success_result_of(first);
    CHECK(r.index == 1);
    CHECK(r.value == 11);
    CHECK(cancelled == std::vector<int>{2});
}

TEST_CASE("RaceTests.test_failure: when all fail, first_of fails with every failure", "[deferred][first_of]") {
    Deferred<void> a;
    Deferred<void> b;
    auto first = weft::first_of(std::vector<Deferred<void>>{a, b});
    b.errback(Failure(GenericError("b")));
    a.errback(Failure(GenericError("a")));
    auto f = failure_result_of(first);
    REQUIRE(f.check<weft::FirstOfError>());
    try {
        f.rethrow();
    } catch (const weft::FirstOfError& e) {
        REQUIRE(e.failures().size() == 2);
        CHECK(e.failures()[0].what() == "a");  // input order
        CHECK(e.failures()[1].what() == "b");
    }
}

TEST_CASE("RaceTests.test_cancel: cancelling first_of cancels every input", "[deferred][first_of][cancel]") {
    Deferred<int> a;
    Deferred<int> b;
    auto first = weft::first_of(std::vector<Deferred<int>>{a, b});
    first.cancel();
    CHECK(a.called());
    CHECK(b.called());
    // As Twisted's race (a FailureGroup): every input failed, with CancelledError.
    auto f = failure_result_of(first);
    REQUIRE(f.check<weft::FirstOfError>());
    try {
        f.rethrow();
    } catch (const weft::FirstOfError& e) {
        REQUIRE(e.failures().size() == 2);
        CHECK(e.failures()[0].check<CancelledError>());
        CHECK(e.failures()[1].check<CancelledError>());
    }
}

// ---- LogTests: unhandled errors ---------------------------------------------------------------------------

TEST_CASE("test_errorLog: a failure nobody handled is logged when the last holder lets go, with where it was created",
          "[deferred][log]") {
    weft_test::LogCapture log;
    int line = 0;
    {
        Deferred<int> d;
        line = __LINE__ - 1;
        d.add_callback([](int) -> int { throw GenericError("nobody handles this"); });
        d.callback(1);
        CHECK_FALSE(log.any_contains("nobody handles this"));  // still held: someone may add an errback
    }
    const std::string where = std::string("test_deferred.cpp:") + std::to_string(line);
    bool found = false;
    for (const auto& m : log.messages()) {
        if (m.find("Unhandled error in Deferred") != std::string::npos && m.find("nobody handles this") != std::string::npos &&
            m.find(where) != std::string::npos) {
            found = true;
        }
    }
    CHECK(found);
}

TEST_CASE("test_chainedErrorCleanup: a handled failure, or a success, logs nothing", "[deferred][log]") {
    weft_test::LogCapture log;
    {
        Deferred<int> d;
        d.add_errback([](Failure) { return 0; });
        d.errback(Failure(GenericError("handled one")));
        Deferred<int> never;  // unfired: nothing to report
        auto ok = weft::succeed(1);
    }
    CHECK_FALSE(log.any_contains("Unhandled error"));
}

// ---- allocations --------------------------------------------------------------------------------------------------

TEST_CASE("a Deferred with three small callbacks costs one allocation, fired before or after they are added",
          "[deferred][alloc]") {
    if (!WEFT_COUNT_ALLOCATIONS) {
        WARN("skipped under AddressSanitizer: operator new is the sanitizer's, not counted");
        return;
    }
    int sum = 0;
    auto before = allocations.load();
    {
        Deferred<int> d;
        d.add_callback([](int v) { return v + 1; }).add_callback([](int v) { return v * 2; }).add_callback([&](int v) {
            sum += v;
        });
        d.callback(1);
    }
    CHECK(allocations.load() - before == 1);
    CHECK(sum == 4);

    before = allocations.load();
    {
        weft::succeed(std::string("short")).add_callback([](std::string s) { return s.size(); }).add_callback(
            [&](std::size_t n) { sum += static_cast<int>(n); });
    }
    CHECK(allocations.load() - before == 1);
    CHECK(sum == 9);

    // The measure is real: a capture too big for a link's inline room costs one more.
    std::array<char, 64> big{};
    big[0] = 1;
    before = allocations.load();
    {
        Deferred<int> d;
        d.add_callback([big, &sum](int v) { sum += v + big[0]; });
        d.callback(1);
    }
    CHECK(allocations.load() - before == 2);
}

// -- lifetimes and failures found in review ------------------------------------------------------------

TEST_CASE("a callback may destroy the handle it was added through, on a fired Deferred", "[deferred][lifetime]") {
    auto holder = std::make_unique<Deferred<int>>(weft::succeed(3));
    int seen = 0;
    // The link runs inside add_callback; it destroys the last handle (ASan would catch a use after free).
    auto next = holder->add_callback([&](int v) {
        seen = v;
        holder.reset();
        return v + 1;
    });
    CHECK(seen == 3);
    CHECK(success_result_of(next) == 4);
}

TEST_CASE("a canceller may destroy the handle cancel() was called through", "[deferred][lifetime]") {
    std::unique_ptr<Deferred<int>> holder;
    holder = std::make_unique<Deferred<int>>([&](Deferred<int>&) { holder.reset(); });
    Deferred<int> other = *holder;
    holder->cancel();
    CHECK(failure_result_of(other).check<CancelledError>());
}

TEST_CASE("a canceller that throws fails the Deferred with its exception", "[deferred][cancel]") {
    Deferred<int> d([](Deferred<int>&) { throw GenericError("canceller broke"); });
    d.cancel();
    const Failure f = failure_result_of(d);
    CHECK(f.check<GenericError>());
    CHECK(f.what() == "canceller broke");
}

TEST_CASE("a fired Deferred lets go of its canceller (and what it captured)", "[deferred][lifetime]") {
    auto captured = std::make_shared<int>(1);
    std::weak_ptr<int> watch = captured;
    Deferred<int> d([keep = std::move(captured)](Deferred<int>&) {});
    CHECK_FALSE(watch.expired());
    d.callback(5);
    CHECK(watch.expired());  // a cycle through the canceller would otherwise never end
    CHECK(success_result_of(d) == 5);
}

TEST_CASE("add_timeout on a Deferred that cannot take it leaves no timer behind", "[deferred][timeout]") {
    Clock clock;
    Deferred<int> inner;
    Deferred<int> outer = weft::succeed(1);
    outer.add_callback([inner](int) { return inner; });  // inner is now chained: no callbacks may be added
    CHECK_THROWS_AS(weft::add_timeout(inner, std::chrono::seconds(1), clock), std::logic_error);
    CHECK(clock.pending_calls().empty());
    inner.callback(2);
    CHECK(success_result_of(outer) == 2);
}

TEST_CASE("add_timeout on a Deferred that has fired schedules nothing", "[deferred][timeout]") {
    Clock clock;
    Deferred<int> d = weft::succeed(1);
    weft::add_timeout(d, std::chrono::seconds(1), clock);
    CHECK(clock.pending_calls().empty());
    CHECK(success_result_of(d) == 1);
}
