// Splits a Jinja template into text and tag tokens, applying whitespace control the way
// transformers configures Jinja for chat templates: trim_blocks (drop the newline after a block
// or comment tag), lstrip_blocks (drop spaces and tabs before a block or comment tag that starts
// a line), "-" markers that strip all white space on their side, and "+" to keep it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace glimpse::text::jinja {

enum class TokenKind {
  kText,        // template text outside tags
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,      // value: the unescaped string
  kInteger,
  kFloat,
  kOperator,    // value: the operator, such as "==" or "("
  kEnd,
};

struct Token {
  TokenKind kind;
  std::string value;
  std::size_t line;  // 1-based, for messages
};

// Tokenizes `source`; throws TemplateError with the line on an unterminated tag or string.
std::vector<Token> tokenize_template(std::string_view source);

}  // namespace glimpse::text::jinja
