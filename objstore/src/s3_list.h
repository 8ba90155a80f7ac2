#pragma once
// One page of a ListObjectsV2 reply, read strictly: the server's XML is untrusted, so a reply
// that does not parse, is not a ListBucketResult, or breaks a bound is an error, never a short
// listing that looks complete.

#include <string>
#include <string_view>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/objstore/s3_client.h"

namespace guestdump::objstore::detail {

inline constexpr std::size_t kMaxListReply = 8u << 20; // bytes of one page's XML
inline constexpr std::size_t kMaxKeysPerPage = 1000;   // what we ask for, and S3's maximum
inline constexpr std::size_t kMaxKeyLength = 1024;     // S3's limit on a key
inline constexpr std::size_t kMaxTokenLength = 4096;   // a continuation token
inline constexpr std::size_t kMaxFieldLength = 256;    // ETag, LastModified

struct ListPage {
  std::vector<ObjectInfo> objects;
  bool truncated = false;
  std::string next_token; // set when truncated
};

/// Parses a ListObjectsV2 page; errors say what is wrong with it (never quoting it unescaped).
Result<ListPage> parse_list_page(std::string_view xml);

} // namespace guestdump::objstore::detail
