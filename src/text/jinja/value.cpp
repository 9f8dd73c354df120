#include "text/jinja/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "text/utf8.h"

namespace glimpse::text::jinja {

void fail(const std::string& message) { throw TemplateError(ErrorCode::kInvalidArgument, message); }
void fail_unsupported(const std::string& message) { throw TemplateError(ErrorCode::kUnsupported, message); }

MarkedString MarkedString::literal_text(std::string text) {
  MarkedString result(std::move(text));
  if (!result.text.empty()) result.literal.push_back({0, result.text.size()});
  return result;
}

void MarkedString::append(const MarkedString& other) {
  const std::size_t shift = text.size();
  text += other.text;
  for (const TextSpan& span : other.literal) {
    // Join spans that touch, so that a literal run stays one span.
    if (!literal.empty() && literal.back().end == span.begin + shift) {
      literal.back().end = span.end + shift;
    } else {
      literal.push_back({span.begin + shift, span.end + shift});
    }
  }
}

MarkedString MarkedString::substr(std::size_t begin, std::size_t end) const {
  MarkedString result(text.substr(begin, end - begin));
  for (const TextSpan& span : literal) {
    const std::size_t b = std::max(span.begin, begin);
    const std::size_t e = std::min(span.end, end);
    if (b < e) result.literal.push_back({b - begin, e - begin});
  }
  return result;
}

void MarkedString::inherit_literal(const MarkedString& source) {
  if (source.has_literal() && !text.empty()) literal.assign(1, TextSpan{0, text.size()});
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [name, value] : items) {
    if (name == key) return &value;
  }
  return nullptr;
}

void Dict::set(std::string key, Value value) {
  for (auto& [name, existing] : items) {
    if (name == key) {
      existing = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

std::int64_t Value::as_int() const {
  if (is_bool()) return as_bool() ? 1 : 0;
  return std::get<std::int64_t>(storage_);
}

double Value::as_double() const {
  if (is_float()) return std::get<double>(storage_);
  return static_cast<double>(as_int());
}

bool Value::truthy() const {
  if (is_undefined() || is_none()) return false;
  if (is_bool()) return as_bool();
  if (is_int()) return as_int() != 0;
  if (is_float()) return as_double() != 0.0;
  if (is_string()) return !as_string().text.empty();
  if (is_list()) return !as_list().empty();
  if (is_dict()) return !as_dict().items.empty();
  return true;
}

std::string Value::type_name() const {
  if (is_undefined()) return "undefined";
  if (is_none()) return "NoneType";
  if (is_bool()) return "bool";
  if (is_int()) return "int";
  if (is_float()) return "float";
  if (is_string()) return "str";
  if (is_list()) return "list";
  if (is_dict()) return "dict";
  if (is_namespace()) return "Namespace";
  return "function";
}

std::string format_float(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // The shortest round-trip digits in scientific form, rearranged the way Python's repr does:
  // positional notation for exponents from -4 to 15, scientific with a signed two-digit exponent
  // otherwise.
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string scientific(buffer, result.ptr);
  const std::size_t e = scientific.find('e');
  std::string mantissa = scientific.substr(0, e);
  const int exponent = std::stoi(scientific.substr(e + 1));
  std::string sign;
  if (!mantissa.empty() && mantissa[0] == '-') {
    sign = "-";
    mantissa.erase(0, 1);
  }
  std::string digits;
  for (const char c : mantissa) {
    if (c != '.') digits += c;
  }
  if (exponent >= -4 && exponent < 16) {
    std::string out;
    if (exponent < 0) {
      out = "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<std::size_t>(exponent) + 1 >= digits.size()) {
      out = digits + std::string(static_cast<std::size_t>(exponent) + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<std::size_t>(exponent) + 1) + "." + digits.substr(static_cast<std::size_t>(exponent) + 1);
    }
    return sign + out;
  }
  std::string out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exponent_text[16];
  std::snprintf(exponent_text, sizeof(exponent_text), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return sign + out + exponent_text;
}

namespace {

template <typename T>
int three_way(const T& a, const T& b) {
  if (a < b) return -1;
  if (b < a) return 1;
  return 0;
}

std::string repr_string(const std::string& text) {
  // Python prefers single quotes and switches to double quotes when only those avoid escapes.
  const bool has_single = text.find('\'') != std::string::npos;
  const bool has_double = text.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20 || byte == 0x7F) {
      char escape[8];
      std::snprintf(escape, sizeof(escape), "\\x%02x", byte);
      out += escape;
    } else {
      out += c;
    }
  }
  out += quote;
  return out;
}

void json_string(std::string& out, const std::string& text) {
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (byte < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof(escape), "\\u%04x", byte);
          out += escape;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void json_value(std::string& out, const Value& value, int indent, int depth) {
  if (depth > 512) fail("tojson: the value nests deeper than 512 levels");
  const auto newline = [&](int level) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(level), ' ');
  };
  const std::string item_separator = indent < 0 ? ", " : ",";
  if (value.is_none()) {
    out += "null";
  } else if (value.is_bool()) {
    out += value.as_bool() ? "true" : "false";
  } else if (value.is_int()) {
    out += std::to_string(value.as_int());
  } else if (value.is_float()) {
    const double number = value.as_double();
    // Python's json module writes the non-standard NaN and Infinity literals.
    if (std::isnan(number)) {
      out += "NaN";
    } else if (std::isinf(number)) {
      out += number > 0 ? "Infinity" : "-Infinity";
    } else {
      out += format_float(number);
    }
  } else if (value.is_string()) {
    json_string(out, value.as_string().text);
  } else if (value.is_list()) {
    const List& list = value.as_list();
    out += '[';
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (i > 0) out += item_separator;
      newline(depth + 1);
      json_value(out, list[i], indent, depth + 1);
    }
    if (!list.empty()) newline(depth);
    out += ']';
  } else if (value.is_dict() || value.is_namespace()) {
    const Dict& dict = value.is_dict() ? value.as_dict() : value.as_namespace().attributes;
    out += '{';
    for (std::size_t i = 0; i < dict.items.size(); ++i) {
      if (i > 0) out += item_separator;
      newline(depth + 1);
      json_string(out, dict.items[i].first);
      out += ": ";
      json_value(out, dict.items[i].second, indent, depth + 1);
    }
    if (!dict.items.empty()) newline(depth);
    out += '}';
  } else {
    fail("tojson: a value of type " + value.type_name() + " is not JSON serializable");
  }
}

}  // namespace

std::string to_repr(const Value& value) {
  if (value.is_string()) return repr_string(value.as_string().text);
  if (value.is_list()) {
    std::string out = "[";
    const List& list = value.as_list();
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (i > 0) out += ", ";
      out += to_repr(list[i]);
    }
    return out + "]";
  }
  if (value.is_dict()) {
    std::string out = "{";
    const Dict& dict = value.as_dict();
    for (std::size_t i = 0; i < dict.items.size(); ++i) {
      if (i > 0) out += ", ";
      out += repr_string(dict.items[i].first) + ": " + to_repr(dict.items[i].second);
    }
    return out + "}";
  }
  return to_output(value).text;
}

MarkedString to_output(const Value& value) {
  if (value.is_undefined()) return MarkedString();
  if (value.is_none()) return MarkedString("None");
  if (value.is_bool()) return MarkedString(value.as_bool() ? "True" : "False");
  if (value.is_int()) return MarkedString(std::to_string(value.as_int()));
  if (value.is_float()) return MarkedString(format_float(value.as_double()));
  if (value.is_string()) return value.as_string();
  if (value.is_callable()) return MarkedString("<function " + value.as_callable().name + ">");
  if (value.is_namespace()) return MarkedString("<Namespace>");
  return MarkedString(to_repr(value));
}

std::string to_json(const Value& value, int indent) {
  std::string out;
  json_value(out, value, indent, 0);
  return out;
}

bool equals(const Value& left, const Value& right) {
  if (left.is_number() && right.is_number()) {
    if (left.is_float() || right.is_float()) return left.as_double() == right.as_double();
    return left.as_int() == right.as_int();
  }
  if (left.is_undefined() || right.is_undefined()) return left.is_undefined() && right.is_undefined();
  if (left.is_none() || right.is_none()) return left.is_none() && right.is_none();
  if (left.is_string() && right.is_string()) return left.as_string().text == right.as_string().text;
  if (left.is_list() && right.is_list()) {
    const List& a = left.as_list();
    const List& b = right.as_list();
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!equals(a[i], b[i])) return false;
    }
    return true;
  }
  if (left.is_dict() && right.is_dict()) {
    const Dict& a = left.as_dict();
    const Dict& b = right.as_dict();
    if (a.items.size() != b.items.size()) return false;
    for (const auto& [key, value] : a.items) {
      const Value* other = b.find(key);
      if (other == nullptr || !equals(value, *other)) return false;
    }
    return true;
  }
  if (left.is_namespace() && right.is_namespace()) return &left.as_namespace() == &right.as_namespace();
  return false;
}

int compare(const Value& left, const Value& right) {
  if (left.is_number() && right.is_number()) {
    if (left.is_float() || right.is_float()) {
      return three_way(left.as_double(), right.as_double());
    }
    return three_way(left.as_int(), right.as_int());
  }
  if (left.is_string() && right.is_string()) {
    // UTF-8 byte order is code point order, which is Python's string order.
    return three_way(left.as_string().text.compare(right.as_string().text), 0);
  }
  if (left.is_list() && right.is_list()) {
    const List& a = left.as_list();
    const List& b = right.as_list();
    for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
      const int c = compare(a[i], b[i]);
      if (c != 0) return c;
    }
    return three_way(a.size(), b.size());
  }
  fail("cannot order a value of type " + left.type_name() + " against one of type " + right.type_name());
}

}  // namespace glimpse::text::jinja
