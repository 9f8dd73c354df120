#include "text/clean_up.h"

#include <algorithm>
#include <utility>

namespace glimpse::text {
namespace {

// transformers (tokenization_utils_base.py, clean_up_tokenization), in its order.
constexpr std::pair<std::string_view, std::string_view> kRules[] = {
    {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
    {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
};

}  // namespace

std::string clean_up_tokenization(std::string text) {
  for (const auto& [from, to] : kRules) {
    if (text.find(from) == std::string::npos) continue;
    std::string out;
    std::size_t previous = 0;
    for (std::size_t found = text.find(from); found != std::string::npos; found = text.find(from, previous)) {
      out.append(text, previous, found - previous);
      out.append(to);
      previous = found + from.size();
    }
    out.append(text, previous, std::string::npos);
    text = std::move(out);
  }
  return text;
}

std::size_t clean_up_pending_length(std::string_view text) {
  std::size_t pending = 0;
  for (const auto& rule : kRules) {
    const std::string_view pattern = rule.first;
    for (std::size_t length = std::min(pattern.size() - 1, text.size()); length > pending; --length) {
      if (text.substr(text.size() - length) == pattern.substr(0, length)) {
        pending = length;
        break;
      }
    }
  }
  return pending;
}

}  // namespace glimpse::text
