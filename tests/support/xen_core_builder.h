#pragma once
// Synthetic Xen xc_core files (the layout `xl dump-core` writes, per
// shared/docs/reference/xen-and-vmcoreinfo.md §1.2) for the reader's unit tests and fuzz seeds.
// Every field a test wants to lie about has an override.
//
// File layout: Ehdr | Shdrs (NULL, .shstrtab, .note.Xen, .xen_prstatus, [.xen_shared_info],
// .xen_pages, index) | notes | contexts | [shared info] | pad to 4 KiB | pages | index | names.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <elf.h>

namespace guestdump::test {

struct XenCoreSpec {
  bool pv = false;                   // .xen_p2m + PV magic, else .xen_pfn + HVM magic
  std::vector<std::uint64_t> pfns;   // index entries in file order; ~0 = unused (zero page)
  std::vector<std::uint64_t> gmfns;  // PV: machine frame per entry (default pfn + 0x40000)
  std::set<std::uint64_t> zero_pfns; // these PFNs get all-zero pages
  std::map<std::uint64_t, std::vector<std::uint8_t>> page_data; // PFN -> its page (overrides)
  int vcpus = 2;                                                // contexts written to .xen_prstatus
  std::set<int> offline_vcpus;                                  // VGCF_online clear
  std::uint64_t extra_pages = 0;         // .xen_pages holds this many pages more than the index
  std::uint64_t missing_pages = 0;       // ... or this many fewer
  std::optional<std::uint64_t> nr_pages; // header note xch_nr_pages (default: index entries)
  std::optional<std::uint64_t> nr_vcpus; // header note xch_nr_vcpus (default: vcpus)
  std::optional<std::uint64_t> magic;    // header note xch_magic
  std::uint64_t page_size = 4096;        // header note xch_page_size
  std::optional<std::uint64_t> format_version = 1; // nullopt: no format version note
  bool shared_info = true;
  bool index_section = true; // false: neither .xen_pfn nor .xen_p2m
  bool both_indexes = false; // also write the other index section (empty)
  std::uint16_t machine = EM_X86_64;
  std::size_t prstatus_pad = 0;             // bytes appended to .xen_prstatus
  std::optional<std::uint64_t> truncate_to; // cut the finished file to this size
};

/// Byte `i` of the page stored for `pfn` (never all zero unless the PFN is in zero_pfns).
inline std::uint8_t xen_page_byte(std::uint64_t pfn, std::size_t i) {
  if (i < 8) return static_cast<std::uint8_t>(pfn >> (8 * i));
  return static_cast<std::uint8_t>((pfn * 131 + i * 7 + 1) & 0xff);
}

/// Register values the builder puts into vCPU `cpu`'s context.
inline std::uint64_t xen_test_gpr(int cpu, int i) {
  return 0x1000 * static_cast<std::uint64_t>(cpu + 1) + static_cast<std::uint64_t>(i);
}
inline std::uint64_t xen_test_rip(int cpu) {
  return 0xffffffff81000000ULL + 0x100 * static_cast<std::uint64_t>(cpu);
}
inline std::uint64_t xen_test_cr3(int cpu) {
  return 0x2000000ULL + 0x1000 * static_cast<std::uint64_t>(cpu);
}

/// Writes `value` as the u64 at `index` (a page-table entry) of PFN `pfn`'s page in
/// `spec.page_data`, creating the page (zeros) when it has none yet.
inline void set_page_u64(XenCoreSpec& spec, std::uint64_t pfn, std::uint64_t index,
                         std::uint64_t value) {
  auto& page = spec.page_data[pfn];
  page.resize(4096);
  std::memcpy(page.data() + index * 8, &value, 8);
}

inline std::vector<std::uint8_t> build_xen_core(const XenCoreSpec& spec) {
  auto put = [](std::vector<std::uint8_t>& b, std::size_t off, auto v) {
    if (b.size() < off + sizeof v) b.resize(off + sizeof v, 0);
    std::memcpy(b.data() + off, &v, sizeof v);
  };
  auto append_note = [&](std::vector<std::uint8_t>& b, std::uint32_t type,
                         const std::vector<std::uint8_t>& desc) {
    std::size_t o = b.size();
    put(b, o, std::uint32_t{4});
    put(b, o + 4, static_cast<std::uint32_t>(desc.size()));
    put(b, o + 8, type);
    b.insert(b.end(), {'X', 'e', 'n', 0});
    b.insert(b.end(), desc.begin(), desc.end());
    b.resize((b.size() + 3) & ~std::size_t{3}, 0);
  };
  const std::uint64_t entries = spec.pfns.size();
  const int nvcpu = spec.vcpus;

  std::vector<std::uint8_t> notes;
  append_note(notes, 0x2000000, {});
  std::vector<std::uint8_t> hdr(32, 0);
  put(hdr, 0, spec.magic.value_or(spec.pv ? 0xF00FEBEDULL : 0xF00FEBEEULL));
  put(hdr, 8, spec.nr_vcpus.value_or(static_cast<std::uint64_t>(nvcpu)));
  put(hdr, 16, spec.nr_pages.value_or(entries));
  put(hdr, 24, spec.page_size);
  append_note(notes, 0x2000001, hdr);
  std::vector<std::uint8_t> ver(1280, 0);
  put(ver, 0, std::uint64_t{4});
  put(ver, 8, std::uint64_t{17});
  put(ver, 1272, std::uint64_t{4096});
  append_note(notes, 0x2000002, ver);
  if (spec.format_version) {
    std::vector<std::uint8_t> fv(8, 0);
    put(fv, 0, *spec.format_version);
    append_note(notes, 0x2000003, fv);
  }

  std::vector<std::uint8_t> ctx(static_cast<std::size_t>(nvcpu) * 5168 + spec.prstatus_pad, 0);
  for (int c = 0; c < nvcpu; ++c) {
    const std::size_t b = static_cast<std::size_t>(c) * 5168;
    put(ctx, b + 512, std::uint64_t{spec.offline_vcpus.count(c) ? 1u : (1u | (1u << 5))});
    for (int i = 0; i < 15; ++i) put(ctx, b + 520 + 8 * i, xen_test_gpr(c, i));
    put(ctx, b + 648, xen_test_rip(c));
    put(ctx, b + 656, std::uint16_t{0x10});
    put(ctx, b + 664, std::uint64_t{0x246});
    put(ctx, b + 672, 0xffffc90000010000ULL + 0x100 * static_cast<std::uint64_t>(c));
    put(ctx, b + 680, std::uint16_t{0x18});
    put(ctx, b + 4984, std::uint64_t{0x80050033}); // CR0: PG, WP, NE, ET, MP, PE
    put(ctx, b + 5000, std::uint64_t{0xdead000});  // CR2
    put(ctx, b + 5008, xen_test_cr3(c));           // CR3
    put(ctx, b + 5016, std::uint64_t{0x3606e0});   // CR4: PAE among others
    put(ctx, b + 5144, 0x7f0000000000ULL + static_cast<std::uint64_t>(c));
    put(ctx, b + 5152, 0xffff888000000000ULL + 0x1000 * static_cast<std::uint64_t>(c));
    put(ctx, b + 5160, 0x7f1000000000ULL);
  }

  std::vector<std::uint8_t> index;
  for (std::uint64_t i = 0; i < entries; ++i) {
    const std::uint64_t pfn = spec.pfns[i];
    if (spec.pv) {
      std::uint64_t gmfn = i < spec.gmfns.size() ? spec.gmfns[i]
                           : pfn == ~0ULL        ? ~0ULL
                                                 : pfn + 0x40000;
      put(index, index.size(), pfn);
      put(index, index.size(), gmfn);
    } else {
      put(index, index.size(), pfn);
    }
  }
  const std::uint64_t npages = entries + spec.extra_pages - spec.missing_pages;

  // Section names.
  const char* idx_name = spec.pv ? ".xen_p2m" : ".xen_pfn";
  const char* other_idx = spec.pv ? ".xen_pfn" : ".xen_p2m";
  std::string shstr(1, '\0');
  auto add_name = [&](const std::string& n) {
    auto o = static_cast<std::uint32_t>(shstr.size());
    shstr += n;
    shstr.push_back('\0');
    return o;
  };
  struct Sec {
    std::uint32_t name, type;
    std::uint64_t offset, size, align, entsize;
  };
  std::vector<Sec> secs;
  secs.push_back({0, SHT_NULL, 0, 0, 0, 0});
  const std::uint32_t n_shstr = add_name(".shstrtab");
  secs.push_back({n_shstr, SHT_STRTAB, 0, 0, 0, 0});
  secs.push_back({add_name(".note.Xen"), SHT_NOTE, 0, notes.size(), 0, 0});
  secs.push_back({add_name(".xen_prstatus"), SHT_PROGBITS, 0, ctx.size(), 8, 5168});
  if (spec.shared_info)
    secs.push_back({add_name(".xen_shared_info"), SHT_PROGBITS, 0, 4096, 8, 4096});
  secs.push_back({add_name(".xen_pages"), SHT_PROGBITS, 0, npages * 4096, 4096, 4096});
  if (spec.index_section) {
    secs.push_back({add_name(idx_name), SHT_PROGBITS, 0, index.size(), 8, spec.pv ? 16u : 8u});
  }
  if (spec.both_indexes) secs.push_back({add_name(other_idx), SHT_PROGBITS, 0, 0, 8, 8});

  std::vector<std::uint8_t> out(64 + secs.size() * 64, 0);
  auto place = [&](Sec& s, const std::vector<std::uint8_t>& data, std::uint64_t align) {
    if (align > 1) out.resize((out.size() + align - 1) / align * align, 0);
    s.offset = out.size();
    out.insert(out.end(), data.begin(), data.end());
  };
  std::size_t si = 2;
  place(secs[si++], notes, 1);
  place(secs[si++], ctx, 1);
  if (spec.shared_info) place(secs[si++], std::vector<std::uint8_t>(4096, 0x5a), 1);
  {
    out.resize((out.size() + 4095) / 4096 * 4096, 0);
    Sec& s = secs[si++];
    s.offset = out.size();
    out.reserve(out.size() + npages * 4096 + index.size() + shstr.size());
    for (std::uint64_t i = 0; i < npages; ++i) {
      const std::uint64_t pfn = i < entries ? spec.pfns[i] : ~0ULL;
      const bool zero = pfn == ~0ULL || spec.zero_pfns.count(pfn) != 0;
      const auto given = spec.page_data.find(pfn);
      for (std::size_t b = 0; b < 4096; ++b) {
        if (given != spec.page_data.end()) {
          out.push_back(b < given->second.size() ? given->second[b] : 0);
        } else {
          out.push_back(zero ? 0 : xen_page_byte(pfn, b));
        }
      }
    }
  }
  if (spec.index_section) place(secs[si++], index, 1);
  if (spec.both_indexes) secs[si++].offset = out.size();
  place(secs[1], std::vector<std::uint8_t>(shstr.begin(), shstr.end()), 1);
  secs[1].size = shstr.size();

  // ELF header: ET_CORE, no program headers, section headers at 64.
  std::memcpy(out.data(), ELFMAG, SELFMAG);
  out[EI_CLASS] = ELFCLASS64;
  out[EI_DATA] = ELFDATA2LSB;
  out[EI_VERSION] = EV_CURRENT;
  out[EI_ABIVERSION] = 1;
  put(out, 16, std::uint16_t{ET_CORE});
  put(out, 18, spec.machine);
  put(out, 20, std::uint32_t{EV_CURRENT});
  put(out, 40, std::uint64_t{64}); // e_shoff
  put(out, 52, std::uint16_t{64}); // e_ehsize
  put(out, 54, std::uint16_t{56}); // e_phentsize, though e_phnum is 0
  put(out, 58, std::uint16_t{64}); // e_shentsize
  put(out, 60, static_cast<std::uint16_t>(secs.size()));
  put(out, 62, std::uint16_t{1}); // e_shstrndx
  for (std::size_t i = 0; i < secs.size(); ++i) {
    const std::size_t o = 64 + i * 64;
    put(out, o, secs[i].name);
    put(out, o + 4, secs[i].type);
    put(out, o + 24, secs[i].offset);
    put(out, o + 32, secs[i].size);
    put(out, o + 48, secs[i].align);
    put(out, o + 56, secs[i].entsize);
  }
  if (spec.truncate_to && *spec.truncate_to < out.size()) out.resize(*spec.truncate_to);
  return out;
}

} // namespace guestdump::test
