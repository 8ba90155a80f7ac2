#pragma once
// Minimal-change edits of the configuration files `apply` touches. Every function changes
// only the line(s) of the key it is given; all other bytes come back unchanged.

#include <optional>
#include <string>
#include <vector>

namespace guestdump::guest {

/// The value of the last uncommented `KEY=value` (optionally `export KEY=...`) assignment in a
/// shell fragment, with one level of quotes removed; nullopt when KEY is not assigned.
std::optional<std::string> get_shell_var(const std::string& text, const std::string& key);

/// Sets KEY in a shell fragment: rewrites the last uncommented assignment in place (keeping
/// its indentation, `export` and quote character), or appends `KEY="value"` at the end.
std::string set_shell_var(const std::string& text, const std::string& key,
                          const std::string& value);

/// Sets a `directive value` line (kdump.conf syntax): rewrites the last uncommented line of
/// that directive, or appends one.
std::string set_directive(const std::string& text, const std::string& directive,
                          const std::string& value);

/// A kernel-parameter list with `add` merged in (a token whose key is already present replaces
/// it in place, others are appended) and the exact tokens in `remove` dropped.
std::string merge_params(const std::string& value, const std::vector<std::string>& add,
                         const std::vector<std::string>& remove);

/// A unified diff (3 lines of context) from `before` to `after`; "" when equal. A missing
/// `before` diffs against /dev/null.
std::string unified_diff(const std::optional<std::string>& before, const std::string& after,
                         const std::string& path);

} // namespace guestdump::guest
