// Recursive-descent parser for the Jinja subset of chat templates. Operator precedence follows
// Jinja's parser: conditional expression, or, and, not, comparisons, + and -, ~, * / // %, **,
// unary minus, then primaries with their attribute, item, call, filter and test suffixes.
#pragma once

#include <string_view>

#include "text/jinja/ast.h"

namespace glimpse::text::jinja {

// Parses a whole template; throws TemplateError naming the line and the construct on failure.
Body parse_template(std::string_view source);

}  // namespace glimpse::text::jinja
