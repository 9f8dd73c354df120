// A parsed Jinja template, the entry point of the Jinja subset: parse once, render many times.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "glimpse/status.h"
#include "text/jinja/ast.h"
#include "text/jinja/interpreter.h"

namespace glimpse::text::jinja {

class Template {
 public:
  // Parses `source`; `origin` names it in errors ("chat_template.json").
  static Result<Template> parse(std::string_view source, const std::string& origin);

  // Renders with `globals` as variables. `now_seconds` is the time strftime_now() formats.
  Result<MarkedString> render(const Dict& globals, std::int64_t now_seconds, const RenderLimits& limits = {}) const;

  // True when some for loop iterates over a `content` attribute or item, the sign that the
  // template expects message content as a list of typed parts rather than a string.
  bool iterates_message_content() const;

 private:
  std::shared_ptr<const Body> body_;
  std::string origin_;
};

}  // namespace glimpse::text::jinja
