// Streaming capture: ELF core from a pipe → spool in the output's temporary → filtered kdump.
// The two phases are described in stream_capture.h and docs/architecture.md.

#include "guestdump/formats/stream_capture.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include <unistd.h>

#include "compress_pipeline.h"
#include "elf_core_layout.h"
#include "guestdump/common/io.h"
#include "guestdump/common/log.h"

namespace guestdump::formats {

namespace {

constexpr std::uint32_t kChunkPages = 512;      // 2 MiB of guest memory per work item
constexpr std::uint32_t kZeroRec = 0xffffffffu; // PageRec::flags of an all-zero page
constexpr std::size_t kCopyWindow = 4u << 20;   // compaction read/write buffer

// Where a received page's compressed bytes sit in the spool (offset 0 = not received).
struct PageRec {
  std::uint64_t offset = 0;
  std::uint32_t size = 0;
  std::uint32_t flags = 0; // codec flag, 0 = raw, kZeroRec = all-zero (not stored)
};

std::string num(std::uint64_t v) {
  return std::to_string(v);
}

} // namespace

struct SpooledDump::Impl {
  std::string input_name;
  Codec codec = Codec::kZstd;
  DumpMetadata meta;
  std::optional<OutputFile> out;
  std::uint64_t spool_start = 0;
  std::uint64_t spool_end = 0;
  std::uint64_t received = 0;
  // One record per RAM page (not per PFN: a guest may place a RAM-backed device BAR far above
  // its RAM, and PFN-indexed records would cost 16 bytes per PFN of the hole between).
  std::vector<PageRec> recs;
  std::vector<std::uint64_t> rank_base; // RAM pages below each block of kRankBlock PFNs (8 bytes
                                        // per 64 PFNs: as large as a PFN bitmap)
  bool finished = false;

  static constexpr std::uint64_t kRankBlock = 64; // one bitmap word: rank = base + popcount
  void index_ram() {
    const std::uint64_t blocks = meta.ram.size() / kRankBlock + 1;
    rank_base.assign(blocks, 0);
    std::uint64_t below = 0;
    for (std::uint64_t b = 0; b < blocks; ++b) {
      rank_base[b] = below;
      below += meta.ram.count_range(b * kRankBlock, kRankBlock);
    }
    recs.assign(below, PageRec{});
  }
  /// The record of RAM page `pfn` (callers pass RAM PFNs only).
  PageRec& rec(std::uint64_t pfn) {
    return recs[rank_base[pfn / kRankBlock] + meta.ram.count_in_word_below(pfn)];
  }
  const PageRec& rec(std::uint64_t pfn) const { return const_cast<Impl*>(this)->rec(pfn); }
};

namespace {

// Reads page data back out of the spool: the filter and the kernel-log reader use this.
class SpoolReader final : public PageReader {
public:
  explicit SpoolReader(const SpooledDump::Impl& d) : d_(d), buf_(d.meta.page_size) {}
  Result<const std::byte*> read(std::uint64_t pfn, std::span<std::byte> scratch) override {
    const std::uint32_t ps = d_.meta.page_size;
    if (pfn >= d_.meta.available.size() || !d_.meta.available.test(pfn)) {
      return make_error(ErrorCode::kNotFound, "page " + num(pfn) + " is not in the stream");
    }
    const PageRec& r = d_.rec(pfn);
    auto page = scratch.first(ps);
    if (r.flags == kZeroRec) {
      std::fill(page.begin(), page.end(), std::byte{0});
      return page.data();
    }
    if (r.offset == 0 || r.size == 0 || r.size > ps) {
      return make_error(ErrorCode::kBadData, "page " + num(pfn) + " has no spooled data");
    }
    const std::string& name = d_.out->path();
    if (r.flags == 0) {
      GUESTDUMP_CHECK(pread_exact(d_.out->fd(), page, r.offset, name));
      return page.data();
    }
    auto in = std::span(buf_).first(r.size);
    GUESTDUMP_CHECK(pread_exact(d_.out->fd(), in, r.offset, name));
    GUESTDUMP_CHECK(dec_.decompress(r.flags, in, page));
    return page.data();
  }

private:
  const SpooledDump::Impl& d_;
  std::vector<std::byte> buf_;
  PageDecompressor dec_;
};

// Reader (calling thread) → compressors (N threads) → spool writer (1 thread), strictly in
// stream order (compress_pipeline.h): memory stays bounded for any guest size.
class ReceivePipeline {
public:
  explicit ReceivePipeline(SpooledDump::Impl& d) : d_(d) {}

  Result<void> start(unsigned threads) {
    const std::uint32_t ps = d_.meta.page_size;
    detail::CompressPipelineOptions opts;
    opts.codec = d_.codec;
    opts.page_size = ps;
    opts.threads = threads;
    opts.detect_zero_pages = true;
    opts.max_chunk_pages = kChunkPages;
    opts.input_bytes = std::size_t{kChunkPages} * ps;
    auto fill = [ps](unsigned, detail::ChunkBuilder& chunk) -> Result<void> {
      auto in = chunk.input();
      for (std::size_t off = 0; off + ps <= in.size(); off += ps) chunk.add(in.subspan(off, ps));
      return {};
    };
    GUESTDUMP_TRY(pipeline_, detail::CompressPipeline::start(opts, std::nullopt, fill));
    writer_ = std::thread([this] { write(); });
    return {};
  }

  /// Hands one chunk of pages (read by `fill`) to the pipeline.
  Result<void> submit(std::uint64_t first_pfn, std::uint32_t npages,
                      const std::function<Result<void>(std::span<std::byte>)>& fill) {
    return pipeline_->submit(first_pfn, std::size_t{npages} * d_.meta.page_size, fill);
  }

  /// Waits until everything submitted is in the spool; stops the threads.
  Result<void> finish() {
    pipeline_->close();
    if (writer_.joinable()) writer_.join();
    return pipeline_->status();
  }

  ~ReceivePipeline() {
    if (pipeline_) pipeline_->fail(make_error(ErrorCode::kCancelled, "capture abandoned"));
    if (writer_.joinable()) writer_.join();
  }

private:
  void write() {
    while (true) {
      auto next = pipeline_->next();
      if (!next || *next == nullptr) return;
      const detail::CompressedChunk& c = **next;
      auto r = pwrite_all(d_.out->fd(), c.data, d_.spool_end, d_.out->path());
      if (!r) {
        pipeline_->fail(std::move(r).error());
        return;
      }
      for (std::size_t i = 0; i < c.pages.size(); ++i) {
        const detail::CompressedPage& p = c.pages[i];
        PageRec rec;
        if (p.zero) {
          rec.flags = kZeroRec;
        } else {
          rec.offset = d_.spool_end + p.offset;
          rec.size = p.size;
          rec.flags = p.flags;
        }
        d_.rec(c.tag + i) = rec;
      }
      d_.spool_end += c.data.size();
      pipeline_->release();
    }
  }

  SpooledDump::Impl& d_;
  std::unique_ptr<detail::CompressPipeline> pipeline_;
  std::thread writer_;
};

// Reads exactly `out.size()` bytes of the stream or says where it ended.
Result<void> read_stream(int fd, std::span<std::byte> out, std::uint64_t& pos,
                         const std::string& name, const char* what) {
  GUESTDUMP_TRY(std::size_t n, read_full(fd, out, name));
  pos += n;
  if (n != out.size()) {
    return make_error(ErrorCode::kBadData, "'" + name + "' ended after " + num(pos) +
                                               " bytes, inside " + what + ": dump cut short?");
  }
  return {};
}

} // namespace

SpooledDump::SpooledDump(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SpooledDump::~SpooledDump() = default;

const DumpMetadata& SpooledDump::metadata() const {
  return impl_->meta;
}

std::unique_ptr<PageReader> SpooledDump::make_reader() const {
  return std::make_unique<SpoolReader>(*impl_);
}

std::uint64_t SpooledDump::bytes_received() const {
  return impl_->received;
}

Result<std::unique_ptr<SpooledDump>> SpooledDump::receive(const StreamCaptureOptions& opts) {
  auto d = std::make_unique<Impl>();
  d->input_name = opts.input_name.empty() ? "dump stream" : opts.input_name;
  d->codec = opts.codec;
  const std::string& name = d->input_name;

  // Headers and notes come first in every ELF core writer we know; buffer exactly them.
  std::vector<std::byte> head;
  while (true) {
    GUESTDUMP_TRY(std::uint64_t need, detail::elf_core_head_size(head));
    if (need <= head.size()) break;
    std::size_t have = head.size();
    head.resize(need);
    GUESTDUMP_CHECK(read_stream(opts.input_fd, std::span(head).subspan(have), d->received, name,
                                "the ELF headers"));
  }
  GUESTDUMP_TRY(auto layout, detail::parse_elf_core_head(head, UINT64_MAX, name, {}));
  d->meta = std::move(layout.meta);
  const std::uint32_t ps = d->meta.page_size;

  // Page data must arrive in file order, page-aligned, after the headers.
  auto segs = layout.segments;
  std::sort(segs.begin(), segs.end(), [](const detail::ElfSegment& a, const detail::ElfSegment& b) {
    return a.offset < b.offset;
  });
  std::uint64_t total = head.size();
  std::uint64_t pos_check = head.size();
  for (const auto& s : segs) {
    if (s.filesz == 0) continue;
    if (s.paddr % ps != 0 || s.filesz % ps != 0) {
      return make_error(ErrorCode::kUnsupported,
                        "'" + name + "': PT_LOAD at physical " + num(s.paddr) +
                            " is not page-aligned; stream it to a file and convert that");
    }
    if (s.offset < pos_check) {
      return make_error(ErrorCode::kUnsupported,
                        "'" + name + "': PT_LOAD data at offset " + num(s.offset) +
                            " lies before earlier data; this layout cannot be streamed");
    }
    pos_check = s.offset + s.filesz;
    total = std::max(total, pos_check);
  }

  GUESTDUMP_TRY(OutputFile out, OutputFile::create(opts.output));
  if (!out.seekable()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "capture output '" + opts.output + "' must be a regular file");
  }
  d->out.emplace(std::move(out));
  const std::uint64_t ram_pages = d->meta.ram.count();
  KdumpLayout reserve = compute_layout(d->meta.arch, ps, d->meta.max_pfn,
                                       d->meta.notes.size() + kExtraNoteRoom, ram_pages);
  d->spool_start = reserve.offset_data + ps; // + the shared zero page
  d->spool_end = d->spool_start;
  d->index_ram();

  unsigned threads =
      opts.threads != 0 ? opts.threads : std::max(1u, std::thread::hardware_concurrency());
  ReceivePipeline pipe(*d);
  GUESTDUMP_CHECK(pipe.start(threads));

  std::vector<std::byte> skip(1u << 20);
  std::uint64_t chunks = 0;
  for (const auto& s : segs) {
    while (d->received < s.offset) {
      auto n = std::min<std::uint64_t>(skip.size(), s.offset - d->received);
      GUESTDUMP_CHECK(
          read_stream(opts.input_fd, std::span(skip).first(n), d->received, name, "a gap"));
    }
    const std::uint64_t first = s.paddr / ps;
    const std::uint64_t count = s.filesz / ps;
    for (std::uint64_t done = 0; done < count;) {
      GUESTDUMP_CHECK(check_cancel());
      auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(kChunkPages, count - done));
      GUESTDUMP_CHECK(pipe.submit(first + done, n, [&](std::span<std::byte> buf) {
        return read_stream(opts.input_fd, buf, d->received, name, "guest memory");
      }));
      done += n;
      if (opts.progress && ++chunks % 16 == 0) opts.progress(d->received, total);
    }
  }
  GUESTDUMP_CHECK(pipe.finish());
  // Let the writer finish: anything after the last segment is read and dropped.
  while (true) {
    GUESTDUMP_TRY(std::size_t n, read_full(opts.input_fd, skip, name));
    d->received += n;
    if (n < skip.size()) break;
  }
  if (opts.progress) opts.progress(d->received, total);
  // Pages whose bytes the stream did not carry cannot be read back.
  for (std::uint64_t pfn = d->meta.available.next_set(0); pfn < d->meta.available.size();
       pfn = d->meta.available.next_set(pfn + 1)) {
    const PageRec& r = d->rec(pfn);
    if (r.flags != kZeroRec && r.offset == 0) d->meta.available.clear(pfn);
  }
  return std::unique_ptr<SpooledDump>(new SpooledDump(std::move(d)));
}

Result<KdumpWriteStats> SpooledDump::finish(const KdumpHeader& identity,
                                            std::span<const std::byte> notes,
                                            const PfnBitmap& dumpable, bool share_zero_pages) {
  Impl& d = *impl_;
  if (d.finished) return make_error(ErrorCode::kInvalidArgument, "capture already finished");
  d.finished = true;
  const std::uint32_t ps = d.meta.page_size;
  const std::string& path = d.out->path();
  const int fd = d.out->fd();
  if (dumpable.size() != d.meta.ram.size()) {
    return make_error(ErrorCode::kInvalidArgument, "dumpable bitmap has the wrong size");
  }
  PfnBitmap check = dumpable;
  check.intersect(d.meta.available);
  if (check.count() != dumpable.count()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "dumpable bitmap names pages the stream did not carry");
  }
  auto sink = make_positioned_sink(fd, path);
  GUESTDUMP_TRY(KdumpLayout layout,
                write_kdump_head(*sink, identity, notes, d.meta.ram, dumpable, d.codec, ps));
  if (layout.offset_data + ps > d.spool_start) {
    return make_error(ErrorCode::kInvalidArgument,
                      "notes grew by more than the room reserved for them");
  }

  // Kept non-zero pages in spool order: moving them down in that order never overwrites a byte
  // that is still to be read (every page's new offset is at most its old one).
  std::vector<std::pair<std::uint64_t, std::uint64_t>> moves; // {spool offset, pfn}
  for (std::uint64_t pfn = dumpable.next_set(0); pfn < dumpable.size();
       pfn = dumpable.next_set(pfn + 1)) {
    if (d.rec(pfn).flags != kZeroRec) moves.emplace_back(d.rec(pfn).offset, pfn);
  }
  std::sort(moves.begin(), moves.end());
  std::vector<std::byte> zero(ps, std::byte{0});
  GUESTDUMP_CHECK(pwrite_all(fd, zero, layout.offset_data, path));
  std::uint64_t dst = layout.offset_data + ps;
  std::vector<std::byte> window(kCopyWindow);
  std::uint64_t win_off = 0;
  std::uint64_t win_len = 0;
  std::vector<std::byte> pending;
  pending.reserve(kCopyWindow + ps);
  std::uint64_t pending_at = dst;
  for (const auto& [src, pfn] : moves) {
    PageRec& r = d.rec(pfn);
    if (src < win_off || src + r.size > win_off + win_len) {
      win_off = src;
      win_len = std::min<std::uint64_t>(kCopyWindow, d.spool_end - src);
      if (win_len < r.size) {
        return make_error(ErrorCode::kBadData, "spooled page " + num(pfn) + " lies past the spool");
      }
      GUESTDUMP_CHECK(pread_exact(fd, std::span(window).first(win_len), win_off, path));
    }
    const std::byte* p = window.data() + (src - win_off);
    pending.insert(pending.end(), p, p + r.size);
    r.offset = dst;
    dst += r.size;
    if (pending.size() >= kCopyWindow) {
      GUESTDUMP_CHECK(pwrite_all(fd, pending, pending_at, path));
      pending_at += pending.size();
      pending.clear();
    }
    GUESTDUMP_CHECK(check_cancel());
  }
  if (!pending.empty()) GUESTDUMP_CHECK(pwrite_all(fd, pending, pending_at, path));

  // Without dump-level bit 1, every zero page gets its own stored copy, as makedumpfile does.
  PageRec zero_copy;
  if (!share_zero_pages) {
    GUESTDUMP_TRY(auto comp, PageCompressor::create(d.codec, ps));
    std::vector<std::byte> buf(std::max<std::size_t>(comp->bound(), ps));
    std::size_t n = comp->compress(zero, buf);
    zero_copy.flags = n == 0 ? 0 : codec_flag(d.codec);
    zero_copy.size = static_cast<std::uint32_t>(n == 0 ? ps : n);
    if (n == 0) std::memcpy(buf.data(), zero.data(), ps);
    buf.resize(zero_copy.size);
    std::vector<std::byte> run;
    for (std::uint64_t pfn = dumpable.next_set(0); pfn < dumpable.size();
         pfn = dumpable.next_set(pfn + 1)) {
      PageRec& zr = d.rec(pfn);
      if (zr.flags != kZeroRec) continue;
      zr.offset = dst + run.size();
      run.insert(run.end(), buf.begin(), buf.end());
    }
    if (!run.empty()) GUESTDUMP_CHECK(pwrite_all(fd, run, dst, path));
    dst += run.size();
  }

  KdumpWriteStats stats;
  stats.threads = 1;
  std::vector<std::byte> descs;
  descs.reserve(64 * 1024 * kPageDescSize);
  std::uint64_t desc_pos = layout.offset_descs;
  for (std::uint64_t pfn = dumpable.next_set(0); pfn < dumpable.size();
       pfn = dumpable.next_set(pfn + 1)) {
    const PageRec& r = d.rec(pfn);
    PageDesc pd;
    if (r.flags == kZeroRec && share_zero_pages) {
      pd = PageDesc{static_cast<std::int64_t>(layout.offset_data), ps, 0, 0};
      ++stats.pages_zero;
    } else {
      const std::uint32_t flags = r.flags == kZeroRec ? zero_copy.flags : r.flags;
      const std::uint32_t size = r.flags == kZeroRec ? zero_copy.size : r.size;
      pd = PageDesc{static_cast<std::int64_t>(r.offset), size, flags, 0};
      ++(flags != 0 ? stats.pages_compressed : stats.pages_raw);
    }
    descs.resize(descs.size() + kPageDescSize);
    encode_page_desc(pd, descs.data() + descs.size() - kPageDescSize);
    ++stats.pages_dumped;
    if (descs.size() >= 64 * 1024 * kPageDescSize) {
      GUESTDUMP_CHECK(pwrite_all(fd, descs, desc_pos, path));
      desc_pos += descs.size();
      descs.clear();
    }
  }
  if (!descs.empty()) GUESTDUMP_CHECK(pwrite_all(fd, descs, desc_pos, path));
  if (::ftruncate(fd, static_cast<off_t>(dst)) != 0) return errno_error("truncate", path);
  stats.file_size = dst;
  GUESTDUMP_CHECK(d.out->commit());
  return stats;
}

} // namespace guestdump::formats
