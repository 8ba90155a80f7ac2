// Fuzz target: the configuration parsers of guestdump-guest capture (capture_config.h): the
// capture initramfs's config file, the guestdump.* kernel parameters, sizes, and the dump
// directory names retention reads. Checked besides the sanitizers' findings: an accepted
// configuration holds only values the parsers allow, and retention only ever removes names it
// was given.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "guestdump/guest/capture_config.h"

using namespace guestdump::guest;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_guest_config: %s\n", what);
  std::abort();
}

void check_config(const CaptureConfig& cfg) {
  if (cfg.dump_level < 0 || cfg.dump_level > 31) fail("dump level outside 0-31");
  if (cfg.vmcore.empty() || cfg.to.empty()) fail("empty vmcore or to");
  if (!cfg.device.empty() && !cfg.device.starts_with("UUID=") &&
      !cfg.device.starts_with("LABEL=") && !cfg.device.starts_with("/dev/"))
    fail("device of an unknown form");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  CaptureConfig file_cfg;
  if (apply_capture_config_text(file_cfg, text, "/etc/guestdump-capture.conf"))
    check_config(file_cfg);
  CaptureConfig cmdline_cfg;
  if (apply_kernel_cmdline(cmdline_cfg, text)) check_config(cmdline_cfg);

  const std::string_view first = text.substr(0, std::min<std::size_t>(text.find('\n'), 64));
  (void)parse_size(first, "min-free");
  if (auto a = parse_after(first); a && after_name(*a) != first) fail("after name round trip");
  for (int bits = 0; bits < 32; ++bits)
    (void)decide_after(parse_after(first), bits & 1, bits & 2, bits & 4, bits & 8);

  // Directory entries, one per line (bounded), through retention.
  std::vector<std::string> entries;
  std::string_view rest = text;
  while (!rest.empty() && entries.size() < 256) {
    std::size_t nl = rest.find('\n');
    entries.emplace_back(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  for (unsigned keep : {0u, 1u, 3u}) {
    for (const std::string& r : plan_dump_cleanup(entries, keep))
      if (std::find(entries.begin(), entries.end(), r) == entries.end())
        fail("retention removes a name it was not given");
  }
  for (const std::string& e : entries) (void)is_dump_dir_name(e);
  return 0;
}
