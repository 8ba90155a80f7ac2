// See config_edit.h. Text is handled as lines including their terminators so that rewriting
// one line cannot disturb any other byte (CRLF, missing final newline, trailing spaces).

#include "guestdump/guest/config_edit.h"

#include <algorithm>
#include <cctype>

#include "guestdump/guest/system_info.h"

namespace guestdump::guest {

namespace {

struct Line {
  std::string body; // without terminator
  std::string eol;  // "\n", "\r\n" or "" for a last line without newline
};

std::vector<Line> split_lines(const std::string& text) {
  std::vector<Line> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      lines.push_back({text.substr(pos), ""});
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
    else
      eol = lines.back().eol;
  }
  lines.push_back({body, eol});
}

// Where `KEY=` starts in a shell assignment line: after indentation and an optional
// "export "; npos when the line is not an uncommented assignment of key.
std::size_t assignment_of(const std::string& body, const std::string& key) {
  std::size_t i = 0;
  while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
  if (body.compare(i, 7, "export ") == 0) {
    i += 7;
    while (i < body.size() && body[i] == ' ') ++i;
  }
  if (body.compare(i, key.size(), key) == 0 && i + key.size() < body.size() &&
      body[i + key.size()] == '=')
    return i;
  return std::string::npos;
}

// The value part after '=': its raw text (up to an unquoted comment) and the quote used.
struct RawValue {
  std::string value;
  char quote = 0;
  std::size_t end = 0; // index in body after the value
};

RawValue parse_value(const std::string& body, std::size_t start) {
  RawValue v;
  std::size_t i = start;
  if (i < body.size() && (body[i] == '"' || body[i] == '\'')) {
    v.quote = body[i];
    std::size_t close = body.find(v.quote, i + 1);
    if (close == std::string::npos) close = body.size();
    v.value = body.substr(i + 1, close - i - 1);
    v.end = std::min(close + 1, body.size());
    return v;
  }
  std::size_t e = i;
  while (e < body.size() && body[e] != ' ' && body[e] != '\t' && body[e] != '#') ++e;
  v.value = body.substr(i, e - i);
  v.end = e;
  return v;
}

std::string key_of(const std::string& token) {
  auto eq = token.find('=');
  return eq == std::string::npos ? token : token.substr(0, eq);
}

} // namespace

std::optional<std::string> get_shell_var(const std::string& text, const std::string& key) {
  std::optional<std::string> value;
  for (const Line& l : split_lines(text)) {
    std::size_t at = assignment_of(l.body, key);
    if (at != std::string::npos) value = parse_value(l.body, at + key.size() + 1).value;
  }
  return value;
}

std::string set_shell_var(const std::string& text, const std::string& key,
                          const std::string& value) {
  auto lines = split_lines(text);
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    std::size_t at = assignment_of(it->body, key);
    if (at == std::string::npos) continue;
    const std::size_t vstart = at + key.size() + 1;
    RawValue old = parse_value(it->body, vstart);
    const char q = old.quote != 0 ? old.quote : '"';
    it->body = it->body.substr(0, vstart) + q + value + q + it->body.substr(old.end);
    return join_lines(lines);
  }
  append_line(lines, key + "=\"" + value + "\"");
  return join_lines(lines);
}

std::string set_directive(const std::string& text, const std::string& directive,
                          const std::string& value) {
  auto lines = split_lines(text);
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    std::size_t i = 0;
    while (i < it->body.size() && (it->body[i] == ' ' || it->body[i] == '\t')) ++i;
    if (it->body.compare(i, directive.size(), directive) != 0) continue;
    std::size_t after = i + directive.size();
    if (after < it->body.size() && it->body[after] != ' ' && it->body[after] != '\t') continue;
    it->body = it->body.substr(0, i) + directive + " " + value;
    return join_lines(lines);
  }
  append_line(lines, directive + " " + value);
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
  // Longest common subsequence table, suffix form: lcs[i][j] for a[i..], b[j..].
  std::vector<std::vector<unsigned>> lcs(n + 1, std::vector<unsigned>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;)
    for (std::size_t j = m; j-- > 0;)
      lcs[i][j] = same(i, j) ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  struct Op {
    char kind; // ' ', '-', '+'
    std::size_t ai, bi;
  };
  std::vector<Op> ops;
  std::size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && same(i, j)) {
      ops.push_back({' ', i++, j++});
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push_back({'-', i++, j}); // deletions first, as diff -u prints them
    } else {
      ops.push_back({'+', i, j++});
    }
  }
  auto render = [&](const Op& op) {
    const Line& l = op.kind == '+' ? b[op.bi] : a[op.ai];
    std::string s(1, op.kind);
    s += l.body + "\n";
    if (l.eol.empty()) s += "\\ No newline at end of file\n";
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
