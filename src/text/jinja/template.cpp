#include "text/jinja/template.h"

#include "text/jinja/parser.h"

namespace glimpse::text::jinja {
namespace {

bool names_content(const Expression& expression) {
  const Expression* current = &expression;
  while (current->kind == Expression::Kind::kFilter && current->object) current = current->object.get();
  if (current->kind == Expression::Kind::kAttribute) return current->name == "content";
  if (current->kind == Expression::Kind::kItem && current->index && current->index->kind == Expression::Kind::kLiteral &&
      current->index->value.is_string()) {
    return current->index->value.as_string().text == "content";
  }
  return false;
}

bool body_iterates_content(const Body& body) {
  for (const auto& statement : body) {
    if (statement->kind == Statement::Kind::kFor && statement->expression && names_content(*statement->expression)) {
      return true;
    }
    if (body_iterates_content(statement->body) || body_iterates_content(statement->else_body)) return true;
    for (const Body& branch : statement->bodies) {
      if (body_iterates_content(branch)) return true;
    }
  }
  return false;
}

}  // namespace

Result<Template> Template::parse(std::string_view source, const std::string& origin) {
  try {
    Template result;
    result.body_ = std::make_shared<const Body>(parse_template(source));
    result.origin_ = origin;
    return result;
  } catch (const TemplateError& error) {
    return make_error(error.code(), origin + ": " + error.what());
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, origin + ": failed to parse the template: " + e.what());
  }
}

Result<MarkedString> Template::render(const Dict& globals, std::int64_t now_seconds, const RenderLimits& limits) const {
  try {
    Interpreter interpreter(limits, now_seconds);
    return interpreter.render(*body_, globals);
  } catch (const TemplateError& error) {
    return make_error(error.code(), origin_ + ": " + error.what());
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, origin_ + ": failed to render the template: " + e.what());
  }
}

bool Template::iterates_message_content() const { return body_iterates_content(*body_); }

}  // namespace glimpse::text::jinja
