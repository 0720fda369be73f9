#pragma once
// What a Deferred holds now, for tests (Twisted's successResultOf / failureResultOf, without the assertion):
// the value or the failure it has fired with, or nothing while it has no result. Each ends d's chain.

#include <optional>
#include <type_traits>
#include <utility>

#include "weft/deferred.hpp"
#include "weft/failure.hpp"

namespace weft_test {

template <class T>
std::optional<T> result_of(weft::Deferred<T> d) {
    std::optional<T> value;
    d.add_callback([&](T v) { value.emplace(std::move(v)); });
    return value;
}

template <class T>
std::optional<weft::Failure> failure_of(weft::Deferred<T> d) {
    std::optional<weft::Failure> failure;
    d.add_errback([&](weft::Failure f) {
        failure.emplace(f);
        if constexpr (!std::is_void_v<T>) return T{};
    });
    return failure;
}

}  // namespace weft_test
