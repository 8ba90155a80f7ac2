#include "compress_pipeline.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "guestdump/common/page_buffer.h"

namespace guestdump::formats::detail {

struct ChunkBuilder::Slot {
  bool done = false; // compressed, waiting for the consumer
  std::optional<Error> error;
  CompressedChunk chunk;
  std::unique_ptr<std::byte[]> input;
  std::size_t input_used = 0;
  // Compressed bytes: sized once for the largest chunk and reused, never zero-filled (a growing
  // std::vector's memset of ~2 MiB per chunk showed up as several percent of a conversion), and
  // THP-backed (see PageBuffer: 4 KiB faults on fresh buffers were ~6% of the CPU time of a
  // dump level 31 conversion).
  PageBuffer buf;
  std::size_t used = 0;
};

ChunkBuilder::ChunkBuilder(Slot& slot, PageCompressor& comp, const CompressPipelineOptions& opts)
    : slot_(slot), comp_(comp), opts_(opts),
      bound_(std::max<std::size_t>(comp.bound(), opts.page_size)) {
  // Every slot gets room for the largest chunk at once: regrowing per chunk unmapped and
  // faulted in fresh buffers again and again.
  const std::size_t need = opts.max_chunk_pages * bound_;
  if (need > slot_.buf.size()) slot_.buf = PageBuffer(need);
}

std::uint64_t ChunkBuilder::index() const {
  return slot_.chunk.index;
}

std::span<const std::byte> ChunkBuilder::input() const {
  return {slot_.input.get(), slot_.input_used};
}

void ChunkBuilder::add(std::span<const std::byte> page) {
  const std::uint32_t ps = opts_.page_size;
  CompressedPage out;
  if (opts_.detect_zero_pages && is_zero_page(page)) {
    out.zero = true;
  } else {
    std::byte* dst = slot_.buf.data() + slot_.used;
    std::size_t n = comp_.compress(page, std::span(dst, bound_));
    if (n == 0) {
      std::memcpy(dst, page.data(), ps);
      out.size = ps;
    } else {
      out.size = static_cast<std::uint32_t>(n);
      out.flags = codec_flag(opts_.codec);
    }
    out.offset = slot_.used;
    slot_.used += out.size;
  }
  slot_.chunk.pages.push_back(out);
}

struct CompressPipeline::State {
  CompressPipelineOptions opts;
  std::optional<std::uint64_t> chunks; // known count, or chunks come from submit()
  FillFn fill;
  std::vector<std::unique_ptr<PageCompressor>> comps;
  std::vector<ChunkBuilder::Slot> slots;
  std::vector<std::thread> workers;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::uint64_t produced = 0; // chunks submitted (submit mode)
  std::uint64_t next = 0;     // next chunk a worker takes
  std::uint64_t consumed = 0; // chunks the consumer has released
  bool closed = false;
  bool stop = false;
  std::optional<Error> error;

  // Chunks a worker may start: submitted ones, or, with a known count, those whose slot the
  // consumer has freed (a worker may not run more than the ring ahead of the consumer).
  std::uint64_t startable() const {
    if (!chunks) return produced;
    return std::min<std::uint64_t>(*chunks, consumed + slots.size());
  }
  bool no_more_work() const { return chunks ? next >= *chunks : closed && next >= produced; }
  bool all_consumed() const {
    return chunks ? consumed >= *chunks : closed && consumed == produced;
  }
};

CompressPipeline::CompressPipeline(std::unique_ptr<State> state) : s_(std::move(state)) {}

Result<std::unique_ptr<CompressPipeline>>
CompressPipeline::start(const CompressPipelineOptions& opts, std::optional<std::uint64_t> chunks,
                        FillFn fill) {
  auto s = std::make_unique<State>();
  s->opts = opts;
  s->opts.threads = std::max(1u, opts.threads);
  s->chunks = chunks;
  s->fill = std::move(fill);
  for (unsigned i = 0; i < s->opts.threads; ++i) {
    GUESTDUMP_TRY(auto c, PageCompressor::create(opts.codec, opts.page_size));
    s->comps.push_back(std::move(c));
  }
  s->slots = std::vector<ChunkBuilder::Slot>(4 * s->opts.threads);
  for (auto& slot : s->slots) {
    if (opts.input_bytes != 0) slot.input.reset(new std::byte[opts.input_bytes]);
    slot.chunk.pages.reserve(opts.max_chunk_pages);
  }
  std::unique_ptr<CompressPipeline> p(new CompressPipeline(std::move(s)));
  p->s_->workers.reserve(p->s_->opts.threads);
  for (unsigned i = 0; i < p->s_->opts.threads; ++i) {
    p->s_->workers.emplace_back([raw = p.get(), i] { raw->work(i); });
  }
  return p;
}

CompressPipeline::~CompressPipeline() {
  {
    std::lock_guard lock(s_->mu);
    s_->stop = true;
    if (!s_->error) s_->error = make_error(ErrorCode::kCancelled, "compression stopped");
  }
  s_->cv.notify_all();
  for (auto& t : s_->workers) t.join();
}

void CompressPipeline::work(unsigned worker) {
  State& s = *s_;
  while (true) {
    ChunkBuilder::Slot* slot;
    {
      std::unique_lock lock(s.mu);
      s.cv.wait(lock,
                [&] { return s.stop || s.error || s.next < s.startable() || s.no_more_work(); });
      if (s.stop || s.error || s.next >= s.startable()) return;
      const std::uint64_t c = s.next++;
      slot = &s.slots[c % s.slots.size()];
      slot->chunk.index = c;
    }
    slot->chunk.pages.clear();
    slot->error.reset();
    slot->used = 0;
    ChunkBuilder builder(*slot, *s.comps[worker], s.opts);
    auto r = s.fill(worker, builder);
    if (!r) slot->error = std::move(r).error();
    slot->chunk.data = {slot->buf.data(), slot->used};
    {
      std::lock_guard lock(s.mu);
      slot->done = true;
    }
    s.cv.notify_all();
  }
}

Result<void>
CompressPipeline::submit(std::uint64_t tag, std::size_t bytes,
                         const std::function<Result<void>(std::span<std::byte>)>& read) {
  State& s = *s_;
  ChunkBuilder::Slot* slot;
  {
    std::unique_lock lock(s.mu);
    s.cv.wait(lock, [&] { return s.error || s.produced < s.consumed + s.slots.size(); });
    if (s.error) return *s.error;
    slot = &s.slots[s.produced % s.slots.size()];
  }
  auto r = read(std::span(slot->input.get(), bytes));
  if (!r) {
    fail(std::move(r).error());
    return status();
  }
  {
    std::lock_guard lock(s.mu);
    slot->chunk.tag = tag;
    slot->input_used = bytes;
    ++s.produced;
  }
  s.cv.notify_all();
  return {};
}

void CompressPipeline::close() {
  {
    std::lock_guard lock(s_->mu);
    s_->closed = true;
  }
  s_->cv.notify_all();
}

Result<const CompressedChunk*> CompressPipeline::next() {
  State& s = *s_;
  ChunkBuilder::Slot& slot = s.slots[s.consumed % s.slots.size()];
  {
    std::unique_lock lock(s.mu);
    s.cv.wait(lock, [&] {
      return s.error || (slot.done && slot.chunk.index == s.consumed) || s.all_consumed();
    });
    if (s.error) return *s.error;
    if (!slot.done) return static_cast<const CompressedChunk*>(nullptr);
  }
  if (slot.error) {
    Error e = std::move(*slot.error);
    return e;
  }
  return &slot.chunk;
}

void CompressPipeline::release() {
  State& s = *s_;
  {
    std::lock_guard lock(s.mu);
    s.slots[s.consumed % s.slots.size()].done = false;
    ++s.consumed;
  }
  s.cv.notify_all();
}

void CompressPipeline::fail(Error e) {
  {
    std::lock_guard lock(s_->mu);
    if (!s_->error) s_->error = std::move(e);
  }
  s_->cv.notify_all();
}

Result<void> CompressPipeline::status() const {
  std::lock_guard lock(s_->mu);
  if (s_->error) return *s_->error;
  return {};
}

} // namespace guestdump::formats::detail
