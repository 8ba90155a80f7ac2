// Fuzz target: replies of the QEMU guest agent, which runs inside the guest: guest-file-open's
// handle, guest-file-read's base64 data and count, and the /sys/kernel/vmcoreinfo text that the
// data carries, chained as LibvirtWatcher::read_vmcoreinfo_address() chains them.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "guestdump/host/guest_agent.h"

using namespace guestdump;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view reply(reinterpret_cast<const char*>(data), size);
  (void)host::parse_agent_file_handle(reply);
  if (auto bytes = host::parse_agent_file_read(reply)) (void)host::vmcoreinfo_address(*bytes);
  (void)host::vmcoreinfo_address(reply);
  return 0;
}
