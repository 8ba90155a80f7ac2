#include <cctype>
#include <optional>

#include <guestdump/policies/glob.h>

namespace guestdump::policies {
namespace {

unsigned char fold(unsigned char c, Case mode) {
  return mode == Case::kInsensitive ? static_cast<unsigned char>(std::tolower(c)) : c;
}

bool in_class(std::string_view name, unsigned char c) {
  if (name == "alnum") return std::isalnum(c) != 0;
  if (name == "alpha") return std::isalpha(c) != 0;
  if (name == "blank") return c == ' ' || c == '\t';
  if (name == "cntrl") return std::iscntrl(c) != 0;
  if (name == "digit") return std::isdigit(c) != 0;
  if (name == "graph") return std::isgraph(c) != 0;
  if (name == "lower") return std::islower(c) != 0;
  if (name == "print") return std::isprint(c) != 0;
  if (name == "punct") return std::ispunct(c) != 0;
  if (name == "space") return std::isspace(c) != 0;
  if (name == "upper") return std::isupper(c) != 0;
  if (name == "xdigit") return std::isxdigit(c) != 0;
  return false;
}

struct BracketResult {
  bool matched;
  std::size_t end; // index just past the closing ']'
};

// Evaluates the set starting at pattern[start] == '['. nullopt: no closing ']' (then '[' is an
// ordinary character, as in fnmatch).
std::optional<BracketResult> match_bracket(std::string_view p, std::size_t start, unsigned char c,
                                           Case mode) {
  std::size_t i = start + 1;
  bool negate = false;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
    negate = true;
    ++i;
  }
  bool matched = false;
  bool first = true;
  const unsigned char fc = fold(c, mode);
  while (i < p.size()) {
    if (p[i] == ']' && !first) return BracketResult{matched != negate, i + 1};
    first = false;
    if (p[i] == '[' && i + 1 < p.size() && p[i + 1] == ':') {
      const std::size_t close = p.find(":]", i + 2);
      if (close != std::string_view::npos) {
        const std::string_view name = p.substr(i + 2, close - (i + 2));
        // Case-insensitive matching lets [:upper:] and [:lower:] match either case.
        bool hit = in_class(name, c);
        if (mode == Case::kInsensitive && (name == "upper" || name == "lower")) {
          hit = std::isalpha(c) != 0;
        }
        matched = matched || hit;
        i = close + 2;
        continue;
      }
    }
    unsigned char lo = static_cast<unsigned char>(p[i]);
    if (lo == '\\' && i + 1 < p.size()) lo = static_cast<unsigned char>(p[++i]);
    ++i;
    unsigned char hi = lo;
    if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
      hi = static_cast<unsigned char>(p[i + 1]);
      i += 2;
      if (hi == '\\' && i < p.size()) hi = static_cast<unsigned char>(p[i++]);
    }
    if (mode == Case::kInsensitive) {
      // A range matches a character if it or its other case lies within it.
      const auto lower = static_cast<unsigned char>(std::tolower(c));
      const auto upper = static_cast<unsigned char>(std::toupper(c));
      matched = matched || (lo <= lower && lower <= hi) || (lo <= upper && upper <= hi);
    } else {
      matched = matched || (lo <= fc && fc <= hi);
    }
  }
  return std::nullopt;
}

} // namespace

bool glob_match(std::string_view p, std::string_view t, Case mode) {
  std::size_t pi = 0;
  std::size_t ti = 0;
  // The last '*' seen and the text position it is currently assumed to cover up to. A later
  // mismatch retries with the star covering one more character; earlier stars never need to be
  // revisited, which keeps this quadratic at worst.
  std::optional<std::size_t> star_p;
  std::size_t star_t = 0;
  while (ti < t.size()) {
    if (pi < p.size()) {
      const char pc = p[pi];
      if (pc == '*') {
        star_p = ++pi;
        star_t = ti;
        continue;
      }
      const auto tc = static_cast<unsigned char>(t[ti]);
      if (pc == '?') {
        ++pi;
        ++ti;
        continue;
      }
      if (pc == '[') {
        if (const auto bracket = match_bracket(p, pi, tc, mode)) {
          if (bracket->matched) {
            pi = bracket->end;
            ++ti;
            continue;
          }
        } else if (tc == '[') { // unterminated: a literal '['
          ++pi;
          ++ti;
          continue;
        }
      } else {
        unsigned char lit = static_cast<unsigned char>(pc);
        std::size_t next = pi + 1;
        if (pc == '\\' && pi + 1 < p.size()) {
          lit = static_cast<unsigned char>(p[pi + 1]);
          next = pi + 2;
        }
        if (fold(lit, mode) == fold(tc, mode)) {
          pi = next;
          ++ti;
          continue;
        }
      }
    }
    if (!star_p) return false;
    pi = *star_p;
    ti = ++star_t;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

} // namespace guestdump::policies
