// Throughput of the kernels that dominate a LLaVA forward pass, at LLaVA-1.5-7B's shapes:
// linear layers with f16, bf16, q8_0, q4_0, q4_K and q6_K weights (one row for decode, many rows for
// prefill), under the automatic kernel table and forced ones, and attention over a long cache
// (f32 and f16 caches, and TinyLlama's grouped-query shape). Counters report GFLOP/s and, for
// one-row linear, weight GB/s.
#include <benchmark/benchmark.h>

#include <cmath>
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
  if (dtype == glimpse::DType::kQ4_0x16 || dtype == glimpse::DType::kQ8_0x16 || dtype == glimpse::DType::kQ4_Kx16) {
    // The interleaved layouts that loading makes: quantize to the file type, then repack.
    const glimpse::DType stored = dtype == glimpse::DType::kQ4_0x16   ? glimpse::DType::kQ4_0
                                  : dtype == glimpse::DType::kQ8_0x16 ? glimpse::DType::kQ8_0
                                                                      : glimpse::DType::kQ4_K;
    std::vector<std::uint8_t> plain(glimpse::dtype_bytes(stored, out * in));
    glimpse::kernels::quantize_weight(pool(), source, stored, plain.data());
    const glimpse::TensorView view{stored, 2, {out, in, 0, 0}, plain.data()};
    if (stored == glimpse::DType::kQ4_0) {
      glimpse::kernels::repack_q4_0x16(pool(), view, bytes.data());
    } else if (stored == glimpse::DType::kQ8_0) {
      glimpse::kernels::repack_q8_0x16(pool(), view, bytes.data());
    } else {
      glimpse::kernels::repack_q4_Kx16(pool(), view, bytes.data());
    }
    return bytes;
  }
  if (glimpse::dtype_is_quantized(dtype)) {
    glimpse::kernels::quantize_weight(pool(), source, dtype, bytes.data());
    return bytes;
  }
  if (dtype == glimpse::DType::kF32) {
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
  }
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::uint16_t bits = dtype == glimpse::DType::kF16 ? glimpse::f32_to_f16(values[i]) : glimpse::f32_to_bf16(values[i]);
    std::memcpy(bytes.data() + 2 * i, &bits, 2);
  }
  return bytes;
}

// Arguments: rows of x, output features, input features, dtype (glimpse::DType: 0 f32, 1 f16,
// 2 bf16, 3 q8_0, 4 q4_0, 5 q4_0x16, 6 q8_0x16, 7 q4_K, 8 q6_K, 9 q4_Kx16), kernel table (-1 the automatic choice, else
// kernels::Isa: 0 portable, 1 avx2, 2 avx512, 3 amx). The interleaved types need a table that has
// their kernel (avx512 or amx).
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
    ->ArgsProduct({{1}, {4096, 11008}, {4096}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {-1}})
    ->ArgsProduct({{64}, {4096, 11008}, {4096}, {1, 2, 3, 4}, {-1}})
    ->ArgsProduct({{1, 64}, {4096}, {4096}, {1, 3, 4}, {0, 1}})
    // TinyLlama-1.1B's decode shapes: attention (2048 and 256 rows), MLP, and down projection.
    ->ArgsProduct({{1}, {2048, 256, 5632}, {2048}, {1, 3, 4, 5, 6}, {-1}})
    ->ArgsProduct({{1}, {2048}, {5632}, {1, 3, 4, 5, 6}, {-1}})
    // LLaVA-1.5-7B's down projection in f16. The AVX-512 kernels take its long rows four at a time.
    ->ArgsProduct({{1}, {4096}, {11008}, {1}, {-1}})
    // A prefill of the LLaVA prompt (600 positions) at the 7B attention shape.
    ->ArgsProduct({{600}, {4096}, {4096}, {0, 1, 3, 4, 5, 6, 7, 8, 9}, {-1}})
    // The interleaved types' prompt kernels with vpdpbusd and with AMX tiles.
    ->ArgsProduct({{600}, {4096}, {4096}, {5, 6, 9}, {2, 3}})
    // Float weights with AVX-512 FMAs and with AMX-BF16 tiles.
    ->ArgsProduct({{600}, {4096}, {4096}, {0, 1, 2}, {2, 3}})
    // The vision tower's products (CLIP ViT-L/14-336: 577 positions, 1024 wide, MLP 4096).
    ->ArgsProduct({{577}, {1024, 4096}, {1024}, {1}, {2, 3}})
    ->ArgsProduct({{577}, {1024}, {4096}, {1}, {2, 3}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Keys and values of `kv_heads` heads, `capacity` rows of `head_dim`, stored as float32 or as
// f16 bits, in the KvLayout order.
struct CacheRows {
  std::vector<float> keys_f32, values_f32;
  std::vector<std::uint16_t> keys_f16, values_f16;
  glimpse::kernels::KvLayout layout;
};

CacheRows random_cache(std::int64_t kv_heads, std::int64_t capacity, std::int64_t head_dim, glimpse::DType dtype) {
  std::mt19937 rng(2);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  CacheRows rows;
  const auto count = static_cast<std::size_t>(kv_heads * capacity * head_dim);
  for (auto* values : {&rows.keys_f32, &rows.values_f32}) {
    values->resize(count);
    for (float& v : *values) v = dist(rng);
  }
  rows.layout.head_stride = capacity * head_dim;
  rows.layout.dtype = dtype;
  if (dtype == glimpse::DType::kF16) {
    for (float v : rows.keys_f32) rows.keys_f16.push_back(glimpse::f32_to_f16(v));
    for (float v : rows.values_f32) rows.values_f16.push_back(glimpse::f32_to_f16(v));
    rows.layout.keys = rows.keys_f16.data();
    rows.layout.values = rows.values_f16.data();
  } else {
    rows.layout.keys = rows.keys_f32.data();
    rows.layout.values = rows.values_f32.data();
  }
  return rows;
}

// Times kernels::attention for `n_tokens` causal queries after `n_past` cached positions.
// Arguments: n_past or n_tokens (see the callers), query heads, KV heads, head_dim, and the
// cache dtype (0 = f32, 1 = f16). kv_GB/s counts the key and value bytes of the visible rows once.
void run_attention(benchmark::State& state, std::int64_t n_past, std::int64_t n_tokens) {
  const std::int64_t heads = state.range(1), kv_heads = state.range(2), head_dim = state.range(3);
  const auto dtype = state.range(4) == 1 ? glimpse::DType::kF16 : glimpse::DType::kF32;
  const std::int64_t capacity = n_past + n_tokens;
  const CacheRows cache = random_cache(kv_heads, capacity, head_dim, dtype);
  std::vector<float> q(static_cast<std::size_t>(n_tokens * heads * head_dim), 0.1f);
  std::vector<float> out(q.size());
  glimpse::kernels::AttentionShape shape;
  shape.n_tokens = n_tokens;
  shape.n_heads = heads;
  shape.n_kv_heads = kv_heads;
  shape.head_dim = head_dim;
  shape.start_pos = n_past;
  shape.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (auto _ : state) {
    glimpse::kernels::attention(pool(), q.data(), cache.layout, shape, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  const double kv_bytes = 2.0 * static_cast<double>(kv_heads * capacity * head_dim) * static_cast<double>(glimpse::dtype_bytes(dtype, 1));
  state.counters["kv_GB/s"] = benchmark::Counter(kv_bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// One query token (a decode step); the first argument is the number of cached positions.
void BM_AttentionDecode(benchmark::State& state) { run_attention(state, state.range(0), 1); }
// 32 heads of 128 (LLaVA-1.5-7B), then 32 query heads over 4 KV heads of 64 (TinyLlama-1.1B).
BENCHMARK(BM_AttentionDecode)
    ->ArgNames({"past", "heads", "kv_heads", "dim", "f16"})
    ->Args({16, 32, 32, 128, 0})
    ->Args({512, 32, 32, 128, 0})
    ->Args({2048, 32, 32, 128, 0})
    ->Args({512, 32, 32, 128, 1})
    ->Args({2048, 32, 32, 128, 1})
    ->Args({16, 32, 4, 64, 0})
    ->Args({64, 32, 4, 64, 0})
    ->Args({512, 32, 4, 64, 0})
    ->Args({2048, 32, 4, 64, 0})
    ->Args({4096, 32, 4, 64, 0})
    ->Args({512, 32, 4, 64, 1})
    ->Args({2048, 32, 4, 64, 1})
    ->Args({4096, 32, 4, 64, 1})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// A causal prefill into an empty cache; the first argument is the number of query tokens.
void BM_AttentionPrefill(benchmark::State& state) { run_attention(state, 0, state.range(0)); }
BENCHMARK(BM_AttentionPrefill)
    ->ArgNames({"tokens", "heads", "kv_heads", "dim", "f16"})
    ->Args({600, 32, 32, 128, 0})
    ->Args({600, 32, 4, 64, 0})
    ->Args({600, 32, 4, 64, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
