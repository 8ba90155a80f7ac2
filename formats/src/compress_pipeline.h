#pragma once
// The one ordered compression pipeline: chunks of pages are compressed on N worker threads and
// handed to one consumer strictly in chunk order, through a ring of 4 × N slots, so memory stays
// bounded for any guest size and the bytes produced do not depend on the thread count. The kdump
// writer uses it with chunks the workers read themselves (PFN ranges of a DumpSource), the
// capture spool with chunks a producer reads from the stream (submit()).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/formats/codec.h"

namespace guestdump::formats::detail {

/// One page of a compressed chunk.
struct CompressedPage {
  std::size_t offset = 0;  // of its bytes in CompressedChunk::data (0 for a zero page)
  std::uint32_t size = 0;  // stored bytes (0 for a zero page)
  std::uint32_t flags = 0; // codec flag, or 0 when stored raw
  bool zero = false;       // all-zero page, nothing stored (only with detect_zero_pages)
};

/// A chunk as the consumer receives it.
struct CompressedChunk {
  std::uint64_t index = 0;
  std::uint64_t tag = 0; // what submit() was given
  std::vector<CompressedPage> pages;
  std::span<const std::byte> data;
};

struct CompressPipelineOptions {
  Codec codec = Codec::kZstd;
  std::uint32_t page_size = 4096;
  unsigned threads = 1;
  bool detect_zero_pages = true;
  std::uint64_t max_chunk_pages = 0; // the most pages one chunk holds
  std::size_t input_bytes = 0;       // per slot, for submit(); 0 when the workers read the pages
};

class CompressPipeline;

/// What a worker fills one chunk through.
class ChunkBuilder {
public:
  std::uint64_t index() const;
  /// The bytes submit() read for this chunk (empty without submit()).
  std::span<const std::byte> input() const;
  /// Compresses one page (page_size bytes) into the chunk.
  void add(std::span<const std::byte> page);

private:
  friend class CompressPipeline;
  struct Slot;
  ChunkBuilder(Slot& slot, PageCompressor& comp, const CompressPipelineOptions& opts);
  Slot& slot_;
  PageCompressor& comp_;
  const CompressPipelineOptions& opts_;
  std::size_t bound_;
};

class CompressPipeline {
public:
  /// Fills chunk builder.index() on worker `worker` (0 to threads - 1) by calling builder.add()
  /// once per page. An error takes the chunk's place: the consumer gets it from next().
  using FillFn = std::function<Result<void>(unsigned worker, ChunkBuilder& builder)>;

  /// Creates one compressor per thread (so a codec failure is reported before any thread runs)
  /// and starts the workers. With `chunks`, the workers take chunks 0 to chunks - 1 as slots
  /// free up; without, chunks come from submit() until close().
  static Result<std::unique_ptr<CompressPipeline>>
  start(const CompressPipelineOptions& opts, std::optional<std::uint64_t> chunks, FillFn fill);
  /// Stops the workers (next() and submit() fail from then on) and joins them.
  ~CompressPipeline();

  /// Producer: waits for a free slot, has `read` fill `bytes` of its input on the calling
  /// thread, and queues the chunk. A failure of `read` fails the pipeline; once it has failed,
  /// returns its error.
  Result<void> submit(std::uint64_t tag, std::size_t bytes,
                      const std::function<Result<void>(std::span<std::byte>)>& read);
  /// Producer: no more chunks.
  void close();

  /// Consumer: the next chunk in order, or nullptr after the last one. Errors: the chunk's
  /// (its fill failed) or the pipeline's (fail()).
  Result<const CompressedChunk*> next();
  /// Consumer: done with the chunk next() returned; its slot is reused.
  void release();

  /// Stops everything; the first error given is what submit() and next() return from then on.
  void fail(Error e);
  /// The error the pipeline failed with, if any.
  Result<void> status() const;

  CompressPipeline(const CompressPipeline&) = delete;
  CompressPipeline& operator=(const CompressPipeline&) = delete;

private:
  struct State;
  explicit CompressPipeline(std::unique_ptr<State> state);
  void work(unsigned worker);
  std::unique_ptr<State> s_;
};

} // namespace guestdump::formats::detail
