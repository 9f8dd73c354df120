// LLaVA composition (transformers' LlavaForConditionalGeneration): vision tower, projector and
// language model, with the image features written over the <image> token embeddings.
#include "glimpse/llava.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "glimpse/kernels.h"
#include "glimpse/log.h"
#include "glimpse/safetensors.h"
#include "glimpse/thread_pool.h"
#include "models/clip.h"
#include "models/llama.h"
#include "models/weights.h"

namespace glimpse {

// KvCache

void KvCache::FreeDeleter::operator()(void* p) const { std::free(p); }

Result<KvCache> KvCache::create(std::int64_t n_layers, std::int64_t n_kv_heads, std::int64_t head_dim,
                                std::int64_t capacity, DType dtype) {
  if (n_layers <= 0 || n_kv_heads <= 0 || head_dim <= 0 || capacity <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "KV cache sizes must be positive (capacity " +
                                                       std::to_string(capacity) + ")");
  }
  if (dtype != DType::kF32 && dtype != DType::kF16) {
    return make_error(ErrorCode::kInvalidArgument, "KV cache type " + std::string(dtype_name(dtype)) +
                                                       " is not supported; use F32 or F16");
  }
  const std::size_t element_size = dtype_info(dtype).block_bytes;
  std::int64_t layer_stride = 0;
  std::int64_t total = 0;
  if (__builtin_mul_overflow(n_kv_heads * head_dim, capacity, &layer_stride) ||
      __builtin_mul_overflow(layer_stride, 2 * n_layers, &total) ||
      total > static_cast<std::int64_t>(SIZE_MAX / element_size)) {
    return make_error(ErrorCode::kOutOfRange, "a KV cache of " + std::to_string(capacity) +
                                                  " positions overflows the address space");
  }
  KvCache cache;
  cache.n_layers_ = n_layers;
  cache.n_kv_heads_ = n_kv_heads;
  cache.head_dim_ = head_dim;
  cache.capacity_ = capacity;
  cache.dtype_ = dtype;
  cache.layer_stride_ = layer_stride;
  cache.storage_.reset(std::calloc(static_cast<std::size_t>(total), element_size));
  if (!cache.storage_) {
    const std::size_t mib = static_cast<std::size_t>(total) * element_size >> 20;
    return make_error(ErrorCode::kOutOfRange,
                      "cannot reserve " + std::to_string(mib) + " MiB for a KV cache of " +
                          std::to_string(capacity) + " positions; request a smaller context length");
  }
  return cache;
}

std::size_t KvCache::bytes() const {
  return static_cast<std::size_t>(layer_stride_ * 2 * n_layers_) * dtype_info(dtype_).block_bytes;
}

// LlavaModel

struct LlavaModel::Impl {
  std::string folder;
  LlavaConfig config;
  SafetensorsModel files;
  std::unique_ptr<ThreadPool> pool;
  DType kv_cache_type = DType::kF32;
  std::optional<ClipVisionTower> vision;
  std::optional<Projector> projector;
  std::optional<LlamaModel> language;
  LoadReport report;
};

LlavaModel::LlavaModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LlavaModel::~LlavaModel() = default;

Result<std::unique_ptr<LlavaModel>> LlavaModel::load(const std::string& folder, const LoadOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    return make_error(ErrorCode::kNotFound,
                      "model folder '" + folder + "' does not exist or is not a directory");
  }
  auto impl = std::make_unique<Impl>();
  impl->folder = folder;
  GLIMPSE_ASSIGN_OR_RETURN(impl->config, load_llava_config((fs::path(folder) / "config.json").string()));
  GLIMPSE_ASSIGN_OR_RETURN(impl->files, SafetensorsModel::open_folder(folder));
  GLIMPSE_ASSIGN_OR_RETURN(const WeightLoader weights, WeightLoader::create(impl->files));

  const LlavaConfig& config = impl->config;
  GLIMPSE_ASSIGN_OR_RETURN(impl->vision,
                           ClipVisionTower::load(weights, config.vision, config.selected_hidden_state()));
  GLIMPSE_ASSIGN_OR_RETURN(impl->projector, Projector::load(weights, config));
  GLIMPSE_ASSIGN_OR_RETURN(impl->language, LlamaModel::load(weights, config.text));
  if (options.n_threads < 0 || options.n_threads > kMaxThreads) {
    return make_error(ErrorCode::kInvalidArgument, "thread count " + std::to_string(options.n_threads) +
                                                       " is out of range; expected 0 (one per hardware thread) to " +
                                                       std::to_string(kMaxThreads));
  }
  if (options.kv_cache_type != DType::kF32 && options.kv_cache_type != DType::kF16) {
    return make_error(ErrorCode::kInvalidArgument, "KV cache type " + std::string(dtype_name(options.kv_cache_type)) +
                                                       " is not supported; use F32 or F16");
  }
  impl->kv_cache_type = options.kv_cache_type;
  try {
    impl->pool = std::make_unique<ThreadPool>(options.n_threads);
  } catch (const std::system_error& e) {
    return make_error(ErrorCode::kIoError, "cannot start " + std::to_string(options.n_threads) +
                                               " threads: " + e.what() + "; request fewer threads");
  }

  impl->report.kernels = std::string(kernels::active_isa());
  if (options.quantize) {
    const DType type = *options.quantize;
    if (!dtype_is_quantized(type)) {
      return make_error(ErrorCode::kInvalidArgument, "cannot quantize to " + std::string(dtype_name(type)) +
                                                         "; the quantization types are Q8_0, Q4_0, Q4_K and Q6_K");
    }
    const auto start = std::chrono::steady_clock::now();
    impl->report.quantized = type;
    GLIMPSE_RETURN_IF_ERROR(impl->language->quantize(*impl->pool, type, impl->report));
    impl->report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  GLIMPSE_RETURN_IF_ERROR(impl->language->repack_for_kernels(*impl->pool, impl->report));
  if (options.copy_weights) {
    GLIMPSE_RETURN_IF_ERROR(impl->language->copy_float_weights(*impl->pool, impl->report));
  } else {
    impl->language->advise_huge_pages();
  }

  log_message(LogLevel::kInfo, "loaded " + folder + ": " +
                                   std::to_string(impl->files.total_bytes() >> 20) + " MiB mapped, " +
                                   std::to_string(impl->pool->size()) + (impl->pool->size() == 1 ? " thread" : " threads"));
  return std::unique_ptr<LlavaModel>(new LlavaModel(std::move(impl)));
}

const LlavaConfig& LlavaModel::config() const { return impl_->config; }
const std::string& LlavaModel::folder() const { return impl_->folder; }
const LoadReport& LlavaModel::load_report() const { return impl_->report; }
ThreadPool& LlavaModel::thread_pool() const { return *impl_->pool; }

Result<KvCache> LlavaModel::new_kv_cache(std::int64_t capacity) const {
  const LlamaConfig& text = impl_->config.text;
  if (capacity == 0) capacity = text.max_position_embeddings;
  if (capacity < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "context length " + std::to_string(capacity) + " is negative");
  }
  return KvCache::create(text.num_hidden_layers, text.num_key_value_heads, text.head_dim, capacity,
                         impl_->kv_cache_type);
}

Result<std::vector<float>> LlavaModel::vision_hidden_state(const PixelTensor& pixels) const {
  const ClipVisionConfig& vision = impl_->config.vision;
  const std::int64_t expected = vision.num_channels * vision.image_size * vision.image_size;
  if (static_cast<std::int64_t>(pixels.values.size()) != expected) {
    return make_error(ErrorCode::kInvalidArgument,
                      "pixel tensor has " + std::to_string(pixels.values.size()) + " values; the vision tower expects [" +
                          std::to_string(vision.num_channels) + ", " + std::to_string(vision.image_size) + ", " +
                          std::to_string(vision.image_size) + "] = " + std::to_string(expected));
  }
  for (float value : pixels.values) {
    if (!std::isfinite(value)) {
      return make_error(ErrorCode::kInvalidArgument, "pixel tensor contains NaN or infinity");
    }
  }
  std::vector<float> state = impl_->vision->forward(*impl_->pool, pixels.values.data());
  if (impl_->config.vision_feature_select_strategy == FeatureSelect::kDefault) {
    state.erase(state.begin(), state.begin() + vision.hidden_size);  // drop the class token row
  }
  return state;
}

Result<std::vector<float>> LlavaModel::encode_image(const PixelTensor& pixels) const {
  GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> state, vision_hidden_state(pixels));
  const std::int64_t n_rows = static_cast<std::int64_t>(state.size()) / impl_->config.vision.hidden_size;
  return impl_->projector->forward(*impl_->pool, state.data(), n_rows);
}

Result<std::vector<float>> LlavaModel::embed_tokens(std::span<const std::int32_t> ids) const {
  const std::int64_t hidden = impl_->config.text.hidden_size;
  const std::int64_t vocab = impl_->config.text.vocab_size;
  std::vector<float> embeddings(ids.size() * static_cast<std::size_t>(hidden));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      return make_error(ErrorCode::kInvalidArgument,
                        "token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                            " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
    convert_to_f32(impl_->language->token_embedding(), static_cast<std::int64_t>(ids[i]) * hidden, hidden,
                   embeddings.data() + i * static_cast<std::size_t>(hidden));
  }
  return embeddings;
}

Result<std::vector<float>> LlavaModel::embed_prompt(std::span<const std::int32_t> ids,
                                                    std::span<const float> image_features) const {
  const LlavaConfig& config = impl_->config;
  const std::int64_t hidden = config.text.hidden_size;
  std::int64_t n_image_tokens = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == config.image_token_index) {
      ++n_image_tokens;
    } else if (ids[i] < 0 || ids[i] >= config.text.vocab_size) {
      return make_error(ErrorCode::kInvalidArgument,
                        "token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                            " is outside the vocabulary [0, " + std::to_string(config.text.vocab_size) + ")");
    }
  }
  if (static_cast<std::int64_t>(image_features.size()) != n_image_tokens * hidden) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the prompt has " + std::to_string(n_image_tokens) + " image tokens (id " +
                          std::to_string(config.image_token_index) + ") but " +
                          std::to_string(image_features.size() / static_cast<std::size_t>(hidden)) +
                          " image feature rows were given; each image needs " +
                          std::to_string(config.image_features_per_image()) + " tokens");
  }

  std::vector<float> embeddings(ids.size() * static_cast<std::size_t>(hidden));
  const TensorView& table = impl_->language->token_embedding();
  std::int64_t next_feature_row = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    float* row = embeddings.data() + i * static_cast<std::size_t>(hidden);
    if (ids[i] == config.image_token_index) {
      const float* feature = image_features.data() + next_feature_row * hidden;
      std::copy(feature, feature + hidden, row);
      ++next_feature_row;
    } else {
      convert_to_f32(table, static_cast<std::int64_t>(ids[i]) * hidden, hidden, row);
    }
  }
  return embeddings;
}

Result<std::vector<float>> LlavaModel::forward(std::span<const float> embeddings, std::int64_t start_pos,
                                               KvCache& cache, LogitsMode mode) const {
  const LlamaConfig& text = impl_->config.text;
  const auto hidden = static_cast<std::size_t>(text.hidden_size);
  if (embeddings.empty() || embeddings.size() % hidden != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "embeddings hold " + std::to_string(embeddings.size()) +
                          " values; expected a positive multiple of hidden_size " + std::to_string(hidden));
  }
  const auto n_tokens = static_cast<std::int64_t>(embeddings.size() / hidden);
  if (cache.n_layers() != text.num_hidden_layers || cache.row_width() != text.num_key_value_heads * text.head_dim) {
    return make_error(ErrorCode::kInvalidArgument, "the KV cache was made for a different model");
  }
  if (start_pos < 0 || start_pos > cache.n_valid()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "start position " + std::to_string(start_pos) + " is past the " +
                          std::to_string(cache.n_valid()) + " positions held in the KV cache");
  }
  if (start_pos + n_tokens > cache.capacity()) {
    return make_error(ErrorCode::kOutOfRange,
                      "positions " + std::to_string(start_pos) + ".." + std::to_string(start_pos + n_tokens - 1) +
                          " exceed the context window of " + std::to_string(cache.capacity()) +
                          " tokens; shorten the prompt or load with a larger context length");
  }
  if (cache.on_forward) cache.on_forward(start_pos, n_tokens);
  return impl_->language->forward(*impl_->pool, embeddings, start_pos, cache, mode);
}

Result<std::vector<float>> LlavaModel::logits(std::span<const std::int32_t> ids,
                                              std::span<const PixelTensor> images, LogitsMode mode) const {
  std::vector<float> features;
  for (const PixelTensor& image : images) {
    GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> rows, encode_image(image));
    features.insert(features.end(), rows.begin(), rows.end());
  }
  GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> embeddings, embed_prompt(ids, features));
  GLIMPSE_ASSIGN_OR_RETURN(KvCache cache, new_kv_cache(static_cast<std::int64_t>(ids.size())));
  return forward(embeddings, 0, cache, mode);
}

}  // namespace glimpse
