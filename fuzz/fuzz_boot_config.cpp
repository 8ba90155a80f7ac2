// Fuzz target: the boot-config editors of guestdump-guest apply (config_edit.h). The first byte
// picks the shell variable and the kdump.conf directive, the rest is the file. Checked for every
// input, besides the sanitizers' findings:
//  - reading KEY and setting it agree: both refuse, or both succeed;
//  - setting the value KEY already has gives the input back byte for byte;
//  - an edit (crashkernel= merged in, as apply does) reads back as the new value and changes
//    only KEY's line (or appends one), every other line byte for byte;
//  - set_directive: the same for a kdump.conf directive;
//  - the --dry-run diff of an edit can be built.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "guestdump/guest/config_edit.h"
#include "guestdump/guest/system_info.h"

using namespace guestdump::guest;

namespace {

const char* const kKeys[] = {"GRUB_CMDLINE_LINUX",   "GRUB_CMDLINE_LINUX_DEFAULT", "USE_KDUMP",
                             "KDUMP_CMDLINE_APPEND", "KDUMP_COMMANDLINE_APPEND",   "KDUMP_CPUS"};
const char* const kDirectives[] = {"failure_action", "final_action"};

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_boot_config: %s: %s\n", what, detail.c_str());
  std::abort();
}

// Lines without their "\n" (a "\r" stays); no empty entry after a final newline.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

std::string strip_cr(std::string s) {
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

// `after` is `before` with one line changed, or with one line appended (the previous last line
// may gain its newline); the changed or appended line must satisfy `ok`.
template <typename Ok>
void check_one_line_changed(const std::string& before, const std::string& after, Ok ok) {
  auto a = lines_of(before), b = lines_of(after);
  if (b.size() == a.size()) {
    std::size_t changed = 0, where = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i]) {
        ++changed;
        where = i;
      }
    if (changed != 1) fail("edit changed other lines", after);
    if (!ok(strip_cr(b[where]))) fail("edited line is wrong", b[where]);
  } else if (b.size() == a.size() + 1) {
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i]) fail("append changed a line", after);
    if (!ok(strip_cr(b.back()))) fail("appended line is wrong", b.back());
  } else {
    fail("edit changed the line count", after);
  }
}

void shell_var(const std::string& text, const std::string& key) {
  const std::string src = "/etc/default/grub";
  auto got = get_shell_var(text, key, src);
  auto same = set_shell_var(text, key, got && *got ? **got : std::string("1"), src);
  if (!got && same) fail("set accepted what get refused", got.error().what());
  if (!got) return;
  if (!same) fail("set refused what get accepted", same.error().what());
  if (*got && *same != text) fail("setting the current value changed bytes", key);

  // What apply does: merge a crashkernel= into the current value.
  const std::string value = merge_params(got->value_or(""), {"crashkernel=512M-:96M"}, {});
  auto edited = set_shell_var(text, key, value, src);
  if (!edited) return; // the value cannot be written in the line's quotes
  auto back = get_shell_var(*edited, key, src);
  if (!back || !*back || **back != value) fail("edit does not read back", *edited);
  if (*edited == text) { // only when the merge changed nothing
    if (!*got || **got != value) fail("edit to a new value changed nothing", value);
    return;
  }
  check_one_line_changed(text, *edited, [&](const std::string& line) {
    return line.find(key + "=") != std::string::npos && line.find(value) != std::string::npos;
  });
  (void)unified_diff(text, *edited, src);
  (void)split_cmdline(value);
}

void directive(const std::string& text, const std::string& d) {
  auto once = set_directive(text, d, "reboot", "/etc/kdump.conf");
  if (!once) return;
  auto twice = set_directive(*once, d, "reboot", "/etc/kdump.conf");
  if (!twice || *twice != *once) fail("directive edit is not stable", *once);
  if (*once != text)
    check_one_line_changed(text, *once, [&](const std::string& line) {
      return line.size() >= d.size() + 7 &&
             line.compare(line.size() - d.size() - 7, std::string::npos, d + " reboot") == 0;
    });
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t pick = data[0];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  shell_var(text, kKeys[pick % std::size(kKeys)]);
  directive(text, kDirectives[(pick >> 3) & 1]);
  return 0;
}
