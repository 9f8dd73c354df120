// The glimpse command. Until image decoding and the tokenizer exist, it works on token ids and
// on raw RGB pixels: `glimpse info MODEL` and `glimpse generate MODEL --ids ... --rgb FILE`.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "glimpse/generate.h"
#include "glimpse/image.h"
#include "glimpse/llava.h"
#include "glimpse/log.h"

namespace {

int fail(const glimpse::Error& error) {
  std::fprintf(stderr, "glimpse: %s\n", error.to_string().c_str());
  return 1;
}

glimpse::Result<std::vector<std::int32_t>> parse_ids(const std::string& text) {
  std::vector<std::int32_t> ids;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    try {
      std::size_t used = 0;
      const long value = std::stol(item, &used);
      if (used != item.size() || value < 0 || value > INT32_MAX) throw std::out_of_range(item);
      ids.push_back(static_cast<std::int32_t>(value));
    } catch (const std::exception&) {
      return glimpse::make_error(glimpse::ErrorCode::kInvalidArgument,
                                 "--ids: '" + item + "' is not a non-negative integer token id");
    }
  }
  if (ids.empty()) return glimpse::make_error(glimpse::ErrorCode::kInvalidArgument, "--ids is empty");
  return ids;
}

glimpse::Result<std::vector<float>> read_rgb(const std::string& path, const glimpse::LlavaConfig& config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return glimpse::make_error(glimpse::ErrorCode::kNotFound, "cannot open RGB file '" + path + "'");
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::int64_t side = config.vision.image_size;
  if (static_cast<std::int64_t>(bytes.size()) != side * side * 3) {
    return glimpse::make_error(glimpse::ErrorCode::kInvalidArgument,
                               "'" + path + "' has " + std::to_string(bytes.size()) + " bytes; expected raw RGB " +
                                   std::to_string(side) + "x" + std::to_string(side) + "x3 = " +
                                   std::to_string(side * side * 3));
  }
  return glimpse::normalize_rgb_to_chw(bytes, side, side, glimpse::kClipMean, glimpse::kClipStd);
}

void print_info(const glimpse::LlavaModel& model) {
  const glimpse::LlavaConfig& config = model.config();
  std::printf("model folder      %s\n", model.folder().c_str());
  std::printf("vision tower      CLIP %lld wide, %lld layers, %lld heads, image %lld, patch %lld, %s\n",
              static_cast<long long>(config.vision.hidden_size), static_cast<long long>(config.vision.num_hidden_layers),
              static_cast<long long>(config.vision.num_attention_heads), static_cast<long long>(config.vision.image_size),
              static_cast<long long>(config.vision.patch_size),
              std::string(glimpse::activation_name(config.vision.hidden_act)).c_str());
  std::printf("image features    hidden state %lld, %lld rows per image\n",
              static_cast<long long>(config.selected_hidden_state()),
              static_cast<long long>(config.image_features_per_image()));
  std::printf("language model    LLaMA %lld wide, %lld layers, %lld heads (%lld KV), head_dim %lld, vocab %lld\n",
              static_cast<long long>(config.text.hidden_size), static_cast<long long>(config.text.num_hidden_layers),
              static_cast<long long>(config.text.num_attention_heads),
              static_cast<long long>(config.text.num_key_value_heads), static_cast<long long>(config.text.head_dim),
              static_cast<long long>(config.text.vocab_size));
  std::printf("context           %lld positions\n", static_cast<long long>(config.text.max_position_embeddings));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"glimpse: LLaVA vision-language inference on the CPU"};
  app.require_subcommand(1);
  int n_threads = 0;
  bool verbose = false;
  app.add_option("-t,--threads", n_threads, "Worker threads (0: one per hardware thread)");
  app.add_flag("-v,--verbose", verbose, "Log informational messages to stderr");

  std::string model_dir;
  auto* info = app.add_subcommand("info", "Print the configuration of a llava-hf model folder");
  info->add_option("model", model_dir, "Model folder (config.json and safetensors weights)")->required();

  auto* generate = app.add_subcommand("generate", "Greedy-decode from token ids and an optional raw RGB image");
  std::string ids_text;
  std::string rgb_path;
  std::int64_t max_new_tokens = 32;
  bool no_kv_cache = false;
  generate->add_option("model", model_dir, "Model folder")->required();
  generate->add_option("--ids", ids_text, "Comma-separated prompt token ids, image positions included")->required();
  generate->add_option("--rgb", rgb_path,
                       "Raw RGB bytes (image_size x image_size x 3, row-major) of the preprocessed image");
  generate->add_option("-n,--max-new-tokens", max_new_tokens, "Tokens to generate");
  generate->add_flag("--no-kv-cache", no_kv_cache, "Re-run the whole sequence each step (for comparison only)");

  CLI11_PARSE(app, argc, argv);
  if (verbose) glimpse::set_log_level(glimpse::LogLevel::kInfo);

  glimpse::LoadOptions load_options;
  load_options.n_threads = n_threads;
  auto model = glimpse::LlavaModel::load(model_dir, load_options);
  if (!model.ok()) return fail(model.error());

  if (info->parsed()) {
    print_info(**model);
    return 0;
  }

  auto ids = parse_ids(ids_text);
  if (!ids.ok()) return fail(ids.error());
  std::vector<float> pixels;
  std::vector<glimpse::PixelTensor> images;
  if (!rgb_path.empty()) {
    auto read = read_rgb(rgb_path, (*model)->config());
    if (!read.ok()) return fail(read.error());
    pixels = std::move(read).value();
    images.push_back({pixels});
  }
  glimpse::GreedyOptions options;
  options.max_new_tokens = max_new_tokens;
  options.use_kv_cache = !no_kv_cache;
  const auto start = std::chrono::steady_clock::now();
  auto result = glimpse::generate_greedy(**model, *ids, images, options);
  if (!result.ok()) return fail(result.error());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (std::size_t i = 0; i < result->ids.size(); ++i) std::printf(i ? ",%d" : "%d", result->ids[i]);
  std::printf("\n");
  std::fprintf(stderr, "glimpse: %zu prompt tokens, %zu generated in %.3f s\n", ids->size(), result->ids.size(),
               seconds);
  return 0;
}
