#include "text/jinja/parser.h"

#include <algorithm>
#include <set>

#include "text/jinja/lexer.h"

namespace glimpse::text::jinja {
namespace {

// Deeper nesting than any chat template needs; it bounds the parser's recursion.
constexpr int kMaxDepth = 200;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Body parse() {
    std::string terminator;
    Body body = parse_body({}, terminator);
    return body;
  }

 private:
  // ---- token helpers ----
  const Token& current() const { return tokens_[position_]; }
  const Token& peek(std::size_t ahead = 1) const { return tokens_[std::min(position_ + ahead, tokens_.size() - 1)]; }
  std::string where() const { return "line " + std::to_string(current().line); }
  bool at_operator(std::string_view op) const { return current().kind == TokenKind::kOperator && current().value == op; }
  bool at_name(std::string_view name) const { return current().kind == TokenKind::kName && current().value == name; }
  void advance() {
    if (current().kind != TokenKind::kEnd) ++position_;
  }
  std::string describe(const Token& token) const {
    switch (token.kind) {
      case TokenKind::kText: return "template text";
      case TokenKind::kVarBegin: return "'{{'";
      case TokenKind::kVarEnd: return "'}}'";
      case TokenKind::kBlockBegin: return "'{%'";
      case TokenKind::kBlockEnd: return "'%}'";
      case TokenKind::kString: return "a string";
      case TokenKind::kInteger:
      case TokenKind::kFloat: return "the number " + token.value;
      case TokenKind::kEnd: return "the end of the template";
      default: return "'" + token.value + "'";
    }
  }
  [[noreturn]] void unexpected(const std::string& expected) const {
    fail(where() + ": expected " + expected + ", found " + describe(current()));
  }
  void expect_operator(std::string_view op) {
    if (!at_operator(op)) unexpected("'" + std::string(op) + "'");
    advance();
  }
  void expect_kind(TokenKind kind, const std::string& what) {
    if (current().kind != kind) unexpected(what);
    advance();
  }
  std::string expect_name() {
    if (current().kind != TokenKind::kName) unexpected("a name");
    std::string name = current().value;
    advance();
    return name;
  }

  struct DepthGuard {
    explicit DepthGuard(Parser& parser) : parser_(parser) {
      if (++parser_.depth_ > kMaxDepth) fail(parser_.where() + ": the template nests deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    ~DepthGuard() { --parser_.depth_; }
    Parser& parser_;
  };

  ExpressionPtr make(Expression::Kind kind) {
    auto expression = std::make_unique<Expression>();
    expression->kind = kind;
    expression->line = current().line;
    return expression;
  }

  // ---- statements ----

  // Parses statements until a block tag whose keyword is in `ends`; leaves that keyword in
  // `terminator` with the stream just after it.
  Body parse_body(const std::set<std::string>& ends, std::string& terminator) {
    DepthGuard guard(*this);
    Body body;
    while (true) {
      const Token& token = current();
      if (token.kind == TokenKind::kEnd) {
        if (!ends.empty()) {
          // Name the closing tag ("endfor"), not an optional middle one ("else").
          const auto closing = std::find_if(ends.begin(), ends.end(), [](const std::string& e) { return e.rfind("end", 0) == 0; });
          fail("the template ends without {% " + (closing != ends.end() ? *closing : *ends.begin()) + " %}");
        }
        return body;
      }
      if (token.kind == TokenKind::kText) {
        auto statement = std::make_unique<Statement>();
        statement->kind = Statement::Kind::kText;
        statement->text = token.value;
        body.push_back(std::move(statement));
        advance();
        continue;
      }
      if (token.kind == TokenKind::kVarBegin) {
        advance();
        auto statement = std::make_unique<Statement>();
        statement->kind = Statement::Kind::kOutput;
        statement->line = token.line;
        statement->expression = parse_tuple(true);
        expect_kind(TokenKind::kVarEnd, "'}}'");
        body.push_back(std::move(statement));
        continue;
      }
      if (token.kind != TokenKind::kBlockBegin) unexpected("text, '{{' or '{%'");
      advance();
      if (current().kind != TokenKind::kName) unexpected("a statement keyword");
      const std::string keyword = current().value;
      if (ends.count(keyword) != 0) {
        advance();
        terminator = keyword;
        return body;
      }
      body.push_back(parse_statement(keyword));
    }
  }

  std::unique_ptr<Statement> parse_statement(const std::string& keyword) {
    auto statement = std::make_unique<Statement>();
    statement->line = current().line;
    advance();  // the keyword
    std::string terminator;
    if (keyword == "if") {
      statement->kind = Statement::Kind::kIf;
      statement->conditions.push_back(parse_tuple(true));
      expect_kind(TokenKind::kBlockEnd, "'%}'");
      while (true) {
        statement->bodies.push_back(parse_body({"elif", "else", "endif"}, terminator));
        if (terminator == "elif") {
          statement->conditions.push_back(parse_tuple(true));
          expect_kind(TokenKind::kBlockEnd, "'%}'");
          continue;
        }
        if (terminator == "else") {
          expect_kind(TokenKind::kBlockEnd, "'%}'");
          statement->else_body = parse_body({"endif"}, terminator);
        }
        break;
      }
    } else if (keyword == "for") {
      statement->kind = Statement::Kind::kFor;
      statement->targets = parse_targets();
      if (!at_name("in")) unexpected("'in'");
      advance();
      statement->expression = parse_tuple(false);
      if (at_name("if")) {
        advance();
        statement->condition = parse_tuple(true);
      }
      if (at_name("recursive")) fail_unsupported(where() + ": recursive for loops are outside the Jinja subset glimpse implements");
      expect_kind(TokenKind::kBlockEnd, "'%}'");
      statement->body = parse_body({"else", "endfor"}, terminator);
      if (terminator == "else") {
        expect_kind(TokenKind::kBlockEnd, "'%}'");
        statement->else_body = parse_body({"endfor"}, terminator);
      }
    } else if (keyword == "set") {
      statement->targets = parse_targets();
      if (statement->targets.size() == 1 && at_operator(".")) {
        advance();
        statement->attribute = expect_name();
      }
      if (at_operator("=")) {
        advance();
        statement->kind = Statement::Kind::kSet;
        statement->expression = parse_tuple(true);
      } else {
        if (statement->targets.size() != 1 || !statement->attribute.empty()) unexpected("'='");
        if (current().kind == TokenKind::kOperator && current().value == "|") {
          fail_unsupported(where() + ": filtered {% set %} blocks are outside the Jinja subset glimpse implements");
        }
        expect_kind(TokenKind::kBlockEnd, "'%}'");
        statement->kind = Statement::Kind::kSetBlock;
        statement->body = parse_body({"endset"}, terminator);
      }
    } else if (keyword == "macro") {
      statement->kind = Statement::Kind::kMacro;
      statement->name = expect_name();
      expect_operator("(");
      while (!at_operator(")")) {
        MacroParameter parameter;
        parameter.name = expect_name();
        if (at_operator("=")) {
          advance();
          parameter.default_value = parse_expression(true);
        }
        statement->parameters.push_back(std::move(parameter));
        if (!at_operator(",")) break;
        advance();
      }
      expect_operator(")");
      expect_kind(TokenKind::kBlockEnd, "'%}'");
      statement->body = parse_body({"endmacro"}, terminator);
    } else if (keyword == "generation") {
      statement->kind = Statement::Kind::kGeneration;
      expect_kind(TokenKind::kBlockEnd, "'%}'");
      statement->body = parse_body({"endgeneration"}, terminator);
    } else if (keyword == "break" || keyword == "continue") {
      statement->kind = keyword == "break" ? Statement::Kind::kBreak : Statement::Kind::kContinue;
    } else if (keyword == "do") {
      statement->kind = Statement::Kind::kCallStatement;
      statement->expression = parse_tuple(true);
    } else if (keyword == "include" || keyword == "extends" || keyword == "import" || keyword == "from" ||
               keyword == "block" || keyword == "call" || keyword == "filter" || keyword == "with" ||
               keyword == "raw" || keyword == "autoescape") {
      fail_unsupported("line " + std::to_string(statement->line) + ": {% " + keyword +
                       " %} is outside the Jinja subset glimpse implements");
    } else {
      fail("line " + std::to_string(statement->line) + ": unknown statement {% " + keyword + " %}");
    }
    // The end tag of a block statement was consumed by parse_body; close its '%}' here.
    expect_kind(TokenKind::kBlockEnd, "'%}'");
    return statement;
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> targets;
    const bool parenthesized = at_operator("(");
    if (parenthesized) advance();
    targets.push_back(expect_name());
    while (at_operator(",")) {
      advance();
      targets.push_back(expect_name());
    }
    if (parenthesized) expect_operator(")");
    return targets;
  }

  // ---- expressions ----

  // An expression, or a tuple of them separated by commas (returned as a list).
  ExpressionPtr parse_tuple(bool with_conditional) {
    ExpressionPtr first = parse_expression(with_conditional);
    if (!at_operator(",")) return first;
    auto tuple = make(Expression::Kind::kList);
    tuple->items.push_back(std::move(first));
    while (at_operator(",")) {
      advance();
      if (current().kind == TokenKind::kBlockEnd || current().kind == TokenKind::kVarEnd || at_operator(")")) break;
      tuple->items.push_back(parse_expression(with_conditional));
    }
    return tuple;
  }

  ExpressionPtr parse_expression(bool with_conditional) {
    DepthGuard guard(*this);
    ExpressionPtr expression = parse_or();
    if (!with_conditional) return expression;
    while (at_name("if")) {
      advance();
      auto conditional = make(Expression::Kind::kConditional);
      conditional->condition = parse_or();
      conditional->left = std::move(expression);
      if (at_name("else")) {
        advance();
        conditional->right = parse_expression(true);
      }
      expression = std::move(conditional);
    }
    return expression;
  }

  ExpressionPtr binary(std::string op, ExpressionPtr left, ExpressionPtr right) {
    auto expression = make(Expression::Kind::kBinary);
    expression->name = std::move(op);
    expression->left = std::move(left);
    expression->right = std::move(right);
    return expression;
  }

  ExpressionPtr parse_or() {
    ExpressionPtr left = parse_and();
    while (at_name("or")) {
      advance();
      left = binary("or", std::move(left), parse_and());
    }
    return left;
  }

  ExpressionPtr parse_and() {
    ExpressionPtr left = parse_not();
    while (at_name("and")) {
      advance();
      left = binary("and", std::move(left), parse_not());
    }
    return left;
  }

  ExpressionPtr parse_not() {
    if (at_name("not")) {
      DepthGuard guard(*this);
      auto expression = make(Expression::Kind::kUnary);
      advance();
      expression->name = "not";
      expression->object = parse_not();
      return expression;
    }
    return parse_compare();
  }

  ExpressionPtr parse_compare() {
    ExpressionPtr left = parse_math1();
    ExpressionPtr result;
    while (true) {
      std::string op;
      if (current().kind == TokenKind::kOperator &&
          (current().value == "==" || current().value == "!=" || current().value == "<" || current().value == "<=" ||
           current().value == ">" || current().value == ">=")) {
        op = current().value;
        advance();
      } else if (at_name("in")) {
        op = "in";
        advance();
      } else if (at_name("not") && peek().kind == TokenKind::kName && peek().value == "in") {
        op = "not in";
        advance();
        advance();
      } else {
        break;
      }
      // a < b < c means (a < b) and (b < c); each comparison gets its own copy of the middle
      // operand, which is evaluated twice (templates have no side effects in expressions).
      ExpressionPtr right = parse_math1();
      ExpressionPtr comparison = binary(op, std::move(left), clone(*right));
      result = result ? binary("and", std::move(result), std::move(comparison)) : std::move(comparison);
      left = std::move(right);
    }
    return result ? std::move(result) : std::move(left);
  }

  ExpressionPtr parse_math1() {
    ExpressionPtr left = parse_concat();
    while (at_operator("+") || at_operator("-")) {
      const std::string op = current().value;
      advance();
      left = binary(op, std::move(left), parse_concat());
    }
    return left;
  }

  ExpressionPtr parse_concat() {
    ExpressionPtr left = parse_math2();
    while (at_operator("~")) {
      advance();
      left = binary("~", std::move(left), parse_math2());
    }
    return left;
  }

  ExpressionPtr parse_math2() {
    ExpressionPtr left = parse_pow();
    while (at_operator("*") || at_operator("/") || at_operator("//") || at_operator("%")) {
      const std::string op = current().value;
      advance();
      left = binary(op, std::move(left), parse_pow());
    }
    return left;
  }

  ExpressionPtr parse_pow() {
    ExpressionPtr left = parse_unary(true);
    while (at_operator("**")) {
      advance();
      left = binary("**", std::move(left), parse_unary(true));
    }
    return left;
  }

  ExpressionPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExpressionPtr expression;
    if (at_operator("-") || at_operator("+")) {
      expression = make(Expression::Kind::kUnary);
      expression->name = current().value;
      advance();
      expression->object = parse_unary(false);
    } else {
      expression = parse_postfix(parse_primary());
    }
    if (with_filter) expression = parse_filter_expression(std::move(expression));
    return expression;
  }

  ExpressionPtr parse_primary() {
    const Token& token = current();
    if (token.kind == TokenKind::kName) {
      const std::string name = token.value;
      auto expression = make(Expression::Kind::kLiteral);
      advance();
      if (name == "true" || name == "True") {
        expression->value = Value(true);
      } else if (name == "false" || name == "False") {
        expression->value = Value(false);
      } else if (name == "none" || name == "None") {
        expression->value = Value(None{});
      } else {
        expression->kind = Expression::Kind::kName;
        expression->name = name;
      }
      return expression;
    }
    if (token.kind == TokenKind::kString) {
      auto expression = make(Expression::Kind::kLiteral);
      std::string text;
      while (current().kind == TokenKind::kString) {  // adjacent literals concatenate
        text += current().value;
        advance();
      }
      expression->value = Value(std::move(text));
      return expression;
    }
    if (token.kind == TokenKind::kInteger || token.kind == TokenKind::kFloat) {
      auto expression = make(Expression::Kind::kLiteral);
      try {
        if (token.kind == TokenKind::kInteger) {
          expression->value = Value(static_cast<std::int64_t>(std::stoll(token.value)));
        } else {
          expression->value = Value(std::stod(token.value));
        }
      } catch (const std::exception&) {
        fail(where() + ": the number " + token.value + " is out of range");
      }
      advance();
      return expression;
    }
    if (at_operator("(")) {
      advance();
      if (at_operator(")")) {
        advance();
        return make(Expression::Kind::kList);
      }
      ExpressionPtr inner = parse_tuple(true);
      expect_operator(")");
      return inner;
    }
    if (at_operator("[")) {
      auto list = make(Expression::Kind::kList);
      advance();
      while (!at_operator("]")) {
        list->items.push_back(parse_expression(true));
        if (!at_operator(",")) break;
        advance();
      }
      expect_operator("]");
      return list;
    }
    if (at_operator("{")) {
      auto dict = make(Expression::Kind::kDict);
      advance();
      while (!at_operator("}")) {
        dict->keys.push_back(parse_expression(true));
        expect_operator(":");
        dict->items.push_back(parse_expression(true));
        if (!at_operator(",")) break;
        advance();
      }
      expect_operator("}");
      return dict;
    }
    unexpected("an expression");
  }

  ExpressionPtr parse_postfix(ExpressionPtr expression) {
    while (true) {
      if (at_operator(".")) {
        advance();
        if (current().kind == TokenKind::kInteger) {
          auto item = make(Expression::Kind::kItem);
          item->object = std::move(expression);
          item->index = make(Expression::Kind::kLiteral);
          try {
            item->index->value = Value(static_cast<std::int64_t>(std::stoll(current().value)));
          } catch (const std::exception&) {
            fail(where() + ": the index " + current().value + " is out of range");
          }
          advance();
          expression = std::move(item);
          continue;
        }
        auto attribute = make(Expression::Kind::kAttribute);
        attribute->object = std::move(expression);
        attribute->name = expect_name();
        expression = std::move(attribute);
      } else if (at_operator("[")) {
        expression = parse_subscript(std::move(expression));
      } else if (at_operator("(")) {
        expression = parse_call(std::move(expression));
      } else {
        return expression;
      }
    }
  }

  ExpressionPtr parse_subscript(ExpressionPtr object) {
    advance();  // [
    ExpressionPtr parts[3];
    int colons = 0;
    while (!at_operator("]")) {
      if (at_operator(":")) {
        if (++colons > 2) unexpected("']'");
        advance();
        continue;
      }
      if (parts[colons]) unexpected("':' or ']'");
      parts[colons] = parse_expression(true);
    }
    advance();  // ]
    if (colons == 0) {
      if (!parts[0]) fail(where() + ": empty subscript '[]'");
      auto item = make(Expression::Kind::kItem);
      item->object = std::move(object);
      item->index = std::move(parts[0]);
      return item;
    }
    auto slice = make(Expression::Kind::kSlice);
    slice->object = std::move(object);
    slice->start = std::move(parts[0]);
    slice->stop = std::move(parts[1]);
    slice->step = std::move(parts[2]);
    return slice;
  }

  std::vector<Argument> parse_arguments() {
    expect_operator("(");
    std::vector<Argument> arguments;
    while (!at_operator(")")) {
      if (at_operator("*") || at_operator("**")) {
        fail_unsupported(where() + ": *args and **kwargs in calls are outside the Jinja subset glimpse implements");
      }
      Argument argument;
      if (current().kind == TokenKind::kName && peek().kind == TokenKind::kOperator && peek().value == "=") {
        argument.name = current().value;
        advance();
        advance();
      }
      argument.value = parse_expression(true);
      arguments.push_back(std::move(argument));
      if (!at_operator(",")) break;
      advance();
    }
    expect_operator(")");
    return arguments;
  }

  ExpressionPtr parse_call(ExpressionPtr callee) {
    auto call = make(Expression::Kind::kCall);
    call->object = std::move(callee);
    call->arguments = parse_arguments();
    return call;
  }

  ExpressionPtr parse_filter_expression(ExpressionPtr expression) {
    while (true) {
      if (at_operator("|")) {
        advance();
        auto filter = make(Expression::Kind::kFilter);
        filter->name = expect_name();
        while (at_operator(".")) {  // dotted filter names are not Jinja built-ins; keep the text for the message
          advance();
          filter->name += "." + expect_name();
        }
        filter->object = std::move(expression);
        if (at_operator("(")) filter->arguments = parse_arguments();
        expression = std::move(filter);
      } else if (at_name("is")) {
        advance();
        auto test = make(Expression::Kind::kTest);
        if (at_name("not")) {
          test->negated = true;
          advance();
        }
        test->name = expect_name();
        test->object = std::move(expression);
        if (at_operator("(")) {
          test->arguments = parse_arguments();
        } else if ((current().kind == TokenKind::kName || current().kind == TokenKind::kString ||
                    current().kind == TokenKind::kInteger || current().kind == TokenKind::kFloat || at_operator("[") ||
                    at_operator("{")) &&
                   !at_name("else") && !at_name("or") && !at_name("and")) {
          // Jinja takes one argument without parentheses: `x is divisibleby 3`.
          Argument argument;
          argument.value = parse_postfix(parse_primary());
          test->arguments.push_back(std::move(argument));
        }
        expression = std::move(test);
      } else if (at_operator("(")) {
        expression = parse_call(std::move(expression));
      } else {
        return expression;
      }
    }
  }

  static ExpressionPtr clone(const Expression& source) {
    auto copy = std::make_unique<Expression>();
    copy->kind = source.kind;
    copy->line = source.line;
    copy->value = source.value;
    copy->name = source.name;
    copy->negated = source.negated;
    for (auto [target, from] : {std::pair{&copy->object, &source.object}, std::pair{&copy->index, &source.index},
                                std::pair{&copy->start, &source.start}, std::pair{&copy->stop, &source.stop},
                                std::pair{&copy->step, &source.step}, std::pair{&copy->left, &source.left},
                                std::pair{&copy->right, &source.right}, std::pair{&copy->condition, &source.condition}}) {
      if (*from) *target = clone(**from);
    }
    for (const Argument& argument : source.arguments) copy->arguments.push_back({argument.name, clone(*argument.value)});
    for (const ExpressionPtr& item : source.items) copy->items.push_back(clone(*item));
    for (const ExpressionPtr& key : source.keys) copy->keys.push_back(clone(*key));
    return copy;
  }

  std::vector<Token> tokens_;
  std::size_t position_ = 0;
  int depth_ = 0;
};

}  // namespace

Body parse_template(std::string_view source) { return Parser(tokenize_template(source)).parse(); }

}  // namespace glimpse::text::jinja
