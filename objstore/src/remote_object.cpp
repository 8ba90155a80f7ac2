#include "guestdump/objstore/remote_object.h"

#include <algorithm>
#include <cstring>

#include "guestdump/common/log.h"

namespace guestdump::objstore {

Result<std::unique_ptr<RemoteObject>> RemoteObject::open(S3Client client, const std::string& bucket,
                                                         const std::string& key,
                                                         BlockCacheOptions options) {
  GUESTDUMP_TRY(ObjectInfo info, client.head_object(bucket, key));
  options.block_size = std::clamp<std::uint64_t>(options.block_size, 4096, std::uint64_t{16} << 20);
  options.max_blocks = std::max<std::size_t>(options.max_blocks, 2);
  return std::unique_ptr<RemoteObject>(
      new RemoteObject(std::move(client), bucket, key, info.size, options));
}

RemoteObject::RemoteObject(S3Client client, std::string bucket, std::string key, std::uint64_t size,
                           BlockCacheOptions options)
    : client_(std::move(client)), bucket_(std::move(bucket)), key_(std::move(key)),
      name_("s3://" + bucket_ + "/" + key_), size_(size), options_(options) {}

// Under no lock while fetching: two readers may fetch the same block at once, which costs a
// request but never blocks one reader's cached reads behind another's network round trip.
Result<RemoteObject::Block> RemoteObject::block(std::uint64_t index) const {
  {
    std::lock_guard lock(mutex_);
    if (auto it = cache_.find(index); it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.position);
      return it->second.data;
    }
  }
  const std::uint64_t start = index * options_.block_size;
  const std::uint64_t length = std::min(options_.block_size, size_ - start);
  GUESTDUMP_TRY(std::string bytes, client_.get_range(bucket_, key_, start, length));
  GUESTDUMP_LOG(kDebug, "objstore")
      << "fetched " << name_ << " block " << index << " (" << length << " bytes)";
  auto data = std::make_shared<const std::string>(std::move(bytes));
  std::lock_guard lock(mutex_);
  if (auto it = cache_.find(index); it != cache_.end()) return it->second.data;
  while (cache_.size() >= options_.max_blocks) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(index);
  cache_.emplace(index, Entry{data, lru_.begin()});
  return data;
}

Result<void> RemoteObject::read(std::uint64_t offset, std::span<std::byte> out) const {
  if (offset > size_ || out.size() > size_ - offset) {
    return make_error(ErrorCode::kBadData, "'" + name_ + "': " + std::to_string(out.size()) +
                                               " bytes at offset " + std::to_string(offset) +
                                               " lie past its end (" + std::to_string(size_) +
                                               " bytes)");
  }
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t pos = offset + done;
    const std::uint64_t index = pos / options_.block_size;
    GUESTDUMP_TRY(Block b, block(index));
    const std::uint64_t in_block = pos - index * options_.block_size;
    if (in_block >= b->size()) {
      return make_error(ErrorCode::kProtocol, "'" + name_ + "': block " + std::to_string(index) +
                                                  " is shorter than asked for");
    }
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(b->size() - in_block, out.size() - done));
    std::memcpy(out.data() + done, b->data() + in_block, n);
    done += n;
  }
  return {};
}

} // namespace guestdump::objstore
