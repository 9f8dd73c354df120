// Attention with an online softmax over tiles of key/value rows, in the manner of FlashAttention.
// Each query keeps a running maximum, a running sum of exponentials and a head_dim accumulator.
// When a tile raises the maximum, the sum and the accumulator are rescaled by exp(old - new), so
// scratch memory depends on the tile size, the block size and the thread count, never on the
// number of positions.
//
// Work is split into jobs of (kv head, block of query tokens). One job runs every query head that
// shares the kv head, so each tile of keys and values comes from memory once per group and is
// reused from cache by the other heads. An f16 tile that several queries read is converted to
// float32 once per job. When there are fewer jobs than threads, as in a decode step, each job's
// rows are also split into ranges whose partial states are merged at the end.
//
// Jobs of many queries over at most kMatrixMaxRows rows skip the tiles. That covers the vision
// tower's 577 positions and prompts of up to that length. The scores of all the job's queries
// and rows are one matrix product, the softmax runs over whole rows, and a second product with
// the transposed values gives the outputs. Both products use the GEMM of the kernel table in
// use, which runs near the FMA peak where the per-query dot products of the tile loop do not.
//
// The AVX2/FMA/F16C path of the tile loop is chosen at compile time, with a portable fallback.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "glimpse/kernels.h"
#include "kernels/isa.h"
#include "kernels/simd_math.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define GLIMPSE_ATTENTION_AVX2 1
#endif

namespace glimpse::kernels {
namespace {

// Query vectors (tokens x heads of one group) per job. 64 accumulators of 128 floats take 32 KiB.
constexpr std::int64_t kQueriesPerJob = 64;

// The largest row count of a job that takes the matrix path, and the fewest queries. The score
// matrix of a job is then at most 64 x 1024 floats (256 KiB).
constexpr std::int64_t kMatrixMaxRows = 1024;
constexpr std::int64_t kMatrixMinQueries = 12;

// Key rows per tile: 8 KiB of float32 keys (32 rows of 64, 16 rows of 128), between 16 and 256
// rows. A key tile and a value tile then stay in a 32 KiB L1 data cache while every query of the
// group reads them. In glimpse_bench_kernels on a 2-core AMD EPYC VM, 8 KiB tiles ran the
// grouped-query shapes about 1.2 times as fast as 32 KiB tiles.
std::int64_t tile_rows_for(std::int64_t head_dim) {
  return std::clamp<std::int64_t>(2048 / std::max<std::int64_t>(head_dim, 1), 16, 256);
}

// ---- element access ----------------------------------------------------------------------------

inline float to_float(float value) { return value; }
inline float to_float(std::uint16_t bits) { return f16_to_f32(bits); }

#ifdef GLIMPSE_ATTENTION_AVX2
inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load8(const std::uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

float horizontal_sum(__m256 v) {
  const __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
  return _mm_cvtss_f32(_mm_add_ss(sum2, _mm_shuffle_ps(sum2, sum2, 1)));
}

// Returns the 8 horizontal sums of acc[0..7], lane r holding the sum of acc[r].
__m256 horizontal_sums8(const __m256 acc[8]) {
  const __m256 s01 = _mm256_hadd_ps(acc[0], acc[1]);
  const __m256 s23 = _mm256_hadd_ps(acc[2], acc[3]);
  const __m256 s45 = _mm256_hadd_ps(acc[4], acc[5]);
  const __m256 s67 = _mm256_hadd_ps(acc[6], acc[7]);
  // Each 128-bit lane now contains the partial sums of rows 0-3 (low) or 4-7 (high), by half.
  const __m256 s0123 = _mm256_hadd_ps(s01, s23);
  const __m256 s4567 = _mm256_hadd_ps(s45, s67);
  return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

#endif

// ---- primitives --------------------------------------------------------------------------------

// Returns q · row over n elements; row is float32 or f16 bits.
template <typename T>
float dot_row(const float* q, const T* row, std::int64_t n) {
  std::int64_t d = 0;
#ifdef GLIMPSE_ATTENTION_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; d + 16 <= n; d += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8(row + d), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), load8(row + d + 8), acc1);
  }
  for (; d + 8 <= n; d += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8(row + d), acc0);
  float total = horizontal_sum(_mm256_add_ps(acc0, acc1));
#else
  float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (; d + 8 <= n; d += 8) {
    for (int j = 0; j < 8; ++j) partial[j] += q[d + j] * to_float(row[d + j]);
  }
  float total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
                ((partial[4] + partial[5]) + (partial[6] + partial[7]));
#endif
  for (; d < n; ++d) total += q[d] * to_float(row[d]);
  return total;
}

// scores[j] = scale * (q · rows[j]) for n_rows consecutive rows of head_dim elements, one row
// after another. Use it for rows read from memory: the hardware prefetchers follow this order.
template <typename T>
void score_rows_streaming(const float* q, const T* rows, std::int64_t n_rows, std::int64_t head_dim, float scale,
                          float* scores) {
  for (std::int64_t j = 0; j < n_rows; ++j) scores[j] = scale * dot_row(q, rows + j * head_dim, head_dim);
}

// The same scores for rows already in cache. The AVX2 path takes 8 rows at a time, so each query
// vector load feeds 8 FMAs. On rows read from memory it is slower, because the hardware
// prefetchers do not follow 8 interleaved rows. In glimpse_bench_kernels on a 2-core AMD EPYC VM
// (7B decode shape, 2048 positions), it took about 5 ms where score_rows_streaming took 3 ms.
template <typename T>
void score_rows_cached(const float* q, const T* rows, std::int64_t n_rows, std::int64_t head_dim, float scale,
                       float* scores) {
  std::int64_t j = 0;
#ifdef GLIMPSE_ATTENTION_AVX2
  if (head_dim % 8 == 0) {
    for (; j + 8 <= n_rows; j += 8) {
      const T* block = rows + j * head_dim;
      __m256 acc[8];
      for (auto& a : acc) a = _mm256_setzero_ps();
      for (std::int64_t d = 0; d < head_dim; d += 8) {
        const __m256 qv = _mm256_loadu_ps(q + d);
        for (int r = 0; r < 8; ++r) acc[r] = _mm256_fmadd_ps(qv, load8(block + r * head_dim + d), acc[r]);
      }
      _mm256_storeu_ps(scores + j, _mm256_mul_ps(horizontal_sums8(acc), _mm256_set1_ps(scale)));
    }
  }
#endif
  for (; j < n_rows; ++j) scores[j] = scale * dot_row(q, rows + j * head_dim, head_dim);
}

float max_of(const float* x, std::int64_t n) {
  float result = -std::numeric_limits<float>::infinity();
  for (std::int64_t i = 0; i < n; ++i) result = std::max(result, x[i]);
  return result;
}

// x[i] = exp(x[i] - shift) for i < n; returns the sum of the new values.
float exp_and_sum(float* x, std::int64_t n, float shift) {
  std::int64_t i = 0;
  float total = 0.0f;
#ifdef GLIMPSE_ATTENTION_AVX2
  const __m256 shift8 = _mm256_set1_ps(shift);
  __m256 sum = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), shift8));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  total = horizontal_sum(sum);
#endif
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - shift);
    total += x[i];
  }
  return total;
}

// acc[d] *= factor for d < n.
void rescale_row(float* acc, std::int64_t n, float factor) {
  std::int64_t d = 0;
#ifdef GLIMPSE_ATTENTION_AVX2
  const __m256 factor8 = _mm256_set1_ps(factor);
  for (; d + 8 <= n; d += 8) _mm256_storeu_ps(acc + d, _mm256_mul_ps(_mm256_loadu_ps(acc + d), factor8));
#endif
  for (; d < n; ++d) acc[d] *= factor;
}

// acc[d] += p * row[d] for d < n; row is float32 or f16 bits.
template <typename T>
void add_scaled_row(float p, const T* row, std::int64_t n, float* acc) {
  std::int64_t d = 0;
#ifdef GLIMPSE_ATTENTION_AVX2
  const __m256 p8 = _mm256_set1_ps(p);
  for (; d + 8 <= n; d += 8) {
    _mm256_storeu_ps(acc + d, _mm256_fmadd_ps(p8, load8(row + d), _mm256_loadu_ps(acc + d)));
  }
#endif
  for (; d < n; ++d) acc[d] += p * to_float(row[d]);
}

// acc[d] += sum over j < n_rows of p[j] * rows[j][d], for d < head_dim. The AVX2 path keeps up
// to 64 accumulator lanes in registers across all rows, so acc is loaded and stored once.
template <typename T>
void add_weighted_rows(const float* p, const T* rows, std::int64_t n_rows, std::int64_t head_dim, float* acc) {
#ifdef GLIMPSE_ATTENTION_AVX2
  if (head_dim % 8 == 0) {
    std::int64_t d = 0;
    for (; d + 64 <= head_dim; d += 64) {
      __m256 a[8];
      for (int k = 0; k < 8; ++k) a[k] = _mm256_loadu_ps(acc + d + 8 * k);
      for (std::int64_t j = 0; j < n_rows; ++j) {
        const __m256 pj = _mm256_set1_ps(p[j]);
        const T* row = rows + j * head_dim + d;
        for (int k = 0; k < 8; ++k) a[k] = _mm256_fmadd_ps(pj, load8(row + 8 * k), a[k]);
      }
      for (int k = 0; k < 8; ++k) _mm256_storeu_ps(acc + d + 8 * k, a[k]);
    }
    for (; d < head_dim; d += 8) {
      // Two accumulators over alternate rows halve the FMA dependency chain.
      __m256 even = _mm256_loadu_ps(acc + d);
      __m256 odd = _mm256_setzero_ps();
      std::int64_t j = 0;
      for (; j + 2 <= n_rows; j += 2) {
        even = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), load8(rows + j * head_dim + d), even);
        odd = _mm256_fmadd_ps(_mm256_set1_ps(p[j + 1]), load8(rows + (j + 1) * head_dim + d), odd);
      }
      if (j < n_rows) even = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), load8(rows + j * head_dim + d), even);
      _mm256_storeu_ps(acc + d, _mm256_add_ps(even, odd));
    }
    return;
  }
#endif
  for (std::int64_t j = 0; j < n_rows; ++j) add_scaled_row(p[j], rows + j * head_dim, head_dim, acc);
}

void f16_row_to_f32(const std::uint16_t* in, std::int64_t n, float* out) {
  std::int64_t i = 0;
#ifdef GLIMPSE_ATTENTION_AVX2
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load8(in + i));
#endif
  for (; i < n; ++i) out[i] = f16_to_f32(in[i]);
}

// In a decode step the cache rows of a layer were last read a whole step earlier, so they come
// from memory, and a few short runs of rows give the hardware prefetchers little to follow.
// prefetch_rows() therefore requests all the cache lines of a small job into L2 up front, where
// 256 KiB fit and L1 is too small. The memory system then fetches them in parallel.
constexpr std::int64_t kPrefetchAllBytes = 256 * 1024;

void prefetch_rows(const void* keys, const void* values, std::int64_t bytes) {
  if (bytes <= 0 || bytes > kPrefetchAllBytes) return;
  for (std::int64_t offset = 0; offset < bytes; offset += 64) {
    __builtin_prefetch(static_cast<const char*>(keys) + offset, 0, 2);
    __builtin_prefetch(static_cast<const char*>(values) + offset, 0, 2);
  }
}

// ---- jobs --------------------------------------------------------------------------------------

// Scratch of one thread, sized by the job and tile shapes only (and by kMatrixMaxRows).
struct Scratch {
  std::vector<float> queries;      // matrix path: [queries][head_dim]
  std::vector<float> matrix_keys;  // matrix path: f16 keys as float, [rows][head_dim]
  std::vector<float> values_t;     // matrix path: values transposed, [head_dim][rows]
  std::vector<float> probs;        // matrix path: [queries][rows]
  std::vector<float> outputs;      // matrix path: [queries][head_dim]
  std::vector<float> inv_sums;     // matrix path: [queries]
  std::vector<float> acc;
  std::vector<float> max_score;
  std::vector<double> sum;
  std::vector<float> scores;      // [tile_rows]
  std::vector<float> key_tile;    // [tile_rows][head_dim], f16 keys converted once per job
  std::vector<float> value_tile;
};

// Running softmax states of the queries of one job, in caller-owned memory: per query, the
// maximum of scale * q·k, the sum of exp(score - maximum) and a head_dim accumulator.
struct QueryStates {
  float* acc;        // [queries][head_dim]
  float* max_score;  // [queries]
  double* sum;       // [queries]
};

// One unit of work: query tokens [t_begin, t_end) of every head in kv head `kv_head`'s group,
// against key/value rows [row_begin, row_end) as far as those tokens see them.
struct Job {
  std::int64_t kv_head = 0;
  std::int64_t t_begin = 0;
  std::int64_t t_end = 0;
  std::int64_t row_begin = 0;
  std::int64_t row_end = 0;
};

// Returns the number of rows visible to query token t, which reads rows 0..result-1.
std::int64_t visible_rows(const AttentionShape& shape, std::int64_t t) {
  return shape.causal ? shape.start_pos + t + 1 : shape.n_kv_rows;
}

std::int64_t group_size(const AttentionShape& shape) { return shape.n_heads / shape.n_kv_heads; }

// Returns the offset in q and out of query vector i of a job: token t_begin + i / group, head
// kv_head * group + i % group.
std::int64_t query_offset(const AttentionShape& shape, const Job& job, std::int64_t i) {
  const std::int64_t group = group_size(shape);
  return ((job.t_begin + i / group) * shape.n_heads + job.kv_head * group + i % group) * shape.head_dim;
}

void clear_states(const QueryStates& states, std::int64_t n_queries, std::int64_t head_dim) {
  std::fill(states.acc, states.acc + n_queries * head_dim, 0.0f);
  std::fill(states.max_score, states.max_score + n_queries, -std::numeric_limits<float>::infinity());
  std::fill(states.sum, states.sum + n_queries, 0.0);
}

// Folds n_rows key/value rows into one query's running state. `keys_cached` is true when an
// earlier query of the job has just read these keys.
template <typename T>
void update_query(const float* query, const T* keys, const T* values, std::int64_t n_rows, std::int64_t head_dim,
                  float scale, bool keys_cached, float* scores, float& max_score, double& sum, float* acc) {
  if (keys_cached) {
    score_rows_cached(query, keys, n_rows, head_dim, scale, scores);
  } else {
    score_rows_streaming(query, keys, n_rows, head_dim, scale, scores);
  }
  const float tile_max = max_of(scores, n_rows);
  if (tile_max > max_score) {
    // Terms summed so far were exp(s - old max); they become exp(s - new max). Before the
    // first tile the state is empty (max -inf), so there is nothing to rescale.
    if (max_score != -std::numeric_limits<float>::infinity()) {
      const float correction = std::exp(max_score - tile_max);
      rescale_row(acc, head_dim, correction);
      sum *= correction;
    }
    max_score = tile_max;
  }
  sum += exp_and_sum(scores, n_rows, max_score);
  add_weighted_rows(scores, values, n_rows, head_dim, acc);
}

// Folds the job's rows, tile by tile, into `states`.
template <typename T>
void run_job(const float* q, const T* keys, const T* values, std::int64_t head_stride, const AttentionShape& shape,
             const Job& job, Scratch& scratch, const QueryStates& states) {
  const std::int64_t group = group_size(shape);
  const std::int64_t head_dim = shape.head_dim;
  const std::int64_t tile_rows = tile_rows_for(head_dim);
  const std::int64_t n_queries = (job.t_end - job.t_begin) * group;
  const auto size = [](std::int64_t n) { return static_cast<std::size_t>(n); };
  scratch.scores.resize(size(tile_rows));
  keys += job.kv_head * head_stride;
  values += job.kv_head * head_stride;

  // The last token of the block has the most visible rows. No row at or past rows_end is read.
  const std::int64_t rows_end = std::min(job.row_end, visible_rows(shape, job.t_end - 1));
  prefetch_rows(keys + job.row_begin * head_dim, values + job.row_begin * head_dim,
                (rows_end - job.row_begin) * head_dim * static_cast<std::int64_t>(sizeof(T)));
  for (std::int64_t tile_begin = job.row_begin; tile_begin < rows_end; tile_begin += tile_rows) {
    const std::int64_t tile_end = std::min(rows_end, tile_begin + tile_rows);
    const auto fold_tile = [&](const auto* tile_keys, const auto* tile_values, bool tile_cached) {
      for (std::int64_t i = 0; i < n_queries; ++i) {
        const std::int64_t n_rows = std::min(tile_end, visible_rows(shape, job.t_begin + i / group)) - tile_begin;
        if (n_rows <= 0) continue;
        update_query(q + query_offset(shape, job, i), tile_keys, tile_values, n_rows, head_dim, shape.scale,
                     tile_cached || i > 0, scratch.scores.data(), states.max_score[i], states.sum[i],
                     states.acc + i * head_dim);
      }
    };
    const T* tile_keys = keys + tile_begin * head_dim;
    const T* tile_values = values + tile_begin * head_dim;
    if constexpr (std::is_same_v<T, std::uint16_t>) {
      if (n_queries > 1) {
        // Several queries read this tile: convert it to float32 once instead of once per query.
        const std::int64_t count = (tile_end - tile_begin) * head_dim;
        scratch.key_tile.resize(size(count));
        scratch.value_tile.resize(size(count));
        f16_row_to_f32(tile_keys, count, scratch.key_tile.data());
        f16_row_to_f32(tile_values, count, scratch.value_tile.data());
        fold_tile(scratch.key_tile.data(), scratch.value_tile.data(), true);
        continue;
      }
    }
    fold_tile(tile_keys, tile_values, false);
  }
}

void run_job(const float* q, const KvLayout& kv, const AttentionShape& shape, const Job& job, Scratch& scratch,
             const QueryStates& states) {
  if (kv.dtype == DType::kF16) {
    run_job(q, static_cast<const std::uint16_t*>(kv.keys), static_cast<const std::uint16_t*>(kv.values),
            kv.head_stride, shape, job, scratch, states);
  } else {
    run_job(q, static_cast<const float*>(kv.keys), static_cast<const float*>(kv.values), kv.head_stride, shape, job,
            scratch, states);
  }
}

// The whole job as two matrix products (see the top of the file). Writes the outputs directly.
template <typename T>
void run_job_matrix(const float* q, const T* keys, const T* values, std::int64_t head_stride,
                    const AttentionShape& shape, const Job& job, Scratch& scratch, float* out) {
  const std::int64_t group = group_size(shape);
  const std::int64_t head_dim = shape.head_dim;
  const std::int64_t n_queries = (job.t_end - job.t_begin) * group;
  const std::int64_t rows = visible_rows(shape, job.t_end - 1);
  const auto size = [](std::int64_t n) { return static_cast<std::size_t>(n); };
  keys += job.kv_head * head_stride;
  values += job.kv_head * head_stride;

  scratch.queries.resize(size(n_queries * head_dim));
  for (std::int64_t i = 0; i < n_queries; ++i) {
    std::copy_n(q + query_offset(shape, job, i), head_dim, scratch.queries.data() + i * head_dim);
  }
  const float* key_rows = nullptr;
  if constexpr (std::is_same_v<T, std::uint16_t>) {
    scratch.matrix_keys.resize(size(rows * head_dim));
    f16_row_to_f32(keys, rows * head_dim, scratch.matrix_keys.data());
    key_rows = scratch.matrix_keys.data();
  } else {
    key_rows = keys;
  }
  scratch.values_t.resize(size(head_dim * rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t d = 0; d < head_dim; ++d) scratch.values_t[size(d * rows + r)] = to_float(values[r * head_dim + d]);
  }

  const IsaKernels& isa = active_kernels();
  scratch.probs.resize(size(n_queries * rows));
  isa.matmul_f32(key_rows, rows, head_dim, scratch.queries.data(), n_queries, scratch.probs.data(), rows);
  std::vector<float>& inv_sums = scratch.inv_sums;
  inv_sums.resize(size(n_queries));
  for (std::int64_t i = 0; i < n_queries; ++i) {
    float* p = scratch.probs.data() + i * rows;
    const std::int64_t visible = std::min(rows, visible_rows(shape, job.t_begin + i / group));
    for (std::int64_t r = 0; r < visible; ++r) p[r] *= shape.scale;
    const float max_score = max_of(p, visible);
    const float sum = visible > 0 ? exp_and_sum(p, visible, max_score) : 0.0f;
    std::fill(p + visible, p + rows, 0.0f);
    inv_sums[size(i)] = sum > 0.0f ? 1.0f / sum : 0.0f;
  }
  scratch.outputs.resize(size(n_queries * head_dim));
  isa.matmul_f32(scratch.values_t.data(), head_dim, rows, scratch.probs.data(), n_queries, scratch.outputs.data(),
                 head_dim);
  for (std::int64_t i = 0; i < n_queries; ++i) {
    const float* o = scratch.outputs.data() + i * head_dim;
    float* dst = out + query_offset(shape, job, i);
    for (std::int64_t d = 0; d < head_dim; ++d) dst[d] = o[d] * inv_sums[size(i)];
  }
}

// Writes out = acc / sum for every query of the job. A query without visible rows (non-causal
// with n_kv_rows 0) gets zeros.
void write_outputs(const AttentionShape& shape, const Job& job, const QueryStates& states, float* out) {
  const std::int64_t n_queries = (job.t_end - job.t_begin) * group_size(shape);
  for (std::int64_t i = 0; i < n_queries; ++i) {
    const float inv_sum = states.sum[i] > 0.0 ? static_cast<float>(1.0 / states.sum[i]) : 0.0f;
    const float* acc = states.acc + i * shape.head_dim;
    float* dst = out + query_offset(shape, job, i);
    for (std::int64_t d = 0; d < shape.head_dim; ++d) dst[d] = acc[d] * inv_sum;
  }
}

// Combines the states of the same queries over disjoint row ranges into parts[0]: each part is
// rescaled from its own maximum to the largest one before the sums and accumulators are added.
void merge_states(const std::vector<QueryStates>& parts, std::int64_t n_queries, std::int64_t head_dim) {
  const QueryStates& merged = parts[0];
  for (std::size_t p = 1; p < parts.size(); ++p) {
    const QueryStates& part = parts[p];
    for (std::int64_t i = 0; i < n_queries; ++i) {
      if (part.sum[i] == 0.0) continue;  // no visible row in this part's range
      const float max_score = std::max(merged.max_score[i], part.max_score[i]);
      const float merged_scale =
          merged.sum[i] == 0.0 ? 0.0f : std::exp(merged.max_score[i] - max_score);
      const float part_scale = std::exp(part.max_score[i] - max_score);
      float* acc = merged.acc + i * head_dim;
      const float* part_acc = part.acc + i * head_dim;
      for (std::int64_t d = 0; d < head_dim; ++d) acc[d] = acc[d] * merged_scale + part_acc[d] * part_scale;
      merged.sum[i] = merged.sum[i] * merged_scale + part.sum[i] * part_scale;
      merged.max_score[i] = max_score;
    }
  }
}

}  // namespace

void attention(ThreadPool& pool, const float* q, const KvLayout& kv, const AttentionShape& shape, float* out) {
  assert(shape.n_kv_heads > 0);
  assert(shape.n_heads % shape.n_kv_heads == 0);
  assert(kv.dtype == DType::kF32 || kv.dtype == DType::kF16);
  if (shape.n_tokens <= 0) return;
  const std::int64_t group = group_size(shape);
  const std::int64_t head_dim = shape.head_dim;
  const std::int64_t block_tokens = std::max<std::int64_t>(1, kQueriesPerJob / group);
  const std::int64_t block_queries = block_tokens * group;
  const std::int64_t n_blocks = (shape.n_tokens + block_tokens - 1) / block_tokens;
  const std::int64_t n_jobs = n_blocks * shape.n_kv_heads;
  const std::int64_t max_rows = visible_rows(shape, shape.n_tokens - 1);

  // With fewer jobs than threads (a decode step has one per KV head), each job's rows are split
  // into ranges of whole tiles, and the partial states are merged afterwards.
  const std::int64_t tile_rows = tile_rows_for(head_dim);
  const std::int64_t n_tiles = (max_rows + tile_rows - 1) / tile_rows;
  std::int64_t n_splits = 1;
  if (n_jobs < pool.size()) {
    n_splits = std::clamp<std::int64_t>((pool.size() + n_jobs - 1) / n_jobs, 1, std::max<std::int64_t>(n_tiles, 1));
  }
  const std::int64_t split_rows = (n_tiles + n_splits - 1) / n_splits * tile_rows;

  const auto job_at = [&](std::int64_t index) {
    // Causal blocks late in the sequence see the most rows, so they are handed out first.
    Job job;
    const std::int64_t block = n_blocks - 1 - index / shape.n_kv_heads;
    job.kv_head = index % shape.n_kv_heads;
    job.t_begin = block * block_tokens;
    job.t_end = std::min(shape.n_tokens, job.t_begin + block_tokens);
    job.row_end = max_rows;
    return job;
  };

  if (n_splits == 1) {
    const std::int64_t job_queries = std::min(shape.n_tokens, block_tokens) * group;
    const bool matrix = max_rows > 0 && max_rows <= kMatrixMaxRows && job_queries >= kMatrixMinQueries;
    pool.parallel_for(n_jobs, 1, [&](std::int64_t begin, std::int64_t end) {
      thread_local Scratch scratch;
      for (std::int64_t index = begin; index < end; ++index) {
        const Job job = job_at(index);
        if (matrix) {
          if (kv.dtype == DType::kF16) {
            run_job_matrix(q, static_cast<const std::uint16_t*>(kv.keys), static_cast<const std::uint16_t*>(kv.values),
                           kv.head_stride, shape, job, scratch, out);
          } else {
            run_job_matrix(q, static_cast<const float*>(kv.keys), static_cast<const float*>(kv.values), kv.head_stride,
                           shape, job, scratch, out);
          }
          continue;
        }
        const std::int64_t n_queries = (job.t_end - job.t_begin) * group;
        scratch.acc.resize(static_cast<std::size_t>(n_queries * head_dim));
        scratch.max_score.resize(static_cast<std::size_t>(n_queries));
        scratch.sum.resize(static_cast<std::size_t>(n_queries));
        const QueryStates states{scratch.acc.data(), scratch.max_score.data(), scratch.sum.data()};
        clear_states(states, n_queries, head_dim);
        run_job(q, kv, shape, job, scratch, states);
        write_outputs(shape, job, states, out);
      }
    });
    return;
  }

  // One state slot per (job, split), at most about pool.size() of them, each for block_queries.
  const auto n_parts = static_cast<std::size_t>(n_jobs * n_splits);
  std::vector<float> acc(n_parts * static_cast<std::size_t>(block_queries * head_dim));
  std::vector<float> max_score(n_parts * static_cast<std::size_t>(block_queries));
  std::vector<double> sum(max_score.size());
  const auto states_at = [&](std::int64_t part) {
    return QueryStates{acc.data() + part * block_queries * head_dim, max_score.data() + part * block_queries,
                       sum.data() + part * block_queries};
  };
  pool.parallel_for(n_jobs * n_splits, 1, [&](std::int64_t begin, std::int64_t end) {
    thread_local Scratch scratch;
    for (std::int64_t part = begin; part < end; ++part) {
      Job job = job_at(part / n_splits);
      job.row_begin = (part % n_splits) * split_rows;
      job.row_end = std::min(max_rows, job.row_begin + split_rows);
      const QueryStates states = states_at(part);
      clear_states(states, (job.t_end - job.t_begin) * group, head_dim);
      run_job(q, kv, shape, job, scratch, states);
    }
  });
  for (std::int64_t index = 0; index < n_jobs; ++index) {
    const Job job = job_at(index);
    std::vector<QueryStates> parts;
    for (std::int64_t split = 0; split < n_splits; ++split) parts.push_back(states_at(index * n_splits + split));
    merge_states(parts, (job.t_end - job.t_begin) * group, head_dim);
    write_outputs(shape, job, parts[0], out);
  }
}

void f32_row_to_f16(const float* in, std::int64_t n, std::uint16_t* out) {
  std::int64_t i = 0;
#ifdef GLIMPSE_ATTENTION_AVX2
  for (; i + 8 <= n; i += 8) {
    const __m128i half = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), half);
  }
#endif
  for (; i < n; ++i) out[i] = f32_to_f16(in[i]);
}

}  // namespace glimpse::kernels
