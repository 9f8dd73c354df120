// The public entry point: load a LLaVA model with its tokenizer, chat template and image
// preprocessing, then ask questions about images, in one turn or as a multi-turn conversation.
//
//   auto provider = glimpse::Provider::load("llava-hf/llava-1.5-7b-hf");
//   const std::vector<glimpse::ImageSource> images = {glimpse::ImageSource::from_path("cat.jpg")};
//   auto answer = (*provider)->ask(images, "What is this?");
//
// A conversation keeps its KV cache between turns, so a new turn feeds only its own tokens and
// images. Methods of one Provider may run on several threads at once; a ChatSession belongs to
// one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "glimpse/generate.h"
#include "glimpse/hub.h"
#include "glimpse/image.h"
#include "glimpse/image_source.h"
#include "glimpse/llava.h"
#include "glimpse/sampler.h"
#include "glimpse/status.h"
#include "glimpse/chat_template.h"
#include "glimpse/tokenizer.h"

namespace glimpse {

struct ProviderOptions {
  int n_threads = 0;                         // 0: one per hardware thread
  std::optional<DType> quantize;             // Q8_0 or Q4_0: see LoadOptions::quantize
  bool copy_weights = false;                 // see LoadOptions::copy_weights
  std::int64_t context_length = 0;           // KV cache positions; 0: max_position_embeddings
  DType kv_cache_type = DType::kF32;         // KV cache element type: kF32 or kF16
  std::optional<PreprocessMode> preprocess_mode;  // overrides preprocessor_config.json
  ImageLoadOptions image;                    // sources, limits and EXIF orientation
  HubOptions hub;                            // used when the model is a Hub id
};

struct AskOptions {
  SamplingOptions sampling;                  // temperature 0 (the default) is greedy decoding
  std::int64_t max_new_tokens = 256;
  std::vector<std::string> stop;             // stop strings; the answer ends before the first match
  bool ignore_eos = false;                   // generate exactly max_new_tokens (benchmarks)
  bool use_kv_cache = true;                  // false re-runs the sequence per token (comparison only)
  std::int32_t top_logprobs = 0;             // alternatives reported per token, 0 to 20
  // Receives each piece of answer text as it is decoded; returning false cancels generation.
  std::function<bool(std::string_view piece)> on_text;
};

// Checks sampling ranges, max_new_tokens, top_logprobs and the stop strings, so a caller can
// reject bad options before loading a model.
Status validate(const AskOptions& options);

struct TokenAlternative {
  std::int32_t id = 0;
  std::string text;     // the token decoded on its own
  float logprob = 0.0f;
};

struct GeneratedToken {
  std::int32_t id = 0;
  // The text this token adds in streaming order. A token that ends inside a UTF-8 character adds
  // nothing and the next token carries the whole character. The texts concatenate to the answer
  // unless a stop string cut it, because the tokens of the stop string are listed too.
  std::string text;
  float logprob = 0.0f;  // log-softmax of the raw logits, before any sampling adjustment
  std::vector<TokenAlternative> top_logprobs;
};

struct Usage {
  std::int64_t prompt_tokens = 0;      // positions fed for this turn, image positions included
  std::int64_t image_tokens = 0;       // image positions among them
  std::int64_t completion_tokens = 0;
};

struct Timings {
  double load_seconds = 0.0;           // loading the model (once per Provider)
  double image_seconds = 0.0;          // reading, decoding, preprocessing and encoding the images
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  double prefill_tokens_per_second = 0.0;
  double decode_tokens_per_second = 0.0;  // forward passes after the prefill, per second
};

struct Answer {
  std::string text;
  std::vector<GeneratedToken> tokens;
  FinishReason finish_reason = FinishReason::kLength;
  Usage usage;
  Timings timings;
};

// The cost of a request, known before it runs.
struct PromptCost {
  std::int64_t prompt_tokens = 0;   // positions the turn will feed, image positions included
  std::int64_t image_tokens = 0;
  std::int64_t context_length = 0;
  // Positions left after the prompt. The answer can be one token longer, because its last token
  // is never fed back; a negative value means the prompt does not fit.
  std::int64_t context_left = 0;
};

class Provider;
struct PromptIds;

class ChatSession {
 public:
  ~ChatSession();

  // Sends one user turn (its images first, then the text, as the llava-1.5 template places
  // them) and generates the assistant's answer.
  Result<Answer> send(std::span<const ImageSource> images, std::string_view text, const AskOptions& options = {});
  // The cost of send() with `n_images` images and `text`, without running anything.
  Result<PromptCost> cost(std::size_t n_images, std::string_view text) const;

  // Positions of the context used so far.
  std::int64_t position() const;

 private:
  friend class Provider;
  struct State;
  explicit ChatSession(std::unique_ptr<State> state);
  // Feeds what the cache does not hold yet of `prompt` (this turn's images are `images`) and
  // generates the answer.
  Result<Answer> run_turn(const PromptIds& prompt, std::span<const ImageSource> images, const AskOptions& options);
  std::unique_ptr<State> state_;
};

class Provider {
 public:
  // Loads a model from a local llava-hf folder, or downloads it first when `model` is a Hub id
  // such as "llava-hf/llava-1.5-7b-hf" or "org/name@revision".
  static Result<std::unique_ptr<Provider>> load(const std::string& model, const ProviderOptions& options = {});
  ~Provider();

  // One question about zero or more images, in a fresh conversation.
  Result<Answer> ask(std::span<const ImageSource> images, std::string_view question, const AskOptions& options = {});
  Result<Answer> ask_url(const std::string& url, std::string_view question, const AskOptions& options = {});
  // The cost of ask() without running anything.
  Result<PromptCost> estimate(std::size_t n_images, std::string_view question) const;

  // A raw prompt without the chat template. Each "<image>" in `prompt` is one image slot, filled
  // by `images` in order; the counts must match. Special-token strings in `prompt` are parsed.
  Result<Answer> complete(std::string_view prompt, std::span<const ImageSource> images,
                          const AskOptions& options = {});

  // A new multi-turn conversation, optionally with a system message.
  Result<std::unique_ptr<ChatSession>> start_chat(std::optional<std::string> system = {});

  const LlavaModel& model() const;
  const Tokenizer& tokenizer() const;
  const PreprocessConfig& preprocess_config() const;
  const std::string& model_folder() const;

 private:
  friend class ChatSession;
  struct Impl;
  explicit Provider(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace glimpse
