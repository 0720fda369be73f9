#pragma once
// The count of operator new calls made by a test binary that replaces the global operator new (only
// test_core_deferred does: tests/unit/test_deferred.cpp defines the counter and the replacement). Not
// counted under AddressSanitizer, whose own operator new must stay.

#include <atomic>
#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define WEFT_COUNT_ALLOCATIONS 0
#else
#define WEFT_COUNT_ALLOCATIONS 1
#endif

namespace weft_test {
extern std::atomic<std::size_t> allocations;
}  // namespace weft_test
