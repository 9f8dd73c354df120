// A LLaVA model (CLIP vision tower, MLP projector, LLaMA language model) loaded from a llava-hf
// folder, with its weights memory-mapped and read in their stored dtype.
//
// The numeric entry points take token ids and preprocessed pixel tensors, so the arithmetic can
// be checked apart from tokenizer and image decoding. Every method is const and thread-safe; a
// KvCache belongs to one conversation and must not be shared between threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "glimpse/llava_config.h"
#include "glimpse/status.h"
#include "glimpse/tensor.h"

namespace glimpse {

class ThreadPool;

inline constexpr int kMaxThreads = 1024;

struct LoadOptions {
  int n_threads = 0;  // 0: one per hardware thread; at most kMaxThreads
  // Quantize the language model's linear weights (attention, MLP and lm_head) to Q8_0 or Q4_0
  // while loading. The vision tower, projector, embeddings and norms keep their stored type.
  std::optional<DType> quantize;
  // Copy the language model's linear weights that stay in a float type (F32, F16, BF16) out of
  // the file mapping into 2 MiB huge-page memory, dropping the mapped pages. Decoding reads every
  // such weight once per token, and from huge pages it needs far fewer TLB entries. That pays
  // where TLB misses are costly, as under a hypervisor. Loading takes longer, and the copy is
  // anonymous memory that the kernel cannot page out and read back from the file.
  bool copy_weights = false;
  // Element type of the caches from new_kv_cache: kF32, or kF16 (IEEE half) for half the memory
  // and bandwidth, at the cost of rounding each key and value to 11 significant bits.
  DType kv_cache_type = DType::kF32;
};

// Work that loading did beyond mapping the files.
struct LoadReport {
  std::string kernels;              // the kernel table in use, e.g. "avx512"
  std::optional<DType> quantized;   // set when LoadOptions::quantize was
  int n_quantized = 0;              // tensors quantized
  int n_kept = 0;                   // linear weights left as stored (rows not whole blocks)
  std::size_t bytes_before = 0;     // stored bytes of the quantized tensors
  std::size_t bytes_after = 0;      // their bytes after quantization
  double seconds = 0.0;             // time spent quantizing
  int n_repacked = 0;               // Q4_0, Q8_0 and Q4_K weights moved to interleaved layouts
  int n_copied = 0;                 // float weights copied into huge-page memory (copy_weights)
  std::size_t bytes_copied = 0;
};

// Keys and values of every language-model layer for one sequence, reserved once for
// `capacity` positions. Layout per layer: [n_kv_heads][capacity][head_dim] of float32 (kF32) or
// IEEE half bits as std::uint16_t (kF16). The buffer comes from calloc, so the operating system
// commits its pages only as positions are written.
class KvCache {
 public:
  // Fails with kInvalidArgument for a size that is not positive or a dtype other than kF32 and
  // kF16, and with kOutOfRange when the buffer cannot be allocated.
  static Result<KvCache> create(std::int64_t n_layers, std::int64_t n_kv_heads,
                                std::int64_t head_dim, std::int64_t capacity,
                                DType dtype = DType::kF32);

  std::int64_t capacity() const { return capacity_; }
  std::int64_t n_layers() const { return n_layers_; }
  std::int64_t row_width() const { return n_kv_heads_ * head_dim_; }
  DType dtype() const { return dtype_; }
  // Positions 0..n_valid()-1 hold keys and values. A forward call at start position p needs
  // p <= n_valid() and leaves n_valid() = p + n_tokens, so a smaller p rewinds the sequence.
  std::int64_t n_valid() const { return n_valid_; }
  void clear() { n_valid_ = 0; }
  // Bytes reserved for keys and values.
  std::size_t bytes() const;

  // Called by every forward call with its start position and token count, when set; tests use
  // it to check what the generation loop feeds.
  std::function<void(std::int64_t start_pos, std::int64_t n_tokens)> on_forward;

  // Raw storage of one layer's keys or values, [n_kv_heads][capacity][head_dim] elements of
  // dtype(): cast to float* for kF32 and to std::uint16_t* for kF16.
  void* keys(std::int64_t layer) { return bytes_at(layer * 2 * layer_stride_); }
  void* values(std::int64_t layer) { return bytes_at((layer * 2 + 1) * layer_stride_); }
  void set_n_valid(std::int64_t n) { n_valid_ = n; }

 private:
  struct FreeDeleter {
    void operator()(void* p) const;
  };
  KvCache() = default;
  void* bytes_at(std::int64_t element) {
    return static_cast<char*>(storage_.get()) + static_cast<std::size_t>(element) * dtype_info(dtype_).block_bytes;
  }

  std::int64_t n_layers_ = 0;
  std::int64_t n_kv_heads_ = 0;
  std::int64_t head_dim_ = 0;
  std::int64_t capacity_ = 0;
  DType dtype_ = DType::kF32;
  std::int64_t layer_stride_ = 0;  // elements of one layer's keys (or values)
  std::int64_t n_valid_ = 0;
  std::unique_ptr<void, FreeDeleter> storage_;
};

// The positions of a forward call that produce logits.
enum class LogitsMode { kNone, kLast, kAll };

// A preprocessed image: float32 [n_channels, image_size, image_size], channel-major (CHW),
// already rescaled and normalized.
struct PixelTensor {
  std::span<const float> values;
};

class LlavaModel {
 public:
  // Loads config.json and the safetensors weights of a llava-hf model folder.
  static Result<std::unique_ptr<LlavaModel>> load(const std::string& folder,
                                                  const LoadOptions& options = {});
  ~LlavaModel();
  LlavaModel(const LlavaModel&) = delete;
  LlavaModel& operator=(const LlavaModel&) = delete;

  const LlavaConfig& config() const;
  const std::string& folder() const;
  const LoadReport& load_report() const;
  ThreadPool& thread_pool() const;

  // A cache for `capacity` positions of LoadOptions::kv_cache_type; 0 means
  // max_position_embeddings.
  Result<KvCache> new_kv_cache(std::int64_t capacity = 0) const;

  // The CLIP hidden state chosen by vision_feature_layer, after the feature selection strategy:
  // [image_features_per_image, vision hidden_size].
  Result<std::vector<float>> vision_hidden_state(const PixelTensor& pixels) const;
  // The projector output for one image: [image_features_per_image, text hidden_size].
  Result<std::vector<float>> encode_image(const PixelTensor& pixels) const;

  // Token embedding rows for `ids`, with no special meaning for image_token_index:
  // [ids.size(), text hidden_size].
  Result<std::vector<float>> embed_tokens(std::span<const std::int32_t> ids) const;

  // Token embeddings for `ids`, with the rows of `image_features` (all images' features in
  // order, [n, text hidden_size]) written over the positions whose id is image_token_index.
  Result<std::vector<float>> embed_prompt(std::span<const std::int32_t> ids,
                                          std::span<const float> image_features) const;

  // Runs the language model over embeddings [n_tokens, hidden_size] at positions
  // start_pos..start_pos+n_tokens-1, writing those rows of `cache` and attending to rows
  // 0..start_pos+n_tokens-1. Returns [1 or n_tokens or 0, vocab_size] logits per `mode`.
  Result<std::vector<float>> forward(std::span<const float> embeddings, std::int64_t start_pos,
                                     KvCache& cache, LogitsMode mode) const;

  // The whole pipeline from ids and pixels: encodes each image, splices the features in, and
  // runs one forward call at position 0 in a fresh cache.
  Result<std::vector<float>> logits(std::span<const std::int32_t> ids,
                                    std::span<const PixelTensor> images, LogitsMode mode) const;

 private:
  struct Impl;
  explicit LlavaModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace glimpse
