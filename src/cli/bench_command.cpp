// `glimpse bench`: measures what users compare between engines on one model. That is load time,
// peak resident memory, image preprocessing, the vision encoder, prefill, decode at several
// context positions, generation with and without the KV cache, and the machine's memory read
// bandwidth, from which the decode speed limit follows.
//
// Protocol: every figure is one warm-up run, then --repetitions timed runs, reported as median,
// min and max. Peak memory is measured in a child process that runs one request and nothing
// else, so the other sections (and the bandwidth buffer) do not inflate it.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/weight_buffer.h"
#include "glimpse/generate.h"
#include "glimpse/image.h"
#include "glimpse/image_source.h"
#include "glimpse/llava.h"
#include "glimpse/provider.h"
#include "glimpse/safetensors.h"
#include "glimpse/thread_pool.h"

namespace glimpse::cli {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

const std::vector<std::string> kSections = {"memory", "bandwidth", "load", "image", "prefill", "decode", "cache"};

struct BenchArgs {
  std::string model;
  std::string image;
  int repetitions = 5;
  std::vector<std::int64_t> positions = {16, 512, 2048};
  std::int64_t decode_steps = 16;
  std::int64_t prefill_text_tokens = 24;
  std::int64_t cache_prompt_tokens = 64;
  std::int64_t cache_new_tokens = 128;
  std::int64_t memory_new_tokens = 128;
  std::int64_t bandwidth_mib = 1024;
  std::string kv_cache = "f32";
  std::vector<std::string> sections;
  std::string json_path;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Stats {
  double median = 0.0;
  double min = 0.0;
  double max = 0.0;
  std::vector<double> samples;
};

Stats summarize(std::vector<double> samples) {
  Stats stats;
  stats.samples = samples;
  std::sort(samples.begin(), samples.end());
  const std::size_t n = samples.size();
  stats.min = samples.front();
  stats.max = samples.back();
  stats.median = n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  return stats;
}

json stats_json(const Stats& stats) {
  return {{"median", stats.median}, {"min", stats.min}, {"max", stats.max}, {"samples", stats.samples}};
}

// Calls `run` once as a warm-up, then `repetitions` times, and summarizes the seconds each timed
// call returns.
template <typename Run>
Result<Stats> measure(int repetitions, Run&& run) {
  GLIMPSE_RETURN_IF_ERROR(run());
  std::vector<double> samples;
  for (int i = 0; i < repetitions; ++i) {
    GLIMPSE_ASSIGN_OR_RETURN(const double seconds, run());
    samples.push_back(seconds);
  }
  return summarize(std::move(samples));
}

// A deterministic pseudo-random stream (xorshift64*), for token ids and synthetic cache rows.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ULL + 1) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1DULL;
  }
  // Returns a value uniform in [-1, 1).
  float unit() { return static_cast<float>(next() >> 40) * (2.0f / 16777216.0f) - 1.0f; }
  // Returns a plain text token id: above the special ids 0-2 and below `limit`.
  std::int32_t text_id(std::int64_t limit) { return static_cast<std::int32_t>(3 + next() % (limit - 3)); }

 private:
  std::uint64_t state_;
};

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

std::string today() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d", std::gmtime(&now));
  return text;
}

// Weight sizes of a model folder. A decode step reads every language-model matrix once (lm_head
// included) and one row of embed_tokens.
struct WeightBytes {
  double total = 0.0;
  double per_decode_token = 0.0;  // bytes one decode step reads
};

Result<WeightBytes> weight_bytes(const std::string& folder, const LlavaConfig& config) {
  GLIMPSE_ASSIGN_OR_RETURN(const SafetensorsModel weights, SafetensorsModel::open_folder(folder));
  WeightBytes bytes;
  for (const std::string& name : weights.names()) {
    GLIMPSE_ASSIGN_OR_RETURN(const TensorView view, weights.view(name));
    const auto n = static_cast<double>(view.nbytes());
    bytes.total += n;
    const bool language = name.find("language_model") != std::string::npos || name.rfind("lm_head", 0) == 0;
    if (!language) continue;
    if (name.find("embed_tokens") != std::string::npos) {
      bytes.per_decode_token += n / static_cast<double>(config.text.vocab_size);
    } else {
      bytes.per_decode_token += n;
    }
  }
  return bytes;
}

// Returns the bytes of keys and values that one decode step reads, over all layers, when it
// attends to `positions` cached rows of `cache_type` elements.
double kv_bytes(const LlavaConfig& config, double positions, DType cache_type) {
  return positions * 2.0 * static_cast<double>(config.text.num_hidden_layers * config.text.num_key_value_heads *
                                               config.text.head_dim) *
         static_cast<double>(dtype_bytes(cache_type, 1));
}

// ---- memory: one question in a child process ------------------------------------------------

// Asks one question about the image in a forked child, generating memory_new_tokens tokens, and
// returns the child's peak resident set size with the prompt and completion token counts. Call it
// before this process starts a thread, so that the fork copies no thread state.
Result<json> measure_memory(const BenchArgs& args, const GlobalOptions& global) {
  int fds[2];
  if (::pipe(fds) != 0) return make_error(ErrorCode::kIoError, std::string("memory measurement: pipe() failed: ") + std::strerror(errno));
  std::fflush(stdout);
  std::fflush(stderr);

  const pid_t child = ::fork();
  if (child < 0) return make_error(ErrorCode::kIoError, std::string("memory measurement: fork() failed: ") + std::strerror(errno));
  if (child == 0) {
    ::close(fds[0]);
    json out;
    ProviderOptions options;
    options.n_threads = global.n_threads;
    options.quantize = quantize_type(global);
    options.copy_weights = global.copy_weights;
    options.kv_cache_type = kv_cache_dtype(args.kv_cache);
    options.hub.offline = true;
    auto provider = Provider::load(args.model, options);
    if (!provider.ok()) {
      out = {{"error", provider.error().to_string()}};
    } else {
      AskOptions ask;
      ask.max_new_tokens = args.memory_new_tokens;
      ask.ignore_eos = true;
      const ImageSource image = ImageSource::from_path(args.image);
      auto answer = (*provider)->ask(std::span<const ImageSource>(&image, 1), "Describe this image in detail.", ask);
      if (!answer.ok()) {
        out = {{"error", answer.error().to_string()}};
      } else {
        rusage usage{};
        ::getrusage(RUSAGE_SELF, &usage);
        out = {{"peak_rss_bytes", static_cast<double>(usage.ru_maxrss) * 1024.0},
               {"prompt_tokens", answer->usage.prompt_tokens},
               {"completion_tokens", answer->usage.completion_tokens}};
      }
    }

    const std::string text = out.dump();
    std::size_t written = 0;
    while (written < text.size()) {
      const ssize_t n = ::write(fds[1], text.data() + written, text.size() - written);
      if (n <= 0) break;
      written += static_cast<std::size_t>(n);
    }
    ::close(fds[1]);
    ::_exit(0);
  }

  ::close(fds[1]);
  std::string text;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);

  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || text.empty()) {
    return make_error(ErrorCode::kInternal,
                      "the memory measurement process exited without a result, perhaps killed for lack of memory; "
                      "pass --sections without memory to measure the rest");
  }
  json result = json::parse(text, nullptr, false);
  if (result.is_discarded()) return make_error(ErrorCode::kInternal, "the memory measurement process wrote invalid JSON");
  if (result.contains("error")) {
    return make_error(ErrorCode::kInvalidArgument, "memory measurement: " + result["error"].get<std::string>());
  }
  return result;
}

// ---- bandwidth -------------------------------------------------------------------------------

// Measures memory read bandwidth: every thread of `pool` reads its share of a bandwidth_mib MiB
// buffer sequentially, for several passes. Returns the best pass in bytes per second, and all passes.
// The buffer is allocated like the weights that loading quantizes or repacks (2 MiB huge pages
// where the kernel gives them), and the loop requests each cache line 3 KiB ahead into L2, as
// the decode kernels do, so the bound compares like with like. Without that prefetch the loop
// read 5-9 % less on a 2-core Xeon VM (docs/PERFORMANCE.md), and the bound that much lower.
Result<json> measure_bandwidth(const BenchArgs& args, ThreadPool& pool) {
  const std::size_t bytes = static_cast<std::size_t>(args.bandwidth_mib) << 20;
  const std::size_t words = bytes / sizeof(std::uint64_t);
  const WeightBuffer buffer = allocate_weight_buffer(bytes);
  if (!buffer) {
    return make_error(ErrorCode::kOutOfRange, "failed to allocate the " + std::to_string(args.bandwidth_mib) +
                                                  " MiB bandwidth buffer. Pass a smaller --bandwidth-mib");
  }

  auto* data = reinterpret_cast<std::uint64_t*>(buffer.get());
  const std::int64_t chunk = 1 << 16;  // words per work item: 512 KiB
  constexpr std::size_t kLineWords = 64 / sizeof(std::uint64_t);
  constexpr std::size_t kPrefetchWords = 3072 / sizeof(std::uint64_t);
  const auto n_chunks = static_cast<std::int64_t>((words + chunk - 1) / chunk);
  pool.parallel_for(n_chunks, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c) {
      const std::size_t first = static_cast<std::size_t>(c) * chunk;
      const std::size_t last = std::min(words, first + chunk);
      for (std::size_t i = first; i < last; ++i) data[i] = i * 0x9E3779B97F4A7C15ULL;
    }
  });

  std::vector<std::uint64_t> sums(static_cast<std::size_t>(n_chunks));
  std::vector<double> rates;
  const int passes = std::max(args.repetitions, 5);
  for (int pass = 0; pass <= passes; ++pass) {
    const auto start = Clock::now();
    pool.parallel_for(n_chunks, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t c = begin; c < end; ++c) {
        const std::uint64_t* p = data + static_cast<std::size_t>(c) * chunk;
        const std::size_t n = std::min<std::size_t>(chunk, words - static_cast<std::size_t>(c) * chunk);
        std::uint64_t a = 0, b = 0, d = 0, e = 0;
        std::size_t i = 0;
        for (; i + kLineWords <= n; i += kLineWords) {
          __builtin_prefetch(p + i + kPrefetchWords, 0, 2);  // a prefetch past the end does not fault
          a += p[i] + p[i + 4];
          b += p[i + 1] + p[i + 5];
          d += p[i + 2] + p[i + 6];
          e += p[i + 3] + p[i + 7];
        }
        for (; i < n; ++i) a += p[i];
        sums[static_cast<std::size_t>(c)] = a + b + d + e;
      }
    });
    const double seconds = seconds_since(start);
    if (pass > 0) rates.push_back(static_cast<double>(words * sizeof(std::uint64_t)) / seconds);  // pass 0 warms up
  }

  std::uint64_t check = 0;
  for (std::uint64_t s : sums) check += s;
  const Stats stats = summarize(rates);
  return json{{"bytes_per_second", stats.max},
              {"passes", stats_json(stats)},
              {"buffer_bytes", static_cast<double>(bytes)},
              {"threads", pool.size()},
              {"checksum", check}};
}

// ---- model sections --------------------------------------------------------------------------

// Returns ids of the LLaVA prompt shape: BOS, a few text ids, the image positions, then the rest
// of the text.
std::vector<std::int32_t> llava_prompt_ids(const LlavaConfig& config, std::int64_t text_tokens, Random& random) {
  const std::int64_t limit = std::min<std::int64_t>(config.image_token_index, config.text.vocab_size);
  std::vector<std::int32_t> ids = {static_cast<std::int32_t>(config.text.bos_token_id.value_or(1))};
  const std::int64_t before = std::min<std::int64_t>(4, text_tokens - 1);
  for (std::int64_t i = 0; i < before; ++i) ids.push_back(random.text_id(limit));
  for (std::int64_t i = 0; i < config.image_features_per_image(); ++i) {
    ids.push_back(static_cast<std::int32_t>(config.image_token_index));
  }
  while (static_cast<std::int64_t>(ids.size()) < text_tokens + config.image_features_per_image()) {
    ids.push_back(random.text_id(limit));
  }
  return ids;
}

// Writes synthetic keys and values into rows 0..positions-1 of every layer and head, rounded to
// IEEE half for an f16 cache.
void fill_cache(KvCache& cache, const LlavaConfig& config, std::int64_t positions, Random& random) {
  const std::int64_t head_dim = config.text.head_dim;
  const std::int64_t count = positions * head_dim;
  for (std::int64_t layer = 0; layer < cache.n_layers(); ++layer) {
    for (void* base : {cache.keys(layer), cache.values(layer)}) {
      for (std::int64_t head = 0; head < config.text.num_key_value_heads; ++head) {
        const std::int64_t offset = head * cache.capacity() * head_dim;
        if (cache.dtype() == DType::kF16) {
          std::uint16_t* rows = static_cast<std::uint16_t*>(base) + offset;
          for (std::int64_t i = 0; i < count; ++i) rows[i] = f32_to_f16(random.unit());
        } else {
          float* rows = static_cast<float*>(base) + offset;
          for (std::int64_t i = 0; i < count; ++i) rows[i] = random.unit();
        }
      }
    }
  }
  cache.set_n_valid(positions);
}

struct CacheRun {
  double total = 0.0;
  std::vector<double> steps;  // steps[i]: feeding back generated token i + 1, then choosing the next
};

// Generates cache_new_tokens + 1 greedy tokens after a text prompt, so that cache_new_tokens
// generated tokens are fed back, and times each of those steps.
Result<CacheRun> run_generation(const LlavaModel& model, std::span<const std::int32_t> ids,
                                std::span<const float> embeddings, const BenchArgs& args, bool use_cache) {
  GLIMPSE_ASSIGN_OR_RETURN(Sequence sequence, Sequence::create(model, 0));
  GenerateOptions options;
  options.max_new_tokens = args.cache_new_tokens + 1;
  options.stop_at_eos = false;
  options.use_kv_cache = use_cache;
  std::vector<Clock::time_point> stamps;
  const auto start = Clock::now();
  GLIMPSE_ASSIGN_OR_RETURN(const GenerateResult result,
                           sequence.generate(embeddings, ids, {}, options, [&](const StepEvent&) {
                             stamps.push_back(Clock::now());
                             return StepAction::kContinue;
                           }));
  CacheRun run;
  run.total = seconds_since(start);
  if (static_cast<std::int64_t>(result.tokens.size()) != options.max_new_tokens) {
    return make_error(ErrorCode::kInternal, "generation stopped after " + std::to_string(result.tokens.size()) +
                                                " tokens (" + std::string(finish_reason_name(result.finish_reason)) +
                                                "); the benchmark needs " + std::to_string(options.max_new_tokens));
  }
  for (std::size_t i = 1; i < stamps.size(); ++i) {
    run.steps.push_back(std::chrono::duration<double>(stamps[i] - stamps[i - 1]).count());
  }
  return run;
}

// ---- output ----------------------------------------------------------------------------------

void print_row(const std::string& name, const Stats& stats, double scale, const char* unit) {
  std::printf("  %-44s %10.3f %-10s (min %.3f, max %.3f)\n", name.c_str(), stats.median * scale, unit,
              stats.min * scale, stats.max * scale);
}

Stats inverse_rate(const Stats& seconds, double items) {
  Stats rate;
  rate.median = items / seconds.median;
  rate.min = items / seconds.max;
  rate.max = items / seconds.min;
  for (double s : seconds.samples) rate.samples.push_back(items / s);
  return rate;
}

bool wants(const BenchArgs& args, const std::string& section) {
  return args.sections.empty() || std::find(args.sections.begin(), args.sections.end(), section) != args.sections.end();
}

Status run_bench_sections(const BenchArgs& args, const GlobalOptions& global, json& report_json) {
  report_json["date"] = today();
  report_json["cpu"] = cpu_name();
  report_json["model"] = args.model;
  report_json["repetitions"] = args.repetitions;
  report_json["kv_cache_type"] = args.kv_cache;
  std::printf("glimpse bench: %s\n  cpu %s, %s KV cache, %d repetitions after a warm-up, median (min, max)\n",
              args.model.c_str(), cpu_name().c_str(), args.kv_cache.c_str(), args.repetitions);
  std::fflush(stdout);

  // Peak memory comes first, before this process starts a thread, because it forks.
  if (wants(args, "memory")) {
    GLIMPSE_ASSIGN_OR_RETURN(json memory, measure_memory(args, global));
    report_json["memory"] = memory;
  }

  ThreadPool pool(global.n_threads);
  report_json["threads"] = pool.size();
  if (wants(args, "bandwidth")) {
    GLIMPSE_ASSIGN_OR_RETURN(json bandwidth, measure_bandwidth(args, pool));
    std::printf("memory read bandwidth (%lld MiB, %d threads, best pass)  %.2f GB/s\n",
                static_cast<long long>(args.bandwidth_mib), pool.size(),
                bandwidth["bytes_per_second"].get<double>() / 1e9);
    report_json["bandwidth"] = bandwidth;
  }

  LoadOptions load_options;
  load_options.n_threads = global.n_threads;
  load_options.quantize = quantize_type(global);
  load_options.copy_weights = global.copy_weights;
  load_options.kv_cache_type = kv_cache_dtype(args.kv_cache);
  std::unique_ptr<LlavaModel> model;
  GLIMPSE_ASSIGN_OR_RETURN(const Stats load, measure(args.repetitions, [&]() -> Result<double> {
                             model.reset();
                             const auto start = Clock::now();
                             GLIMPSE_ASSIGN_OR_RETURN(model, LlavaModel::load(args.model, load_options));
                             return seconds_since(start);
                           }));
  const LlavaConfig& config = model->config();
  GLIMPSE_ASSIGN_OR_RETURN(WeightBytes weights, weight_bytes(args.model, config));
  const LoadReport& load_report = model->load_report();
  print_load_report(load_report);
  report_json["kernels"] = load_report.kernels;
  if (load_report.quantized) {
    // A decode step reads the quantized copies instead of the stored weights.
    weights.per_decode_token += static_cast<double>(load_report.bytes_after) - static_cast<double>(load_report.bytes_before);
    weights.total += static_cast<double>(load_report.bytes_after) - static_cast<double>(load_report.bytes_before);
    report_json["quantized"] = {{"type", std::string(dtype_name(*load_report.quantized))},
                                {"tensors", load_report.n_quantized},
                                {"seconds", load_report.seconds}};
  }
  report_json["weights"] = {{"total_bytes", weights.total}, {"decode_bytes_per_token", weights.per_decode_token}};
  std::printf("weights %.2f GB, of which a decode step reads %.2f GB\n", weights.total / 1e9,
              weights.per_decode_token / 1e9);
  if (wants(args, "load")) {
    print_row("model load (warm page cache)", load, 1e3, "ms");
    report_json["load_seconds"] = stats_json(load);
  }

  if (report_json.contains("memory")) {
    json& memory = report_json["memory"];
    const double positions = memory["prompt_tokens"].get<double>() + memory["completion_tokens"].get<double>();
    const double kv = kv_bytes(config, positions, load_options.kv_cache_type);
    const double peak = memory["peak_rss_bytes"].get<double>();
    const double budget = weights.total + kv + 300e6;
    memory["kv_cache_bytes"] = kv;
    memory["budget_bytes"] = budget;
    std::printf("peak resident memory, one question + %lld tokens: %.0f MB; budget %.0f MB = weights %.0f MB + "
                "KV cache %.0f MB + 300 MB\n",
                static_cast<long long>(memory["completion_tokens"].get<std::int64_t>()), peak / 1e6, budget / 1e6,
                weights.total / 1e6, kv / 1e6);
  }
  std::fflush(stdout);

  Random random(1);
  std::vector<float> features;
  if (wants(args, "image") || wants(args, "prefill")) {
    GLIMPSE_ASSIGN_OR_RETURN(const PreprocessConfig preprocess_config, PreprocessConfig::from_model_folder(args.model));
    PreprocessedImage preprocessed;
    GLIMPSE_ASSIGN_OR_RETURN(const Stats image_time, measure(args.repetitions, [&]() -> Result<double> {
                               const auto start = Clock::now();
                               GLIMPSE_ASSIGN_OR_RETURN(const RgbImage image,
                                                        load_image(ImageSource::from_path(args.image)));
                               GLIMPSE_ASSIGN_OR_RETURN(preprocessed, preprocess(image, preprocess_config));
                               return seconds_since(start);
                             }));
    const PixelTensor pixels{preprocessed.pixel_values};
    GLIMPSE_ASSIGN_OR_RETURN(const Stats vision, measure(args.repetitions, [&]() -> Result<double> {
                               const auto start = Clock::now();
                               GLIMPSE_ASSIGN_OR_RETURN(features, model->encode_image(pixels));
                               return seconds_since(start);
                             }));
    if (wants(args, "image")) {
      print_row("image read + decode + preprocess", image_time, 1e3, "ms");
      print_row("vision encoder + projector, per image", vision, 1e3, "ms");
      report_json["image_preprocess_seconds"] = stats_json(image_time);
      report_json["vision_encoder_seconds"] = stats_json(vision);
    }
  }

  GLIMPSE_ASSIGN_OR_RETURN(KvCache cache, model->new_kv_cache(0));
  if (wants(args, "prefill")) {
    const std::vector<std::int32_t> ids = llava_prompt_ids(config, args.prefill_text_tokens, random);
    GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> embeddings, model->embed_prompt(ids, features));
    GLIMPSE_ASSIGN_OR_RETURN(const Stats prefill, measure(args.repetitions, [&]() -> Result<double> {
                               cache.clear();
                               const auto start = Clock::now();
                               GLIMPSE_RETURN_IF_ERROR(model->forward(embeddings, 0, cache, LogitsMode::kLast));
                               return seconds_since(start);
                             }));
    const Stats rate = inverse_rate(prefill, static_cast<double>(ids.size()));
    print_row("prefill, " + std::to_string(ids.size()) + " positions (" +
                  std::to_string(config.image_features_per_image()) + " image)",
              rate, 1.0, "tokens/s");
    report_json["prefill"] = {{"positions", ids.size()}, {"seconds", stats_json(prefill)},
                              {"tokens_per_second", stats_json(rate)}};
  }

  if (wants(args, "decode")) {
    const double bandwidth =
        report_json.contains("bandwidth") ? report_json["bandwidth"]["bytes_per_second"].get<double>() : 0.0;
    json decode = json::array();
    for (const std::int64_t position : args.positions) {
      if (position + args.decode_steps > cache.capacity()) {
        return make_error(ErrorCode::kOutOfRange, "--positions " + std::to_string(position) + " plus " +
                                                      std::to_string(args.decode_steps) + " steps exceeds the " +
                                                      std::to_string(cache.capacity()) + "-position context");
      }
      fill_cache(cache, config, position, random);
      GLIMPSE_ASSIGN_OR_RETURN(const Stats seconds, measure(args.repetitions, [&]() -> Result<double> {
                                 cache.set_n_valid(position);
                                 std::int32_t id = random.text_id(std::min<std::int64_t>(config.image_token_index,
                                                                                         config.text.vocab_size));
                                 const auto start = Clock::now();
                                 for (std::int64_t step = 0; step < args.decode_steps; ++step) {
                                   GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> embedding,
                                                            model->embed_tokens(std::span<const std::int32_t>(&id, 1)));
                                   GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> logits,
                                                            model->forward(embedding, position + step, cache,
                                                                           LogitsMode::kLast));
                                   id = argmax(logits);
                                 }
                                 return seconds_since(start);
                               }));
      const Stats rate = inverse_rate(seconds, static_cast<double>(args.decode_steps));
      const double mean_position = static_cast<double>(position) + 0.5 * static_cast<double>(args.decode_steps + 1);
      const double bytes_per_token =
          weights.per_decode_token + kv_bytes(config, mean_position, load_options.kv_cache_type);
      json entry = {{"position", position}, {"steps", args.decode_steps}, {"tokens_per_second", stats_json(rate)},
                    {"bytes_per_token", bytes_per_token}};
      std::string label = "decode at position " + std::to_string(position);
      if (bandwidth > 0.0) {
        const double bound = bandwidth / bytes_per_token;
        entry["bandwidth_bound_tokens_per_second"] = bound;
        entry["percent_of_bound"] = 100.0 * rate.median / bound;
        label += " (" + std::to_string(static_cast<int>(100.0 * rate.median / bound + 0.5)) + "% of bound)";
      }
      print_row(label, rate, 1.0, "tokens/s");
      decode.push_back(entry);
      std::fflush(stdout);
    }
    report_json["decode"] = decode;
  }

  if (wants(args, "cache")) {
    std::vector<std::int32_t> ids = {static_cast<std::int32_t>(config.text.bos_token_id.value_or(1))};
    while (static_cast<std::int64_t>(ids.size()) < args.cache_prompt_tokens) {
      ids.push_back(random.text_id(std::min<std::int64_t>(config.image_token_index, config.text.vocab_size)));
    }
    GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> embeddings, model->embed_tokens(ids));
    json modes = json::object();
    double totals[2] = {0.0, 0.0};
    for (const bool use_cache : {true, false}) {
      std::vector<CacheRun> runs;
      GLIMPSE_ASSIGN_OR_RETURN(const Stats total, measure(args.repetitions, [&]() -> Result<double> {
                                 GLIMPSE_ASSIGN_OR_RETURN(CacheRun run,
                                                          run_generation(*model, ids, embeddings, args, use_cache));
                                 runs.push_back(run);
                                 return run.total;
                               }));
      runs.erase(runs.begin());  // the warm-up
      const char* name = use_cache ? "with_kv_cache" : "without_kv_cache";
      json mode = {{"total_seconds", stats_json(total)}};
      std::printf("generation, %lld-token prompt, %lld tokens fed back, %s:\n",
                  static_cast<long long>(args.cache_prompt_tokens), static_cast<long long>(args.cache_new_tokens),
                  use_cache ? "with the KV cache" : "without the KV cache (whole sequence per step)");
      print_row("total", total, 1.0, "s");
      for (const std::int64_t step : {std::int64_t{1}, args.cache_new_tokens / 2, args.cache_new_tokens}) {
        std::vector<double> samples;
        for (const CacheRun& run : runs) samples.push_back(run.steps[static_cast<std::size_t>(step - 1)]);
        const Stats stats = summarize(samples);
        print_row("step " + std::to_string(step), stats, 1e3, "ms");
        mode["step_" + std::to_string(step) + "_seconds"] = stats_json(stats);
      }
      totals[use_cache ? 0 : 1] = total.median;
      modes[name] = mode;
      std::fflush(stdout);
    }
    modes["total_ratio"] = totals[1] / totals[0];
    std::printf("  %-44s %10.1f x\n", "without / with the KV cache, total time", totals[1] / totals[0]);
    report_json["cache"] = modes;
  }
  return Status();
}

Result<std::vector<std::int64_t>> parse_positions(const std::string& text) {
  std::vector<std::int64_t> positions;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    char* end = nullptr;
    const long long value = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || value < 0) {
      return make_error(ErrorCode::kInvalidArgument, "--positions: '" + item + "' is not a non-negative integer");
    }
    positions.push_back(value);
    start = comma + 1;
  }
  return positions;
}

}  // namespace

void add_bench_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<BenchArgs>();
  auto positions = std::make_shared<std::string>("16,512,2048");

  auto* bench = app.add_subcommand("bench", "Measure load time, memory, image encoding, prefill, decode and the "
                                            "KV cache's effect on a model");
  bench->add_option("-m,--model", args->model, "A llava-hf model folder")->required();
  bench->add_option("-i,--image", args->image, "Image file for the image, prefill and memory sections")->required();
  bench->add_option("-r,--repetitions", args->repetitions, "Timed runs per figure, after one warm-up run")
      ->default_val(5)
      ->check(CLI::Range(1, 1000));
  bench->add_option("--positions", *positions, "Comma-separated context positions at which decode is timed")
      ->default_val("16,512,2048");
  bench->add_option("--decode-steps", args->decode_steps, "Decode steps timed at each position")
      ->default_val(16)
      ->check(CLI::Range(1, 100000));
  bench->add_option("--prefill-text-tokens", args->prefill_text_tokens,
                    "Text positions of the prefill prompt besides the image positions")
      ->default_val(24)
      ->check(CLI::Range(1, 100000));
  bench->add_option("--cache-prompt-tokens", args->cache_prompt_tokens, "Prompt length of the KV cache comparison")
      ->default_val(64)
      ->check(CLI::Range(1, 100000));
  bench->add_option("--cache-new-tokens", args->cache_new_tokens,
                    "Generated tokens fed back in the KV cache comparison")
      ->default_val(128)
      ->check(CLI::Range(2, 100000));
  bench->add_option("--memory-new-tokens", args->memory_new_tokens, "Tokens generated in the peak memory run")
      ->default_val(128)
      ->check(CLI::Range(1, 100000));
  bench->add_option("--bandwidth-mib", args->bandwidth_mib, "Size of the memory bandwidth buffer in MiB")
      ->default_val(1024)
      ->check(CLI::Range(1, 1 << 20));
  bench->add_option("--kv-cache", args->kv_cache, kKvCacheHelp)->default_val("f32")->check(CLI::IsMember(kKvCacheChoices));
  bench->add_option("--sections", args->sections,
                    "Sections to run (default: all): memory, bandwidth, load, image, prefill, decode, cache")
      ->delimiter(',')
      ->check(CLI::IsMember(kSections));

  bench->add_option("--json", args->json_path, "Also write every figure, with all samples, to this JSON file");

  bench->callback([args, positions, &global, &exit_code] {
    auto parsed = parse_positions(*positions);
    if (!parsed.ok()) {
      exit_code = report(parsed.error());
      return;
    }
    args->positions = *parsed;
    json report_json;
    const Status status = run_bench_sections(*args, global, report_json);
    if (!status.ok()) {
      exit_code = report(status.error());
      return;
    }
    if (!args->json_path.empty()) {
      std::ofstream out(args->json_path);
      out << report_json.dump(2) << "\n";
      if (!out) {
        exit_code = report(make_error(ErrorCode::kIoError, "failed to write '" + args->json_path + "'. Check that its folder exists and is writable"));
        return;
      }
    }
    exit_code = kExitOk;
  });
}

}  // namespace glimpse::cli
