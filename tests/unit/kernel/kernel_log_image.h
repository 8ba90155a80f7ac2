#pragma once
// Synthetic guest kernel logs for the kernel-log unit tests and the fuzz seed corpus: a physical
// RAM image in which the three printk buffer layouts are laid out the way the kernel lays them
// out (field offsets of Linux 6.1 and 5.x on x86_64), plus the matching VMCOREINFO text.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "guestdump/common/result.h"

namespace guestdump::kernel::testlog {

/// Guest virtual address of physical address 0 (the x86_64 direct map without KASLR).
inline constexpr std::uint64_t kDirectMap = 0xffff888000000000ULL;

inline std::string hexs(std::uint64_t v) {
  static const char* d = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), d[v & 15]);
    v >>= 4;
  } while (v != 0);
  return s;
}

/// Physical memory, indexed by physical address.
class GuestRam {
public:
  explicit GuestRam(std::size_t bytes) : bytes_(bytes, std::byte{0}) {}
  void put(std::uint64_t pa, const void* p, std::size_t n) {
    if (n == 0) return;
    if (pa + n > bytes_.size()) bytes_.resize(pa + n);
    std::memcpy(bytes_.data() + pa, p, n);
  }
  template <typename T> void put_val(std::uint64_t pa, T v) { put(pa, &v, sizeof v); }
  void put_str(std::uint64_t pa, std::string_view s) { put(pa, s.data(), s.size()); }
  std::vector<std::byte>& bytes() { return bytes_; }
  const std::vector<std::byte>& bytes() const { return bytes_; }

private:
  std::vector<std::byte> bytes_;
};

inline constexpr std::uint64_t kReserved = 0, kCommitted = 1, kFinalized = 2, kReusable = 3;

/// The lockless ring buffer of Linux >= 5.10 at `base_pa`: the `prb` pointer variable, then
/// struct printk_ringbuffer (88 bytes), the descriptor array (24 bytes each), the printk_info
/// array (88 bytes each) and the text ring.
class PrbBuilder {
public:
  PrbBuilder(GuestRam& ram, std::uint64_t base_pa, unsigned count_bits, unsigned size_bits,
             std::uint64_t first_id = 0, std::uint64_t first_lpos = 0)
      : ram_(ram), base_(base_pa), count_(std::uint64_t{1} << count_bits),
        size_(std::uint64_t{1} << size_bits), count_bits_(count_bits), size_bits_(size_bits),
        next_id_(first_id), tail_id_(first_id), lpos_(first_lpos) {}

  std::uint64_t prb_var_pa() const { return base_; }
  std::uint64_t rb_pa() const { return base_ + 64; }
  std::uint64_t descs_pa() const { return base_ + 256; }
  std::uint64_t infos_pa() const { return descs_pa() + count_ * 24; }
  std::uint64_t data_pa() const { return infos_pa() + count_ * 88; }
  std::uint64_t end_pa() const { return data_pa() + size_; }

  /// Appends a record with the next id; its text goes into the ring (wrapping like the kernel
  /// when it does not fit before the ring's end). Returns the id.
  std::uint64_t add(std::string_view text, std::uint64_t ts_nsec,
                    std::uint64_t state = kFinalized) {
    const std::uint64_t id = next_id_++;
    const std::uint64_t need = (8 + text.size() + 7) / 8 * 8;
    std::uint64_t begin = lpos_;
    std::uint64_t next = 0;
    std::uint64_t at = 0;
    if (begin % size_ + need > size_) {
      next = begin - begin % size_ + size_ + need; // the data lives at the next lap's start
      ram_.put_val<std::uint64_t>(data_pa() + begin % size_, id);
    } else {
      next = begin + need;
      at = begin % size_;
    }
    ram_.put_val<std::uint64_t>(data_pa() + at, id);
    ram_.put_str(data_pa() + at + 8, text);
    lpos_ = next;
    write_desc(id, state, begin, next);
    const std::uint64_t info = infos_pa() + (id % count_) * 88;
    ram_.put_val<std::uint64_t>(info + 0, id); // seq
    ram_.put_val<std::uint64_t>(info + 8, ts_nsec);
    ram_.put_val<std::uint16_t>(info + 16, static_cast<std::uint16_t>(text.size()));
    ram_.put_val<std::uint32_t>(info + 20, 1); // caller_id T1 (makedumpfile 1.7.2 ignores it)
    if (next_id_ - tail_id_ > count_) tail_id_ = next_id_ - count_;
    return id;
  }
  /// A record without text (begin == next), as the kernel leaves for empty messages.
  std::uint64_t add_dataless(std::uint64_t ts_nsec) {
    const std::uint64_t id = next_id_++;
    write_desc(id, kFinalized, lpos_, lpos_);
    ram_.put_val<std::uint64_t>(infos_pa() + (id % count_) * 88 + 0, id); // seq
    ram_.put_val<std::uint64_t>(infos_pa() + (id % count_) * 88 + 8, ts_nsec);
    if (next_id_ - tail_id_ > count_) tail_id_ = next_id_ - count_;
    return id;
  }
  void write_desc(std::uint64_t id, std::uint64_t state, std::uint64_t begin, std::uint64_t next) {
    const std::uint64_t d = descs_pa() + (id % count_) * 24;
    ram_.put_val<std::uint64_t>(d + 0, (state << 62) | id);
    ram_.put_val<std::uint64_t>(d + 8, begin);
    ram_.put_val<std::uint64_t>(d + 16, next);
  }
  /// Where record `id`'s text block starts in the text ring (its 8-byte owner id first).
  std::uint64_t block_pa(std::uint64_t id) const {
    const std::uint64_t d = descs_pa() + (id % count_) * 24;
    std::uint64_t begin = 0;
    std::uint64_t next = 0;
    std::memcpy(&begin, ram_.bytes().data() + d + 8, 8);
    std::memcpy(&next, ram_.bytes().data() + d + 16, 8);
    return data_pa() + (begin % size_ > next % size_ ? 0 : begin % size_);
  }
  std::uint64_t info_pa(std::uint64_t id) const { return infos_pa() + (id % count_) * 88; }
  void set_tail(std::uint64_t id) { tail_id_ = id; }
  std::uint64_t head_id() const { return next_id_ == tail_id_ ? tail_id_ : next_id_ - 1; }

  /// Writes struct printk_ringbuffer and the prb pointer (direct-map addresses).
  void finish() { finish_with(head_id(), tail_id_); }
  void finish_with(std::uint64_t head, std::uint64_t tail) {
    ram_.put_val<std::uint64_t>(prb_var_pa(), kDirectMap + rb_pa());
    const std::uint64_t rb = rb_pa();
    ram_.put_val<std::uint32_t>(rb + 0, count_bits_);
    ram_.put_val<std::uint64_t>(rb + 8, kDirectMap + descs_pa());
    ram_.put_val<std::uint64_t>(rb + 16, kDirectMap + infos_pa());
    ram_.put_val<std::uint64_t>(rb + 24, head);
    ram_.put_val<std::uint64_t>(rb + 32, tail);
    ram_.put_val<std::uint32_t>(rb + 48, size_bits_);
    ram_.put_val<std::uint64_t>(rb + 56, kDirectMap + data_pa());
    ram_.put_val<std::uint64_t>(rb + 64, lpos_);
  }

  /// The printk VMCOREINFO lines of Linux 6.1 (x86_64).
  std::string vmcoreinfo() const {
    return "SYMBOL(prb)=" + hexs(kDirectMap + prb_var_pa()) + "\n" +
           "SYMBOL(printk_rb_static)=" + hexs(kDirectMap + rb_pa()) + "\n" +
           "SIZE(printk_ringbuffer)=88\n"
           "OFFSET(printk_ringbuffer.desc_ring)=0\n"
           "OFFSET(printk_ringbuffer.text_data_ring)=48\n"
           "OFFSET(printk_ringbuffer.fail)=80\n"
           "SIZE(prb_desc_ring)=48\n"
           "OFFSET(prb_desc_ring.count_bits)=0\n"
           "OFFSET(prb_desc_ring.descs)=8\n"
           "OFFSET(prb_desc_ring.infos)=16\n"
           "OFFSET(prb_desc_ring.head_id)=24\n"
           "OFFSET(prb_desc_ring.tail_id)=32\n"
           "SIZE(prb_desc)=24\n"
           "OFFSET(prb_desc.state_var)=0\n"
           "OFFSET(prb_desc.text_blk_lpos)=8\n"
           "SIZE(prb_data_blk_lpos)=16\n"
           "OFFSET(prb_data_blk_lpos.begin)=0\n"
           "OFFSET(prb_data_blk_lpos.next)=8\n"
           "SIZE(printk_info)=88\n"
           "OFFSET(printk_info.seq)=0\n"
           "OFFSET(printk_info.ts_nsec)=8\n"
           "OFFSET(printk_info.text_len)=16\n"
           "OFFSET(printk_info.caller_id)=20\n"
           "OFFSET(printk_info.dev_info)=24\n"
           "SIZE(prb_data_ring)=32\n"
           "OFFSET(prb_data_ring.size_bits)=0\n"
           "OFFSET(prb_data_ring.data)=8\n"
           "OFFSET(prb_data_ring.head_lpos)=16\n"
           "OFFSET(prb_data_ring.tail_lpos)=24\n"
           "SIZE(atomic_long_t)=8\n"
           "OFFSET(atomic_long_t.counter)=0\n";
  }

private:
  GuestRam& ram_;
  std::uint64_t base_, count_, size_;
  unsigned count_bits_, size_bits_;
  std::uint64_t next_id_, tail_id_, lpos_;
};

/// The variable-length record buffer of Linux 3.5 - 5.9 (struct printk_log, 16 bytes, records
/// aligned to 8) at `base_pa`: variables first (log_buf pointer, log_buf_len, log_first_idx,
/// log_next_idx), the buffer at base_pa + 64.
class RecordLogBuilder {
public:
  RecordLogBuilder(GuestRam& ram, std::uint64_t base_pa, std::uint32_t buf_len)
      : ram_(ram), base_(base_pa), len_(buf_len) {}
  std::uint64_t buf_pa() const { return base_ + 64; }

  /// Appends a record at log_next_idx, wrapping (zero-length marker) like log_store(), and
  /// returns its index. The caller chooses log_first_idx (set_first) to say which records are
  /// still valid.
  std::uint32_t add(std::string_view text, std::uint64_t ts_nsec, std::string_view dict = {}) {
    const auto size = static_cast<std::uint32_t>((16 + text.size() + dict.size() + 7) / 8 * 8);
    if (next_ + size + 16 > len_) {
      ram_.put_val<std::uint16_t>(buf_pa() + next_ + 8, 0); // end-of-buffer marker
      next_ = 0;
    }
    const std::uint64_t r = buf_pa() + next_;
    ram_.put_val<std::uint64_t>(r + 0, ts_nsec);
    ram_.put_val<std::uint16_t>(r + 8, static_cast<std::uint16_t>(size));
    ram_.put_val<std::uint16_t>(r + 10, static_cast<std::uint16_t>(text.size()));
    ram_.put_val<std::uint16_t>(r + 12, static_cast<std::uint16_t>(dict.size()));
    ram_.put_str(r + 16, text);
    ram_.put_str(r + 16 + text.size(), dict);
    const std::uint32_t at = next_;
    next_ += size;
    return at;
  }
  void set_first(std::uint32_t idx) { first_ = idx; }
  void set_next(std::uint32_t idx) { next_ = idx; }
  void finish() {
    ram_.put_val<std::uint64_t>(base_ + 0, kDirectMap + buf_pa());
    ram_.put_val<std::uint32_t>(base_ + 8, len_);
    ram_.put_val<std::uint32_t>(base_ + 16, first_);
    ram_.put_val<std::uint32_t>(base_ + 24, next_);
    if (ram_.bytes().size() < buf_pa() + len_) ram_.bytes().resize(buf_pa() + len_);
  }
  std::string vmcoreinfo() const {
    return "SYMBOL(log_buf)=" + hexs(kDirectMap + base_) + "\n" +
           "SYMBOL(log_buf_len)=" + hexs(kDirectMap + base_ + 8) + "\n" +
           "SYMBOL(log_first_idx)=" + hexs(kDirectMap + base_ + 16) + "\n" +
           "SYMBOL(clear_idx)=" + hexs(kDirectMap + base_ + 32) + "\n" +
           "SYMBOL(log_next_idx)=" + hexs(kDirectMap + base_ + 24) + "\n" +
           "SIZE(printk_log)=16\n"
           "OFFSET(printk_log.ts_nsec)=0\n"
           "OFFSET(printk_log.len)=8\n"
           "OFFSET(printk_log.text_len)=10\n"
           "OFFSET(printk_log.dict_len)=12\n";
  }

private:
  GuestRam& ram_;
  std::uint64_t base_;
  std::uint32_t len_;
  std::uint32_t first_ = 0, next_ = 0;
};

/// The character buffer of Linux < 3.5 at `base_pa`: log_buf pointer, log_buf_len, log_end,
/// logged_chars, then the buffer at base_pa + 64. `text` is written as the kernel would have
/// after emitting it all (log_end counts every byte ever written).
inline std::string legacy_log(GuestRam& ram, std::uint64_t base_pa, std::uint32_t buf_len,
                              std::string_view text) {
  const std::uint64_t buf = base_pa + 64;
  for (std::size_t i = 0; i < text.size(); ++i) {
    ram.put_val<char>(buf + i % buf_len, text[i]);
  }
  ram.put_val<std::uint64_t>(base_pa + 0, kDirectMap + buf);
  ram.put_val<std::uint32_t>(base_pa + 8, buf_len);
  ram.put_val<std::uint32_t>(base_pa + 16, static_cast<std::uint32_t>(text.size()));
  ram.put_val<std::uint32_t>(
      base_pa + 24, std::min<std::uint32_t>(buf_len, static_cast<std::uint32_t>(text.size())));
  if (ram.bytes().size() < buf + buf_len) ram.bytes().resize(buf + buf_len);
  return "SYMBOL(log_buf)=" + hexs(kDirectMap + base_pa) + "\n" +
         "SYMBOL(log_buf_len)=" + hexs(kDirectMap + base_pa + 8) + "\n" +
         "SYMBOL(log_end)=" + hexs(kDirectMap + base_pa + 16) + "\n" +
         "SYMBOL(logged_chars)=" + hexs(kDirectMap + base_pa + 24) + "\n";
}

/// A flat reader for extract_kernel_log(): direct-map addresses of `ram` only.
inline auto flat_reader(const GuestRam& ram) {
  return [&ram](std::uint64_t va, std::span<std::byte> out) -> Result<void> {
    if (va < kDirectMap || va - kDirectMap > ram.bytes().size() ||
        ram.bytes().size() - (va - kDirectMap) < out.size()) {
      return make_error(ErrorCode::kNotFound, "address " + hexs(va) + " is not mapped");
    }
    std::memcpy(out.data(), ram.bytes().data() + (va - kDirectMap), out.size());
    return {};
  };
}

} // namespace guestdump::kernel::testlog
