#pragma once
// Shell-style wildcard matching with fnmatch(3) semantics and no flags: '*' matches any run of
// characters (including '/' and a leading '.'), '?' one character, '[...]' a set ('!' or '^'
// negates, ranges "a-z", a ']' first is literal, [:class:] names), '\' quotes the next
// character. A '[' with no closing ']' matches itself. Bytes, not UTF-8 characters.

#include <string_view>

namespace guestdump::policies {

enum class Case { kSensitive, kInsensitive };

/// True if `text` matches `pattern` as a whole. Runs in O(|pattern| x |text|) time (no
/// exponential backtracking) and without recursion.
bool glob_match(std::string_view pattern, std::string_view text, Case mode = Case::kSensitive);

} // namespace guestdump::policies
