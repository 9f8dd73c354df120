#include "text/jinja/lexer.h"

#include <algorithm>
#include <cctype>

#include "text/jinja/value.h"
#include "text/utf8.h"

namespace glimpse::text::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

class Lexer {
 public:
  explicit Lexer(std::string_view source) {
    // Jinja turns every line break ("\r\n", "\r", "\n") in template text and string literals
    // into "\n", then drops one trailing newline (keep_trailing_newline is false).
    normalized_.reserve(source.size());
    for (std::size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        normalized_ += '\n';
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        normalized_ += source[i];
      }
    }
    source_ = normalized_;
    if (!source_.empty() && source_.back() == '\n') source_.remove_suffix(1);
  }

  std::vector<Token> run() {
    bool strip_next_text = false;  // the previous tag ended with "-"
    bool line_starting = true;     // the next text starts at the beginning of a line
    while (position_ < source_.size()) {
      const std::size_t tag = find_tag(position_);
      std::string text(source_.substr(position_, tag - position_));
      if (strip_next_text) {
        text.erase(0, std::find_if(text.begin(), text.end(), [](char c) { return !is_space(c); }) - text.begin());
        strip_next_text = false;
      }
      if (tag == source_.size()) {
        emit_text(std::move(text));
        break;
      }

      const char kind = source_[tag + 1];  // '{', '%' or '#'
      const char marker = tag + 2 < source_.size() ? source_[tag + 2] : '\0';
      if (marker == '-') {
        while (!text.empty() && is_space(text.back())) text.pop_back();
      } else if (marker != '+' && kind != '{') {
        // lstrip_blocks: the tag starts a line when only spaces and tabs precede it.
        const std::size_t line_start = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
        const bool blank = text.find_first_not_of(" \t", line_start) == std::string::npos;
        if (blank && (line_start > 0 || line_starting)) text.erase(line_start);
      }
      line_ += static_cast<std::size_t>(std::count(source_.begin() + static_cast<std::ptrdiff_t>(position_),
                                                   source_.begin() + static_cast<std::ptrdiff_t>(tag), '\n'));
      emit_text(std::move(text));
      position_ = tag + 2 + ((marker == '-' || marker == '+') ? 1 : 0);

      bool strip_after = false;
      if (kind == '#') {
        strip_after = lex_comment();
      } else {
        tokens_.push_back({kind == '{' ? TokenKind::kVarBegin : TokenKind::kBlockBegin, "", line_});
        strip_after = lex_tag(kind == '{' ? '}' : '%');
        tokens_.push_back({kind == '{' ? TokenKind::kVarEnd : TokenKind::kBlockEnd, "", line_});
      }
      strip_next_text = strip_after;
      line_starting = false;
      // trim_blocks: a block or comment tag swallows the newline right after it.
      if (!strip_after && kind != '{' && position_ < source_.size() && source_[position_] == '\n') {
        ++position_;
        ++line_;
        line_starting = true;
      }
    }
    tokens_.push_back({TokenKind::kEnd, "", line_});
    return std::move(tokens_);
  }

 private:
  std::size_t find_tag(std::size_t from) const {
    for (std::size_t i = from; i + 1 < source_.size(); ++i) {
      if (source_[i] == '{' && (source_[i + 1] == '{' || source_[i + 1] == '%' || source_[i + 1] == '#')) return i;
    }
    return source_.size();
  }

  void emit_text(std::string text) {
    if (text.empty()) return;
    if (!tokens_.empty() && tokens_.back().kind == TokenKind::kText) {
      tokens_.back().value += text;
    } else {
      tokens_.push_back({TokenKind::kText, std::move(text), line_});
    }
  }

  // Returns true when the comment ends with "-#}".
  bool lex_comment() {
    const std::size_t end = source_.find("#}", position_);
    if (end == std::string_view::npos) fail("line " + std::to_string(line_) + ": unterminated comment '{#'");
    const bool strip = end > position_ && source_[end - 1] == '-';
    line_ += static_cast<std::size_t>(std::count(source_.begin() + static_cast<std::ptrdiff_t>(position_),
                                                 source_.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
    position_ = end + 2;
    return strip;
  }

  // Lexes the expression tokens of a {{ }} or {% %} tag; returns true when it ends with "-".
  bool lex_tag(char closer) {
    int depth = 0;  // open brackets, inside which "}}" does not close a tag
    while (true) {
      while (position_ < source_.size() && is_space(source_[position_])) {
        if (source_[position_] == '\n') ++line_;
        ++position_;
      }
      if (position_ >= source_.size()) {
        fail("line " + std::to_string(line_) + ": unterminated tag; expected '" + std::string(1, closer) + "}'");
      }
      const std::string_view rest = source_.substr(position_);
      if (depth == 0) {
        if (rest.size() >= 3 && rest[0] == '-' && rest[1] == closer && rest[2] == '}') {
          position_ += 3;
          return true;
        }
        if (rest.size() >= 2 && rest[0] == closer && rest[1] == '}') {
          position_ += 2;
          return false;
        }
      }
      const char c = rest[0];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        std::size_t length = 1;
        while (length < rest.size() && (std::isalnum(static_cast<unsigned char>(rest[length])) || rest[length] == '_')) ++length;
        tokens_.push_back({TokenKind::kName, std::string(rest.substr(0, length)), line_});
        position_ += length;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        lex_number(rest);
      } else if (c == '\'' || c == '"') {
        lex_string(rest);
      } else {
        static const char* const kOperators[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~",
                                                 "<",  ">",  "=",  "(",  ")",  "[",  "]", "{", "}", ",", ".", ":",
                                                 "|"};
        const char* found = nullptr;
        for (const char* op : kOperators) {
          if (rest.substr(0, std::char_traits<char>::length(op)) == op) {
            found = op;
            break;
          }
        }
        if (found == nullptr) {
          fail("line " + std::to_string(line_) + ": unexpected character '" + std::string(1, c) + "' in a tag");
        }
        const std::string op(found);
        if (op == "(" || op == "[" || op == "{") ++depth;
        if ((op == ")" || op == "]" || op == "}") && depth > 0) --depth;
        tokens_.push_back({TokenKind::kOperator, op, line_});
        position_ += op.size();
      }
    }
  }

  void lex_number(std::string_view rest) {
    std::size_t length = 0;
    bool is_float = false;
    const auto digits = [&] {
      while (length < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[length])) || rest[length] == '_')) ++length;
    };
    digits();
    if (length + 1 < rest.size() && rest[length] == '.' && std::isdigit(static_cast<unsigned char>(rest[length + 1]))) {
      is_float = true;
      ++length;
      digits();
    }
    if (length < rest.size() && (rest[length] == 'e' || rest[length] == 'E')) {
      std::size_t exponent = length + 1;
      if (exponent < rest.size() && (rest[exponent] == '+' || rest[exponent] == '-')) ++exponent;
      if (exponent < rest.size() && std::isdigit(static_cast<unsigned char>(rest[exponent]))) {
        is_float = true;
        length = exponent;
        digits();
      }
    }
    std::string text(rest.substr(0, length));
    text.erase(std::remove(text.begin(), text.end(), '_'), text.end());
    tokens_.push_back({is_float ? TokenKind::kFloat : TokenKind::kInteger, std::move(text), line_});
    position_ += length;
  }

  void lex_string(std::string_view rest) {
    const char quote = rest[0];
    std::string value;
    std::size_t i = 1;
    while (true) {
      if (i >= rest.size()) fail("line " + std::to_string(line_) + ": unterminated string literal");
      const char c = rest[i];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\' || i + 1 >= rest.size()) {
        value += c;
        ++i;
        continue;
      }
      const char escape = rest[i + 1];
      i += 2;
      switch (escape) {
        case 'n': value += '\n'; break;
        case 't': value += '\t'; break;
        case 'r': value += '\r'; break;
        case '0': value += '\0'; break;
        case 'a': value += '\a'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'v': value += '\v'; break;
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case '\n': break;  // a line continuation
        case 'x':
        case 'u':
        case 'U': {
          std::size_t count = 8;  // \U
          if (escape == 'x') count = 2;
          if (escape == 'u') count = 4;
          if (i + count > rest.size()) fail("line " + std::to_string(line_) + ": truncated \\" + std::string(1, escape) + " escape");
          char32_t code_point = 0;
          for (std::size_t k = 0; k < count; ++k) {
            const char h = rest[i + k];
            const int digit = std::isdigit(static_cast<unsigned char>(h)) ? h - '0'
                              : (h >= 'a' && h <= 'f')                    ? h - 'a' + 10
                              : (h >= 'A' && h <= 'F')                    ? h - 'A' + 10
                                                                          : -1;
            if (digit < 0) fail("line " + std::to_string(line_) + ": invalid \\" + std::string(1, escape) + " escape");
            code_point = code_point * 16 + static_cast<char32_t>(digit);
          }
          if (code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) {
            fail("line " + std::to_string(line_) + ": escape names no Unicode character");
          }
          append_utf8(value, code_point);
          i += count;
          break;
        }
        default:
          // Python keeps unknown escapes as written.
          value += '\\';
          value += escape;
      }
    }
    tokens_.push_back({TokenKind::kString, std::move(value), line_});
    position_ += i + 1;
  }

  std::string normalized_;
  std::string_view source_;
  std::size_t position_ = 0;
  std::size_t line_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize_template(std::string_view source) { return Lexer(source).run(); }

}  // namespace glimpse::text::jinja
