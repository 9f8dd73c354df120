// `glimpse info` and `glimpse generate`: the model on token ids and raw RGB pixels, below the
// tokenizer and the image decoder.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "glimpse/generate.h"
#include "glimpse/image.h"
#include "glimpse/llava.h"
#include "glimpse/quant.h"
#include "glimpse/quantize.h"
#include "glimpse/thread_pool.h"

namespace glimpse::cli {
namespace {

Result<std::vector<std::int32_t>> parse_ids(const std::string& text) {
  std::vector<std::int32_t> ids;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    std::size_t used = 0;
    long value = -1;
    try {
      value = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || value < 0 || value > INT32_MAX) {
      return make_error(ErrorCode::kInvalidArgument, "--ids: '" + item + "' is not a non-negative integer token id");
    }
    ids.push_back(static_cast<std::int32_t>(value));
  }
  if (ids.empty()) return make_error(ErrorCode::kInvalidArgument, "--ids is empty");
  return ids;
}

Result<std::vector<float>> read_rgb(const std::string& path, const LlavaConfig& config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open RGB file '" + path + "'");
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::int64_t side = config.vision.image_size;
  if (static_cast<std::int64_t>(bytes.size()) != side * side * 3) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'" + path + "' has " + std::to_string(bytes.size()) + " bytes; expected raw RGB " +
                          std::to_string(side) + "x" + std::to_string(side) + "x3 = " +
                          std::to_string(side * side * 3));
  }
  return normalize_rgb_to_chw(bytes, side, side, kClipMean, kClipStd);
}

void print_info(const LlavaModel& model) {
  const LlavaConfig& config = model.config();
  auto n = [](std::int64_t value) { return static_cast<long long>(value); };
  std::printf("model folder      %s\n", model.folder().c_str());
  std::printf("vision tower      CLIP %lld wide, %lld layers, %lld heads, image %lld, patch %lld, %s\n",
              n(config.vision.hidden_size), n(config.vision.num_hidden_layers), n(config.vision.num_attention_heads),
              n(config.vision.image_size), n(config.vision.patch_size),
              std::string(activation_name(config.vision.hidden_act)).c_str());
  std::printf("image features    hidden state %lld, %lld rows per image\n", n(config.selected_hidden_state()),
              n(config.image_features_per_image()));
  std::printf("language model    LLaMA %lld wide, %lld layers, %lld heads (%lld KV), head_dim %lld, vocab %lld\n",
              n(config.text.hidden_size), n(config.text.num_hidden_layers), n(config.text.num_attention_heads),
              n(config.text.num_key_value_heads), n(config.text.head_dim), n(config.text.vocab_size));
  std::printf("context           %lld positions\n", n(config.text.max_position_embeddings));
}

Result<std::unique_ptr<LlavaModel>> load_model(const std::string& folder, const GlobalOptions& global) {
  LoadOptions options;
  options.n_threads = global.n_threads;
  options.quantize = quantize_type(global);
  options.copy_weights = global.copy_weights;
  auto model = LlavaModel::load(folder, options);
  if (model.ok() && (options.quantize || options.copy_weights)) print_load_report((*model)->load_report());
  return model;
}

struct GenerateArgs {
  std::string model_dir;
  std::string ids;
  std::string rgb_path;
  std::int64_t max_new_tokens = 32;
  bool no_kv_cache = false;
};

struct QuantizeArgs {
  std::string model_dir;
  std::string output_dir;
  std::string type;
};

int run_quantize(const QuantizeArgs& args, const GlobalOptions& global) {
  DType type = DType::kQ8_0;
  parse_quant_type(args.type, type);  // the option parser accepted only the four block types
  ThreadPool pool(global.n_threads);
  QuantizeFolderReport summary;
  const auto start = std::chrono::steady_clock::now();
  const Status status = quantize_model_folder(args.model_dir, args.output_dir, type, pool, summary);
  if (!status.ok()) return report(status.error());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wrote %s: %d tensors in %s (%.1f MB -> %.1f MB), %d copied as stored, %d file%s, %.1f s\n",
              args.output_dir.c_str(), summary.n_quantized, std::string(dtype_name(type)).c_str(),
              static_cast<double>(summary.bytes_before) / 1e6, static_cast<double>(summary.bytes_after) / 1e6,
              summary.n_copied, summary.n_shards, summary.n_shards == 1 ? "" : "s", seconds);
  return kExitOk;
}

int run_generate(const GenerateArgs& args, const GlobalOptions& global) {
  auto model = load_model(args.model_dir, global);
  if (!model.ok()) return report(model.error());
  auto ids = parse_ids(args.ids);
  if (!ids.ok()) return report(ids.error());
  std::vector<float> pixels;
  std::vector<PixelTensor> images;
  if (!args.rgb_path.empty()) {
    auto read = read_rgb(args.rgb_path, (*model)->config());
    if (!read.ok()) return report(read.error());
    pixels = std::move(read).value();
    images.push_back({pixels});
  }
  GreedyOptions options;
  options.max_new_tokens = args.max_new_tokens;
  options.use_kv_cache = !args.no_kv_cache;
  const auto start = std::chrono::steady_clock::now();
  auto result = generate_greedy(**model, *ids, images, options);
  if (!result.ok()) return report(result.error());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (std::size_t i = 0; i < result->ids.size(); ++i) std::printf(i ? ",%d" : "%d", result->ids[i]);
  std::printf("\n");
  std::fprintf(stderr, "glimpse: %zu prompt tokens, %zu generated in %.3f s\n", ids->size(), result->ids.size(),
               seconds);
  return kExitOk;
}

}  // namespace

void add_model_commands(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto info_dir = std::make_shared<std::string>();
  auto* info = app.add_subcommand("info", "Print the configuration of a llava-hf model folder");
  info->add_option("model,-m,--model", *info_dir, "Model folder (config.json and safetensors weights)")->required();
  info->callback([info_dir, &global, &exit_code] {
    auto model = load_model(*info_dir, global);
    if (!model.ok()) {
      exit_code = report(model.error());
      return;
    }
    print_info(**model);
  });

  auto args = std::make_shared<GenerateArgs>();
  auto* generate = app.add_subcommand(
      "generate", "Greedy-decode from token ids and an optional raw RGB image (below the tokenizer and image decoder)");
  generate->add_option("model,-m,--model", args->model_dir, "Model folder")->required();
  generate->add_option("--ids", args->ids, "Comma-separated prompt token ids, image token positions included")
      ->required();
  generate->add_option("--rgb", args->rgb_path,
                       "Raw RGB bytes of the already resized and cropped image (image_size x image_size x 3, "
                       "row-major), normalized with the CLIP mean and std");
  generate->add_option("-n,--max-new-tokens", args->max_new_tokens, "Tokens to generate")->default_val(32);
  generate->add_flag("--no-kv-cache", args->no_kv_cache, "Re-run the whole sequence each step (for comparison only)");
  generate->callback([args, &global, &exit_code] { exit_code = run_generate(*args, global); });

  auto quantize_args = std::make_shared<QuantizeArgs>();
  auto* quantize = app.add_subcommand(
      "quantize", "Write a copy of a model folder with the language model's linear weights in Q8_0, Q4_0, Q4_K or Q6_K");
  quantize->add_option("model,-m,--model", quantize_args->model_dir, "Model folder to read")->required();
  quantize->add_option("-o,--output", quantize_args->output_dir, "New folder to write; must not exist or be empty")
      ->required();
  quantize->add_option("--type", quantize_args->type, "Block type: q8_0, q4_0, q4_k or q6_k (llama.cpp's layouts)")
      ->required()
      ->check(CLI::IsMember({"q8_0", "q4_0", "q4_k", "q6_k"}, CLI::ignore_case));
  quantize->callback([quantize_args, &global, &exit_code] { exit_code = run_quantize(*quantize_args, global); });
}

}  // namespace glimpse::cli
