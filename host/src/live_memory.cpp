// Guest RAM read out of a live QEMU process; see live_memory.h.

#include "live_memory.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <future>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/common/unique_fd.h"
#include "guestdump/formats/limits.h"

namespace guestdump::host::detail {

namespace {

// x86-64 physical addresses have at most 52 bits: QEMU maps no guest memory above.
constexpr std::uint64_t kMaxGuestPhysical = std::uint64_t{1} << 52;

bool parse_hex(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc() && p == s.data() + s.size();
}

} // namespace

Result<std::vector<GuestRamRange>> parse_mtree_flat(std::string_view text) {
  // FlatView #0
  //  AS "memory", root: system
  //  Root memory region: system
  //   0000000000000000-00000000000c2fff (prio 0, ram): pc.ram
  //   00000000000c3000-00000000000e7fff (prio 0, rom): pc.ram @00000000000c3000
  std::vector<GuestRamRange> out;
  bool in_memory_view = false;
  bool saw_memory = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    std::string_view t = trim(line);
    if (t.starts_with("FlatView")) {
      in_memory_view = false;
      continue;
    }
    if (t.starts_with("AS \"memory\"")) {
      in_memory_view = saw_memory = true;
      continue;
    }
    if (!in_memory_view) continue;
    auto dash = t.find('-');
    auto paren = t.find(" (");
    auto colon = t.find("): ");
    if (dash == std::string_view::npos || paren == std::string_view::npos ||
        colon == std::string_view::npos || dash > paren || paren > colon) {
      continue;
    }
    std::uint64_t lo = 0, hi = 0;
    if (!parse_hex(t.substr(0, dash), lo) || !parse_hex(t.substr(dash + 1, paren - dash - 1), hi)) {
      continue;
    }
    std::string_view attrs = t.substr(paren + 2, colon - paren - 2); // "prio 0, ram"
    auto comma = attrs.rfind(", ");
    std::string_view kind = comma == std::string_view::npos ? attrs : attrs.substr(comma + 2);
    // QEMU's own dump takes RAM and ROM regions (memory_region_is_ram); not ram devices or I/O.
    if (kind != "ram" && kind != "rom") continue;
    std::string_view rest = t.substr(colon + 3);
    std::uint64_t offset = 0;
    auto at = rest.find(" @");
    std::string_view name = rest;
    if (at != std::string_view::npos) {
      name = rest.substr(0, at);
      std::string_view off = rest.substr(at + 2);
      auto sp = off.find(' ');
      if (sp != std::string_view::npos) off = off.substr(0, sp);
      if (!parse_hex(off, offset)) continue;
    } else if (auto sp = rest.find(' '); sp != std::string_view::npos) {
      name = rest.substr(0, sp); // trailing flags such as " KVM"
    }
    // The guest places its BARs and ROMs: a range must be non-empty, its size must not wrap
    // (0-ffffffffffffffff) and it must lie within the physical address space.
    if (hi < lo) continue;
    if (hi >= kMaxGuestPhysical) {
      GUESTDUMP_LOG(kWarn, "capture")
          << "ignoring 'info mtree -f' range " << hex(lo) << "-" << hex(hi) << ": beyond 2^52";
      continue;
    }
    out.push_back({lo, hi - lo + 1, std::string(name), offset});
  }
  if (!saw_memory) {
    return make_error(ErrorCode::kProtocol, "'info mtree -f' has no flat view of \"memory\"");
  }
  if (out.empty()) {
    return make_error(ErrorCode::kProtocol, "'info mtree -f' lists no RAM in \"memory\"");
  }
  // Page bitmaps are sized by the highest address: a BAR the guest moved just below 2^52 would
  // ask for 2^40 bits. Like the dump readers, allow formats::kMaxPfnHoles pages of holes beyond
  // what the ranges hold; a range ending further out (a relocated device BAR, never system RAM)
  // is ignored.
  std::uint64_t held = 0;
  for (const GuestRamRange& r : out) held += r.size;
  const std::uint64_t limit = held + formats::kMaxPfnHoles * 4096;
  std::erase_if(out, [&](const GuestRamRange& r) {
    if (r.gpa + r.size <= limit) return false;
    GUESTDUMP_LOG(kWarn, "capture")
        << "ignoring 'info mtree -f' range " << hex(r.gpa) << "-" << hex(r.gpa + r.size - 1) << " ("
        << r.block << "): beyond the guest's RAM plus 1 TiB of holes";
    return true;
  });
  return out;
}

std::vector<ProcMapping> parse_proc_maps(std::string_view text) {
  // 7f1234000000-7f1274000000 rw-p 00000000 00:00 0   [path]
  std::vector<ProcMapping> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    auto dash = line.find('-');
    auto sp = line.find(' ');
    if (dash == std::string_view::npos || sp == std::string_view::npos || dash > sp) continue;
    ProcMapping m;
    if (!parse_hex(line.substr(0, dash), m.start) ||
        !parse_hex(line.substr(dash + 1, sp - dash - 1), m.end)) {
      continue;
    }
    m.perms = std::string(line.substr(sp + 1, 4));
    // The path is the sixth field; it may contain spaces (" (deleted)").
    std::size_t field = sp, count = 1;
    while (count < 5 && field != std::string_view::npos) {
      field = line.find_first_not_of(' ', field);
      field = line.find(' ', field);
      ++count;
    }
    if (field != std::string_view::npos) m.path = std::string(trim(line.substr(field)));
    out.push_back(std::move(m));
  }
  return out;
}

LiveGuestMemory::LiveGuestMemory(
    pid_t pid, formats::DumpMetadata meta, std::vector<GuestRamRange> ranges,
    std::vector<std::pair<std::string, std::uint64_t>> hva,
    std::vector<std::pair<std::uint64_t, std::vector<std::byte>>> local)
    : pid_(pid), meta_(std::move(meta)), local_(std::move(local)) {
  const std::uint64_t ps = meta_.page_size;
  std::uint64_t max_pfn = 0;
  for (const auto& r : ranges) {
    // parse_mtree_flat() keeps ranges below 2^52; a range from elsewhere that wraps is skipped.
    if (r.gpa + r.size < r.gpa) continue;
    max_pfn = std::max(max_pfn, (r.gpa + r.size) / ps);
  }
  meta_.max_pfn = max_pfn;
  meta_.ram = formats::PfnBitmap(max_pfn);
  meta_.format = "live QEMU memory";
  for (const auto& r : ranges) {
    // Whole pages only, like makedumpfile's PT_LOAD rule.
    if (r.gpa + r.size < r.gpa) continue;
    std::uint64_t first = r.gpa / ps + (r.gpa % ps != 0 ? 1 : 0);
    std::uint64_t end = (r.gpa + r.size) / ps;
    if (end <= first) continue;
    auto it =
        std::find_if(hva.begin(), hva.end(), [&](const auto& h) { return h.first == r.block; });
    auto lo = std::find_if(local_.begin(), local_.end(), [&](const auto& l) {
      return l.first == r.gpa && l.second.size() >= r.size;
    });
    if (it != hva.end()) {
      spans_.push_back(
          {first, end - first, it->second + r.block_offset + (first * ps - r.gpa), nullptr});
    } else if (lo != local_.end()) {
      spans_.push_back({first, end - first, 0, lo->second.data() + (first * ps - r.gpa)});
    } else {
      continue;
    }
    meta_.ram.assign_range(first, end - first, true);
  }
  std::sort(spans_.begin(), spans_.end(),
            [](const Span& a, const Span& b) { return a.first_pfn < b.first_pfn; });
  meta_.available = meta_.ram;
}

const LiveGuestMemory::Span* LiveGuestMemory::span_of(std::uint64_t pfn) const {
  auto it = std::upper_bound(spans_.begin(), spans_.end(), pfn,
                             [](std::uint64_t p, const Span& s) { return p < s.first_pfn; });
  if (it == spans_.begin()) return nullptr;
  --it;
  return pfn < it->first_pfn + it->pages ? &*it : nullptr;
}

std::optional<std::uint64_t> LiveGuestMemory::host_address(std::uint64_t pfn) const {
  const Span* s = span_of(pfn);
  if (s == nullptr || s->local != nullptr) return std::nullopt;
  return s->host + (pfn - s->first_pfn) * meta_.page_size;
}

Result<void> LiveGuestMemory::read_pages(std::span<const std::uint64_t> pfns,
                                         std::span<std::byte> out) const {
  const std::size_t ps = meta_.page_size;
  if (out.size() < pfns.size() * ps) {
    return make_error(ErrorCode::kInvalidArgument, "read_pages: buffer too small");
  }
  constexpr std::size_t kBatch = 1024; // IOV_MAX
  std::vector<iovec> local(kBatch), remote(kBatch);
  for (std::size_t i = 0; i < pfns.size(); i += kBatch) {
    const std::size_t batch = std::min(kBatch, pfns.size() - i);
    std::size_t n = 0;
    for (std::size_t k = 0; k < batch; ++k) {
      const std::uint64_t pfn = pfns[i + k];
      const Span* s = span_of(pfn);
      if (s == nullptr) {
        return make_error(ErrorCode::kNotFound,
                          "guest page " + hex(pfn) + " is not in QEMU's RAM map");
      }
      std::byte* dst = out.data() + (i + k) * ps;
      if (s->local != nullptr) {
        std::memcpy(dst, s->local + (pfn - s->first_pfn) * ps, ps);
        continue;
      }
      local[n] = {dst, ps};
      remote[n] = {reinterpret_cast<void*>(s->host + (pfn - s->first_pfn) * ps), ps};
      ++n;
    }
    if (n == 0) continue;
    std::size_t want = n * ps;
    ssize_t got = ::process_vm_readv(pid_, local.data(), n, remote.data(), n, 0);
    if (got < 0) {
      return errno_error("read guest memory of QEMU process", std::to_string(pid_));
    }
    if (static_cast<std::size_t>(got) != want) {
      return make_error(ErrorCode::kOs, "short read of guest memory from QEMU process " +
                                            std::to_string(pid_) + " (did it exit?)");
    }
  }
  return {};
}

namespace {

// One system call per page made the VMCOREINFO locator's scan of a 16 GiB guest take 15 s
// (4 M calls) when the note was not among the first pages it looked at. A reader that walks
// pages in order gets a read-ahead window that doubles per sequential miss up to 64 pages
// (256 KiB, one call); a reader that jumps (page-table walks) keeps reading one page.
class LiveReader final : public formats::PageReader {
public:
  explicit LiveReader(const LiveGuestMemory& m) : m_(m), ps_(m.metadata().page_size) {}
  Result<const std::byte*> read(std::uint64_t pfn, std::span<std::byte> scratch) override {
    if (count_ != 0 && pfn >= first_ && pfn - first_ < count_) {
      return window_.data() + (pfn - first_) * ps_;
    }
    want_ = pfn == next_ ? std::min<std::uint64_t>(want_ * 2, kMaxWindow) : 1;
    const std::uint64_t n =
        std::min(want_, std::max<std::uint64_t>(1, m_.pages_in_block_from(pfn)));
    count_ = 0;
    next_ = pfn + n;
    if (n == 1) {
      const std::uint64_t one[1] = {pfn};
      GUESTDUMP_CHECK(m_.read_pages(one, scratch));
      return scratch.data();
    }
    pfns_.resize(n);
    for (std::uint64_t i = 0; i < n; ++i) pfns_[i] = pfn + i;
    window_.resize(n * ps_);
    GUESTDUMP_CHECK(m_.read_pages(pfns_, window_));
    first_ = pfn;
    count_ = n;
    return window_.data();
  }

private:
  static constexpr std::uint64_t kMaxWindow = 64;
  const LiveGuestMemory& m_;
  const std::size_t ps_;
  std::vector<std::uint64_t> pfns_;
  std::vector<std::byte> window_;
  std::uint64_t first_ = 0, count_ = 0, want_ = 1, next_ = ~std::uint64_t{0};
};

} // namespace

std::uint64_t LiveGuestMemory::pages_in_block_from(std::uint64_t pfn) const {
  const Span* s = span_of(pfn);
  return s == nullptr ? 0 : s->first_pfn + s->pages - pfn;
}

Result<formats::PfnBitmap> LiveGuestMemory::populated() const {
  const std::string path = "/proc/" + std::to_string(pid_) + "/pagemap";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return errno_error("open", path);
  const std::uint64_t ps = meta_.page_size;
  formats::PfnBitmap out(meta_.max_pfn);
  constexpr std::uint64_t kPresent = 1ULL << 63, kSwapped = 1ULL << 62;
  constexpr std::size_t kChunk = 65536; // entries per read (512 KiB)
  std::vector<std::uint64_t> entries(kChunk);
  for (const Span& s : spans_) {
    if (s.local != nullptr) {
      out.assign_range(s.first_pfn, s.pages, true);
      continue;
    }
    for (std::uint64_t done = 0; done < s.pages;) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, s.pages - done));
      const std::uint64_t vpn = (s.host + done * ps) / ps; // host page size == guest page size
      GUESTDUMP_CHECK(pread_exact(fd.get(), std::as_writable_bytes(std::span(entries.data(), n)),
                                  vpn * sizeof(std::uint64_t), path));
      for (std::size_t i = 0; i < n; ++i) {
        if ((entries[i] & (kPresent | kSwapped)) != 0) out.set(s.first_pfn + done + i);
      }
      done += n;
    }
  }
  return out;
}

void LiveGuestMemory::restrict_available(const formats::PfnBitmap& pages) {
  meta_.available.intersect(pages);
}

std::unique_ptr<formats::PageReader> LiveGuestMemory::make_reader() const {
  return std::make_unique<LiveReader>(*this);
}

Result<std::vector<std::pair<std::string, std::uint64_t>>>
locate_blocks(pid_t pid, const std::vector<GuestRamRange>& ranges, std::uint64_t probe_pfn,
              std::span<const std::byte> probe_page, std::uint32_t page_size) {
  std::string maps_path = "/proc/" + std::to_string(pid) + "/maps";
  std::string text;
  {
    FILE* f = std::fopen(maps_path.c_str(), "re");
    if (f == nullptr) return errno_error("open", maps_path);
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    std::fclose(f);
  }
  auto maps = parse_proc_maps(text);
  // Each block's extent: the largest offset any range uses.
  std::vector<std::pair<std::string, std::uint64_t>> extent;
  for (const auto& r : ranges) {
    auto it = std::find_if(extent.begin(), extent.end(),
                           [&](const auto& e) { return e.first == r.block; });
    if (it == extent.end()) {
      extent.emplace_back(r.block, r.block_offset + r.size);
    } else {
      it->second = std::max(it->second, r.block_offset + r.size);
    }
  }
  std::vector<std::pair<std::string, std::uint64_t>> found;
  std::vector<std::byte> page(page_size);
  for (const auto& [block, size] : extent) {
    // Where would the probe page sit inside this block?
    std::optional<std::uint64_t> probe_off;
    for (const auto& r : ranges) {
      std::uint64_t pa = probe_pfn * page_size;
      if (r.block == block && pa >= r.gpa && pa + page_size <= r.gpa + r.size) {
        probe_off = r.block_offset + (pa - r.gpa);
      }
    }
    std::vector<std::uint64_t> fits;
    for (const auto& m : maps) {
      if (m.perms.size() < 2 || m.perms[0] != 'r' || m.end - m.start < size) continue;
      if (probe_off) {
        iovec l{page.data(), page.size()};
        iovec r{reinterpret_cast<void*>(m.start + *probe_off), page.size()};
        if (::process_vm_readv(pid, &l, 1, &r, 1, 0) != static_cast<ssize_t>(page.size())) {
          continue;
        }
        if (std::memcmp(page.data(), probe_page.data(), page_size) != 0) continue;
      }
      fits.push_back(m.start);
    }
    if (fits.size() == 1) {
      found.emplace_back(block, fits.front());
    } else if (probe_off) {
      return make_error(ErrorCode::kNotFound, "cannot find RAM block '" + block +
                                                  "' in QEMU process " + std::to_string(pid) +
                                                  " (" + std::to_string(fits.size()) +
                                                  " mappings match the probe page)");
    }
    // A small block without the probe page and no unique fit (ROMs) is left out.
  }
  return found;
}

Result<AnonymousBuffer> AnonymousBuffer::create(std::size_t size) {
  AnonymousBuffer b;
  if (size == 0) return b;
  // Populated in one call (and in huge pages where the kernel allows): faulting a large buffer
  // in 4 KiB at a time cost ~35 us per fault in a VM, more than the copy itself.
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return errno_error("allocate", std::to_string(size) + " bytes");
  (void)::madvise(p, size, MADV_HUGEPAGE);
  (void)::madvise(p, size, MADV_POPULATE_WRITE);
  b.data_ = static_cast<std::byte*>(p);
  b.size_ = size;
  return b;
}

AnonymousBuffer::~AnonymousBuffer() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

AnonymousBuffer& AnonymousBuffer::operator=(AnonymousBuffer&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

class SnapshotReader final : public formats::PageReader {
public:
  explicit SnapshotReader(const PageSnapshot& s) : s_(s) {}
  Result<const std::byte*> read(std::uint64_t pfn, std::span<std::byte> scratch) override {
    if (!s_.meta_.available.test(pfn)) {
      return make_error(ErrorCode::kNotFound, "page " + hex(pfn) + " is not in the snapshot");
    }
    const std::size_t ps = s_.meta_.page_size;
    const std::uint64_t offset = s_.index_of(pfn) * ps;
    if (!s_.spooled()) return s_.data_.data() + offset;
    if (scratch.size() < ps) {
      return make_error(ErrorCode::kInvalidArgument, "snapshot read: buffer too small");
    }
    GUESTDUMP_CHECK(pread_exact(s_.spool_.get(), scratch.first(ps), offset, s_.spool_name_));
    return scratch.data();
  }

private:
  const PageSnapshot& s_;
};

namespace {

// An unlinked file in `dir` (O_TMPFILE where the file system has it), mode 0600.
Result<UniqueFd> open_spool(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd.valid()) return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    return errno_error("create a spool file in", dir);
  }
  std::string path = dir + "/.guestdump-spool-XXXXXX";
  fd = UniqueFd(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd.valid()) return errno_error("create a spool file in", dir);
  ::unlink(path.c_str());
  return fd;
}

} // namespace

Result<std::unique_ptr<PageSnapshot>> PageSnapshot::take(const LiveGuestMemory& src,
                                                         const formats::PfnBitmap& keep,
                                                         const SnapshotStorage& storage) {
  return take(
      src.metadata(),
      [&src](std::span<const std::uint64_t> pfns, std::span<std::byte> out) {
        return src.read_pages(pfns, out);
      },
      keep, storage);
}

Result<std::unique_ptr<PageSnapshot>> PageSnapshot::take(const formats::DumpMetadata& meta,
                                                         const PageCopier& copy,
                                                         const formats::PfnBitmap& keep,
                                                         const SnapshotStorage& storage) {
  auto snap = std::unique_ptr<PageSnapshot>(new PageSnapshot());
  snap->meta_ = meta;
  formats::PfnBitmap& kept = snap->meta_.available; // what the snapshot holds
  kept.intersect(keep);
  const auto words = kept.words();
  snap->rank_.resize(words.size());
  std::uint64_t pages = 0;
  for (std::size_t w = 0; w < words.size(); ++w) {
    snap->rank_[w] = pages;
    pages += static_cast<std::uint64_t>(std::popcount(words[w]));
  }
  const std::size_t ps = snap->meta_.page_size;
  snap->size_ = pages * ps;

  if (snap->size_ <= storage.memory_limit) {
    GUESTDUMP_TRY(snap->data_, AnonymousBuffer::create(snap->size_));
    std::vector<std::uint64_t> pfns;
    pfns.reserve(pages);
    for (std::uint64_t pfn = kept.next_set(0); pfn < kept.size(); pfn = kept.next_set(pfn + 1)) {
      pfns.push_back(pfn);
    }
    GUESTDUMP_CHECK(copy(pfns, std::span(snap->data_.data(), snap->size_)));
    return snap;
  }
  if (storage.spool_dir.empty()) {
    return make_error(ErrorCode::kUnsupported,
                      "a copy of " + std::to_string(snap->size_) +
                          " bytes of kept pages is over the memory limit of " +
                          std::to_string(storage.memory_limit) +
                          " bytes and no spool directory is set");
  }
  snap->spool_name_ = "spool file in " + storage.spool_dir;
  GUESTDUMP_TRY(snap->spool_, open_spool(storage.spool_dir));
  // Reserve the space first: a full disk fails here, before anything is copied.
  if (::fallocate(snap->spool_.get(), 0, 0, static_cast<off_t>(snap->size_)) != 0 &&
      errno != EOPNOTSUPP) {
    return errno_error("reserve " + std::to_string(snap->size_) + " bytes for a",
                       snap->spool_name_);
  }
  // Two bounce buffers: one is filled from the guest while the other is written out.
  constexpr std::size_t kChunkPages = 2048;
  std::array<AnonymousBuffer, 2> buf;
  for (auto& b : buf) {
    GUESTDUMP_TRY(b, AnonymousBuffer::create(kChunkPages * ps));
  }
  std::future<Result<void>> writing;
  std::vector<std::uint64_t> pfns;
  pfns.reserve(kChunkPages);
  std::uint64_t written = 0;
  std::size_t cur = 0;
  std::uint64_t pfn = kept.next_set(0);
  while (pfn < kept.size()) {
    pfns.clear();
    for (; pfn < kept.size() && pfns.size() < kChunkPages; pfn = kept.next_set(pfn + 1)) {
      pfns.push_back(pfn);
    }
    const std::span<std::byte> chunk(buf[cur].data(), pfns.size() * ps);
    auto copied = copy(pfns, chunk);
    if (writing.valid()) GUESTDUMP_CHECK(writing.get());
    GUESTDUMP_CHECK(std::move(copied));
    writing = std::async(std::launch::async,
                         [fd = snap->spool_.get(), chunk, written, name = snap->spool_name_]() {
                           return pwrite_all(fd, chunk, written, name);
                         });
    written += chunk.size();
    cur ^= 1;
  }
  if (writing.valid()) GUESTDUMP_CHECK(writing.get());
  return snap;
}

std::unique_ptr<formats::PageReader> PageSnapshot::make_reader() const {
  return std::make_unique<SnapshotReader>(*this);
}

} // namespace guestdump::host::detail
