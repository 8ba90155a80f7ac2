#include "guestdump/formats/kdump_writer.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "compress_pipeline.h"
#include "guestdump/common/io.h"
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

// Chunks of the 2nd bitmap, compressed on `threads` workers (each with its own reader) and
// written by the calling thread in chunk order (compress_pipeline.h).
class Pipeline {
public:
  Pipeline(const KdumpWriteRequest& req, unsigned threads) : req_(req), threads_(threads) {
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
  }

  Result<KdumpWriteStats> run(OutputSink& sink, std::uint64_t data_start,
                              std::uint64_t desc_start) {
    const std::uint32_t ps = req_.source->metadata().page_size;
    // Each worker makes its reader and scratch page on its own thread, at its first chunk, so
    // they come from that thread's allocator arena: readers made here, side by side, would share
    // cache lines between the workers.
    std::vector<std::unique_ptr<PageReader>> readers(threads_);
    std::vector<std::vector<std::byte>> scratch(threads_);
    detail::CompressPipelineOptions opts;
    opts.codec = req_.codec;
    opts.page_size = ps;
    opts.threads = threads_;
    opts.detect_zero_pages = req_.share_zero_pages;
    opts.max_chunk_pages = max_chunk_pages_;
    auto fill = [&](unsigned worker, detail::ChunkBuilder& chunk) -> Result<void> {
      if (!readers[worker]) {
        readers[worker] = req_.source->make_reader();
        scratch[worker].resize(ps);
      }
      const std::uint64_t c = chunk.index();
      const std::uint64_t first = c == 0 ? 0 : bounds_[c - 1];
      const std::uint64_t end = bounds_[c];
      for (std::uint64_t pfn = req_.dumpable->next_set(first); pfn < end;
           pfn = req_.dumpable->next_set(pfn + 1)) {
        GUESTDUMP_TRY(const std::byte* page, readers[worker]->read(pfn, scratch[worker]));
        chunk.add(std::span<const std::byte>(page, ps));
      }
      return {};
    };
    GUESTDUMP_TRY(auto pipeline,
                  detail::CompressPipeline::start(opts, bounds_.size(), std::move(fill)));
    return consume(*pipeline, sink, data_start, desc_start);
  }

private:
  Result<KdumpWriteStats> consume(detail::CompressPipeline& pipeline, OutputSink& sink,
                                  std::uint64_t data_start, std::uint64_t desc_start) {
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
    const std::uint64_t nchunks = bounds_.size();
    std::uint64_t desc_index = 0;
    std::vector<std::byte> descs;
    for (std::uint64_t c = 0; c < nchunks; ++c) {
      GUESTDUMP_TRY(const detail::CompressedChunk* chunk, pipeline.next());
      GUESTDUMP_CHECK(check_cancel());
      descs.resize(chunk->pages.size() * kPageDescSize);
      std::uint64_t chunk_data_pos = data_pos;
      for (std::size_t i = 0; i < chunk->pages.size(); ++i) {
        const detail::CompressedPage& p = chunk->pages[i];
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
      if (!chunk->data.empty()) GUESTDUMP_CHECK(sink.write_at(chunk_data_pos, chunk->data));
      if (!descs.empty()) {
        GUESTDUMP_CHECK(sink.write_at(desc_start + desc_index * kPageDescSize, descs));
      }
      desc_index += chunk->pages.size();
      stats.pages_dumped += chunk->pages.size();
      pipeline.release();
      if (req_.progress && (c % 16 == 15 || c + 1 == nchunks)) req_.progress(desc_index, total);
    }
    stats.file_size = data_pos;
    return stats;
  }

  const KdumpWriteRequest& req_;
  unsigned threads_;
  std::vector<std::uint64_t> bounds_; // end PFN (exclusive) of each chunk
  std::uint64_t max_chunk_pages_ = 0; // most dumpable pages in one chunk
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
