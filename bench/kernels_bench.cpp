// Throughput of the kernels that dominate a LLaVA forward pass, at LLaVA-1.5-7B's shapes:
// linear layers with f16 and bf16 weights (one row for decode, many rows for prefill) and
// attention over a long cache. Counters report GFLOP/s and, for one-row linear, weight GB/s.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "glimpse/kernels.h"

namespace {

glimpse::ThreadPool& pool() {
  static glimpse::ThreadPool instance(0);
  return instance;
}

std::vector<std::uint16_t> random_half_weights(std::int64_t count, glimpse::DType dtype) {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<std::uint16_t> bits(static_cast<std::size_t>(count));
  for (auto& b : bits) b = dtype == glimpse::DType::kF16 ? glimpse::f32_to_f16(dist(rng)) : glimpse::f32_to_bf16(dist(rng));
  return bits;
}

// Arguments: rows of x, output features, input features, dtype (1 = f16, 2 = bf16).
void BM_Linear(benchmark::State& state) {
  const std::int64_t n_rows = state.range(0), out = state.range(1), in = state.range(2);
  const auto dtype = static_cast<glimpse::DType>(state.range(3));
  const auto weights = random_half_weights(out * in, dtype);
  const glimpse::TensorView view{dtype, 2, {out, in, 0, 0}, weights.data()};
  std::vector<float> x(static_cast<std::size_t>(n_rows * in), 0.5f), y(static_cast<std::size_t>(n_rows * out));
  for (auto _ : state) {
    glimpse::kernels::linear(pool(), x.data(), n_rows, view, nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  const double flops = 2.0 * static_cast<double>(n_rows * out * in);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_GB/s"] = benchmark::Counter(static_cast<double>(out * in * 2) * 1e-9,
                                                     benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Linear)
    ->Args({1, 4096, 4096, 1})
    ->Args({1, 11008, 4096, 1})
    ->Args({1, 4096, 4096, 2})
    ->Args({64, 4096, 4096, 1})
    ->Args({64, 11008, 4096, 1})
    ->Args({64, 4096, 4096, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Arguments: cached positions; 32 heads of 128 (LLaVA-1.5-7B), one query token.
void BM_AttentionDecode(benchmark::State& state) {
  const std::int64_t n_past = state.range(0), heads = 32, head_dim = 128;
  std::vector<float> q(static_cast<std::size_t>(heads * head_dim), 0.1f);
  std::vector<float> keys(static_cast<std::size_t>(heads * (n_past + 1) * head_dim), 0.01f);
  std::vector<float> values(keys.size(), 0.02f), out(q.size());
  glimpse::kernels::AttentionShape shape;
  shape.n_tokens = 1;
  shape.n_heads = heads;
  shape.n_kv_heads = heads;
  shape.head_dim = head_dim;
  shape.start_pos = n_past;
  shape.scale = 0.088f;
  for (auto _ : state) {
    glimpse::kernels::attention(pool(), q.data(), {keys.data(), values.data(), (n_past + 1) * head_dim}, shape,
                                out.data());
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_AttentionDecode)->Arg(16)->Arg(512)->Arg(2048)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
