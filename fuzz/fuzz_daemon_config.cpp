// Fuzz target: guestdumpd's configuration. The input is a config file (Boost.Program_options INI
// syntax) read through `--config`, as the daemon reads /etc/guestdump/guestdumpd.conf; each
// "key = value" line also goes straight to the policy parsers (apply_option, then validate).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "guestdump/host/daemon_config.h"
#include "guestdump/policies/config.h"

using namespace guestdump;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::MemFile file(data, size);
  if (!file.ok()) return 0;
  auto cl = host::parse_daemon_command_line({"--config", file.path()});
  if (cl) (void)cl->config.policy.overrides.size();

  std::string_view text(reinterpret_cast<const char*>(data), size);
  policies::PolicyConfig config;
  int lines = 0;
  while (!text.empty() && lines++ < 64) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = line.substr(0, eq), value = line.substr(eq + 1);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    (void)policies::apply_option(config, key, value);
  }
  (void)policies::validate(config);
  return 0;
}
