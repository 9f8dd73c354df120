// A compiled PCRE2 regular expression over UTF-8 text with Unicode properties (\p{L}, \s as
// Unicode white space), JIT-compiled where the platform allows. Hugging Face's tokenizers compile
// the same patterns with Oniguruma; both follow Perl syntax for everything tokenizer.json files use.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "glimpse/status.h"

namespace glimpse::text {

class Regex {
 public:
  // Compiles `pattern`. `where` names the pattern's origin in the error message.
  static Result<Regex> compile(std::string_view pattern, const std::string& where);
  // A regex matching `literal` exactly (for Hugging Face's {"String": ...} patterns).
  static Result<Regex> compile_literal(std::string_view literal, const std::string& where);

  // The non-overlapping matches in valid UTF-8 `text`, left to right, as byte ranges. An empty
  // match is dropped and the search resumes one code point later.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;

  // Replaces every match in `text` with `replacement` (taken literally).
  std::string replace_all(std::string_view text, std::string_view replacement) const;

 private:
  struct Code;
  explicit Regex(std::shared_ptr<Code> code) : code_(std::move(code)) {}
  std::shared_ptr<Code> code_;
};

}  // namespace glimpse::text
