#pragma once
// A remote object read in place: a ByteSource whose reads are ranged GETs, through a bounded
// LRU cache of fixed-size blocks, so a dump reader fetches only the blocks it touches.

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "guestdump/common/byte_source.h"
#include "guestdump/objstore/s3_client.h"

namespace guestdump::objstore {

/// 64 KiB blocks: a kdump reader's reads are small and scattered (a page descriptor, one
/// compressed page, a page-table page), so a larger block mostly fetches bytes nobody reads; the
/// kernel log of a 50 MiB dump costs about 1 MiB at this size and several at 1 MiB blocks.
struct BlockCacheOptions {
  std::uint64_t block_size = std::uint64_t{64} << 10; // bytes per ranged GET (but the last)
  std::size_t max_blocks = 512;                       // 32 MiB at the default block size
};

class RemoteObject final : public ByteSource {
public:
  /// HEADs s3://bucket/key for its size; fails (kNotFound) when there is no such object.
  static Result<std::unique_ptr<RemoteObject>> open(S3Client client, const std::string& bucket,
                                                    const std::string& key,
                                                    BlockCacheOptions options = {});
  const std::string& name() const override { return name_; }
  std::uint64_t size() const override { return size_; }
  /// Copies from cached blocks, fetching the missing ones.
  Result<void> read(std::uint64_t offset, std::span<std::byte> out) const override;

private:
  RemoteObject(S3Client client, std::string bucket, std::string key, std::uint64_t size,
               BlockCacheOptions options);
  using Block = std::shared_ptr<const std::string>;
  Result<Block> block(std::uint64_t index) const;

  S3Client client_;
  std::string bucket_, key_, name_;
  std::uint64_t size_ = 0;
  BlockCacheOptions options_;
  mutable std::mutex mutex_;
  mutable std::list<std::uint64_t> lru_; // block indexes, most recently used first
  struct Entry {
    Block data;
    std::list<std::uint64_t>::iterator position;
  };
  mutable std::unordered_map<std::uint64_t, Entry> cache_;
};

} // namespace guestdump::objstore
