#include "text/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace glimpse::text {

struct Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

namespace {

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

}  // namespace

Result<Regex> Regex::compile(std::string_view pattern, const std::string& where) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return make_error(ErrorCode::kInvalidFormat, where + ": invalid regular expression at offset " +
                                                     std::to_string(error_offset) + ": " +
                                                     reinterpret_cast<const char*>(message));
  }
  // JIT compilation is an optimization; the interpreter gives the same matches when it fails.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  auto holder = std::make_shared<Code>();
  holder->code = code;
  return Regex(std::move(holder));
}

Result<Regex> Regex::compile_literal(std::string_view literal, const std::string& where) {
  // \Q...\E quotes everything up to a literal "\E", so each "\E" in the input is spliced out.
  std::string pattern = "\\Q";
  std::size_t start = 0;
  while (true) {
    const std::size_t found = literal.find("\\E", start);
    if (found == std::string_view::npos) {
      pattern.append(literal.substr(start));
      break;
    }
    pattern.append(literal.substr(start, found - start));
    pattern.append("\\E\\\\E\\Q");
    start = found + 2;
  }
  pattern += "\\E";
  return compile(pattern, where);
}

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(pcre2_match_data_create_from_pattern(code_->code, nullptr));
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t offset = 0;
  while (offset <= text.size()) {
    // The caller guarantees valid UTF-8, so PCRE2 need not check it again on every call.
    const int rc = pcre2_match(code_->code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, data.get(), nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* vector = pcre2_get_ovector_pointer(data.get());
    const std::size_t start = vector[0];
    const std::size_t end = vector[1];
    if (end > start) {
      matches.emplace_back(start, end);
      offset = end;
      continue;
    }
    // An empty match: step over one code point.
    if (start >= text.size()) break;
    offset = start + 1;
    while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80) ++offset;
  }
  return matches;
}

std::string Regex::replace_all(std::string_view text, std::string_view replacement) const {
  std::string out;
  std::size_t previous = 0;
  for (const auto& [start, end] : find_all(text)) {
    out.append(text.substr(previous, start - previous));
    out.append(replacement);
    previous = end;
  }
  out.append(text.substr(previous));
  return out;
}

}  // namespace glimpse::text
