// The syntax tree of a parsed Jinja template.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "text/jinja/value.h"

namespace glimpse::text::jinja {

struct Expression;
using ExpressionPtr = std::unique_ptr<Expression>;

struct Argument {
  std::string name;  // empty for a positional argument
  ExpressionPtr value;
};

struct Expression {
  enum class Kind {
    kLiteral,      // value
    kName,         // name
    kAttribute,    // object.name
    kItem,         // object[index]
    kSlice,        // object[start:stop:step]; missing parts are null
    kCall,         // callee(arguments)
    kFilter,       // object | name(arguments)
    kTest,         // object is [not] name(arguments)
    kUnary,        // op operand: "not", "-", "+"
    kBinary,       // left op right: and or + - * / // % ** ~ in "not in" == != < <= > >=
    kConditional,  // then if condition else otherwise
    kList,         // [items] and tuples
    kDict,         // {keys[i]: items[i]}
  };
  Kind kind;
  std::size_t line = 0;
  Value value;
  std::string name;  // names, attributes, filters, tests, operators
  bool negated = false;
  ExpressionPtr object, index, start, stop, step, left, right, condition;
  std::vector<Argument> arguments;
  std::vector<ExpressionPtr> items;
  std::vector<ExpressionPtr> keys;
};

struct Statement;
using Body = std::vector<std::unique_ptr<Statement>>;

struct MacroParameter {
  std::string name;
  ExpressionPtr default_value;  // null when required
};

struct Statement {
  enum class Kind {
    kText,        // text
    kOutput,      // {{ expression }}
    kIf,          // conditions[i] -> bodies[i]; else_body
    kFor,         // for targets in expression [if condition]: body; else_body
    kSet,         // set targets (or target.attribute) = expression
    kSetBlock,    // set target %}body{% endset
    kMacro,       // macro name(parameters): body
    kGeneration,  // transformers' {% generation %}body{% endgeneration %}
    kBreak,
    kContinue,
    kCallStatement,  // {% do expression %}: evaluate and discard
  };
  Kind kind;
  std::size_t line = 0;
  std::string text;
  ExpressionPtr expression;
  ExpressionPtr condition;
  std::vector<ExpressionPtr> conditions;
  std::vector<Body> bodies;
  Body body;
  Body else_body;
  std::vector<std::string> targets;
  std::string attribute;  // for {% set ns.attribute = ... %}
  std::string name;
  std::vector<MacroParameter> parameters;
};

}  // namespace glimpse::text::jinja
