// `glimpse ask`: the main job. Loads a model (a folder or a Hub id), asks a question about the
// given images and streams the answer to stdout, or prints one JSON object with --json.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "glimpse/provider.h"

namespace glimpse::cli {
namespace {

struct AskArgs {
  std::string model;
  std::vector<std::string> images;
  std::string question;
  std::string system;
  AskOptions ask;
  std::int64_t context_length = 0;
  std::string kv_cache = "f32";
  std::string mode;
  bool no_exif_orientation = false;
  bool dry_run = false;
  bool json = false;
  bool offline = false;
  bool quiet = false;
};

nlohmann::json answer_json(const Answer& answer) {
  nlohmann::json tokens = nlohmann::json::array();
  for (const GeneratedToken& token : answer.tokens) {
    nlohmann::json entry = {{"id", token.id}, {"text", token.text}, {"logprob", token.logprob}};
    if (!token.top_logprobs.empty()) {
      nlohmann::json top = nlohmann::json::array();
      for (const TokenAlternative& alternative : token.top_logprobs) {
        top.push_back({{"id", alternative.id}, {"text", alternative.text}, {"logprob", alternative.logprob}});
      }
      entry["top_logprobs"] = std::move(top);
    }
    tokens.push_back(std::move(entry));
  }
  const Timings& t = answer.timings;
  return {
      {"text", answer.text},
      {"finish_reason", std::string(finish_reason_name(answer.finish_reason))},
      {"usage",
       {{"prompt_tokens", answer.usage.prompt_tokens},
        {"image_tokens", answer.usage.image_tokens},
        {"completion_tokens", answer.usage.completion_tokens}}},
      {"timings",
       {{"load_seconds", t.load_seconds},
        {"image_seconds", t.image_seconds},
        {"prefill_seconds", t.prefill_seconds},
        {"decode_seconds", t.decode_seconds},
        {"prefill_tokens_per_second", t.prefill_tokens_per_second},
        {"decode_tokens_per_second", t.decode_tokens_per_second}}},
      {"tokens", std::move(tokens)},
  };
}

void print_timings(const Answer& answer) {
  const Timings& t = answer.timings;
  std::fprintf(stderr,
               "glimpse: load %.2f s, images %.2f s, prefill %lld tokens in %.2f s (%.1f tokens/s), "
               "decode %lld tokens in %.2f s (%.1f tokens/s), finish %s\n",
               t.load_seconds, t.image_seconds, static_cast<long long>(answer.usage.prompt_tokens), t.prefill_seconds,
               t.prefill_tokens_per_second, static_cast<long long>(answer.usage.completion_tokens), t.decode_seconds,
               t.decode_tokens_per_second, std::string(finish_reason_name(answer.finish_reason)).c_str());
}

int run_ask(AskArgs& args, const GlobalOptions& global) {
  // Reject bad option values before a model of many gigabytes is loaded.
  const Status valid = validate(args.ask);
  if (!valid.ok()) return report(valid.error());
  if (args.question.empty()) {
    return report(make_error(ErrorCode::kInvalidArgument, "the question is empty; pass the question as the last argument"));
  }

  ProviderOptions options;
  options.n_threads = global.n_threads;
  options.quantize = quantize_type(global);
  options.copy_weights = global.copy_weights;
  options.context_length = args.context_length;
  options.kv_cache_type = kv_cache_dtype(args.kv_cache);
  options.image.apply_exif_orientation = !args.no_exif_orientation;
  if (args.mode == "crop") options.preprocess_mode = PreprocessMode::kCrop;
  if (args.mode == "pad") options.preprocess_mode = PreprocessMode::kPad;
  if (args.offline) options.hub.offline = true;
  if (args.quiet) options.hub.progress = ProgressMode::kNone;

  auto provider = Provider::load(args.model, options);
  if (!provider.ok()) return report(provider.error());
  if (options.quantize || options.copy_weights || global.verbose) print_load_report((*provider)->model().load_report());
  std::optional<std::string> system;
  if (!args.system.empty()) system = args.system;
  auto conversation = (*provider)->start_chat(system);
  if (!conversation.ok()) return report(conversation.error());

  if (args.dry_run) {
    auto cost = (*conversation)->cost(args.images.size(), args.question);
    if (!cost.ok()) return report(cost.error());
    if (args.json) {
      const nlohmann::json out = {{"prompt_tokens", cost->prompt_tokens},
                                  {"image_tokens", cost->image_tokens},
                                  {"context_length", cost->context_length},
                                  {"context_left", cost->context_left}};
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      std::printf("prompt tokens %lld (image positions %lld), context %lld, positions left after the prompt %lld\n",
                  static_cast<long long>(cost->prompt_tokens), static_cast<long long>(cost->image_tokens),
                  static_cast<long long>(cost->context_length), static_cast<long long>(cost->context_left));
    }
    if (cost->context_left < 0) {
      return report(make_error(ErrorCode::kOutOfRange,
                               "the prompt needs " + std::to_string(cost->prompt_tokens) + " positions but the context holds " +
                                   std::to_string(cost->context_length) +
                                   "; use fewer images, a shorter text or a larger context length (-c)"));
    }
    return kExitOk;
  }

  std::vector<ImageSource> images;
  for (const std::string& image : args.images) images.push_back(ImageSource::from_string(image));
  bool streamed = false;
  if (!args.json) {
    args.ask.on_text = [&streamed](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      streamed = true;
      return true;
    };
  }
  auto answer = (*conversation)->send(images, args.question, args.ask);
  if (!answer.ok()) {
    if (streamed) std::printf("\n");
    std::fflush(stdout);
    return report(answer.error());
  }
  if (args.json) {
    std::printf("%s\n", answer_json(*answer).dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
  }
  std::fflush(stdout);
  if (global.verbose) print_timings(*answer);
  return kExitOk;
}

}  // namespace

void add_ask_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<AskArgs>();
  auto* ask = app.add_subcommand("ask", "Ask a question about images and stream the answer to stdout");
  ask->add_option("-m,--model", args->model,
                  "Model: a llava-hf folder, or a Hub id such as llava-hf/llava-1.5-7b-hf[@revision], "
                  "downloaded into the Hugging Face cache on first use")
      ->required();
  ask->add_option("-i,--image", args->images,
                  "Image file, http(s) URL or data: URI; repeat for several images (default: none)");
  ask->add_option("question", args->question, "The question")->required();
  ask->add_option("--system", args->system, "System message placed before the question (default: none)");
  ask->add_option("-n,--max-new-tokens", args->ask.max_new_tokens, "Most tokens to generate")->default_val(256);
  ask->add_option("--temperature", args->ask.sampling.temperature, "Sampling temperature; 0 is greedy decoding")
      ->default_val(0.0f);
  ask->add_option("--top-k", args->ask.sampling.top_k, "Keep the k most likely tokens; 0 keeps all")->default_val(0);
  ask->add_option("--top-p", args->ask.sampling.top_p, "Nucleus sampling mass in (0, 1]; 1 disables it")
      ->default_val(1.0f);
  ask->add_option("--min-p", args->ask.sampling.min_p, "Drop tokens below min-p times the top probability; 0 disables it")
      ->default_val(0.0f);
  ask->add_option("--repeat-penalty", args->ask.sampling.repetition_penalty,
                  "Repetition penalty (> 1 discourages repeats); 1 disables it")
      ->default_val(1.0f);
  ask->add_option("--repeat-last-n", args->ask.sampling.repetition_window,
                  "Tokens the repetition penalty looks back over; 0 means all")
      ->default_val(64);
  ask->add_option("--seed", args->ask.sampling.seed, "Random seed; the same seed and inputs give the same text")
      ->default_val(0);
  ask->add_option("--stop", args->ask.stop, "Stop string, not included in the answer; repeatable");
  ask->add_flag("--ignore-eos", args->ask.ignore_eos, "Generate exactly --max-new-tokens tokens");
  ask->add_option("--top-logprobs", args->ask.top_logprobs,
                  "With --json, list this many alternatives per token with their log-probabilities (0-20)")
      ->default_val(0);
  ask->add_flag("--no-kv-cache", [args](std::int64_t) { args->ask.use_kv_cache = false; },
                "Re-run the whole sequence for every token (slow; only to show what the KV cache saves)");
  ask->add_option("-c,--context", args->context_length,
                  "Context length in tokens; 0 uses the model's max_position_embeddings")
      ->default_val(0);
  ask->add_option("--kv-cache", args->kv_cache, kKvCacheHelp)->default_val("f32")->check(CLI::IsMember(kKvCacheChoices));
  ask->add_option("--mode", args->mode, "Image preprocessing: crop (llava-hf) or pad (original LLaVA); "
                                        "default: the model's preprocessor_config.json")
      ->check(CLI::IsMember({"crop", "pad"}));
  ask->add_flag("--no-exif-orientation", args->no_exif_orientation,
                "Use pixels as stored instead of rotating by the EXIF Orientation tag");
  ask->add_flag("--dry-run", args->dry_run, "Print the prompt's token count and the context left, then exit");
  ask->add_flag("--json", args->json, "Print one JSON object (text, finish_reason, usage, timings, tokens)");
  ask->add_flag("--offline", args->offline, "Use only the Hugging Face cache, never the network");
  ask->add_flag("-q,--quiet", args->quiet, "No download progress");
  ask->callback([args, &global, &exit_code] { exit_code = run_ask(*args, global); });
}

}  // namespace glimpse::cli
