#pragma once
// Minimal-change edits of the configuration files `apply` touches. Every function changes
// only the line of the key it is given; all other bytes come back unchanged. What they cannot
// read exactly they refuse instead of rewriting.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "guestdump/common/result.h"

namespace guestdump::guest {

/// What the editors accept at all: larger files and longer lines are refused.
inline constexpr std::size_t kMaxConfigBytes = 1u << 20;
inline constexpr std::size_t kMaxConfigLine = 4096;

// The shell-fragment editors (/etc/default/grub, /etc/default/kdump-tools, /etc/sysconfig/kdump)
// change a file only when they understand it exactly; otherwise they fail (kUnsupported) with
// "SOURCE:LINE: reason" and the file is left as it is. `source` names the file in errors.
// Refused anywhere in the file: a NUL byte, a line longer than kMaxConfigLine, a file larger
// than kMaxConfigBytes, a backslash continuation line, a quote, backtick, $( or ${ left open at
// the end of a line (a value spanning lines), a here-document. Refused for KEY: a second
// assignment, any use other than a plain `[export] KEY=value [# comment]` line (`KEY+=`,
// `unset KEY`, `a; KEY=`...), and a value that is not plain: unquoted [A-Za-z0-9_.,:/=+@%^-]*,
// '...' or "..." without backslashes, backticks, `$(`, or `$` other than $NAME / ${NAME}.

/// The value of the `[export] KEY=value` assignment in a shell fragment, quotes removed;
/// nullopt when KEY is not assigned.
Result<std::optional<std::string>> get_shell_var(const std::string& text, const std::string& key,
                                                 const std::string& source);

/// Sets KEY in a shell fragment: rewrites its assignment in place (keeping its indentation,
/// `export`, quote character and trailing comment; an unquoted value becomes "..."), or appends
/// `KEY="value"`. Setting the value KEY already has returns `text` unchanged, byte for byte.
/// The result is parsed again before it is returned: KEY must read back as `value` and every
/// other line must be unchanged.
Result<std::string> set_shell_var(const std::string& text, const std::string& key,
                                  const std::string& value, const std::string& source);

/// Sets a `directive value` line (kdump.conf syntax): rewrites the uncommented line of that
/// directive (the whole line), or appends one; unchanged when it already reads `directive value`.
/// Refuses NUL bytes, over-long lines and files, continuation lines and a directive given twice.
Result<std::string> set_directive(const std::string& text, const std::string& directive,
                                  const std::string& value, const std::string& source);

/// A kernel-parameter list with `add` merged in (a token whose key is already present replaces
/// it in place, others are appended) and the exact tokens in `remove` dropped.
std::string merge_params(const std::string& value, const std::vector<std::string>& add,
                         const std::vector<std::string>& remove);

/// A unified diff (3 lines of context) from `before` to `after`; "" when equal. A missing
/// `before` diffs against /dev/null.
std::string unified_diff(const std::optional<std::string>& before, const std::string& after,
                         const std::string& path);

} // namespace guestdump::guest
