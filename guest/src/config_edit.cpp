// See config_edit.h. Text is handled as lines including their terminators so that rewriting
// one line cannot disturb any other byte (CRLF, missing final newline, trailing spaces).

#include "guestdump/guest/config_edit.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "guestdump/guest/system_info.h"

namespace guestdump::guest {

namespace {

struct Line {
  std::string body; // without terminator
  std::string eol;  // "\n", "\r\n"; "" or "\r" for a last line without newline
};

std::vector<Line> split_lines(const std::string& text) {
  std::vector<Line> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      // A last line without newline; a final "\r" is kept as its terminator so that appending
      // a line after it makes a CRLF the file can be read back with.
      std::string body = text.substr(pos);
      std::string eol;
      if (!body.empty() && body.back() == '\r') {
        body.pop_back();
        eol = "\r";
      }
      lines.push_back({body, eol});
      break;
    }
    std::string body = text.substr(pos, nl - pos);
    std::string eol = "\n";
    if (!body.empty() && body.back() == '\r') {
      body.pop_back();
      eol = "\r\n";
    }
    lines.push_back({body, eol});
    pos = nl + 1;
  }
  return lines;
}

std::string join_lines(const std::vector<Line>& lines) {
  std::string out;
  for (const auto& l : lines) out += l.body + l.eol;
  return out;
}

// Appends a line, terminating the previous last line first if it had no newline.
void append_line(std::vector<Line>& lines, const std::string& body) {
  std::string eol = "\n";
  if (!lines.empty()) {
    if (lines.back().eol.empty())
      lines.back().eol = "\n";
    else if (lines.back().eol == "\r")
      lines.back().eol = "\r\n";
    eol = lines.back().eol;
  }
  lines.push_back({body, eol});
}

std::string key_of(const std::string& token) {
  auto eq = token.find('=');
  return eq == std::string::npos ? token : token.substr(0, eq);
}

Error refuse(const std::string& source, std::size_t line_no, const std::string& why) {
  return make_error(ErrorCode::kUnsupported,
                    source + ":" + std::to_string(line_no) + ": " + why +
                        "; not edited (guestdump-guest only rewrites what it can read exactly: "
                        "simplify the line or make the change by hand)");
}

bool name_start(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool name_char(char c) {
  return name_start(c) || (c >= '0' && c <= '9');
}
bool blank(char c) {
  return c == ' ' || c == '\t';
}

// File-wide limits shared by both syntaxes: size, NUL bytes, line length.
Result<std::vector<Line>> split_checked(const std::string& text, const std::string& source) {
  if (text.size() > kMaxConfigBytes)
    return make_error(ErrorCode::kUnsupported, source + ": " + std::to_string(text.size()) +
                                                   " bytes, more than the " +
                                                   std::to_string(kMaxConfigBytes) +
                                                   " a configuration file may have; not edited");
  auto lines = split_lines(text);
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::string& b = lines[n].body;
    if (b.find('\0') != std::string::npos) return refuse(source, n + 1, "NUL byte");
    if (b.size() > kMaxConfigLine)
      return refuse(source, n + 1,
                    "line of " + std::to_string(b.size()) + " bytes (more than " +
                        std::to_string(kMaxConfigLine) + ")");
  }
  return lines;
}

// Lexes one line of a shell fragment far enough to know that it stands alone: every quote,
// backtick, $(...) and ${...} closes on the line, no backslash continues it onto the next one
// and no here-document starts. Returns where a comment starts (body.size() without one).
Result<std::size_t> lex_shell_line(const std::string& body, const std::string& source,
                                   std::size_t line_no) {
  enum Ctx : char { kSq = '\'', kDq = '"', kBq = '`', kParen = ')', kBrace = '}' };
  std::vector<Ctx> stack; // empty: top level
  const std::size_t n = body.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = body[i];
    const Ctx ctx = stack.empty() ? Ctx(0) : stack.back();
    if (ctx == kSq) {
      if (c == '\'') stack.pop_back();
      continue;
    }
    if (c == '\\') {
      if (i + 1 == n) return refuse(source, line_no, "backslash continuation line");
      ++i; // the escaped character
      continue;
    }
    if (ctx == kBq) {
      if (c == '`') stack.pop_back();
      continue;
    }
    if (c == '`') {
      stack.push_back(kBq);
      continue;
    }
    if (c == '$' && i + 1 < n && (body[i + 1] == '(' || body[i + 1] == '{')) {
      stack.push_back(body[i + 1] == '(' ? kParen : kBrace);
      ++i;
      continue;
    }
    if (ctx == kDq) {
      if (c == '"') stack.pop_back();
      continue;
    }
    // Top level, $(...) or ${...}.
    if (c == '\'') {
      stack.push_back(kSq);
    } else if (c == '"') {
      stack.push_back(kDq);
    } else if (ctx == kBrace && c == '}') {
      stack.pop_back();
    } else if (ctx != kBrace && c == '(') {
      stack.push_back(kParen);
    } else if (ctx != kBrace && c == ')') {
      if (ctx != kParen) return refuse(source, line_no, "unbalanced ')'");
      stack.pop_back();
    } else if (ctx != kBrace && c == '<' && i + 1 < n && body[i + 1] == '<') {
      return refuse(source, line_no, "here-document");
    } else if (c == '#' && ctx != kBrace && (i == 0 || blank(body[i - 1]))) {
      if (stack.empty()) return i;
      // A comment inside $( ... ) would run past the closing parenthesis.
      return refuse(source, line_no, "comment inside a command substitution");
    }
  }
  if (!stack.empty()) {
    static const char* what[] = {"single quote", "double quote", "backtick", "'$(' or '('", "'${'"};
    const Ctx open = stack.back();
    const int k = open == kSq ? 0 : open == kDq ? 1 : open == kBq ? 2 : open == kParen ? 3 : 4;
    return refuse(source, line_no,
                  std::string("unbalanced ") + what[k] + " (a value spanning lines)");
  }
  return n;
}

// The value part of `KEY=` at body[start..]: its text with quotes removed, the quote used and
// where it ends. Only plain values are accepted (see config_edit.h).
struct RawValue {
  std::string value;
  char quote = 0;
  std::size_t end = 0; // index in body after the value
};

// Checks the characters of a value inside `quote` (0: unquoted); "" when acceptable, else why.
std::string value_problem(const std::string& v, char quote) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c == 0x7f) return "control character in the value";
    if (quote == '\'') {
      if (c == '\'') return "single quote inside the value";
      continue;
    }
    if (quote == 0) {
      if (std::isalnum(c) == 0 && std::strchr("_.,:/=+@%^-", c) == nullptr)
        return std::string("unquoted value with '") + static_cast<char>(c) + "'";
      continue;
    }
    if (c == '\\') return "backslash (an escape) in the value";
    if (c == '"') return "escaped or embedded double quote in the value";
    if (c == '`') return "backtick command substitution in the value";
    if (c == '$') {
      // $NAME and ${NAME} are kept verbatim as words; anything else expands in ways we
      // cannot see.
      std::size_t j = i + 1;
      const bool braced = j < v.size() && v[j] == '{';
      if (braced) ++j;
      if (j >= v.size() || !name_start(v[j]))
        return "'$' expansion other than $NAME or ${NAME} in the value";
      while (j < v.size() && name_char(v[j])) ++j;
      if (braced) {
        if (j >= v.size() || v[j] != '}')
          return "'${...}' expansion other than ${NAME} in the value";
        ++j;
      }
      i = j - 1;
    }
  }
  return "";
}

Result<RawValue> parse_value(const std::string& body, std::size_t start, std::size_t code_end,
                             const std::string& source, std::size_t line_no,
                             const std::string& key) {
  RawValue v;
  std::size_t i = start;
  if (i < body.size() && (body[i] == '"' || body[i] == '\'')) {
    v.quote = body[i];
    std::size_t close = body.find(v.quote, i + 1);
    if (v.quote == '"') {
      // The lexer accepted the line, so a close exists; an escaped quote shows as a backslash.
      while (close != std::string::npos && body[close - 1] == '\\')
        close = body.find('"', close + 1);
    }
    if (close == std::string::npos) return refuse(source, line_no, key + ": unbalanced quote");
    v.value = body.substr(i + 1, close - i - 1);
    v.end = close + 1;
  } else {
    std::size_t e = i;
    while (e < code_end && !blank(body[e])) ++e;
    v.value = body.substr(i, e - i);
    v.end = e;
  }
  if (auto p = value_problem(v.value, v.quote); !p.empty())
    return refuse(source, line_no, key + ": " + p);
  // After the value: nothing, or blanks and then nothing or a comment.
  std::size_t j = v.end;
  while (j < body.size() && blank(body[j])) ++j;
  if (j < body.size() && !(body[j] == '#' && j > v.end && j == code_end))
    return refuse(source, line_no,
                  key + ": more after the value ('" + body.substr(v.end, 20) + "')");
  return v;
}

// Where `KEY=` starts in a plain assignment line: after indentation and an optional
// "export "; npos when the line does not start so.
std::size_t assignment_of(const std::string& body, const std::string& key) {
  std::size_t i = 0;
  while (i < body.size() && blank(body[i])) ++i;
  if (body.compare(i, 7, "export ") == 0 || body.compare(i, 7, "export\t") == 0) {
    i += 7;
    while (i < body.size() && blank(body[i])) ++i;
  }
  if (body.compare(i, key.size(), key) == 0 && i + key.size() < body.size() &&
      body[i + key.size()] == '=')
    return i;
  return std::string::npos;
}

// True when KEY appears in the code part of a line as a name (not as $KEY or part of a longer
// name): the line assigns, exports, unsets or otherwise handles it.
bool mentions_key(const std::string& body, std::size_t code_end, const std::string& key) {
  for (std::size_t p = body.find(key); p != std::string::npos && p < code_end;
       p = body.find(key, p + 1)) {
    const bool starts = p == 0 || std::strchr(" \t;&|(`", body[p - 1]) != nullptr;
    const std::size_t after = p + key.size();
    const bool ends = after >= code_end || !name_char(body[after]);
    if (starts && ends) return true;
  }
  return false;
}

struct Assignment {
  std::size_t line = 0; // index into the lines
  std::size_t at = 0;   // where KEY starts
  RawValue value;
};

// The validated lines of a shell fragment and the one assignment of KEY (if any).
struct ShellScan {
  std::vector<Line> lines;
  std::optional<Assignment> assignment;
};

Result<ShellScan> scan_shell(const std::string& text, const std::string& key,
                             const std::string& source) {
  if (key.empty() || !name_start(key[0]) ||
      !std::all_of(key.begin(), key.end(), [](char c) { return name_char(c); }))
    return make_error(ErrorCode::kInvalidArgument,
                      source + ": '" + key + "' is not a variable name");
  ShellScan scan;
  GUESTDUMP_TRY(scan.lines, split_checked(text, source));
  for (std::size_t n = 0; n < scan.lines.size(); ++n) {
    const std::string& body = scan.lines[n].body;
    GUESTDUMP_TRY(std::size_t code_end, lex_shell_line(body, source, n + 1));
    if (!mentions_key(body, code_end, key)) continue;
    const std::size_t at = assignment_of(body, key);
    if (at == std::string::npos)
      return refuse(source, n + 1, key + " is used in a form other than 'KEY=value'");
    if (scan.assignment)
      return refuse(source, n + 1,
                    key + " is assigned again (first on line " +
                        std::to_string(scan.assignment->line + 1) + ")");
    GUESTDUMP_TRY(RawValue v, parse_value(body, at + key.size() + 1, code_end, source, n + 1, key));
    // A second mention after the value (e.g. "KEY=a; KEY=b") was refused as "more after".
    scan.assignment = Assignment{n, at, std::move(v)};
  }
  return scan;
}

} // namespace

Result<std::optional<std::string>> get_shell_var(const std::string& text, const std::string& key,
                                                 const std::string& source) {
  GUESTDUMP_TRY(ShellScan scan, scan_shell(text, key, source));
  if (!scan.assignment) return std::optional<std::string>();
  return std::optional<std::string>(scan.assignment->value.value);
}

Result<std::string> set_shell_var(const std::string& text, const std::string& key,
                                  const std::string& value, const std::string& source) {
  GUESTDUMP_TRY(ShellScan scan, scan_shell(text, key, source));
  const char q =
      scan.assignment && scan.assignment->value.quote != 0 ? scan.assignment->value.quote : '"';
  if (auto p = value_problem(value, q); !p.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      source + ": " + key + ": cannot write '" + value + "': " + p);
  auto lines = scan.lines;
  std::size_t changed = 0;
  if (scan.assignment) {
    const Assignment& a = *scan.assignment;
    if (a.value.value == value) return text; // nothing to change: the very same bytes
    std::string& body = lines[a.line].body;
    const std::size_t vstart = a.at + key.size() + 1;
    body = body.substr(0, vstart) + q + value + q + body.substr(a.value.end);
    changed = a.line;
  } else {
    append_line(lines, key + "=\"" + value + "\"");
    changed = lines.size() - 1;
  }
  std::string out = join_lines(lines);
  // Read the result back: KEY must be `value` and every other line as it was.
  auto check = scan_shell(out, key, source);
  bool same = check && check->assignment && check->assignment->value.value == value &&
              check->assignment->line == changed && check->lines.size() == lines.size();
  for (std::size_t n = 0; same && n < scan.lines.size(); ++n)
    if (n != changed)
      same = scan.lines[n].body == check->lines[n].body &&
             (scan.lines[n].eol == check->lines[n].eol || n + 1 == scan.lines.size());
  if (!same)
    return make_error(ErrorCode::kUnsupported, source + ": setting " + key + " to '" + value +
                                                   "' does not read back exactly; not edited");
  return out;
}

Result<std::string> set_directive(const std::string& text, const std::string& directive,
                                  const std::string& value, const std::string& source) {
  if (auto p = value_problem(value, '\''); !p.empty() || value.find('#') != std::string::npos)
    return make_error(ErrorCode::kInvalidArgument,
                      source + ": " + directive + ": cannot write '" + value + "'");
  GUESTDUMP_TRY(auto lines, split_checked(text, source));
  std::optional<std::size_t> found;
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::string& body = lines[n].body;
    // kdumpctl reads the file with `read`, which joins a line ending in a backslash to the next.
    if (!body.empty() && body.back() == '\\')
      return refuse(source, n + 1, "backslash continuation line");
    std::size_t i = 0;
    while (i < body.size() && blank(body[i])) ++i;
    if (body.compare(i, directive.size(), directive) != 0) continue;
    std::size_t after = i + directive.size();
    if (after < body.size() && !blank(body[after])) continue;
    if (found)
      return refuse(source, n + 1,
                    directive + " is given again (first on line " + std::to_string(*found + 1) +
                        ")");
    found = n;
  }
  const std::string wanted = directive + " " + value;
  if (found) {
    std::string& body = lines[*found].body;
    std::size_t i = 0;
    while (i < body.size() && blank(body[i])) ++i;
    if (body.compare(i, std::string::npos, wanted) == 0) return text;
    body = body.substr(0, i) + wanted;
  } else {
    append_line(lines, wanted);
  }
  return join_lines(lines);
}

std::string merge_params(const std::string& value, const std::vector<std::string>& add,
                         const std::vector<std::string>& remove) {
  std::vector<std::string> tokens;
  for (auto& t : split_cmdline(value))
    if (std::find(remove.begin(), remove.end(), t) == remove.end()) tokens.push_back(t);
  for (const std::string& a : add) {
    auto same = std::find_if(tokens.begin(), tokens.end(), [&](const std::string& t) {
      return t == a || (a.find('=') != std::string::npos && key_of(t) == key_of(a));
    });
    if (same != tokens.end())
      *same = a;
    else
      tokens.push_back(a);
  }
  std::string out;
  for (const auto& t : tokens) out += (out.empty() ? "" : " ") + t;
  return out;
}

std::string unified_diff(const std::optional<std::string>& before, const std::string& after,
                         const std::string& path) {
  const std::string old_text = before.value_or("");
  if (before && old_text == after) return "";
  auto a = split_lines(old_text);
  auto b = split_lines(after);
  const std::size_t n = a.size(), m = b.size();
  auto same = [&](std::size_t i, std::size_t j) {
    return a[i].body == b[j].body && a[i].eol == b[j].eol;
  };
  // The common first and last lines are context; only the lines between them (one or two for
  // an edit) go through the quadratic longest-common-subsequence table.
  std::size_t pre = 0;
  while (pre < n && pre < m && same(pre, pre)) ++pre;
  std::size_t suf = 0;
  while (suf < n - pre && suf < m - pre && same(n - 1 - suf, m - 1 - suf)) ++suf;
  const std::size_t mn = n - pre - suf, mm = m - pre - suf;
  // Suffix form: lcs[i][j] for a[pre + i ..], b[pre + j ..] within the middle.
  std::vector<std::vector<unsigned>> lcs(mn + 1, std::vector<unsigned>(mm + 1, 0));
  for (std::size_t i = mn; i-- > 0;)
    for (std::size_t j = mm; j-- > 0;)
      lcs[i][j] =
          same(pre + i, pre + j) ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  struct Op {
    char kind; // ' ', '-', '+'
    std::size_t ai, bi;
  };
  std::vector<Op> ops;
  for (std::size_t k = 0; k < pre; ++k) ops.push_back({' ', k, k});
  std::size_t i = 0, j = 0;
  while (i < mn || j < mm) {
    if (i < mn && j < mm && same(pre + i, pre + j)) {
      ops.push_back({' ', pre + i++, pre + j++});
    } else if (i < mn && (j == mm || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push_back({'-', pre + i++, pre + j}); // deletions first, as diff -u prints them
    } else {
      ops.push_back({'+', pre + i, pre + j++});
    }
  }
  for (std::size_t k = 0; k < suf; ++k) ops.push_back({' ', n - suf + k, m - suf + k});
  auto render = [&](const Op& op) {
    const Line& l = op.kind == '+' ? b[op.bi] : a[op.ai];
    std::string s(1, op.kind);
    s += l.body + "\n";
    if (l.eol.empty() || l.eol == "\r") s += "\\ No newline at end of file\n";
    return s;
  };
  std::string out =
      std::string("--- ") + (before ? "a" + path : "/dev/null") + "\n+++ b" + path + "\n";
  constexpr std::size_t kContext = 3;
  std::size_t k = 0;
  while (k < ops.size()) {
    if (ops[k].kind == ' ') {
      ++k;
      continue;
    }
    // A hunk: from kContext lines before this change to kContext after the last change that
    // is within 2 x kContext of the previous one.
    std::size_t start = k >= kContext ? k - kContext : 0;
    while (start < k && ops[start].kind != ' ') ++start;
    std::size_t end = k;
    std::size_t last_change = k;
    while (end < ops.size()) {
      if (ops[end].kind != ' ')
        last_change = end;
      else if (end - last_change > 2 * kContext)
        break;
      ++end;
    }
    end = std::min(ops.size(), last_change + kContext + 1);
    std::size_t a_start = ops[start].ai, b_start = ops[start].bi, a_len = 0, b_len = 0;
    std::string body;
    for (std::size_t x = start; x < end; ++x) {
      if (ops[x].kind != '+') ++a_len;
      if (ops[x].kind != '-') ++b_len;
      body += render(ops[x]);
    }
    out += "@@ -" + std::to_string(a_len == 0 ? a_start : a_start + 1) + "," +
           std::to_string(a_len) + " +" + std::to_string(b_len == 0 ? b_start : b_start + 1) + "," +
           std::to_string(b_len) + " @@\n" + body;
    k = end;
  }
  return out;
}

} // namespace guestdump::guest
