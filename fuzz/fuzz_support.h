#pragma once
// Shared pieces of the fuzz targets: an in-memory DumpSource over a RAM image, the input split
// used by the guest-memory targets, and an in-memory file for the file-format readers.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include <sys/mman.h>
#include <unistd.h>

#include "guestdump/common/log.h"
#include "guestdump/formats/dump_source.h"

namespace guestdump::fuzz {

/// Hostile inputs make the libraries warn on every run: the targets drop log lines (they are
/// still built) unless GUESTDUMP_FUZZ_LOG is set.
inline const bool kQuietLog = [] {
  if (std::getenv("GUESTDUMP_FUZZ_LOG") == nullptr) {
    set_log_sink([](LogLevel, std::string_view, std::string_view) {});
  }
  return true;
}();

inline constexpr std::size_t kPage = 4096;

/// Guest RAM = the image, PFN n = bytes [n * 4096, (n + 1) * 4096); a short last page reads
/// as zero-padded.
class ImageSource final : public formats::DumpSource {
public:
  ImageSource(std::span<const std::uint8_t> image, std::string_view vmcoreinfo) : image_(image) {
    const std::uint64_t pages = (image.size() + kPage - 1) / kPage;
    meta_.path = "fuzz-image";
    meta_.format = "elf64";
    meta_.max_pfn = pages;
    meta_.ram = formats::PfnBitmap(pages);
    meta_.ram.assign_range(0, pages, true);
    meta_.available = meta_.ram;
    meta_.vmcoreinfo = formats::VmcoreInfo::parse(vmcoreinfo);
  }
  const formats::DumpMetadata& metadata() const override { return meta_; }
  std::unique_ptr<formats::PageReader> make_reader() const override {
    struct Reader final : formats::PageReader {
      std::span<const std::uint8_t> img;
      Result<const std::byte*> read(std::uint64_t pfn, std::span<std::byte> scratch) override {
        std::memset(scratch.data(), 0, scratch.size());
        const std::uint64_t off = pfn * kPage;
        if (off < img.size()) {
          std::memcpy(scratch.data(), img.data() + off,
                      std::min<std::size_t>(kPage, img.size() - static_cast<std::size_t>(off)));
        }
        return scratch.data();
      }
    };
    auto r = std::make_unique<Reader>();
    r->img = image_;
    return r;
  }

private:
  std::span<const std::uint8_t> image_;
  formats::DumpMetadata meta_;
};

/// Guest-memory inputs: u16 little-endian length L, L bytes of VMCOREINFO text, then the RAM
/// image. make_memory_input() builds one (for the seed generator).
struct MemoryInput {
  std::string_view vmcoreinfo;
  std::span<const std::uint8_t> image;
};

inline MemoryInput split_memory_input(const std::uint8_t* data, std::size_t size) {
  MemoryInput in;
  if (size < 2) return in;
  std::size_t len = data[0] | (static_cast<std::size_t>(data[1]) << 8);
  len = std::min(len, size - 2);
  in.vmcoreinfo = std::string_view(reinterpret_cast<const char*>(data + 2), len);
  in.image = std::span(data + 2 + len, size - 2 - len);
  return in;
}

inline std::string make_memory_input(std::string_view vmcoreinfo,
                                     std::span<const std::byte> image) {
  std::string out;
  out.push_back(static_cast<char>(vmcoreinfo.size() & 0xff));
  out.push_back(static_cast<char>((vmcoreinfo.size() >> 8) & 0xff));
  out.append(vmcoreinfo);
  out.append(reinterpret_cast<const char*>(image.data()), image.size());
  return out;
}

/// The input as a file that the readers can open by path (/proc/self/fd/N of a memfd).
class MemFile {
public:
  MemFile(const std::uint8_t* data, std::size_t size) {
    fd_ = ::memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd_ < 0) return;
    std::size_t done = 0;
    while (done < size) {
      ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  bool ok() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

private:
  int fd_ = -1;
  std::string path_;
};

/// Reads up to `limit` available pages of a source (every page in PFN order until the limit).
inline void read_some_pages(const formats::DumpSource& src, std::uint64_t limit) {
  const auto& meta = src.metadata();
  auto reader = src.make_reader();
  std::vector<std::byte> scratch(meta.page_size);
  std::uint64_t n = 0;
  for (std::uint64_t pfn = meta.available.next_set(0); pfn < meta.available.size() && n < limit;
       pfn = meta.available.next_set(pfn + 1), ++n) {
    auto page = reader->read(pfn, scratch);
    if (page) {
      // Touch the bytes so a bad pointer faults here, under the sanitizer.
      volatile std::byte sink = (*page)[0];
      sink = (*page)[meta.page_size - 1];
      (void)sink;
    }
  }
}

} // namespace guestdump::fuzz
