#include "guestdump/kernel/kernel_log.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <optional>

#include "guestdump/common/checked.h"
#include "guestdump/kernel/kernel_memory.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

Error bad(std::string msg) {
  return make_error(ErrorCode::kBadData, std::move(msg));
}

// Little-endian loads from a buffer; nullopt when [off, off + n) is not inside it.
template <typename T> std::optional<T> load(std::span<const std::byte> buf, std::uint64_t off) {
  return BoundedBytes(buf).load<T>(off);
}

template <typename T>
Result<T> load_field(std::span<const std::byte> buf, std::uint64_t off, std::string_view what) {
  auto v = load<T>(buf, off);
  if (!v) {
    return bad(std::string(what) + ": offset " + std::to_string(off) + " is outside the " +
               std::to_string(buf.size()) + "-byte structure");
  }
  return *v;
}

// Reads [va, va + size) in 1 MiB steps, growing the buffer only as guest memory is actually
// read: a ring larger than the memory that holds it fails at the memory's end instead of
// allocating what it claims first.
Result<std::vector<std::byte>> read_block(const KernelReadFn& read, std::uint64_t va,
                                          std::uint64_t size, std::string_view what) {
  constexpr std::uint64_t kStep = 1 << 20;
  std::vector<std::byte> buf;
  for (std::uint64_t done = 0; done < size;) {
    const std::uint64_t n = std::min(kStep, size - done);
    buf.resize(static_cast<std::size_t>(done + n));
    if (auto r = read(va + done, std::span(buf).subspan(static_cast<std::size_t>(done))); !r) {
      return std::move(r).error().context("read " + std::string(what) + " at " + hex(va));
    }
    done += n;
  }
  return buf;
}

template <typename T>
Result<T> read_value(const KernelReadFn& read, std::uint64_t va, std::string_view what) {
  T v{};
  if (auto r = read(va, std::as_writable_bytes(std::span(&v, 1))); !r) {
    return std::move(r).error().context("read " + std::string(what) + " at " + hex(va));
  }
  return v;
}

// VMCOREINFO lookups that must succeed.
// Sizes and offsets are bounded by kMaxStructSize here, so sums of a few of them cannot wrap;
// each field is then checked against its own structure with fits().
struct Keys {
  const VmcoreInfo& vi;
  std::string missing;
  std::vector<std::string> rejected;

  std::uint64_t offset(std::string_view member) {
    if (!vi.offset(member)) note("OFFSET(" + std::string(member) + ")");
    return vi.offset_in(member, 0, kMaxStructSize, "the largest kernel structure", rejected)
        .value_or(0);
  }
  std::uint64_t size(std::string_view type) {
    if (!vi.size(type)) note("SIZE(" + std::string(type) + ")");
    return vi.size_in(type, 1, kMaxStructSize, rejected).value_or(0);
  }
  std::uint64_t symbol(std::string_view name) {
    auto v = vi.symbol(name);
    if (!v) note("SYMBOL(" + std::string(name) + ")");
    return v.value_or(0);
  }
  void note(const std::string& key) {
    if (!missing.empty()) missing += ", ";
    missing += key;
  }
  Result<void> check(std::string_view layout) const {
    if (!rejected.empty()) {
      std::string all;
      for (const auto& r : rejected) all += (all.empty() ? "" : "; ") + r;
      return bad("VMCOREINFO for the " + std::string(layout) + " is unusable: " + all);
    }
    if (missing.empty()) return {};
    return make_error(ErrorCode::kNotFound,
                      "VMCOREINFO lacks " + missing + " needed for the " + std::string(layout));
  }
};

// One record as makedumpfile's dump_record()/dump_log_entry() prints it: "[%5llu.%06lu] ",
// then the text with every newline followed by an indent as wide as that prefix, printable
// ASCII and whitespace as they are, and every other byte as "\x%02x" of the (signed) char --
// bytes >= 0x80 therefore print as "\xffffffNN", exactly like makedumpfile on x86_64.
void append_escaped(std::string& out, std::byte b) {
  auto c = static_cast<unsigned char>(b);
  // makedumpfile prints isprint() and isspace() bytes raw; we escape \v, \f and \r too (a
  // guest's \r would overwrite the line on an operator's terminal). Newlines are
  // append_record's business.
  if ((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n') {
    out.push_back(static_cast<char>(c));
  } else {
    char esc[16];
    int e = std::snprintf(esc, sizeof esc, "\\x%02x",
                          static_cast<unsigned>(static_cast<int>(static_cast<signed char>(c))));
    out.append(esc, static_cast<std::size_t>(e));
  }
}

void append_record(std::string& out, std::uint64_t ts_nsec, std::span<const std::byte> text) {
  char prefix[64];
  int n = std::snprintf(prefix, sizeof prefix, "[%5llu.%06llu] ",
                        static_cast<unsigned long long>(ts_nsec / 1000000000ULL),
                        static_cast<unsigned long long>(ts_nsec % 1000000000ULL / 1000ULL));
  const std::size_t indent = n > 0 ? static_cast<std::size_t>(n) : 0;
  out.append(prefix, indent);
  for (std::byte b : text) {
    if (b == std::byte{'\n'}) {
      out.push_back('\n');
      out.append(indent, ' ');
    } else {
      append_escaped(out, b);
    }
  }
  out.push_back('\n');
}

// The formatted log under KernelLogLimits. Records are appended as they are printed; beyond
// either cap the oldest go (the newest, with the panic, matter most). The text held stays under
// about twice the byte cap.
class CappedLog {
public:
  explicit CappedLog(const KernelLogLimits& limits) : limits_(limits) {}

  void add(std::uint64_t ts_nsec, std::span<const std::byte> text,
           std::optional<std::uint64_t> seq = std::nullopt) {
    starts_.push_back(erased_ + text_.size());
    seqs_.push_back(seq);
    append_record(text_, ts_nsec, text);
    while (!starts_.empty() &&
           (starts_.size() > limits_.max_records ||
            erased_ + text_.size() - starts_.front() > limits_.max_output_bytes)) {
      starts_.pop_front();
      seqs_.pop_front();
      ++dropped_;
    }
    const std::uint64_t keep_from = starts_.empty() ? erased_ + text_.size() : starts_.front();
    const std::uint64_t waste = keep_from - erased_;
    if (waste >= 4096 && waste > text_.size() / 2) {
      text_.erase(0, static_cast<std::size_t>(waste));
      erased_ = keep_from;
    }
  }

  void finish(KernelLog& log) {
    const std::uint64_t keep_from = starts_.empty() ? erased_ + text_.size() : starts_.front();
    log.text = text_.substr(static_cast<std::size_t>(keep_from - erased_));
    log.records = starts_.size();
    // Sequence numbers only when every kept record has one.
    if (!seqs_.empty() && std::all_of(seqs_.begin(), seqs_.end(), [](auto& q) { return q; })) {
      log.record_refs.reserve(seqs_.size());
      for (std::size_t i = 0; i < seqs_.size(); ++i) {
        log.record_refs.push_back({*seqs_[i], static_cast<std::size_t>(starts_[i] - keep_from)});
      }
    }
    if (dropped_ != 0) {
      log.warnings.push_back("kernel log: the oldest " + std::to_string(dropped_) +
                             " records were dropped (the output is capped at " +
                             std::to_string(limits_.max_output_bytes) + " bytes and " +
                             std::to_string(limits_.max_records) + " records)");
    }
  }

private:
  KernelLogLimits limits_;
  std::string text_;
  std::uint64_t erased_ = 0;         // bytes removed from the front of text_ so far
  std::deque<std::uint64_t> starts_; // where each kept record starts, counting erased_ bytes
  std::deque<std::optional<std::uint64_t>> seqs_; // each kept record's sequence number
  std::uint64_t dropped_ = 0;
};

// ---- Lockless ring buffer (Linux >= 5.10) ----------------------------------------------------

constexpr int kDescFlagsShift = 62;
constexpr std::uint64_t kDescIdMask = ~(std::uint64_t{3} << kDescFlagsShift);
constexpr std::uint64_t kDescCommitted = 1;
constexpr std::uint64_t kDescFinalized = 2;
constexpr std::uint64_t kMaxStructSize = 4096;

Result<KernelLog> extract_prb(const VmcoreInfo& vi, const KernelReadFn& read,
                              const KernelLogLimits& limits) {
  Keys k{vi, {}, {}};
  const std::uint64_t prb_sym = k.symbol("prb");
  const std::uint64_t rb_size = k.size("printk_ringbuffer");
  const std::uint64_t off_desc_ring = k.offset("printk_ringbuffer.desc_ring");
  const std::uint64_t off_text_ring = k.offset("printk_ringbuffer.text_data_ring");
  const std::uint64_t off_count_bits = k.offset("prb_desc_ring.count_bits");
  const std::uint64_t off_descs = k.offset("prb_desc_ring.descs");
  const std::uint64_t off_infos = k.offset("prb_desc_ring.infos");
  const std::uint64_t off_head_id = k.offset("prb_desc_ring.head_id");
  const std::uint64_t off_tail_id = k.offset("prb_desc_ring.tail_id");
  const std::uint64_t desc_size = k.size("prb_desc");
  const std::uint64_t off_state_var = k.offset("prb_desc.state_var");
  const std::uint64_t off_text_blk = k.offset("prb_desc.text_blk_lpos");
  const std::uint64_t off_begin = k.offset("prb_data_blk_lpos.begin");
  const std::uint64_t off_next = k.offset("prb_data_blk_lpos.next");
  const std::uint64_t info_size = k.size("printk_info");
  const std::uint64_t off_ts = k.offset("printk_info.ts_nsec");
  const std::uint64_t off_text_len = k.offset("printk_info.text_len");
  const std::uint64_t off_size_bits = k.offset("prb_data_ring.size_bits");
  const std::uint64_t off_data = k.offset("prb_data_ring.data");
  // atomic_long_t is a bare counter on every architecture; older kernels do not export it.
  const std::uint64_t off_counter = vi.offset_in("atomic_long_t.counter", 8, kMaxStructSize,
                                                 "the largest kernel structure", k.rejected)
                                        .value_or(0);
  // Optional: without it the records carry no sequence numbers (and only the text blocks' ids
  // are checked).
  const std::optional<std::uint64_t> off_seq = vi.offset_in(
      "printk_info.seq", 0, kMaxStructSize, "the largest kernel structure", k.rejected);
  GUESTDUMP_CHECK(k.check("printk ringbuffer"));

  if (rb_size == 0 || rb_size > kMaxStructSize || desc_size == 0 || desc_size > kMaxStructSize ||
      info_size == 0 || info_size > kMaxStructSize) {
    return bad("printk ringbuffer: implausible structure sizes (printk_ringbuffer " +
               std::to_string(rb_size) + ", prb_desc " + std::to_string(desc_size) +
               ", printk_info " + std::to_string(info_size) + ")");
  }

  GUESTDUMP_TRY(auto prb_va, read_value<std::uint64_t>(read, prb_sym, "prb"));
  GUESTDUMP_TRY(auto rb, read_block(read, prb_va, rb_size, "printk_ringbuffer"));
  std::span<const std::byte> rbs(rb);

  GUESTDUMP_TRY(auto count_bits,
                load_field<std::uint32_t>(rbs, off_desc_ring + off_count_bits, "count_bits"));
  GUESTDUMP_TRY(auto descs_va, load_field<std::uint64_t>(rbs, off_desc_ring + off_descs, "descs"));
  GUESTDUMP_TRY(auto infos_va, load_field<std::uint64_t>(rbs, off_desc_ring + off_infos, "infos"));
  GUESTDUMP_TRY(auto head_id, load_field<std::uint64_t>(
                                  rbs, off_desc_ring + off_head_id + off_counter, "head_id"));
  GUESTDUMP_TRY(auto tail_id, load_field<std::uint64_t>(
                                  rbs, off_desc_ring + off_tail_id + off_counter, "tail_id"));
  GUESTDUMP_TRY(auto size_bits,
                load_field<std::uint32_t>(rbs, off_text_ring + off_size_bits, "size_bits"));
  GUESTDUMP_TRY(auto data_va, load_field<std::uint64_t>(rbs, off_text_ring + off_data, "data"));

  if (count_bits >= 63 || (std::uint64_t{1} << count_bits) > kMaxLogDescriptors) {
    return bad("printk ringbuffer: descriptor ring of 2^" + std::to_string(count_bits) +
               " entries exceeds the limit of " + std::to_string(kMaxLogDescriptors));
  }
  if (size_bits >= 63 || (std::uint64_t{1} << size_bits) > kMaxLogDataBytes) {
    return bad("printk ringbuffer: text ring of 2^" + std::to_string(size_bits) +
               " bytes exceeds the limit of " + std::to_string(kMaxLogDataBytes));
  }
  const std::uint64_t count = std::uint64_t{1} << count_bits;
  const std::uint64_t data_size = std::uint64_t{1} << size_bits;
  if (count * desc_size > kMaxLogDataBytes || count * info_size > kMaxLogDataBytes) {
    return bad("printk ringbuffer: descriptor arrays are too large");
  }
  // Every field a record uses must lie inside its array element.
  // (Keys bounded every offset by kMaxStructSize: these sums cannot wrap.)
  if (!fits(off_state_var + off_counter, 8, desc_size) ||
      !fits(off_text_blk + off_begin, 8, desc_size) ||
      !fits(off_text_blk + off_next, 8, desc_size) || !fits(off_ts, 8, info_size) ||
      !fits(off_text_len, 2, info_size) || (off_seq && !fits(*off_seq, 8, info_size))) {
    return bad("printk ringbuffer: field offsets lie outside prb_desc/printk_info");
  }

  GUESTDUMP_TRY(auto descs, read_block(read, descs_va, count * desc_size, "printk descriptors"));
  GUESTDUMP_TRY(auto infos, read_block(read, infos_va, count * info_size, "printk_info array"));
  GUESTDUMP_TRY(auto data, read_block(read, data_va, data_size, "printk text ring"));
  std::vector<std::byte> descs_again;
  if (limits.recheck_descriptors) {
    GUESTDUMP_TRY(descs_again,
                  read_block(read, descs_va, count * desc_size, "printk descriptors (again)"));
  }

  KernelLog log;
  log.kind = KernelLogKind::kPrintkRingbuffer;
  CappedLog out(limits);
  head_id &= kDescIdMask;
  tail_id &= kDescIdMask;
  // A consistent ring never spans more ids than it has descriptors; walk at most that many.
  if (((head_id - tail_id) & kDescIdMask) >= count) {
    log.warnings.push_back("printk ringbuffer: tail id " + hex(tail_id) + " is more than " +
                           std::to_string(count) + " descriptors behind head id " + hex(head_id) +
                           "; reading only the newest " + std::to_string(count));
    tail_id = (head_id - (count - 1)) & kDescIdMask;
  }

  auto u64_at = [](const std::vector<std::byte>& v, std::uint64_t off) {
    return load<std::uint64_t>(v, off).value_or(0);
  };
  std::uint64_t truncated = 0;
  // Every record is reserved with the next id and the next sequence number, so along a
  // consistent ring seq - id is the same for every record (modulo the id's 62 bits).
  std::optional<std::uint64_t> seq_minus_id;
  for (std::uint64_t id = tail_id;; id = (id + 1) & kDescIdMask) {
    const std::uint64_t slot = id % count;
    const std::uint64_t d = slot * desc_size;
    const std::uint64_t state_var = u64_at(descs, d + off_state_var + off_counter);
    const std::uint64_t state = state_var >> kDescFlagsShift;
    if ((state_var & kDescIdMask) == id && (state == kDescCommitted || state == kDescFinalized)) {
      std::uint64_t begin = u64_at(descs, d + off_text_blk + off_begin) % data_size;
      const std::uint64_t next = u64_at(descs, d + off_text_blk + off_next) % data_size;
      const std::uint64_t in = slot * info_size;
      std::optional<std::uint64_t> seq;
      bool torn = false;
      if (!descs_again.empty()) {
        // Still this record, committed or finalized: nothing of it was reused meanwhile.
        const std::uint64_t again = u64_at(descs_again, d + off_state_var + off_counter);
        const std::uint64_t again_state = again >> kDescFlagsShift;
        torn = (again & kDescIdMask) != id ||
               (again_state != kDescCommitted && again_state != kDescFinalized);
      }
      if (off_seq) {
        seq = u64_at(infos, in + *off_seq);
        const std::uint64_t delta = (*seq - id) & kDescIdMask;
        if (!seq_minus_id) seq_minus_id = delta;
        torn = torn || delta != *seq_minus_id;
      }
      if (begin != next) { // data-less records carry no text
        const std::uint16_t text_len = load<std::uint16_t>(infos, in + off_text_len).value_or(0);
        const std::uint64_t ts = u64_at(infos, in + off_ts);
        if (begin > next) begin = 0; // the block wrapped: its text starts the ring
        // The block starts with the id of the descriptor that owns it.
        if (begin + sizeof(std::uint64_t) <= data_size &&
            (u64_at(data, begin) & kDescIdMask) != id) {
          torn = true;
        }
        begin += sizeof(std::uint64_t); // skip the block's id
        std::uint64_t len = text_len;
        if (next >= begin && next - begin < len) len = next - begin;
        // Lying lpos values could point the text past the ring; real ones never do.
        const std::uint64_t avail = begin < data_size ? data_size - begin : 0;
        if (len > avail) {
          len = avail;
          ++truncated;
        }
        out.add(ts, std::span(data).subspan(std::min(begin, data_size), len), seq);
      }
      if (torn) ++log.torn_records;
    }
    if (id == head_id) break;
  }
  if (truncated != 0) {
    log.warnings.push_back("printk ringbuffer: " + std::to_string(truncated) +
                           " records pointed past the text ring and were cut short");
  }
  if (log.torn_records != 0) {
    log.warnings.push_back("printk ringbuffer: " + std::to_string(log.torn_records) +
                           " records' text block or printk_info belongs to another record "
                           "(the ring was being written when it was read)");
  }
  out.finish(log);
  return log;
}

// ---- Variable-length record buffer (Linux 3.5 - 5.9) -----------------------------------------

Result<KernelLog> extract_records(const VmcoreInfo& vi, const KernelReadFn& read,
                                  const KernelLogLimits& limits) {
  // The record struct was "struct log" until 3.11 renamed it "struct printk_log".
  const std::string_view type = vi.size("printk_log") ? "printk_log" : "log";
  const std::string t(type);
  Keys k{vi, {}, {}};
  const std::uint64_t sym_buf = k.symbol("log_buf");
  const std::uint64_t sym_len = k.symbol("log_buf_len");
  const std::uint64_t sym_first = k.symbol("log_first_idx");
  const std::uint64_t sym_next = k.symbol("log_next_idx");
  const std::uint64_t rec_size = k.size(t);
  const std::uint64_t off_ts = k.offset(t + ".ts_nsec");
  const std::uint64_t off_len = k.offset(t + ".len");
  const std::uint64_t off_text_len = k.offset(t + ".text_len");
  GUESTDUMP_CHECK(k.check("kernel log record buffer"));
  if (rec_size == 0 || !fits(off_ts, 8, rec_size) || !fits(off_len, 2, rec_size) ||
      !fits(off_text_len, 2, rec_size)) {
    return bad("kernel log: implausible " + t + " layout (size " + std::to_string(rec_size) + ")");
  }
  GUESTDUMP_TRY(auto buf_va, read_value<std::uint64_t>(read, sym_buf, "log_buf"));
  GUESTDUMP_TRY(auto buf_len, read_value<std::uint32_t>(read, sym_len, "log_buf_len"));
  GUESTDUMP_TRY(auto first, read_value<std::uint32_t>(read, sym_first, "log_first_idx"));
  GUESTDUMP_TRY(auto next, read_value<std::uint32_t>(read, sym_next, "log_next_idx"));
  if (buf_len > kMaxLogDataBytes) {
    return bad("kernel log: log_buf_len " + std::to_string(buf_len) + " exceeds the limit of " +
               std::to_string(kMaxLogDataBytes));
  }
  GUESTDUMP_TRY(auto buf, read_block(read, buf_va, buf_len, "log_buf"));
  std::span<const std::byte> b(buf);

  KernelLog log;
  log.kind = KernelLogKind::kRecordBuffer;
  CappedLog out(limits);
  auto u16_at = [&](std::uint64_t off) { return load<std::uint16_t>(b, off); };
  // Every record is at least rec_size bytes, so a consistent walk ends within this many steps.
  const std::uint64_t max_steps = buf_len / rec_size + 2;
  std::uint64_t idx = first;
  std::uint64_t steps = 0;
  while (idx != next) {
    if (++steps > max_steps) {
      log.warnings.push_back("kernel log: record chain does not reach log_next_idx " +
                             std::to_string(next) + "; stopped after " + std::to_string(max_steps) +
                             " records");
      break;
    }
    auto len = u16_at(idx + off_len);
    if (!len || (*len != 0 && idx + rec_size > buf_len)) {
      log.warnings.push_back("kernel log: record index " + std::to_string(idx) +
                             " lies outside the " + std::to_string(buf_len) + "-byte log_buf");
      break;
    }
    // A zero-length record marks the end of the buffer: the record is the one at index 0.
    const std::uint64_t rec = *len == 0 ? 0 : idx;
    const std::uint16_t text_len = u16_at(rec + off_text_len).value_or(0);
    const auto ts = load<std::uint64_t>(b, rec + off_ts).value_or(0);
    const std::uint64_t text_off = std::min<std::uint64_t>(rec + rec_size, buf_len);
    const std::uint64_t n = std::min<std::uint64_t>(text_len, buf_len - text_off);
    out.add(ts, b.subspan(text_off, n));
    if (*len == 0) {
      idx = u16_at(off_len).value_or(0);
    } else {
      idx += *len;
    }
  }
  out.finish(log);
  return log;
}

// ---- Plain character buffer (Linux < 3.5) -------------------------------------------------------

Result<KernelLog> extract_text(const VmcoreInfo& vi, const KernelReadFn& read,
                               const KernelLogLimits& limits) {
  Keys k{vi, {}, {}};
  const std::uint64_t sym_buf = k.symbol("log_buf");
  const std::uint64_t sym_len = k.symbol("log_buf_len");
  const std::uint64_t sym_end = k.symbol("log_end");
  GUESTDUMP_CHECK(k.check("kernel log character buffer"));
  GUESTDUMP_TRY(auto buf_va, read_value<std::uint64_t>(read, sym_buf, "log_buf"));
  GUESTDUMP_TRY(auto buf_len, read_value<std::uint32_t>(read, sym_len, "log_buf_len"));
  GUESTDUMP_TRY(auto end, read_value<std::uint32_t>(read, sym_end, "log_end"));
  if (buf_len == 0 || buf_len > kMaxLogDataBytes) {
    return bad("kernel log: log_buf_len " + std::to_string(buf_len) + " is not usable");
  }
  GUESTDUMP_TRY(auto buf, read_block(read, buf_va, buf_len, "log_buf"));
  KernelLog log;
  log.kind = KernelLogKind::kTextBuffer;
  // makedumpfile copies this buffer as it is; we escape what is neither printable nor
  // whitespace, as for records, so guest bytes never reach a terminal raw.
  std::span<const std::byte> all(buf);
  auto escape = [&](std::span<const std::byte> part) {
    for (std::byte c : part) append_escaped(log.text, c);
  };
  if (end < buf_len) {
    escape(all.first(end));
  } else {
    // The buffer has wrapped: the oldest byte is the one log_end will overwrite next.
    const std::uint32_t start = end % buf_len;
    escape(all.subspan(start));
    escape(all.first(start));
  }
  if (log.text.size() > limits.max_output_bytes) {
    // Keep the newest bytes, from a line start.
    std::size_t cut = log.text.size() - static_cast<std::size_t>(limits.max_output_bytes);
    const std::size_t nl = log.text.find('\n', cut == 0 ? 0 : cut - 1);
    cut = nl == std::string::npos ? log.text.size() : nl + 1;
    log.warnings.push_back("kernel log: the oldest " + std::to_string(cut) +
                           " bytes were dropped (the output is capped at " +
                           std::to_string(limits.max_output_bytes) + " bytes)");
    log.text.erase(0, cut);
  }
  return log;
}

} // namespace

std::string_view kernel_log_kind_name(KernelLogKind kind) {
  switch (kind) {
  case KernelLogKind::kPrintkRingbuffer:
    return "printk ringbuffer";
  case KernelLogKind::kRecordBuffer:
    return "log_buf records";
  case KernelLogKind::kTextBuffer:
    return "log_buf text";
  }
  return "unknown";
}

Result<KernelLog> extract_kernel_log(const VmcoreInfo& vi, const KernelReadFn& read,
                                     const KernelLogLimits& limits) {
  // The same order of preference as makedumpfile: the lockless ring buffer when the kernel
  // exports it, then the record buffer, then the plain buffer of old kernels.
  if (vi.symbol("prb")) return extract_prb(vi, read, limits);
  if (vi.symbol("log_buf")) {
    if (vi.symbol("log_first_idx")) return extract_records(vi, read, limits);
    if (vi.symbol("log_end")) return extract_text(vi, read, limits);
  }
  return make_error(
      ErrorCode::kNotFound,
      "VMCOREINFO describes no kernel log buffer (no SYMBOL(prb) or SYMBOL(log_buf))");
}

Result<KernelLog> read_kernel_log(const DumpSource& src, const KernelLogLimits& limits) {
  const DumpMetadata& meta = src.metadata();
  if (!meta.vmcoreinfo) {
    return make_error(ErrorCode::kNotFound, "no VMCOREINFO in the dump");
  }
  if (meta.arch != KdumpArch::kX86_64) {
    return make_error(ErrorCode::kUnsupported, "kernel log extraction is implemented for x86_64");
  }
  GUESTDUMP_TRY(auto xlat, X86_64Translator::from_vmcoreinfo(*meta.vmcoreinfo));
  PhysicalMemory mem(src);
  KernelReadFn read = [&](std::uint64_t va, std::span<std::byte> out) {
    return xlat.read(mem, va, out);
  };
  return extract_kernel_log(*meta.vmcoreinfo, read, limits);
}

} // namespace guestdump::kernel
