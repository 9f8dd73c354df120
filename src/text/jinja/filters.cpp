// Built-in filters and tests of the Jinja subset, and the Python methods of strings and dicts.
#include <algorithm>
#include <cmath>

#include "text/jinja/interpreter.h"
#include "text/utf8.h"

namespace glimpse::text::jinja {
namespace {

std::string at_line(std::size_t line) { return "line " + std::to_string(line) + ": "; }

bool contains_literal(const Value& value) {
  if (value.is_string()) return value.as_string().has_literal();
  if (value.is_list()) return std::any_of(value.as_list().begin(), value.as_list().end(), contains_literal);
  if (value.is_dict()) {
    for (const auto& [key, item] : value.as_dict().items) {
      if (contains_literal(item)) return true;
    }
  }
  return false;
}

// str(value), keeping literal spans of strings and marking text made from literal data.
MarkedString as_text(const Value& value) {
  MarkedString text = to_output(value);
  if (!value.is_string() && contains_literal(value)) text.literal.assign(1, TextSpan{0, text.text.size()});
  return text;
}

// NOTE: case changes cover ASCII letters only; other letters keep their case, where Python's
// str.upper() would change them. The byte length stays, so literal spans stay valid.
MarkedString map_ascii(MarkedString text, int (*convert)(int)) {
  for (char& c : text.text) {
    if (static_cast<unsigned char>(c) < 0x80) c = static_cast<char>(convert(static_cast<unsigned char>(c)));
  }
  return text;
}

bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

MarkedString title_case(MarkedString text) {
  bool previous_cased = false;
  for (char& c : text.text) {
    if (is_ascii_alpha(c)) {
      c = static_cast<char>(previous_cased ? std::tolower(static_cast<unsigned char>(c)) : std::toupper(static_cast<unsigned char>(c)));
      previous_cased = true;
    } else {
      previous_cased = static_cast<unsigned char>(c) >= 0x80 && previous_cased;
    }
  }
  return text;
}

MarkedString capitalize(MarkedString text) {
  text = map_ascii(std::move(text), [](int c) { return std::tolower(c); });
  if (!text.text.empty() && static_cast<unsigned char>(text.text[0]) < 0x80) {
    text.text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text.text[0])));
  }
  return text;
}

// Python's str.strip family: `characters` unset strips Unicode white space.
MarkedString strip(const MarkedString& text, const Value& characters, bool left, bool right) {
  std::vector<char32_t> set;
  const bool custom = characters.is_string();
  if (custom) {
    const std::string& chars = characters.as_string().text;
    for (std::size_t offset = 0; offset < chars.size();) set.push_back(next_code_point(chars, offset));
  }
  const auto strippable = [&](char32_t c) {
    return custom ? std::find(set.begin(), set.end(), c) != set.end() : is_python_space(c);
  };
  const std::string& s = text.text;
  std::size_t begin = 0;
  std::size_t end = s.size();
  while (left && begin < end) {
    std::size_t next = begin;
    if (!strippable(next_code_point(s, next))) break;
    begin = next;
  }
  while (right && end > begin) {
    std::size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    std::size_t next = start;
    if (!strippable(next_code_point(s, next))) break;
    end = start;
  }
  return text.substr(begin, end);
}

std::size_t length_of(const Value& value) {
  if (value.is_string()) return count_code_points(value.as_string().text);
  if (value.is_list()) return value.as_list().size();
  if (value.is_dict()) return value.as_dict().items.size();
  if (value.is_undefined()) return 0;
  fail("object of type '" + value.type_name() + "' has no len()");
}

Value keyword_argument(const CallArguments& args, std::string_view name) {
  for (const auto& [key, value] : args.keyword) {
    if (key == name) return value;
  }
  return Value();
}

Value make_method(const std::string& name, Function function) {
  return Value(std::make_shared<const Callable>(Callable{name, std::move(function)}));
}

const MarkedString& string_argument(const CallArguments& args, std::size_t index, std::string_view name,
                                    const std::string& function) {
  static const MarkedString empty;
  const Value& value = index < args.positional.size() ? args.positional[index] : Value();
  if (index < args.positional.size() && value.is_string()) return args.positional[index].as_string();
  for (const auto& [key, item] : args.keyword) {
    if (key == name && item.is_string()) return item.as_string();
  }
  fail(function + "() needs a string argument '" + std::string(name) + "'");
  return empty;
}

List split(const MarkedString& text, const Value& separator, std::int64_t max_split) {
  List parts;
  const std::string& s = text.text;
  if (separator.is_undefined() || separator.is_none()) {
    // Python's split() without a separator: runs of white space, no empty parts.
    std::size_t offset = 0;
    while (offset < s.size()) {
      std::size_t next = offset;
      if (is_python_space(next_code_point(s, next))) {
        offset = next;
        continue;
      }
      if (max_split >= 0 && static_cast<std::int64_t>(parts.size()) == max_split) {
        parts.emplace_back(text.substr(offset, s.size()));
        return parts;
      }
      std::size_t end = offset;
      while (end < s.size()) {
        std::size_t after = end;
        if (is_python_space(next_code_point(s, after))) break;
        end = after;
      }
      parts.emplace_back(text.substr(offset, end));
      offset = end;
    }
    return parts;
  }
  if (!separator.is_string()) fail("split() separator must be a string");
  const std::string& sep = separator.as_string().text;
  if (sep.empty()) fail("split() separator is empty");
  std::size_t start = 0;
  while (true) {
    const std::size_t found = s.find(sep, start);
    if (found == std::string::npos || (max_split >= 0 && static_cast<std::int64_t>(parts.size()) == max_split)) break;
    parts.emplace_back(text.substr(start, found));
    start = found + sep.size();
  }
  parts.emplace_back(text.substr(start, s.size()));
  return parts;
}

MarkedString replace(const MarkedString& text, const MarkedString& old, const MarkedString& replacement, std::int64_t count) {
  MarkedString out;
  const std::string& s = text.text;
  if (old.text.empty()) {
    // Python inserts the replacement between all characters and at both ends.
    std::int64_t done = 0;
    std::size_t offset = 0;
    while (true) {
      if (count >= 0 && done >= count) break;
      out.append(replacement);
      ++done;
      if (offset >= s.size()) break;
      const std::size_t length = std::max<std::size_t>(1, valid_sequence_length(s, offset));
      out.append(text.substr(offset, offset + length));
      offset += length;
    }
    out.append(text.substr(offset, s.size()));
    return out;
  }
  std::size_t previous = 0;
  std::int64_t done = 0;
  for (std::size_t found = s.find(old.text); found != std::string::npos && (count < 0 || done < count);
       found = s.find(old.text, previous)) {
    out.append(text.substr(previous, found));
    out.append(replacement);
    previous = found + old.text.size();
    ++done;
  }
  out.append(text.substr(previous, s.size()));
  return out;
}

std::int64_t int_argument(const Value& value, std::int64_t fallback, const std::string& what) {
  if (value.is_undefined() || value.is_none()) return fallback;
  if (!value.is_int() && !value.is_bool()) fail(what + " must be an integer, found " + value.type_name());
  return value.as_int();
}

Value attribute_of(Interpreter&, const Value& item, const std::string& path) {
  // Jinja's attribute paths use dots: "function.name".
  Value current = item;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (current.is_dict()) {
      const Value* found = current.as_dict().find(part);
      current = found != nullptr ? *found : Value(Undefined{part});
    } else if (current.is_list() && !part.empty() && part.size() < 10 && std::all_of(part.begin(), part.end(), ::isdigit)) {
      const std::size_t index = std::stoul(part);
      current = index < current.as_list().size() ? current.as_list()[index] : Value(Undefined{part});
    } else {
      current = Value(Undefined{part});
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return current;
}

// select, reject, selectattr, rejectattr.
Value select_items(Interpreter& interpreter, const Value& value, CallArguments& args, bool by_attribute, bool keep,
                   std::size_t line) {
  std::size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    const Value name = args.get(next++, "attribute");
    if (!name.is_string()) fail("the attribute name must be a string");
    attribute = name.as_string().text;
  }
  const Value test = args.get(next++, "test");
  CallArguments test_args;
  for (std::size_t i = next; i < args.positional.size(); ++i) test_args.positional.push_back(args.positional[i]);
  List kept;
  for (const Value& item : iterate(value, line)) {
    const Value subject = by_attribute ? attribute_of(interpreter, item, attribute) : item;
    bool passed = false;
    if (test.is_undefined()) {
      passed = subject.truthy();
    } else {
      if (!test.is_string()) fail("the test name must be a string");
      passed = apply_test(test.as_string().text, subject, test_args, line);
    }
    if (passed == keep) kept.push_back(item);
  }
  return Value(std::move(kept));
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

Value get_method(const Value& object, const std::string& name) {
  if (object.is_dict()) {
    const Value self = object;
    if (name == "items") {
      return make_method("items", [self](Interpreter&, CallArguments& args) {
        args.check("items", 0, {});
        List pairs;
        for (const auto& [key, value] : self.as_dict().items) pairs.emplace_back(List{Value(key), value});
        return Value(std::move(pairs));
      });
    }
    if (name == "keys" || name == "values") {
      const bool keys = name == "keys";
      return make_method(name, [self, keys](Interpreter&, CallArguments& args) {
        args.check(keys ? "keys" : "values", 0, {});
        List result;
        for (const auto& [key, value] : self.as_dict().items) result.push_back(keys ? Value(key) : value);
        return Value(std::move(result));
      });
    }
    if (name == "get") {
      return make_method("get", [self](Interpreter&, CallArguments& args) {
        args.check("get", 2, {});
        const Value key = args.get(0, "key");
        const Value* found = key.is_string() ? self.as_dict().find(key.as_string().text) : nullptr;
        if (found != nullptr) return *found;
        return args.positional.size() > 1 ? args.positional[1] : Value(None{});
      });
    }
    return Value(Undefined{name});
  }
  if (!object.is_string()) return Value(Undefined{name});

  const MarkedString text = object.as_string();
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    return make_method(name, [text, name](Interpreter&, CallArguments& args) {
      args.check(name, 0, {});
      if (name == "upper") return Value(map_ascii(text, [](int c) { return std::toupper(c); }));
      if (name == "lower") return Value(map_ascii(text, [](int c) { return std::tolower(c); }));
      if (name == "title") return Value(title_case(text));
      return Value(capitalize(text));
    });
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    return make_method(name, [text, name](Interpreter&, CallArguments& args) {
      args.check(name, 1, {});
      return Value(strip(text, args.get(0, "chars"), name != "rstrip", name != "lstrip"));
    });
  }
  if (name == "startswith" || name == "endswith") {
    return make_method(name, [text, name](Interpreter&, CallArguments& args) {
      args.check(name, 1, {});
      const Value affix = args.get(0, "prefix");
      const List candidates = affix.is_list() ? affix.as_list() : List{affix};
      for (const Value& candidate : candidates) {
        if (!candidate.is_string()) fail(name + "() needs a string or a tuple of strings");
        const std::string& a = candidate.as_string().text;
        const std::string& s = text.text;
        const bool match = a.size() <= s.size() && (name == "startswith" ? s.compare(0, a.size(), a) == 0
                                                                         : s.compare(s.size() - a.size(), a.size(), a) == 0);
        if (match) return Value(true);
      }
      return Value(false);
    });
  }
  if (name == "split") {
    return make_method(name, [text](Interpreter&, CallArguments& args) {
      args.check("split", 2, {"sep", "maxsplit"});
      return Value(split(text, args.get(0, "sep"), int_argument(args.get(1, "maxsplit"), -1, "maxsplit")));
    });
  }
  if (name == "replace") {
    return make_method(name, [text](Interpreter&, CallArguments& args) {
      args.check("replace", 3, {"count"});
      return Value(replace(text, string_argument(args, 0, "old", "replace"), string_argument(args, 1, "new", "replace"),
                           int_argument(args.get(2, "count"), -1, "count")));
    });
  }
  if (name == "find" || name == "count") {
    return make_method(name, [text, name](Interpreter&, CallArguments& args) {
      args.check(name, 1, {});
      const std::string& needle = string_argument(args, 0, "sub", name).text;
      if (name == "find") {
        const std::size_t found = text.text.find(needle);
        if (found == std::string::npos) return Value(-1);
        return Value(static_cast<std::int64_t>(count_code_points(std::string_view(text.text).substr(0, found))));
      }
      if (needle.empty()) return Value(static_cast<std::int64_t>(count_code_points(text.text) + 1));
      std::int64_t count = 0;
      for (std::size_t found = text.text.find(needle); found != std::string::npos;
           found = text.text.find(needle, found + needle.size())) {
        ++count;
      }
      return Value(count);
    });
  }
  if (name == "join") {
    return make_method(name, [text](Interpreter&, CallArguments& args) {
      args.check("join", 1, {});
      MarkedString out;
      bool first = true;
      for (const Value& item : iterate(args.get(0, "iterable"), 0)) {
        if (!item.is_string()) fail("join() needs strings, found " + item.type_name());
        if (!first) out.append(text);
        out.append(item.as_string());
        first = false;
      }
      return Value(std::move(out));
    });
  }
  if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum") {
    return make_method(name, [text, name](Interpreter&, CallArguments& args) {
      args.check(name, 0, {});
      if (text.text.empty()) return Value(false);
      for (std::size_t offset = 0; offset < text.text.size();) {
        const char32_t c = next_code_point(text.text, offset);
        const bool digit = c >= '0' && c <= '9';
        const bool alpha = c < 0x80 && is_ascii_alpha(static_cast<char>(c));
        bool ok = digit || alpha;  // isalnum
        if (name == "isdigit") ok = digit;
        if (name == "isspace") ok = is_python_space(c);
        if (name == "isalpha") ok = alpha;
        if (!ok) return Value(false);
      }
      return Value(true);
    });
  }
  return Value(Undefined{name});
}

Value apply_filter(Interpreter& interpreter, const std::string& name, const Value& value, CallArguments& args,
                   std::size_t line) {
  if (name == "default" || name == "d") {
    args.check(name, 2, {"default_value", "boolean"});
    const bool boolean = args.get(1, "boolean").truthy();
    const bool missing = value.is_undefined() || (boolean && !value.truthy());
    if (!missing) return value;
    const Value fallback = args.get(0, "default_value");
    return fallback.is_undefined() ? Value(std::string()) : fallback;
  }
  if (name == "trim") {
    args.check(name, 1, {"chars"});
    return Value(strip(as_text(value), args.get(0, "chars"), true, true));
  }
  if (name == "upper") return Value(map_ascii(as_text(value), [](int c) { return std::toupper(c); }));
  if (name == "lower") return Value(map_ascii(as_text(value), [](int c) { return std::tolower(c); }));
  if (name == "title") return Value(title_case(as_text(value)));
  if (name == "capitalize") return Value(capitalize(as_text(value)));
  if (name == "length" || name == "count") return Value(static_cast<std::int64_t>(length_of(value)));
  if (name == "string") return Value(as_text(value));
  if (name == "safe") return value;
  if (name == "escape" || name == "e") {
    MarkedString text = as_text(value);
    MarkedString escaped(html_escape(text.text));
    escaped.inherit_literal(text);
    return Value(std::move(escaped));
  }
  if (name == "list") return Value(iterate(value, line));
  if (name == "first" || name == "last") {
    const List items = iterate(value, line);
    if (items.empty()) return Value(Undefined{"first item of an empty sequence"});
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") {
    args.check(name, 2, {"d", "attribute"});
    const Value separator = args.get(0, "d");
    const Value attribute = args.get(1, "attribute");
    MarkedString out;
    bool first = true;
    for (const Value& item : iterate(value, line)) {
      if (!first && separator.is_string()) out.append(separator.as_string());
      const Value element = attribute.is_string() ? attribute_of(interpreter, item, attribute.as_string().text) : item;
      out.append(as_text(element));
      first = false;
    }
    return Value(std::move(out));
  }
  if (name == "int") {
    args.check(name, 2, {"default", "base"});
    const Value fallback = args.get(0, "default");
    const Value result_fallback = fallback.is_undefined() ? Value(0) : fallback;
    if (value.is_int() || value.is_bool()) return Value(value.as_int());
    if (value.is_float()) {
      const double d = value.as_double();
      if (!std::isfinite(d) || std::abs(d) > 9.2e18) return result_fallback;
      return Value(static_cast<std::int64_t>(d));
    }
    if (value.is_string()) {
      try {
        std::size_t used = 0;
        const std::string text = strip(value.as_string(), Value(), true, true).text;
        const std::int64_t parsed = std::stoll(text, &used);
        if (used == text.size()) return Value(parsed);
        const double d = std::stod(text, &used);
        if (used == text.size() && std::isfinite(d) && std::abs(d) < 9.2e18) return Value(static_cast<std::int64_t>(d));
      } catch (const std::exception&) {
      }
    }
    return result_fallback;
  }
  if (name == "float") {
    args.check(name, 1, {"default"});
    const Value fallback = args.get(0, "default");
    if (value.is_number()) return Value(value.as_double());
    if (value.is_string()) {
      try {
        std::size_t used = 0;
        const std::string text = strip(value.as_string(), Value(), true, true).text;
        const double parsed = std::stod(text, &used);
        if (used == text.size()) return Value(parsed);
      } catch (const std::exception&) {
      }
    }
    return fallback.is_undefined() ? Value(0.0) : fallback;
  }
  if (name == "abs") {
    if (value.is_float()) return Value(std::abs(value.as_double()));
    if (value.is_int() || value.is_bool()) {
      if (value.as_int() == INT64_MIN) fail("integer overflow");
      return Value(std::abs(value.as_int()));
    }
    fail("abs needs a number, found " + value.type_name());
  }
  if (name == "round") {
    args.check(name, 2, {"precision", "method"});
    if (!value.is_number()) fail("round needs a number, found " + value.type_name());
    const std::int64_t precision = int_argument(args.get(0, "precision"), 0, "precision");
    const Value method = args.get(1, "method");
    const std::string how = method.is_string() ? method.as_string().text : "common";
    const double scale = std::pow(10.0, static_cast<double>(std::clamp<std::int64_t>(precision, -300, 300)));
    const double scaled = value.as_double() * scale;
    double rounded = 0;
    if (how == "common") {
      rounded = std::round(scaled);
    } else if (how == "floor") {
      rounded = std::floor(scaled);
    } else if (how == "ceil") {
      rounded = std::ceil(scaled);
    } else {
      fail("round method must be common, ceil or floor");
    }
    return Value(rounded / scale);
  }
  if (name == "replace") {
    args.check(name, 3, {"old", "new", "count"});
    return Value(replace(as_text(value), string_argument(args, 0, "old", "replace"),
                         string_argument(args, 1, "new", "replace"), int_argument(args.get(2, "count"), -1, "count")));
  }
  if (name == "selectattr" || name == "rejectattr") {
    return select_items(interpreter, value, args, true, name == "selectattr", line);
  }
  if (name == "select" || name == "reject") return select_items(interpreter, value, args, false, name == "select", line);
  if (name == "map") {
    List result;
    const Value attribute = keyword_argument(args, "attribute");
    if (attribute.is_string()) {
      const Value fallback = keyword_argument(args, "default");
      for (const Value& item : iterate(value, line)) {
        Value mapped = attribute_of(interpreter, item, attribute.as_string().text);
        if (mapped.is_undefined() && !fallback.is_undefined()) mapped = fallback;
        result.push_back(std::move(mapped));
      }
      return Value(std::move(result));
    }
    if (args.positional.empty() || !args.positional[0].is_string()) fail("map needs a filter name or attribute=");
    const std::string filter = args.positional[0].as_string().text;
    CallArguments rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.keyword = args.keyword;
    for (const Value& item : iterate(value, line)) {
      CallArguments copy = rest;
      result.push_back(apply_filter(interpreter, filter, item, copy, line));
    }
    return Value(std::move(result));
  }
  if (name == "tojson") {
    args.check(name, 1, {"indent"});
    const Value indent = args.get(0, "indent");
    MarkedString json(to_json(value, indent.is_int() ? static_cast<int>(std::clamp<std::int64_t>(indent.as_int(), 0, 64)) : -1));
    if (contains_literal(value)) json.literal.assign(1, TextSpan{0, json.text.size()});
    return Value(std::move(json));
  }
  if (name == "items" || name == "dictsort") {
    if (!value.is_dict()) fail(name + " needs a dict, found " + value.type_name());
    List pairs;
    for (const auto& [key, item] : value.as_dict().items) pairs.emplace_back(List{Value(key), item});
    if (name == "dictsort") {
      std::stable_sort(pairs.begin(), pairs.end(),
                       [](const Value& a, const Value& b) { return a.as_list()[0].as_string().text < b.as_list()[0].as_string().text; });
    }
    return Value(std::move(pairs));
  }
  if (name == "reverse") {
    List items = iterate(value, line);
    std::reverse(items.begin(), items.end());
    if (!value.is_string()) return Value(std::move(items));
    MarkedString out;
    for (const Value& item : items) out.append(item.as_string());
    return Value(std::move(out));
  }
  if (name == "sort") {
    args.check(name, 3, {"reverse", "case_sensitive", "attribute"});
    List items = iterate(value, line);
    const bool reverse = args.get(0, "reverse").truthy();
    const Value attribute = args.get(2, "attribute");
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      const Value left = attribute.is_string() ? attribute_of(interpreter, a, attribute.as_string().text) : a;
      const Value right = attribute.is_string() ? attribute_of(interpreter, b, attribute.as_string().text) : b;
      return reverse ? compare(right, left) < 0 : compare(left, right) < 0;
    });
    return Value(std::move(items));
  }
  if (name == "unique") {
    List kept;
    for (const Value& item : iterate(value, line)) {
      if (std::none_of(kept.begin(), kept.end(), [&](const Value& k) { return equals(k, item); })) kept.push_back(item);
    }
    return Value(std::move(kept));
  }
  if (name == "min" || name == "max" || name == "sum") {
    const List items = iterate(value, line);
    if (name == "sum") {
      Value total(0);
      for (const Value& item : items) {
        if (!item.is_number()) fail("sum needs numbers, found " + item.type_name());
        total = total.is_float() || item.is_float() ? Value(total.as_double() + item.as_double()) : Value(total.as_int() + item.as_int());
      }
      return total;
    }
    if (items.empty()) return Value(Undefined{name + " of an empty sequence"});
    Value best = items.front();
    for (const Value& item : items) {
      const int order = compare(item, best);
      if ((name == "min" && order < 0) || (name == "max" && order > 0)) best = item;
    }
    return best;
  }
  if (name == "indent") {
    args.check(name, 3, {"width", "first", "blank"});
    const Value width_value = args.get(0, "width");
    const std::string pad = width_value.is_string() ? width_value.as_string().text
                                                    : std::string(static_cast<std::size_t>(std::clamp<std::int64_t>(int_argument(width_value, 4, "width"), 0, 256)), ' ');
    const bool first = args.get(1, "first").truthy();
    const bool blank = args.get(2, "blank").truthy();
    const MarkedString text = as_text(value);
    const List lines = split(text, Value("\n"), -1);
    MarkedString out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const MarkedString& line_text = lines[i].as_string();
      if (i > 0) out.append("\n");
      if ((i > 0 || first) && (blank || !line_text.text.empty())) out.append(std::string_view(pad));
      out.append(line_text);
    }
    return Value(std::move(out));
  }
  fail_unsupported("filter '" + name + "' is outside the Jinja subset glimpse implements");
}

bool apply_test(const std::string& name, const Value& value, const CallArguments& args, std::size_t line) {
  const Value argument = args.get(0, "value");
  if (name == "defined") return !value.is_undefined();
  if (name == "undefined") return value.is_undefined();
  if (name == "none") return value.is_none();
  if (name == "boolean") return value.is_bool();
  if (name == "true") return value.is_bool() && value.as_bool();
  if (name == "false") return value.is_bool() && !value.as_bool();
  if (name == "integer") return value.is_int();
  if (name == "float") return value.is_float();
  if (name == "number") return value.is_number();
  if (name == "string") return value.is_string();
  if (name == "mapping") return value.is_dict() || value.is_namespace();
  if (name == "iterable") return value.is_list() || value.is_dict() || value.is_string();
  if (name == "sequence") return value.is_list() || value.is_dict() || value.is_string();
  if (name == "callable") return value.is_callable();
  if (name == "odd" || name == "even") {
    if (!value.is_int() && !value.is_bool()) fail(at_line(line) + "test '" + name + "' needs an integer");
    const bool odd = (value.as_int() % 2) != 0;
    return name == "odd" ? odd : !odd;
  }
  if (name == "divisibleby") {
    if (!value.is_int() || !argument.is_int() || argument.as_int() == 0) fail(at_line(line) + "test 'divisibleby' needs non-zero integers");
    return value.as_int() % argument.as_int() == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return equals(value, argument);
  if (name == "ne" || name == "!=") return !equals(value, argument);
  if (name == "sameas") return equals(value, argument) && value.type_name() == argument.type_name();
  if (name == "lt" || name == "lessthan" || name == "<") return compare(value, argument) < 0;
  if (name == "le" || name == "<=") return compare(value, argument) <= 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return compare(value, argument) > 0;
  if (name == "ge" || name == ">=") return compare(value, argument) >= 0;
  if (name == "in") {
    if (argument.is_string() && value.is_string()) return argument.as_string().text.find(value.as_string().text) != std::string::npos;
    for (const Value& item : iterate(argument, line)) {
      if (equals(item, value)) return true;
    }
    return false;
  }
  if (name == "lower" || name == "upper") {
    if (!value.is_string()) return false;
    const std::string& s = value.as_string().text;
    const bool has_cased = std::any_of(s.begin(), s.end(), is_ascii_alpha);
    const bool all = std::all_of(s.begin(), s.end(), [&](char c) {
      return !is_ascii_alpha(c) || (name == "lower" ? std::islower(static_cast<unsigned char>(c)) : std::isupper(static_cast<unsigned char>(c)));
    });
    return has_cased && all;
  }
  fail_unsupported(at_line(line) + "test '" + name + "' is outside the Jinja subset glimpse implements");
}

}  // namespace glimpse::text::jinja
