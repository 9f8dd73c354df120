#include "text/jinja/interpreter.h"

#include <cmath>
#include <ctime>

#include "text/utf8.h"

namespace glimpse::text::jinja {
namespace {

std::string at_line(std::size_t line) { return "line " + std::to_string(line) + ": "; }

std::string describe_undefined(const Value& value) {
  const std::string& name = value.as_undefined().name;
  return name.empty() ? "a value is undefined" : "'" + name + "' is undefined";
}

// Byte offset of code point `index` in valid UTF-8 `text`, or text.size().
std::size_t code_point_offset(const std::string& text, std::int64_t index) {
  std::size_t offset = 0;
  for (std::int64_t i = 0; i < index && offset < text.size(); ++i) {
    offset += std::max<std::size_t>(1, valid_sequence_length(text, offset));
  }
  return offset;
}

// Python's slice index normalization for a sequence of `length` elements.
std::vector<std::int64_t> slice_indices(std::int64_t length, const Value& start, const Value& stop, const Value& step,
                                        std::size_t line) {
  const auto as_index = [&](const Value& value, const char* what) -> std::optional<std::int64_t> {
    if (value.is_undefined() || value.is_none()) return std::nullopt;
    if (!value.is_int() && !value.is_bool()) fail(at_line(line) + "slice " + what + " must be an integer, found " + value.type_name());
    return value.as_int();
  };
  const std::int64_t step_value = as_index(step, "step").value_or(1);
  if (step_value == 0) fail(at_line(line) + "slice step cannot be zero");
  const auto clamp = [&](std::optional<std::int64_t> index, std::int64_t fallback) {
    if (!index) return fallback;
    std::int64_t i = *index;
    if (i < 0) i += length;
    if (step_value > 0) return std::clamp<std::int64_t>(i, 0, length);
    return std::clamp<std::int64_t>(i, -1, length - 1);
  };
  const std::int64_t begin = clamp(as_index(start, "start"), step_value > 0 ? 0 : length - 1);
  const std::int64_t end = clamp(as_index(stop, "stop"), step_value > 0 ? length : -1);
  std::vector<std::int64_t> indices;
  for (std::int64_t i = begin; step_value > 0 ? i < end : i > end; i += step_value) indices.push_back(i);
  return indices;
}

Value arithmetic(const std::string& op, const Value& left, const Value& right, std::size_t line) {
  if (left.is_undefined()) fail(at_line(line) + describe_undefined(left));
  if (right.is_undefined()) fail(at_line(line) + describe_undefined(right));
  const auto type_error = [&]() -> Value {
    fail(at_line(line) + "unsupported operand types for " + op + ": '" + left.type_name() + "' and '" + right.type_name() + "'");
  };
  if (op == "+") {
    if (left.is_string() && right.is_string()) {
      MarkedString result = left.as_string();
      result.append(right.as_string());
      return Value(std::move(result));
    }
    if (left.is_list() && right.is_list()) {
      List result = left.as_list();
      result.insert(result.end(), right.as_list().begin(), right.as_list().end());
      return Value(std::move(result));
    }
  }
  if (op == "*") {
    const Value* text = left.is_string() ? &left : right.is_string() ? &right : nullptr;
    const Value* count = left.is_string() ? &right : &left;
    if (text != nullptr && (count->is_int() || count->is_bool())) {
      const std::int64_t n = count->as_int();
      if (n > 0 && static_cast<std::uint64_t>(n) * text->as_string().text.size() > (64u << 20)) {
        fail(at_line(line) + "string repetition exceeds 64 MiB");
      }
      MarkedString result;
      for (std::int64_t i = 0; i < n; ++i) result.append(text->as_string());
      return Value(std::move(result));
    }
  }
  if (!left.is_number() || !right.is_number()) return type_error();

  const bool use_float = left.is_float() || right.is_float() || op == "/";
  if (op == "/" || op == "//" || op == "%") {
    if (right.as_double() == 0.0) fail(at_line(line) + "division by zero");
  }
  if (use_float || op == "**") {
    const double a = left.as_double();
    const double b = right.as_double();
    if (op == "+") return Value(a + b);
    if (op == "-") return Value(a - b);
    if (op == "*") return Value(a * b);
    if (op == "/") return Value(a / b);
    if (op == "//") return Value(std::floor(a / b));
    if (op == "%") return Value(a - b * std::floor(a / b));
    if (op == "**") {
      const double result = std::pow(a, b);
      // int ** non-negative int stays an int in Python.
      if (!use_float && b >= 0 && std::abs(result) < 9.0e18) return Value(static_cast<std::int64_t>(result));
      return Value(result);
    }
  }
  const std::int64_t a = left.as_int();
  const std::int64_t b = right.as_int();
  std::int64_t result = 0;
  if (op == "+" && !__builtin_add_overflow(a, b, &result)) return Value(result);
  if (op == "-" && !__builtin_sub_overflow(a, b, &result)) return Value(result);
  if (op == "*" && !__builtin_mul_overflow(a, b, &result)) return Value(result);
  if (op == "//" || op == "%") {
    if (a == INT64_MIN && b == -1) fail(at_line(line) + "integer overflow");
    // Python rounds the quotient toward negative infinity.
    std::int64_t quotient = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --quotient;
    return op == "//" ? Value(quotient) : Value(a - quotient * b);
  }
  fail(at_line(line) + "integer overflow in " + op);
}

bool contains(const Value& container, const Value& item, std::size_t line) {
  if (container.is_undefined()) return false;
  if (container.is_string()) {
    if (!item.is_string()) fail(at_line(line) + "'in <string>' requires a string on the left, found " + item.type_name());
    return container.as_string().text.find(item.as_string().text) != std::string::npos;
  }
  if (container.is_list()) {
    for (const Value& element : container.as_list()) {
      if (equals(element, item)) return true;
    }
    return false;
  }
  if (container.is_dict()) return item.is_string() && container.as_dict().find(item.as_string().text) != nullptr;
  fail(at_line(line) + "argument of type '" + container.type_name() + "' is not iterable");
}

}  // namespace

Value CallArguments::get(std::size_t index, std::string_view name) const {
  if (index < positional.size()) return positional[index];
  for (const auto& [key, value] : keyword) {
    if (key == name) return value;
  }
  return Value();
}

void CallArguments::check(const std::string& function, std::size_t max_positional,
                          std::initializer_list<std::string_view> names) const {
  if (positional.size() > max_positional) {
    fail(function + "() takes at most " + std::to_string(max_positional) + " positional arguments, " +
         std::to_string(positional.size()) + " given");
  }
  for (const auto& [key, value] : keyword) {
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      fail(function + "() got an unexpected keyword argument '" + key + "'");
    }
  }
}

List iterate(const Value& value, std::size_t line) {
  if (value.is_undefined() || value.is_none()) {
    if (value.is_none()) fail(at_line(line) + "'NoneType' object is not iterable");
    return {};
  }
  if (value.is_list()) return value.as_list();
  if (value.is_dict()) {
    List keys;
    for (const auto& item : value.as_dict().items) keys.emplace_back(item.first);
    return keys;
  }
  if (value.is_string()) {
    List characters;
    const MarkedString& text = value.as_string();
    for (std::size_t offset = 0; offset < text.text.size();) {
      const std::size_t length = std::max<std::size_t>(1, valid_sequence_length(text.text, offset));
      characters.emplace_back(text.substr(offset, offset + length));
      offset += length;
    }
    return characters;
  }
  fail(at_line(line) + "'" + value.type_name() + "' object is not iterable");
}

void Interpreter::step(std::size_t line) {
  if (++steps_ > limits_.max_steps) {
    fail(at_line(line) + "rendering exceeds " + std::to_string(limits_.max_steps) +
         " steps; the template may loop without end");
  }
}

Interpreter::~Interpreter() {
  frames_.clear();
  for (const std::shared_ptr<Namespace>& space : namespaces_) {
    // Move the attributes out first, so that destroying them cannot reach this namespace's
    // storage while it is being cleared.
    Dict attributes = std::move(space->attributes);
    space->attributes.items.clear();
  }
}

MarkedString Interpreter::render(const Body& body, const Dict& globals) {
  frames_.clear();
  frames_.emplace_back();
  Frame& root = frames_.back();

  const auto builtin = [&](const std::string& name, Function function) {
    root[name] = Value(std::make_shared<const Callable>(Callable{name, std::move(function)}));
  };
  builtin("range", [](Interpreter&, CallArguments& args) -> Value {
    args.check("range", 3, {});
    std::int64_t start = 0;
    std::int64_t stop = 0;
    std::int64_t step_value = 1;
    for (const Value& value : args.positional) {
      if (!value.is_int() && !value.is_bool()) fail("range() needs integers, found " + value.type_name());
    }
    if (args.positional.size() == 1) {
      stop = args.positional[0].as_int();
    } else if (args.positional.size() >= 2) {
      start = args.positional[0].as_int();
      stop = args.positional[1].as_int();
      if (args.positional.size() == 3) step_value = args.positional[2].as_int();
    } else {
      fail("range() needs at least one argument");
    }
    if (step_value == 0) fail("range() step must not be zero");
    List values;
    for (std::int64_t i = start; step_value > 0 ? i < stop : i > stop; i += step_value) {
      if (values.size() >= 1'000'000) fail("range() is limited to 1000000 values");
      values.emplace_back(i);
    }
    return Value(std::move(values));
  });
  builtin("namespace", [](Interpreter& self, CallArguments& args) -> Value {
    auto space = std::make_shared<Namespace>();
    self.namespaces_.push_back(space);
    for (const Value& value : args.positional) {
      if (!value.is_dict()) fail("namespace() takes keyword arguments or a dict");
      for (const auto& [key, item] : value.as_dict().items) space->attributes.set(key, item);
    }
    for (auto& [key, value] : args.keyword) space->attributes.set(key, value);
    return Value(space);
  });
  builtin("dict", [](Interpreter&, CallArguments& args) -> Value {
    Dict dict;
    for (const Value& value : args.positional) {
      if (!value.is_dict()) fail("dict() takes keyword arguments or a dict");
      for (const auto& [key, item] : value.as_dict().items) dict.set(key, item);
    }
    for (auto& [key, value] : args.keyword) dict.set(key, value);
    return Value(std::move(dict));
  });
  builtin("raise_exception", [](Interpreter&, CallArguments& args) -> Value {
    throw TemplateError(ErrorCode::kInvalidArgument,
                        "the chat template rejected the conversation: " + to_output(args.get(0, "message")).text);
  });
  builtin("strftime_now", [](Interpreter& self, CallArguments& args) -> Value {
    args.check("strftime_now", 1, {"format"});
    const Value format = args.get(0, "format");
    if (!format.is_string()) fail("strftime_now() needs a format string");
    const std::time_t now = static_cast<std::time_t>(self.now_seconds_);
    std::tm local{};
    localtime_r(&now, &local);
    char buffer[256];
    const std::size_t length = std::strftime(buffer, sizeof(buffer), format.as_string().text.c_str(), &local);
    return Value(std::string(buffer, length));
  });
  for (const auto& [name, value] : globals.items) root[name] = value;

  MarkedString out;
  const Flow flow = execute(body, out);
  if (flow != Flow::kNormal) fail("{% break %} or {% continue %} outside a for loop");
  return out;
}

Interpreter::Flow Interpreter::execute(const Body& body, MarkedString& out) {
  for (const auto& statement : body) {
    const Flow flow = execute(*statement, out);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::execute(const Statement& statement, MarkedString& out) {
  step(statement.line);
  switch (statement.kind) {
    case Statement::Kind::kText:
    case Statement::Kind::kOutput: {
      const MarkedString text =
          statement.kind == Statement::Kind::kText ? MarkedString(statement.text) : to_output(evaluate(*statement.expression));
      output_bytes_ += text.text.size();
      if (output_bytes_ > limits_.max_output_bytes) {
        fail(at_line(statement.line) + "the rendered text exceeds " + std::to_string(limits_.max_output_bytes) + " bytes");
      }
      out.append(text);
      return Flow::kNormal;
    }
    case Statement::Kind::kIf:
      for (std::size_t i = 0; i < statement.conditions.size(); ++i) {
        if (evaluate(*statement.conditions[i]).truthy()) return execute(statement.bodies[i], out);
      }
      return execute(statement.else_body, out);
    case Statement::Kind::kFor:
      execute_for(statement, out);
      return Flow::kNormal;
    case Statement::Kind::kSet:
      execute_set(statement, evaluate(*statement.expression));
      return Flow::kNormal;
    case Statement::Kind::kSetBlock: {
      MarkedString captured;
      const Flow flow = execute(statement.body, captured);
      execute_set(statement, Value(std::move(captured)));
      return flow;
    }
    case Statement::Kind::kMacro:
      frames_.back()[statement.name] = define_macro(statement);
      return Flow::kNormal;
    case Statement::Kind::kGeneration:
      return execute(statement.body, out);
    case Statement::Kind::kBreak:
      return Flow::kBreak;
    case Statement::Kind::kContinue:
      return Flow::kContinue;
    case Statement::Kind::kCallStatement:
      evaluate(*statement.expression);
      return Flow::kNormal;
  }
  return Flow::kNormal;
}

void Interpreter::execute_for(const Statement& statement, MarkedString& out) {
  List items = iterate(evaluate(*statement.expression), statement.line);
  const auto bind = [&](Frame& frame, const Value& item) {
    if (statement.targets.size() == 1) {
      frame[statement.targets[0]] = item;
      return;
    }
    if (!item.is_list() || item.as_list().size() != statement.targets.size()) {
      fail(at_line(statement.line) + "cannot unpack a " + item.type_name() + " into " +
           std::to_string(statement.targets.size()) + " loop variables");
    }
    for (std::size_t i = 0; i < statement.targets.size(); ++i) frame[statement.targets[i]] = item.as_list()[i];
  };

  // The loop's `if` filters before counting, so loop.length and loop.last see only kept items.
  if (statement.condition) {
    List kept;
    for (const Value& item : items) {
      step(statement.line);
      frames_.emplace_back();
      bind(frames_.back(), item);
      const bool keep = evaluate(*statement.condition).truthy();
      frames_.pop_back();
      if (keep) kept.push_back(item);
    }
    items = std::move(kept);
  }

  const auto length = static_cast<std::int64_t>(items.size());
  for (std::int64_t i = 0; i < length; ++i) {
    step(statement.line);
    Dict loop;
    loop.set("index", Value(i + 1));
    loop.set("index0", Value(i));
    loop.set("revindex", Value(length - i));
    loop.set("revindex0", Value(length - i - 1));
    loop.set("first", Value(i == 0));
    loop.set("last", Value(i == length - 1));
    loop.set("length", Value(length));
    loop.set("depth", Value(1));
    loop.set("depth0", Value(0));
    loop.set("previtem", i > 0 ? items[i - 1] : Value(Undefined{"loop.previtem"}));
    loop.set("nextitem", i + 1 < length ? items[i + 1] : Value(Undefined{"loop.nextitem"}));
    loop.set("cycle", Value(std::make_shared<const Callable>(Callable{"loop.cycle", [i](Interpreter&, CallArguments& args) {
                                                                        if (args.positional.empty()) fail("loop.cycle() needs arguments");
                                                                        return args.positional[static_cast<std::size_t>(i) % args.positional.size()];
                                                                      }})));
    frames_.emplace_back();
    frames_.back()["loop"] = Value(std::move(loop));
    bind(frames_.back(), items[i]);
    const Flow flow = execute(statement.body, out);
    frames_.pop_back();
    if (flow == Flow::kBreak) break;
  }
  if (length == 0) execute(statement.else_body, out);
}

void Interpreter::execute_set(const Statement& statement, Value value) {
  if (!statement.attribute.empty()) {
    const Value target = lookup(statement.targets[0]);
    if (!target.is_namespace()) {
      fail(at_line(statement.line) + "cannot set attribute '" + statement.attribute + "' of '" + statement.targets[0] +
           "', a " + target.type_name() + "; only namespace() objects can be changed");
    }
    target.as_namespace().attributes.set(statement.attribute, std::move(value));
    return;
  }
  if (statement.targets.size() == 1) {
    frames_.back()[statement.targets[0]] = std::move(value);
    return;
  }
  if (!value.is_list() || value.as_list().size() != statement.targets.size()) {
    fail(at_line(statement.line) + "cannot unpack a " + value.type_name() + " into " +
         std::to_string(statement.targets.size()) + " variables");
  }
  for (std::size_t i = 0; i < statement.targets.size(); ++i) frames_.back()[statement.targets[i]] = value.as_list()[i];
}

Value Interpreter::define_macro(const Statement& statement) {
  const Statement* macro = &statement;
  return Value(std::make_shared<const Callable>(Callable{statement.name, [macro](Interpreter& self, CallArguments& args) {
    if (++self.call_depth_ > self.limits_.max_call_depth) {
      fail(at_line(macro->line) + "macro calls nest deeper than " + std::to_string(self.limits_.max_call_depth));
    }
    if (args.positional.size() > macro->parameters.size()) {
      fail(at_line(macro->line) + "macro '" + macro->name + "' takes " + std::to_string(macro->parameters.size()) +
           " arguments, " + std::to_string(args.positional.size()) + " given");
    }
    Frame parameters;
    for (std::size_t i = 0; i < macro->parameters.size(); ++i) {
      const MacroParameter& parameter = macro->parameters[i];
      Value value = args.get(i, parameter.name);
      if (value.is_undefined() && parameter.default_value) value = self.evaluate(*parameter.default_value);
      parameters[parameter.name] = value.is_undefined() ? Value(Undefined{parameter.name}) : value;
    }
    for (const auto& keyword : args.keyword) {
      const bool known = std::any_of(macro->parameters.begin(), macro->parameters.end(),
                                     [&](const MacroParameter& p) { return p.name == keyword.first; });
      if (!known) fail(at_line(macro->line) + "macro '" + macro->name + "' has no parameter '" + keyword.first + "'");
    }
    // A macro reads the template's globals and its own parameters, not the caller's locals.
    std::vector<Frame> saved = std::move(self.frames_);
    self.frames_.clear();
    self.frames_.push_back(saved.front());
    self.frames_.push_back(std::move(parameters));
    MarkedString out;
    try {
      self.execute(macro->body, out);
    } catch (...) {
      self.frames_ = std::move(saved);
      --self.call_depth_;
      throw;
    }
    self.frames_ = std::move(saved);
    --self.call_depth_;
    return Value(std::move(out));
  }}));
}

Value Interpreter::lookup(const std::string& name) const {
  for (auto it = frames_.rbegin(); it != frames_.rend(); ++it) {
    const auto found = it->find(name);
    if (found != it->end()) return found->second;
  }
  return Value(Undefined{name});
}

Value Interpreter::call(const Value& callee, CallArguments& arguments, std::size_t line) {
  step(line);
  if (callee.is_undefined()) fail(at_line(line) + describe_undefined(callee) + " and cannot be called");
  if (!callee.is_callable()) fail(at_line(line) + "a " + callee.type_name() + " value is not callable");
  try {
    return callee.as_callable().function(*this, arguments);
  } catch (const TemplateError& error) {
    const std::string message = error.what();
    if (message.rfind("line ", 0) == 0) throw;
    throw TemplateError(error.code(), at_line(line) + message);
  }
}

Value Interpreter::get_attribute(const Value& object, const std::string& name, std::size_t line) {
  if (object.is_undefined()) fail(at_line(line) + describe_undefined(object) + ", so it has no attribute '" + name + "'");
  if (object.is_dict()) {
    if (Value method = get_method(object, name); !method.is_undefined()) return method;
    const Value* value = object.as_dict().find(name);
    return value != nullptr ? *value : Value(Undefined{name});
  }
  if (object.is_namespace()) {
    const Value* value = object.as_namespace().attributes.find(name);
    return value != nullptr ? *value : Value(Undefined{name});
  }
  Value method = get_method(object, name);
  if (method.is_undefined()) return Value(Undefined{name});
  return method;
}

Value Interpreter::get_item(const Value& object, const Value& key, std::size_t line) {
  if (object.is_undefined()) fail(at_line(line) + describe_undefined(object) + ", so it cannot be subscripted");
  if (object.is_dict() && key.is_string()) {
    const Value* value = object.as_dict().find(key.as_string().text);
    if (value != nullptr) return *value;
    return get_attribute(object, key.as_string().text, line);
  }
  if (object.is_namespace() && key.is_string()) return get_attribute(object, key.as_string().text, line);
  if ((object.is_list() || object.is_string()) && (key.is_int() || key.is_bool())) {
    const std::int64_t length = object.is_list() ? static_cast<std::int64_t>(object.as_list().size())
                                                 : static_cast<std::int64_t>(count_code_points(object.as_string().text));
    std::int64_t index = key.as_int();
    if (index < 0) index += length;
    if (index < 0 || index >= length) return Value(Undefined{"index " + std::to_string(key.as_int())});
    if (object.is_list()) return object.as_list()[static_cast<std::size_t>(index)];
    const std::string& text = object.as_string().text;
    const std::size_t begin = code_point_offset(text, index);
    return Value(object.as_string().substr(begin, begin + std::max<std::size_t>(1, valid_sequence_length(text, begin))));
  }
  if (key.is_string()) return get_attribute(object, key.as_string().text, line);
  return Value(Undefined{to_repr(key)});
}

Value Interpreter::slice(const Value& object, const Value& start, const Value& stop, const Value& step_value,
                         std::size_t line) {
  if (object.is_list()) {
    const List& list = object.as_list();
    List result;
    for (const std::int64_t i : slice_indices(static_cast<std::int64_t>(list.size()), start, stop, step_value, line)) {
      result.push_back(list[static_cast<std::size_t>(i)]);
    }
    return Value(std::move(result));
  }
  if (object.is_string()) {
    const List characters = iterate(object, line);
    MarkedString result;
    for (const std::int64_t i :
         slice_indices(static_cast<std::int64_t>(characters.size()), start, stop, step_value, line)) {
      result.append(characters[static_cast<std::size_t>(i)].as_string());
    }
    return Value(std::move(result));
  }
  if (object.is_undefined()) fail(at_line(line) + describe_undefined(object) + ", so it cannot be sliced");
  fail(at_line(line) + "a " + object.type_name() + " value cannot be sliced");
}

CallArguments Interpreter::evaluate_arguments(const std::vector<Argument>& arguments) {
  CallArguments result;
  for (const Argument& argument : arguments) {
    Value value = evaluate(*argument.value);
    if (argument.name.empty()) {
      if (!result.keyword.empty()) fail("a positional argument follows a keyword argument");
      result.positional.push_back(std::move(value));
    } else {
      result.keyword.emplace_back(argument.name, std::move(value));
    }
  }
  return result;
}

Value Interpreter::evaluate(const Expression& expression) {
  switch (expression.kind) {
    case Expression::Kind::kLiteral:
      return expression.value;
    case Expression::Kind::kName:
      return lookup(expression.name);
    case Expression::Kind::kAttribute:
      return get_attribute(evaluate(*expression.object), expression.name, expression.line);
    case Expression::Kind::kItem:
      return get_item(evaluate(*expression.object), evaluate(*expression.index), expression.line);
    case Expression::Kind::kSlice: {
      const Value object = evaluate(*expression.object);
      const Value start = expression.start ? evaluate(*expression.start) : Value();
      const Value stop = expression.stop ? evaluate(*expression.stop) : Value();
      const Value step_value = expression.step ? evaluate(*expression.step) : Value();
      return slice(object, start, stop, step_value, expression.line);
    }
    case Expression::Kind::kCall: {
      const Value callee = evaluate(*expression.object);
      CallArguments arguments = evaluate_arguments(expression.arguments);
      return call(callee, arguments, expression.line);
    }
    case Expression::Kind::kFilter:
      return evaluate_filter(expression);
    case Expression::Kind::kTest:
      return evaluate_test(expression);
    case Expression::Kind::kUnary: {
      const Value operand = evaluate(*expression.object);
      if (expression.name == "not") return Value(!operand.truthy());
      if (!operand.is_number()) fail(at_line(expression.line) + "bad operand type for unary " + expression.name + ": '" + operand.type_name() + "'");
      if (expression.name == "+") return operand.is_float() ? operand : Value(operand.as_int());
      if (operand.is_float()) return Value(-operand.as_double());
      if (operand.as_int() == INT64_MIN) fail(at_line(expression.line) + "integer overflow");
      return Value(-operand.as_int());
    }
    case Expression::Kind::kBinary:
      return evaluate_binary(expression);
    case Expression::Kind::kConditional:
      if (evaluate(*expression.condition).truthy()) return evaluate(*expression.left);
      return expression.right ? evaluate(*expression.right) : Value(Undefined{});
    case Expression::Kind::kList: {
      List items;
      for (const ExpressionPtr& item : expression.items) items.push_back(evaluate(*item));
      return Value(std::move(items));
    }
    case Expression::Kind::kDict: {
      Dict dict;
      for (std::size_t i = 0; i < expression.keys.size(); ++i) {
        const Value key = evaluate(*expression.keys[i]);
        if (!key.is_string()) fail_unsupported(at_line(expression.line) + "dict keys other than strings are outside the Jinja subset glimpse implements");
        dict.set(key.as_string().text, evaluate(*expression.items[i]));
      }
      return Value(std::move(dict));
    }
  }
  fail(at_line(expression.line) + "unknown expression");
}

Value Interpreter::evaluate_binary(const Expression& expression) {
  const std::string& op = expression.name;
  if (op == "and") {
    Value left = evaluate(*expression.left);
    return left.truthy() ? evaluate(*expression.right) : left;
  }
  if (op == "or") {
    Value left = evaluate(*expression.left);
    return left.truthy() ? left : evaluate(*expression.right);
  }
  const Value left = evaluate(*expression.left);
  const Value right = evaluate(*expression.right);
  if (op == "==") return Value(equals(left, right));
  if (op == "!=") return Value(!equals(left, right));
  if (op == "in") return Value(contains(right, left, expression.line));
  if (op == "not in") return Value(!contains(right, left, expression.line));
  if (op == "~") {
    MarkedString result = to_output(left);
    result.append(to_output(right));
    return Value(std::move(result));
  }
  if (op == "<" || op == "<=" || op == ">" || op == ">=") {
    if (left.is_undefined() || right.is_undefined()) {
      fail(at_line(expression.line) + describe_undefined(left.is_undefined() ? left : right) + " and cannot be compared");
    }
    int order = 0;
    try {
      order = compare(left, right);
    } catch (const TemplateError& error) {
      fail(at_line(expression.line) + error.what());
    }
    if (op == "<") return Value(order < 0);
    if (op == "<=") return Value(order <= 0);
    if (op == ">") return Value(order > 0);
    return Value(order >= 0);
  }
  return arithmetic(op, left, right, expression.line);
}

Value Interpreter::evaluate_filter(const Expression& expression) {
  const Value value = evaluate(*expression.object);
  CallArguments arguments = evaluate_arguments(expression.arguments);
  step(expression.line);
  try {
    return apply_filter(*this, expression.name, value, arguments, expression.line);
  } catch (const TemplateError& error) {
    const std::string message = error.what();
    if (message.rfind("line ", 0) == 0) throw;
    throw TemplateError(error.code(), at_line(expression.line) + "filter '" + expression.name + "': " + message);
  }
}

Value Interpreter::evaluate_test(const Expression& expression) {
  const Value value = evaluate(*expression.object);
  const CallArguments arguments = evaluate_arguments(expression.arguments);
  const bool result = apply_test(expression.name, value, arguments, expression.line);
  return Value(expression.negated ? !result : result);
}

}  // namespace glimpse::text::jinja
