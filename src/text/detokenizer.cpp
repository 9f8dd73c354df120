#include "glimpse/detokenizer.h"

#include <algorithm>

#include "text/clean_up.h"
#include "text/utf8.h"

namespace glimpse {
namespace {

bool ends_with_replacement(const std::string& text) {
  const std::string_view marker = text::kReplacementCharacter;
  return text.size() >= marker.size() && text.compare(text.size() - marker.size(), marker.size(), marker) == 0;
}

}  // namespace

Result<StreamingDetokenizer> StreamingDetokenizer::create(const Tokenizer& tokenizer, DetokenizerOptions options) {
  for (std::size_t i = 0; i < options.stop_strings.size(); ++i) {
    const std::string& stop = options.stop_strings[i];
    if (stop.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "stop string " + std::to_string(i) + " is empty");
    }
    if (const auto invalid = text::find_invalid_utf8(stop)) {
      return make_error(ErrorCode::kInvalidArgument, "stop string " + std::to_string(i) +
                                                         " is not valid UTF-8 at byte " + std::to_string(*invalid));
    }
  }
  return StreamingDetokenizer(tokenizer, std::move(options));
}

std::string StreamingDetokenizer::decode_window() const {
  DecodeOptions decode_options;
  decode_options.skip_special_tokens = options_.skip_special_tokens;
  decode_options.clean_up_tokenization_spaces = false;  // applied to the stream in clean_up()
  return tokenizer_->decode(window_, decode_options);
}

std::string StreamingDetokenizer::push(std::int32_t id) {
  if (finished_ || stopped()) return "";
  window_.push_back(id);
  const std::string decoded = decode_window();

  // Wait while the new token adds nothing or ends in an incomplete character: a byte-fallback
  // token that opens a multi-byte character decodes to U+FFFD until its last byte arrives.
  if (decoded.size() <= context_text_.size() || ends_with_replacement(decoded)) return "";

  // The context normally decodes to a prefix of the window's text, and the new text follows it.
  // It does not when an invalid byte run swallows released bytes (see the header's NOTE); then
  // the whole window's text counts as new.
  const std::size_t start = decoded.compare(0, context_text_.size(), context_text_) == 0 ? context_text_.size() : 0;
  std::string fresh = decoded.substr(start);

  // The ids just released become the context of the next step.
  window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(n_context_));
  n_context_ = window_.size();
  context_text_ = decode_window();
  return release(std::move(fresh), false);
}

std::string StreamingDetokenizer::flush() {
  if (finished_ || stopped()) return "";
  finished_ = true;
  std::string rest;
  const std::string decoded = decode_window();
  if (decoded.size() > context_text_.size() && decoded.compare(0, context_text_.size(), context_text_) == 0) {
    rest = decoded.substr(context_text_.size());
  }
  window_.clear();
  n_context_ = 0;
  context_text_.clear();
  return release(std::move(rest), true);
}

std::string StreamingDetokenizer::clean_up(std::string decoded, bool final) {
  if (!tokenizer_->cleans_up_tokenization_spaces()) return decoded;
  cleanup_held_ += decoded;
  const std::size_t pending = final ? 0 : text::clean_up_pending_length(cleanup_held_);
  std::string ready = text::clean_up_tokenization(cleanup_held_.substr(0, cleanup_held_.size() - pending));
  cleanup_held_.erase(0, cleanup_held_.size() - pending);
  return ready;
}

std::string StreamingDetokenizer::release(std::string decoded, bool final) {
  held_ += clean_up(std::move(decoded), final);
  const auto& stops = options_.stop_strings;

  // The earliest stop string wins; at equal positions, the first listed.
  std::size_t stop_at = std::string::npos;
  for (std::size_t i = 0; i < stops.size(); ++i) {
    const std::size_t found = held_.find(stops[i]);
    if (found != std::string::npos && found < stop_at) {
      stop_at = found;
      stop_index_ = i;
    }
  }
  if (stop_at != std::string::npos) {
    std::string out = held_.substr(0, stop_at);
    held_.clear();
    cleanup_held_.clear();
    released_ += out;
    return out;
  }

  // Hold back the longest tail that could still grow into a stop string.
  std::size_t keep = 0;
  if (!final) {
    for (const std::string& stop : stops) {
      for (std::size_t length = std::min(stop.size() - 1, held_.size()); length > keep; --length) {
        if (held_.compare(held_.size() - length, length, stop, 0, length) == 0) {
          keep = length;
          break;
        }
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  released_ += out;
  return out;
}

}  // namespace glimpse
