// transformers' clean_up_tokenization: removes the space that word-level decoding leaves before
// punctuation and English contractions (" ." -> ".", " n't" -> "n't").
#pragma once

#include <string>
#include <string_view>

namespace glimpse::text {

// Applies the rules in transformers' order, each as a left-to-right replace of every occurrence.
std::string clean_up_tokenization(std::string text);

// The length of the longest tail of `text` that is a proper prefix of a rule's pattern, so that
// a stream can hold it back until the next text decides whether the rule applies.
std::size_t clean_up_pending_length(std::string_view text);

}  // namespace glimpse::text
