#pragma once
// Random access to the bytes of one file, wherever it is: a local file (mapped, read in place)
// or a remote object read with ranged requests (guestdump::objstore). Readers of dump formats
// take one so `guestdump info s3://…` reads only the blocks it needs.

#include <cstdint>
#include <span>
#include <string>

#include "guestdump/common/io.h"
#include "guestdump/common/result.h"

namespace guestdump {

class ByteSource {
public:
  virtual ~ByteSource() = default;
  /// What errors and messages call the file: a path or a URL.
  virtual const std::string& name() const = 0;
  virtual std::uint64_t size() const = 0;
  /// The whole file in memory when it is mapped (the fast path: readers take pointers into it);
  /// empty for a source that must be read().
  virtual std::span<const std::byte> mapping() const { return {}; }
  /// Fills `out` with the bytes at `offset`; a range past size() is a kBadData error. Safe to
  /// call from several threads at once.
  virtual Result<void> read(std::uint64_t offset, std::span<std::byte> out) const = 0;
  /// Drops this process's page-table entries of the mapping (the bytes stay in the page cache
  /// and fault back in when read again): readers call it as they go, so a mapped input of any
  /// size does not pile up in the resident set. A no-op for sources that are not mapped.
  virtual void release_mapped_pages() const {}
};

/// A mapped local file as a ByteSource (mapping() is the whole file).
class MappedByteSource final : public ByteSource {
public:
  explicit MappedByteSource(MappedFile file) : file_(std::move(file)) {}
  const std::string& name() const override { return file_.path(); }
  std::uint64_t size() const override { return file_.size(); }
  std::span<const std::byte> mapping() const override { return file_.bytes(); }
  Result<void> read(std::uint64_t offset, std::span<std::byte> out) const override;
  void release_mapped_pages() const override { file_.release_pages(); }
  const MappedFile& file() const { return file_; }

private:
  MappedFile file_;
};

} // namespace guestdump
