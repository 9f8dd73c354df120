// Values of the Jinja subset that chat templates use, with Python's semantics for printing,
// truthiness, equality and ordering (Jinja runs on Python objects).
//
// Strings carry literal spans: byte ranges that came from conversation text. They follow the
// bytes through concatenation, slicing and case changes, so the rendered prompt records which of
// its bytes a user wrote and the tokenizer can keep special-token strings there as text.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "glimpse/tokenizer.h"

namespace glimpse::text::jinja {

// The error of a template that fails to parse or render; caught at the Template boundary and
// turned into an Error. `code` is kInvalidArgument for template-raised errors and bad values,
// kUnsupported for constructs outside the subset.
class TemplateError : public std::runtime_error {
 public:
  TemplateError(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] void fail(const std::string& message);
[[noreturn]] void fail_unsupported(const std::string& message);

struct MarkedString {
  std::string text;
  std::vector<TextSpan> literal;  // sorted, disjoint, non-empty

  MarkedString() = default;
  MarkedString(std::string plain) : text(std::move(plain)) {}  // NOLINT: implicit by design
  static MarkedString literal_text(std::string text);

  void append(const MarkedString& other);
  void append(std::string_view plain) { text.append(plain); }
  void append(const std::string& plain) { text.append(plain); }
  void append(const char* plain) { text.append(plain); }
  MarkedString substr(std::size_t begin, std::size_t end) const;
  bool has_literal() const { return !literal.empty(); }
  // Marks the whole string literal when any part of `source` is.
  void inherit_literal(const MarkedString& source);
};

class Value;
using List = std::vector<Value>;

// An insertion-ordered mapping with string keys (Python dicts keep insertion order).
struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  const Value* find(std::string_view key) const;
  void set(std::string key, Value value);
};

struct CallArguments;
class Interpreter;
using Function = std::function<Value(Interpreter&, CallArguments&)>;

struct Callable {
  std::string name;
  Function function;
};

// The result of namespace(): the one mutable object of the sandbox, written by
// {% set ns.attribute = ... %}.
struct Namespace {
  Dict attributes;
};

struct Undefined {
  std::string name;  // what was looked up, for messages
};
struct None {};

class Value {
 public:
  using Storage = std::variant<Undefined, None, bool, std::int64_t, double, MarkedString, std::shared_ptr<const List>,
                               std::shared_ptr<const Dict>, std::shared_ptr<const Callable>, std::shared_ptr<Namespace>>;

  Value() : storage_(Undefined{}) {}
  Value(Undefined undefined) : storage_(std::move(undefined)) {}  // NOLINT
  Value(None) : storage_(None{}) {}                               // NOLINT
  Value(bool value) : storage_(value) {}                          // NOLINT
  Value(std::int64_t value) : storage_(value) {}                  // NOLINT
  Value(int value) : storage_(static_cast<std::int64_t>(value)) {}  // NOLINT
  Value(double value) : storage_(value) {}                        // NOLINT
  Value(MarkedString value) : storage_(std::move(value)) {}       // NOLINT
  Value(std::string value) : storage_(MarkedString(std::move(value))) {}  // NOLINT
  Value(const char* value) : storage_(MarkedString(std::string(value))) {}  // NOLINT
  Value(List value) : storage_(std::make_shared<const List>(std::move(value))) {}  // NOLINT
  Value(Dict value) : storage_(std::make_shared<const Dict>(std::move(value))) {}  // NOLINT
  Value(std::shared_ptr<const Callable> value) : storage_(std::move(value)) {}      // NOLINT
  Value(std::shared_ptr<Namespace> value) : storage_(std::move(value)) {}           // NOLINT

  bool is_undefined() const { return std::holds_alternative<Undefined>(storage_); }
  bool is_none() const { return std::holds_alternative<None>(storage_); }
  bool is_bool() const { return std::holds_alternative<bool>(storage_); }
  bool is_int() const { return std::holds_alternative<std::int64_t>(storage_); }  // bools excluded
  bool is_float() const { return std::holds_alternative<double>(storage_); }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return std::holds_alternative<MarkedString>(storage_); }
  bool is_list() const { return std::holds_alternative<std::shared_ptr<const List>>(storage_); }
  bool is_dict() const { return std::holds_alternative<std::shared_ptr<const Dict>>(storage_); }
  bool is_callable() const { return std::holds_alternative<std::shared_ptr<const Callable>>(storage_); }
  bool is_namespace() const { return std::holds_alternative<std::shared_ptr<Namespace>>(storage_); }

  bool as_bool() const { return std::get<bool>(storage_); }
  std::int64_t as_int() const;  // ints and bools
  double as_double() const;     // any number
  const MarkedString& as_string() const { return std::get<MarkedString>(storage_); }
  const List& as_list() const { return *std::get<std::shared_ptr<const List>>(storage_); }
  const Dict& as_dict() const { return *std::get<std::shared_ptr<const Dict>>(storage_); }
  const Callable& as_callable() const { return *std::get<std::shared_ptr<const Callable>>(storage_); }
  Namespace& as_namespace() const { return *std::get<std::shared_ptr<Namespace>>(storage_); }
  const Undefined& as_undefined() const { return std::get<Undefined>(storage_); }

  // Python's truth value; undefined is false.
  bool truthy() const;
  // Python's type name ("str", "int", "list", "dict", "NoneType"), for messages.
  std::string type_name() const;

 private:
  Storage storage_;
};

// str(value) as Jinja prints it: undefined prints as "", None as "None", True as "True".
MarkedString to_output(const Value& value);
// Python's repr() (strings quoted), as list and dict elements print.
std::string to_repr(const Value& value);
// Python's repr of a float: the shortest text that reads back the same value ("1.0", "1e-05").
std::string format_float(double value);
// json.dumps(value, ensure_ascii=False, indent=indent) as transformers' tojson filter calls it;
// indent < 0 means none.
std::string to_json(const Value& value, int indent);

// Python equality: 1 == 1.0 == True, lists and dicts element-wise, undefined equals undefined.
bool equals(const Value& left, const Value& right);
// Python ordering for numbers, strings and lists; other pairs fail.
int compare(const Value& left, const Value& right);

}  // namespace glimpse::text::jinja
