// Google Benchmark of weft's line receivers (issue 5): LineReceiver and LineOnlyReceiver throughput on
// 64-byte and 4 KiB lines ("\r\n" included), delivered as one 1 MiB buffer ("whole") and in 1500-byte
// chunks (one Ethernet MTU, the way a socket would hand them over), through weft::testing::StringTransport.
// Bytes/s is the input consumed. Run: <build>/apps/bench/weft-receivers-bench

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include "weft/protocols/basic.hpp"
#include "weft/testing/string_transport.hpp"

namespace {

constexpr std::size_t kInputBytes = 1 << 20;

template <class Base>
class Counting final : public Base {
public:
    void line_received(std::string_view line) override {
        ++lines;
        bytes += line.size();
    }
    std::size_t lines = 0;
    std::size_t bytes = 0;
};

/// About kInputBytes of lines of `line_size` bytes, "\r\n" included, ending on a line boundary.
std::string make_input(std::size_t line_size) {
    std::string line(line_size - 2, 'x');
    for (std::size_t i = 0; i < line.size(); i += 7) {
        line[i] = static_cast<char>('a' + (i % 26));
    }
    line += "\r\n";
    std::string input;
    input.reserve(kInputBytes + line_size);
    while (input.size() + line.size() <= kInputBytes) {
        input += line;
    }
    return input;
}

template <class Base>
void receive(benchmark::State& state) {
    const auto line_size = static_cast<std::size_t>(state.range(0));
    const auto chunk = static_cast<std::size_t>(state.range(1));  // 0 = whole buffer at once
    const std::string input = make_input(line_size);
    const std::size_t expected = input.size() / line_size;

    weft::testing::StringTransport transport;
    Counting<Base> receiver;
    receiver.make_connection(transport);
    const std::string_view all(input);
    for (auto _ : state) {
        if (chunk == 0) {
            receiver.data_received(all);
        } else {
            for (std::size_t pos = 0; pos < all.size(); pos += chunk) {
                receiver.data_received(all.substr(pos, std::min(chunk, all.size() - pos)));
            }
        }
        benchmark::DoNotOptimize(receiver.lines);
    }
    if (receiver.lines != expected * static_cast<std::size_t>(state.iterations())) {
        state.SkipWithError("wrong number of lines received");
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(input.size()) * state.iterations());
    state.SetItemsProcessed(static_cast<std::int64_t>(expected) * state.iterations());
}

void line_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"line", "chunk"});
    for (std::int64_t line : {64, 4096}) {
        for (std::int64_t chunk : {0, 1500}) {
            b->Args({line, chunk});
        }
    }
}

void BM_LineReceiver(benchmark::State& state) { receive<weft::protocols::LineReceiver>(state); }
void BM_LineOnlyReceiver(benchmark::State& state) { receive<weft::protocols::LineOnlyReceiver>(state); }

BENCHMARK(BM_LineReceiver)->Apply(line_args);
BENCHMARK(BM_LineOnlyReceiver)->Apply(line_args);

}  // namespace

BENCHMARK_MAIN();
