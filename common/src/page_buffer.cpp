#include "guestdump/common/page_buffer.h"

#include <cstdint>
#include <new>
#include <utility>

#include <sys/mman.h>

namespace guestdump {
namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20; // x86_64 PMD size
constexpr std::size_t kSmallPage = 4096;
} // namespace

PageBuffer::PageBuffer(std::size_t bytes) {
  if (bytes == 0) return;
  const bool huge = bytes >= kHugePage;
  const std::size_t align = huge ? kHugePage : kSmallPage;
  size_ = (bytes + align - 1) / align * align;
  // Room to align the start to a huge page: THP only backs whole aligned 2 MiB ranges.
  map_size_ = size_ + (huge ? kHugePage : 0);
  map_ = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw std::bad_alloc();
  }
  auto start = reinterpret_cast<std::uintptr_t>(map_);
  auto aligned = (start + align - 1) / align * align;
  data_ = reinterpret_cast<std::byte*>(aligned);
  // Advisory: without THP (transparent_hugepage=never) the buffer gets 4 KiB pages.
  if (huge) (void)::madvise(data_, size_, MADV_HUGEPAGE);
}

PageBuffer::PageBuffer(PageBuffer&& other) noexcept
    : map_(std::exchange(other.map_, nullptr)), map_size_(std::exchange(other.map_size_, 0)),
      data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

PageBuffer& PageBuffer::operator=(PageBuffer&& other) noexcept {
  if (this != &other) {
    release();
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

PageBuffer::~PageBuffer() {
  release();
}

void PageBuffer::release() noexcept {
  if (map_ != nullptr) ::munmap(map_, map_size_);
  map_ = nullptr;
  map_size_ = 0;
  data_ = nullptr;
  size_ = 0;
}

} // namespace guestdump
