// Renders a parsed Jinja template. Built-in filters, tests, global functions and the Python
// methods of strings and dicts are the ones chat templates use; calling anything else is a
// TemplateError naming it.
//
// Jinja semantics kept: undefined variables print as "" and are false, but reading an attribute
// of one fails; variables set inside a for loop stay inside it (namespace() carries values out);
// loop.index, loop.first, loop.last and friends; the sandbox forbids mutating lists and dicts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "text/jinja/ast.h"
#include "text/jinja/value.h"

namespace glimpse::text::jinja {

struct CallArguments {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // The argument at `index` or named `name`, or undefined when absent.
  Value get(std::size_t index, std::string_view name) const;
  // Fails unless at most `max_positional` positional arguments and only `names` as keywords.
  void check(const std::string& function, std::size_t max_positional, std::initializer_list<std::string_view> names) const;
};

struct RenderLimits {
  std::uint64_t max_steps = 1'000'000;      // statements, loop iterations and calls
  std::size_t max_output_bytes = 64 << 20;  // of the rendered text
  int max_call_depth = 64;                  // nested macro calls
};

class Interpreter {
 public:
  Interpreter(const RenderLimits& limits, std::int64_t now_seconds) : limits_(limits), now_seconds_(now_seconds) {}
  // Empties every namespace() made during rendering. A namespace is the one mutable object, so
  // every reference cycle ({% set ns.self = [ns] %}) passes through one. Emptying them all
  // breaks the cycles and frees what the template allocated.
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Renders `body` with `globals` as the outermost variables.
  MarkedString render(const Body& body, const Dict& globals);

  // Calls a callable value (a macro, a global function or a bound method).
  Value call(const Value& callee, CallArguments& arguments, std::size_t line);

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  using Frame = std::unordered_map<std::string, Value>;

  Flow execute(const Body& body, MarkedString& out);
  Flow execute(const Statement& statement, MarkedString& out);
  void execute_for(const Statement& statement, MarkedString& out);
  void execute_set(const Statement& statement, Value value);
  Value define_macro(const Statement& statement);

  Value evaluate(const Expression& expression);
  Value evaluate_binary(const Expression& expression);
  Value evaluate_filter(const Expression& expression);
  Value evaluate_test(const Expression& expression);
  CallArguments evaluate_arguments(const std::vector<Argument>& arguments);
  Value lookup(const std::string& name) const;
  Value get_attribute(const Value& object, const std::string& name, std::size_t line);
  Value get_item(const Value& object, const Value& key, std::size_t line);
  Value slice(const Value& object, const Value& start, const Value& stop, const Value& step, std::size_t line);

  void step(std::size_t line);

  RenderLimits limits_;
  std::int64_t now_seconds_;
  std::vector<Frame> frames_;
  std::uint64_t steps_ = 0;
  int call_depth_ = 0;
  std::size_t output_bytes_ = 0;
  std::vector<std::shared_ptr<Namespace>> namespaces_;
};

// Applies the built-in filter `name` (filters.cpp). `line` is for messages.
Value apply_filter(Interpreter& interpreter, const std::string& name, const Value& value, CallArguments& arguments,
                   std::size_t line);
// Applies the built-in test `name` (filters.cpp).
bool apply_test(const std::string& name, const Value& value, const CallArguments& arguments, std::size_t line);
// Returns the bound method `name` of a string or dict, or undefined (filters.cpp).
Value get_method(const Value& object, const std::string& name);
// Iterates a value as Python's for loop does: lists, dict keys, string characters.
List iterate(const Value& value, std::size_t line);

}  // namespace glimpse::text::jinja
