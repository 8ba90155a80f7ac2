#include "guestdump/formats/kdump_writer.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "guestdump/common/io.h"
#include "guestdump/common/page_buffer.h"
#include "guestdump/formats/elf_notes.h"

namespace guestdump::formats {
namespace {

class PositionedSink final : public OutputSink {
public:
  PositionedSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  Result<void> write_at(std::uint64_t offset, std::span<const std::byte> data) override {
    bytes_ += data.size();
    return pwrite_all(fd_, data, offset, name_);
  }
  Result<void> finish() override { return {}; }
  std::uint64_t bytes_out() const override { return bytes_; }

private:
  int fd_;
  std::string name_;
  std::uint64_t bytes_ = 0;
};

class FlattenedSink final : public OutputSink {
public:
  FlattenedSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
    buf_ = encode_flat_header();
    buf_.reserve(kBufferSize);
  }
  Result<void> write_at(std::uint64_t offset, std::span<const std::byte> data) override {
    if (data.empty()) return {};
    std::byte rec[kFlatRecordHeaderSize];
    encode_flat_record_header(static_cast<std::int64_t>(offset),
                              static_cast<std::int64_t>(data.size()), rec);
    if (buf_.size() + sizeof rec + data.size() > kBufferSize) GUESTDUMP_CHECK(flush());
    buf_.insert(buf_.end(), rec, rec + sizeof rec);
    if (data.size() > kBufferSize / 2) {
      GUESTDUMP_CHECK(flush());
      bytes_ += data.size();
      return write_all(fd_, data, name_);
    }
    buf_.insert(buf_.end(), data.begin(), data.end());
    return {};
  }
  Result<void> finish() override {
    std::byte rec[kFlatRecordHeaderSize];
    encode_flat_record_header(-1, -1, rec);
    buf_.insert(buf_.end(), rec, rec + sizeof rec);
    return flush();
  }
  std::uint64_t bytes_out() const override { return bytes_; }

private:
  static constexpr std::size_t kBufferSize = 4u << 20;
  Result<void> flush() {
    bytes_ += buf_.size();
    auto r = write_all(fd_, buf_, name_);
    buf_.clear();
    return r;
  }
  int fd_;
  std::string name_;
  std::vector<std::byte> buf_;
  std::uint64_t bytes_ = 0;
};

// A work item holds about this many dumpable pages (2 MiB of data), so a sparse bitmap (a
// filtered dump keeps a few percent of RAM) does not turn into thousands of tiny items.
constexpr std::uint64_t kChunkPages = 512;
// ...but spans at most this many PFNs, so progress still moves through long excluded ranges.
constexpr std::uint64_t kChunkSpanLimit = 64 * kChunkPages;

// Per-page result inside a chunk.
struct PageOut {
  std::uint32_t size = 0;  // stored bytes (0 for a shared zero page)
  std::uint32_t flags = 0; // codec flag or 0 = raw
  bool zero = false;
};

struct Slot {
  std::uint64_t chunk = UINT64_MAX;
  bool ready = false;
  std::vector<PageOut> pages;
  // Compressed bytes of the chunk: sized once for the largest chunk and reused, never zero-filled
  // (a growing std::vector's memset of ~2 MiB per chunk showed up as several percent of a
  // conversion), and THP-backed (see PageBuffer: 4 KiB faults on fresh buffers were ~6% of
  // the CPU time of a dump level 31 conversion).
  PageBuffer buf;
  std::size_t used = 0;
  std::span<const std::byte> data() const { return {buf.data(), used}; }
  void reserve(std::size_t n) {
    if (n > buf.size()) buf = PageBuffer(n);
  }
  std::optional<Error> error;
};

class Pipeline {
public:
  Pipeline(const KdumpWriteRequest& req, unsigned threads)
      : req_(req), threads_(threads), slots_(4 * threads) {
    // Chunk boundaries, in PFNs: cut after ~kChunkPages dumpable pages or kChunkSpanLimit PFNs.
    const std::uint64_t size = req.dumpable->size();
    std::uint64_t start = 0, kept = 0;
    for (std::uint64_t b = 0; b < size; b += kChunkPages) {
      std::uint64_t n = std::min(kChunkPages, size - b);
      kept += req.dumpable->count_range(b, n);
      if (kept >= kChunkPages || b + n - start >= kChunkSpanLimit || b + n == size) {
        bounds_.push_back(b + n);
        max_chunk_pages_ = std::max(max_chunk_pages_, kept);
        start = b + n;
        kept = 0;
      }
    }
    nchunks_ = bounds_.size();
  }

  Result<KdumpWriteStats> run(OutputSink& sink, std::uint64_t data_start,
                              std::uint64_t desc_start) {
    const std::uint32_t ps = req_.source->metadata().page_size;
    // Compressors are created up front so a codec failure is reported before any thread runs.
    std::vector<std::unique_ptr<PageCompressor>> comps;
    for (unsigned i = 0; i < threads_; ++i) {
      GUESTDUMP_TRY(auto c, PageCompressor::create(req_.codec, ps));
      comps.push_back(std::move(c));
    }
    std::vector<std::thread> workers;
    workers.reserve(threads_);
    for (unsigned i = 0; i < threads_; ++i) {
      workers.emplace_back([this, c = comps[i].get()] { work(*c); });
    }
    auto result = consume(sink, data_start, desc_start);
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers) t.join();
    return result;
  }

private:
  void work(PageCompressor& comp) {
    const auto& meta = req_.source->metadata();
    const std::uint32_t ps = meta.page_size;
    auto reader = req_.source->make_reader();
    std::vector<std::byte> scratch(ps);
    const std::size_t bound = std::max<std::size_t>(comp.bound(), ps);
    while (true) {
      std::uint64_t c;
      Slot* slot;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock,
                 [&] { return stop_ || next_ >= nchunks_ || next_ < consumed_ + slots_.size(); });
        if (stop_ || next_ >= nchunks_) return;
        c = next_++;
        slot = &slots_[c % slots_.size()];
      }
      slot->pages.clear();
      slot->error.reset();
      std::uint64_t first = c == 0 ? 0 : bounds_[c - 1];
      std::uint64_t end = bounds_[c];
      // Every slot gets room for the largest chunk at once: regrowing per chunk unmapped and
      // faulted in fresh buffers again and again.
      slot->reserve(max_chunk_pages_ * bound);
      std::size_t used = 0;
      for (std::uint64_t pfn = req_.dumpable->next_set(first); pfn < end;
           pfn = req_.dumpable->next_set(pfn + 1)) {
        auto page = reader->read(pfn, scratch);
        if (!page) {
          slot->error = std::move(page).error();
          break;
        }
        std::span<const std::byte> in(*page, ps);
        PageOut out;
        if (req_.share_zero_pages && is_zero_page(in)) {
          out.zero = true;
        } else {
          std::size_t n = comp.compress(in, std::span(slot->buf.data() + used, bound));
          if (n == 0) {
            std::memcpy(slot->buf.data() + used, in.data(), ps);
            out.size = ps;
          } else {
            out.size = static_cast<std::uint32_t>(n);
            out.flags = codec_flag(req_.codec);
          }
          used += out.size;
        }
        slot->pages.push_back(out);
      }
      slot->used = used;
      {
        std::lock_guard lock(mu_);
        slot->chunk = c;
        slot->ready = true;
      }
      cv_.notify_all();
    }
  }

  Result<KdumpWriteStats> consume(OutputSink& sink, std::uint64_t data_start,
                                  std::uint64_t desc_start) {
    const std::uint32_t ps = req_.source->metadata().page_size;
    KdumpWriteStats stats;
    stats.threads = threads_;
    std::uint64_t data_pos = data_start;
    PageDesc zero_desc{static_cast<std::int64_t>(data_start), ps, 0, 0};
    if (req_.share_zero_pages) {
      // One raw zero page first; every all-zero page's descriptor points at it.
      std::vector<std::byte> zero(ps, std::byte{0});
      GUESTDUMP_CHECK(sink.write_at(data_pos, zero));
      data_pos += ps;
    }
    const std::uint64_t total = req_.dumpable->count();
    std::uint64_t desc_index = 0;
    std::vector<std::byte> descs;
    for (std::uint64_t c = 0; c < nchunks_; ++c) {
      Slot* slot = &slots_[c % slots_.size()];
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return slot->ready && slot->chunk == c; });
      }
      if (slot->error) {
        Error e = std::move(*slot->error);
        return e;
      }
      GUESTDUMP_CHECK(check_cancel());
      descs.resize(slot->pages.size() * kPageDescSize);
      std::uint64_t chunk_data_pos = data_pos;
      for (std::size_t i = 0; i < slot->pages.size(); ++i) {
        const PageOut& p = slot->pages[i];
        PageDesc d;
        if (p.zero) {
          d = zero_desc;
          ++stats.pages_zero;
        } else {
          d = PageDesc{static_cast<std::int64_t>(data_pos), p.size, p.flags, 0};
          data_pos += p.size;
          ++(p.flags != 0 ? stats.pages_compressed : stats.pages_raw);
        }
        encode_page_desc(d, descs.data() + i * kPageDescSize);
      }
      if (slot->used != 0) GUESTDUMP_CHECK(sink.write_at(chunk_data_pos, slot->data()));
      if (!descs.empty()) {
        GUESTDUMP_CHECK(sink.write_at(desc_start + desc_index * kPageDescSize, descs));
      }
      desc_index += slot->pages.size();
      stats.pages_dumped += slot->pages.size();
      {
        std::lock_guard lock(mu_);
        slot->ready = false;
        ++consumed_;
      }
      cv_.notify_all();
      if (req_.progress && (c % 16 == 15 || c + 1 == nchunks_)) req_.progress(desc_index, total);
    }
    stats.file_size = data_pos;
    return stats;
  }

  const KdumpWriteRequest& req_;
  unsigned threads_;
  std::vector<Slot> slots_;
  std::vector<std::uint64_t> bounds_; // end PFN (exclusive) of each chunk
  std::uint64_t max_chunk_pages_ = 0; // most dumpable pages in one chunk
  std::uint64_t nchunks_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t next_ = 0;     // next chunk a worker takes
  std::uint64_t consumed_ = 0; // chunks the writer has emitted
  bool stop_ = false;
};

} // namespace

std::unique_ptr<OutputSink> make_positioned_sink(int fd, std::string name) {
  return std::make_unique<PositionedSink>(fd, std::move(name));
}

std::unique_ptr<OutputSink> make_flattened_sink(int fd, std::string name) {
  return std::make_unique<FlattenedSink>(fd, std::move(name));
}

Result<KdumpLayout> write_kdump_head(OutputSink& sink, const KdumpHeader& identity,
                                     std::span<const std::byte> notes_blob, const PfnBitmap& ram,
                                     const PfnBitmap& dumpable, Codec codec,
                                     std::uint32_t page_size) {
  if (ram.size() != dumpable.size()) {
    return make_error(ErrorCode::kInvalidArgument, "bitmap sizes differ");
  }
  GUESTDUMP_TRY(auto notes, parse_notes(notes_blob));
  std::int64_t vi_off = -1;
  std::uint64_t vi_size = 0;
  if (const NoteView* vi = find_vmcoreinfo(notes)) {
    vi_off = static_cast<std::int64_t>(vi->desc_offset);
    vi_size = vi->desc.size();
  }
  KdumpLayout layout =
      compute_layout(identity.arch, page_size, ram.size(), notes_blob.size(), dumpable.count());
  KdumpHeader hdr = identity;
  fill_layout_fields(hdr, layout, notes_blob.size(), vi_off, vi_size);
  hdr.status = codec_flag(codec);

  std::vector<std::byte> head = encode_header_blocks(hdr, notes_blob);
  GUESTDUMP_CHECK(sink.write_at(0, head));
  // Both bitmaps, each padded to whole blocks (crash maps them and checks they fit the file).
  std::vector<std::byte> bm(layout.bitmap_blocks * page_size, std::byte{0});
  auto put_bitmap = [&](const PfnBitmap& b, std::uint64_t off) -> Result<void> {
    std::fill(bm.begin(), bm.end(), std::byte{0});
    auto bytes = b.bytes();
    std::memcpy(bm.data(), bytes.data(), bytes.size());
    return sink.write_at(off, bm);
  };
  GUESTDUMP_CHECK(put_bitmap(ram, layout.offset_bitmap1));
  GUESTDUMP_CHECK(put_bitmap(dumpable, layout.offset_bitmap2));
  return layout;
}

Result<KdumpWriteStats> write_kdump(const KdumpWriteRequest& req, OutputSink& sink) {
  GUESTDUMP_TRY(KdumpLayout layout,
                write_kdump_head(sink, req.header, req.notes, *req.ram, *req.dumpable, req.codec,
                                 req.source->metadata().page_size));
  unsigned threads =
      req.threads != 0 ? req.threads : std::max(1u, std::thread::hardware_concurrency());
  Pipeline pipeline(req, threads);
  GUESTDUMP_TRY(KdumpWriteStats stats, pipeline.run(sink, layout.offset_data, layout.offset_descs));
  GUESTDUMP_CHECK(sink.finish());
  return stats;
}

} // namespace guestdump::formats
