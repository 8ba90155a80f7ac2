// Fuzz target: a ListObjectsV2 reply page as S3Client::list_objects reads it (objstore's
// parse_list_page): the XML of an untrusted server, which must either parse within its bounds or
// be refused, never crash or yield an entry that breaks them.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "s3_list.h"

using namespace guestdump::objstore;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto page = detail::parse_list_page(xml);
  if (!page) return 0;
  if (page->objects.size() > detail::kMaxKeysPerPage) std::abort();
  for (const auto& o : page->objects) {
    if (o.key.empty() || o.key.size() > detail::kMaxKeyLength) std::abort();
  }
  if (page->truncated && page->next_token.empty()) std::abort();
  return 0;
}
