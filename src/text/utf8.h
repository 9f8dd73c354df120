// UTF-8 helpers for the text module: validation, code point iteration and the lossy decoding of
// byte sequences that Rust's String::from_utf8_lossy performs.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace glimpse::text {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// Returns the byte offset of the first invalid sequence, or nullopt when `bytes` is valid UTF-8
// (no overlong forms, no surrogates, nothing above U+10FFFF).
std::optional<std::size_t> find_invalid_utf8(std::string_view bytes);

// Returns the length of the valid UTF-8 sequence that starts at `bytes[offset]`, or 0 when none
// starts there.
std::size_t valid_sequence_length(std::string_view bytes, std::size_t offset);

// Decodes the code point at `offset` of valid UTF-8 text and advances `offset` past it.
char32_t next_code_point(std::string_view text, std::size_t& offset);

void append_utf8(std::string& out, char32_t code_point);

// Replaces each maximal invalid subsequence with U+FFFD, as Rust's String::from_utf8_lossy
// (and the Unicode Standard's recommended practice) does.
std::string utf8_lossy(std::string_view bytes);

// The number of code points of valid UTF-8 text.
std::size_t count_code_points(std::string_view text);

// Python's str.isspace() for one code point: Unicode White_Space plus the separators U+001C-U+001F.
bool is_python_space(char32_t c);

// Rust's char::is_whitespace: the Unicode White_Space property.
bool is_unicode_white_space(char32_t c);

}  // namespace glimpse::text
