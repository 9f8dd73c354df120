#include "glimpse/provider.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "glimpse/detokenizer.h"
#include "glimpse/log.h"
#include "provider/provider_impl.h"

namespace glimpse {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

constexpr std::int32_t kMaxTopLogprobs = 20;

}  // namespace

Status validate(const AskOptions& options) {
  GLIMPSE_RETURN_IF_ERROR(validate(options.sampling));
  if (options.max_new_tokens < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "max_new_tokens is " + std::to_string(options.max_new_tokens) + "; expected a value >= 0");
  }
  if (options.top_logprobs < 0 || options.top_logprobs > kMaxTopLogprobs) {
    return make_error(ErrorCode::kInvalidArgument, "top_logprobs is " + std::to_string(options.top_logprobs) +
                                                       "; expected a value in [0, 20]");
  }
  for (const std::string& stop : options.stop) {
    if (stop.empty()) return make_error(ErrorCode::kInvalidArgument, "a stop string is empty");
  }
  return {};
}

Provider::Provider(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Provider::~Provider() = default;

Result<std::unique_ptr<Provider>> Provider::load(const std::string& model, const ProviderOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  GLIMPSE_RETURN_IF_ERROR(options.image.validate());
  if (options.context_length < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "context length is " + std::to_string(options.context_length) + "; expected a value >= 0");
  }
  GLIMPSE_ASSIGN_OR_RETURN(const std::string folder, resolve_model(model, options.hub));

  auto impl = std::make_unique<Impl>();
  impl->folder = folder;
  impl->options = options;
  LoadOptions load_options;
  load_options.n_threads = options.n_threads;
  load_options.quantize = options.quantize;
  load_options.copy_weights = options.copy_weights;
  load_options.kv_cache_type = options.kv_cache_type;
  GLIMPSE_ASSIGN_OR_RETURN(impl->model, LlavaModel::load(folder, load_options));
  GLIMPSE_ASSIGN_OR_RETURN(impl->tokenizer, Tokenizer::load_from_folder(folder));
  GLIMPSE_ASSIGN_OR_RETURN(impl->prompts, PromptBuilder::create(folder, *impl->tokenizer, impl->model->config()));
  GLIMPSE_ASSIGN_OR_RETURN(impl->preprocess, PreprocessConfig::from_model_folder(folder));
  if (options.preprocess_mode) impl->preprocess.mode = *options.preprocess_mode;
  GLIMPSE_RETURN_IF_ERROR(impl->preprocess.validate());

  // The vision tower takes a square of image_size; the processor must produce exactly that.
  const std::int64_t side = impl->model->config().vision.image_size;
  if (impl->preprocess.crop_height != side || impl->preprocess.crop_width != side) {
    return make_error(ErrorCode::kInvalidFormat,
                      folder + "/preprocessor_config.json: crop_size " + std::to_string(impl->preprocess.crop_width) +
                          "x" + std::to_string(impl->preprocess.crop_height) +
                          " does not match the vision tower's image_size " + std::to_string(side));
  }

  // Rows that may be sampled: ids the tokenizer can produce, except the image and padding tokens.
  const LlavaConfig& config = impl->model->config();
  impl->allowed.assign(static_cast<std::size_t>(config.text.vocab_size), false);
  for (std::int32_t id = 0; id < config.text.vocab_size; ++id) {
    const bool excluded = id == config.image_token_index || (config.pad_token_id && id == *config.pad_token_id) ||
                          (impl->tokenizer->pad_id() && id == *impl->tokenizer->pad_id());
    impl->allowed[static_cast<std::size_t>(id)] = impl->tokenizer->is_token(id) && !excluded;
  }

  impl->load_seconds = seconds_since(start);
  log_message(LogLevel::kInfo, "model ready in " + std::to_string(impl->load_seconds) + " s");
  return std::unique_ptr<Provider>(new Provider(std::move(impl)));
}

const LlavaModel& Provider::model() const { return *impl_->model; }
const Tokenizer& Provider::tokenizer() const { return *impl_->tokenizer; }
const PreprocessConfig& Provider::preprocess_config() const { return impl_->preprocess; }
const std::string& Provider::model_folder() const { return impl_->folder; }

Result<std::unique_ptr<ChatSession>> Provider::start_chat(std::optional<std::string> system) {
  auto state = std::make_unique<ChatSession::State>();
  state->provider = impl_.get();
  GLIMPSE_ASSIGN_OR_RETURN(state->sequence, Sequence::create(*impl_->model, impl_->options.context_length));
  if (system) state->messages.push_back(ChatMessage{ChatRole::kSystem, {ChatPart::text_part(std::move(*system))}});
  return std::unique_ptr<ChatSession>(new ChatSession(std::move(state)));
}

Result<Answer> Provider::ask(std::span<const ImageSource> images, std::string_view question,
                             const AskOptions& options) {
  GLIMPSE_ASSIGN_OR_RETURN(auto conversation, start_chat());
  return conversation->send(images, question, options);
}

Result<Answer> Provider::ask_url(const std::string& url, std::string_view question, const AskOptions& options) {
  const ImageSource source = ImageSource::from_url(url);
  return ask(std::span<const ImageSource>(&source, 1), question, options);
}

Result<PromptCost> Provider::estimate(std::size_t n_images, std::string_view question) const {
  auto state = std::make_unique<ChatSession::State>();
  state->provider = impl_.get();
  GLIMPSE_ASSIGN_OR_RETURN(state->sequence, Sequence::create(*impl_->model, impl_->options.context_length));
  ChatSession conversation(std::move(state));
  return conversation.cost(n_images, question);
}

Result<Answer> Provider::complete(std::string_view prompt, std::span<const ImageSource> images,
                                  const AskOptions& options) {
  GLIMPSE_ASSIGN_OR_RETURN(auto conversation, start_chat());
  GLIMPSE_ASSIGN_OR_RETURN(const PromptIds ids, impl_->prompts->encode_raw(prompt, images.size()));
  return conversation->run_turn(ids, images, options);
}

}  // namespace glimpse
