// Throughput of the kernels that dominate a LLaVA forward pass, at LLaVA-1.5-7B's shapes:
// linear layers with f16, bf16, q8_0 and q4_0 weights (one row for decode, many rows for
// prefill), under the automatic kernel table and forced ones, and attention over a long cache. Counters report GFLOP/s and, for one-row linear, weight GB/s.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "glimpse/kernels.h"
#include "kernels/isa.h"

namespace {

glimpse::ThreadPool& pool() {
  static glimpse::ThreadPool instance(0);
  return instance;
}

// A weight of `dtype` with normally distributed values (sd 0.02, as in trained LLaMA layers).
std::vector<std::uint8_t> random_weights(std::int64_t out, std::int64_t in, glimpse::DType dtype) {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> values(static_cast<std::size_t>(out * in));
  for (float& v : values) v = dist(rng);
  const glimpse::TensorView source{glimpse::DType::kF32, 2, {out, in, 0, 0}, values.data()};
  std::vector<std::uint8_t> bytes(glimpse::dtype_bytes(dtype, out * in));
  if (glimpse::dtype_is_quantized(dtype)) {
    glimpse::kernels::quantize_weight(pool(), source, dtype, bytes.data());
    return bytes;
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::uint16_t bits = dtype == glimpse::DType::kF16 ? glimpse::f32_to_f16(values[i]) : glimpse::f32_to_bf16(values[i]);
    std::memcpy(bytes.data() + 2 * i, &bits, 2);
  }
  return bytes;
}

// Arguments: rows of x, output features, input features, dtype (glimpse::DType: 1 f16, 2 bf16,
// 3 q8_0, 4 q4_0), kernel table (-1 the automatic choice, else kernels::Isa).
void BM_Linear(benchmark::State& state) {
  const std::int64_t n_rows = state.range(0), out = state.range(1), in = state.range(2);
  const auto dtype = static_cast<glimpse::DType>(state.range(3));
  const auto previous = glimpse::kernels::active_kernels().isa;
  if (state.range(4) >= 0 && !glimpse::kernels::set_active_isa(static_cast<glimpse::kernels::Isa>(state.range(4)))) {
    state.SkipWithError("this CPU cannot run the requested kernel table");
    return;
  }
  state.SetLabel(std::string(glimpse::dtype_name(dtype)) + " " + glimpse::kernels::active_kernels().name);
  const auto weights = random_weights(out, in, dtype);
  const glimpse::TensorView view{dtype, 2, {out, in, 0, 0}, weights.data()};
  std::vector<float> x(static_cast<std::size_t>(n_rows * in), 0.5f), y(static_cast<std::size_t>(n_rows * out));
  for (auto _ : state) {
    glimpse::kernels::linear(pool(), x.data(), n_rows, view, nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  glimpse::kernels::set_active_isa(previous);
  const double flops = 2.0 * static_cast<double>(n_rows * out * in);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_GB/s"] = benchmark::Counter(static_cast<double>(view.nbytes()) * 1e-9,
                                                     benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Linear)
    ->ArgsProduct({{1}, {4096, 11008}, {4096}, {1, 2, 3, 4}, {-1}})
    ->ArgsProduct({{64}, {4096, 11008}, {4096}, {1, 2, 3, 4}, {-1}})
    ->ArgsProduct({{1, 64}, {4096}, {4096}, {1, 3, 4}, {0, 1}})
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
