// Fuzz target: the VMCOREINFO parser and its typed accessors, and the translator's set-up.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "guestdump/formats/vmcoreinfo.h"
#include "guestdump/kernel/kernel_memory.h"

using namespace guestdump::formats;

using namespace guestdump::kernel;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  VmcoreInfo vi = VmcoreInfo::parse(text);
  (void)vi.page_size();
  (void)vi.crash_time();
  (void)vi.kernel_offset();
  (void)vi.osrelease();
  (void)vi.bad_lines();
  // Every "KIND(name)" key in the input through the accessor of its kind.
  std::string_view rest = text;
  int budget = 256;
  while (!rest.empty() && budget-- > 0) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    auto open = line.find('(');
    auto close = line.find(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) continue;
    std::string_view kind = line.substr(0, open);
    std::string_view name = line.substr(open + 1, close - open - 1);
    if (kind == "SYMBOL") (void)vi.symbol(name);
    if (kind == "NUMBER") (void)vi.number(name);
    if (kind == "OFFSET") (void)vi.offset(name);
    if (kind == "SIZE") (void)vi.size(name);
    if (kind == "LENGTH") (void)vi.length(name);
  }
  for (int base : {0, 10, 16}) {
    (void)parse_unsigned(text.substr(0, 40), base);
    (void)parse_signed(text.substr(0, 40), base);
  }
  (void)X86_64Translator::from_vmcoreinfo(vi);
  return 0;
}
