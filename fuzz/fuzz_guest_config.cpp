// Fuzz target: the configuration parsers of guestdump-guest capture (capture_config.h): the
// capture initramfs's config file, the guestdump.* kernel parameters, sizes, and the dump
// directory names the store reads (store/dump_store.h). Checked besides the sanitizers'
// findings: an accepted configuration holds only values the parsers allow.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "guestdump/guest/capture_config.h"
#include "guestdump/store/dump_store.h"

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

  // Directory entries, one per line (bounded), as the store reads their names.
  std::string_view rest = text;
  for (int n = 0; !rest.empty() && n < 256; ++n) {
    const std::size_t nl = rest.find('\n');
    const std::string entry(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (guestdump::store::is_store_name(entry) && entry.size() < 16) fail("short store name");
    (void)guestdump::store::store_time(entry);
  }
  return 0;
}
