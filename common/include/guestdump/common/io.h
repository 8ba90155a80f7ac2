#pragma once
// File I/O helpers. Every error names the file and what was being done.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "guestdump/common/result.h"
#include "guestdump/common/unique_fd.h"

namespace guestdump {

/// write(2) until everything is written, retrying EINTR and short writes.
Result<void> write_all(int fd, std::span<const std::byte> data, std::string_view name);
/// pwrite(2) until everything is written at `offset`.
Result<void> pwrite_all(int fd, std::span<const std::byte> data, std::uint64_t offset,
                        std::string_view name);
/// pread(2) exactly data.size() bytes at `offset`; end of file is a kBadData error.
Result<void> pread_exact(int fd, std::span<std::byte> data, std::uint64_t offset,
                         std::string_view name);
/// read(2) until `data` is full or end of file; returns the byte count read.
Result<std::size_t> read_full(int fd, std::span<std::byte> data, std::string_view name);

/// A regular file opened read-only, with its size. Fails, naming the path, for anything else
/// (directories, devices, FIFOs).
struct RegularFile {
  UniqueFd fd;
  std::uint64_t size = 0;
};
Result<RegularFile> open_regular_file(const std::string& path);

/// A read-only mapping of a whole regular file.
class MappedFile {
public:
  /// Maps `path`; fails for non-regular files. An empty file maps to an empty span.
  static Result<MappedFile> open(const std::string& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  /// The open file, for bulk pread(): in a VM, page faults on a large mapping cost several times
  /// more than copying the same bytes with pread().
  int fd() const { return fd_.get(); }
  /// Tells the kernel the file will be read front to back (more readahead).
  void advise_sequential() const;
  /// Drops the mapping's page-table entries (MADV_DONTNEED): the resident set shrinks, pointers
  /// into the mapping stay valid and fault the bytes back in from the page cache.
  void release_pages() const;

private:
  MappedFile(std::string path, UniqueFd fd, const std::byte* data, std::size_t size)
      : path_(std::move(path)), fd_(std::move(fd)), data_(data), size_(size) {}
  std::string path_;
  UniqueFd fd_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

/// fsync of a directory, after a rename or create in it, so the new name is durable.
Result<void> sync_directory(const std::string& path);

/// Writes a node-exporter textfile atomically (OutputFile: a hidden temporary beside it, renamed
/// when complete), mode 0644 so the collector, another user, can read it. Errors name the path.
Result<void> write_metrics_file(const std::string& path, const std::string& text);

/// An output that never looks complete before commit(). Regular files are written to a hidden
/// temporary name in the same directory (mode 0600) and renamed over the target on commit();
/// if the object dies uncommitted the temporary file is removed and a previous file at the
/// target path is untouched. Whatever stands at the target path is never opened: a symlink
/// there is replaced by the rename, not followed, and a FIFO, device or socket is refused, so
/// a name planted in a shared directory cannot redirect a dump. Only where the user asked for a
/// stream (kStream: "-" is standard output, and a FIFO or character device the user named,
/// also through a symlink such as /dev/stdout) is the target written in place.
class OutputFile {
public:
  enum class Target { kFile, kStream };
  static Result<OutputFile> create(const std::string& path, Target target = Target::kFile);
  OutputFile(OutputFile&& other) noexcept;
  OutputFile& operator=(OutputFile&& other) noexcept;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile();

  int fd() const { return fd_.get(); }
  /// True when positioned writes (pwrite) work.
  bool seekable() const { return seekable_; }
  const std::string& path() const { return path_; }
  /// Starts a thread that writes the file's data to disk while it is still being written
  /// (fdatasync whenever it has grown by `every_bytes`), so the fsync in commit() finds little
  /// left to do: that fsync waits for every dirty byte, ~20 ms per 28 MiB on our VMs, all of it
  /// after the last page is compressed. It also keeps the page cache's dirty share small, which
  /// matters in a capture kernel with 64 MiB of RAM. Only for the temporary regular file; a
  /// stream or device output ignores it. A sync error is returned by commit().
  void sync_while_writing(std::uint64_t every_bytes = std::uint64_t{2} << 20);
  /// fsync, then rename the temporary file to the target name and fsync the directory, so the
  /// new name survives a host crash too.
  Result<void> commit();

private:
  class Syncer;
  OutputFile();
  std::string path_;
  std::string temp_path_; // empty when writing in place
  UniqueFd fd_;
  bool seekable_ = false;
  bool committed_ = false;
  std::unique_ptr<Syncer> syncer_; // stopped before fd_ is closed
};

/// Process-wide cancellation flag, set from a signal handler (async-signal-safe).
void request_cancel() noexcept;
bool cancel_requested() noexcept;
/// Returns kCancelled if cancellation was requested.
Result<void> check_cancel();

} // namespace guestdump
