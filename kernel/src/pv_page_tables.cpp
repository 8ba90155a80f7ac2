// A Xen PV guest's kernel page tables rewritten to pseudo-physical frames; see pv_page_tables.h.

#include "guestdump/kernel/pv_page_tables.h"

#include <array>
#include <cstring>
#include <vector>

#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/kernel/kernel_memory.h"
#include "x86_paging.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

using namespace x86;

constexpr int kLevels = 5; // index 1 (PTE) .. 5 (PML5); [0] unused

// The tree under the kernel's top table: one bitmap of table PFNs per level.
struct TableTree {
  std::array<PfnBitmap, kLevels + 1> level;
  int level_of(std::uint64_t pfn) const {
    for (int l = 1; l <= kLevels; ++l) {
      if (level[l].test(pfn)) return l;
    }
    return 0;
  }
};

// Rewrites the entries of one table page at `level` in place; counts into `rep` when given.
// Non-leaf entries and 4 KiB leaves name a frame; a PSE entry at level 2 or 3 names the first
// frame of a 2 MiB / 1 GiB page (bit 12 is then PAT and stays), whose PFN must be aligned.
void rewrite_table(std::span<std::byte> page, int level, const MachineFrameMap& m2p,
                   PvTableReport* rep) {
  for (std::size_t i = 0; i < page.size() / 8; ++i) {
    std::uint64_t e = 0;
    std::memcpy(&e, page.data() + i * 8, 8);
    if ((e & kPresent) == 0) continue;
    std::uint64_t frames = 1; // frames the entry maps or names
    if ((level == 2 || level == 3) && (e & kPse) != 0) frames = level == 2 ? 512 : 512 * 512;
    const std::uint64_t field = kEntryAddrMask & ~((frames << 12) - 1);
    const std::uint64_t mfn = (e & field) >> 12;
    // A large page must stay one aligned run of PFNs (both ends checked; runs are contiguous).
    const auto pfn = m2p.pfn(mfn);
    const auto last = frames == 1 ? pfn : m2p.pfn(mfn + frames - 1);
    if (pfn && (*pfn % frames) == 0 && ((*pfn << 12) & ~field) == 0 && last &&
        *last == *pfn + frames - 1) {
      e = (e & ~field) | (*pfn << 12);
      if (rep) ++rep->entries;
    } else {
      e &= ~kPresent;
      if (rep) ++rep->not_the_guests;
    }
    std::memcpy(page.data() + i * 8, &e, 8);
  }
}

// Walks the tree from the top table down, reading each table page once, and counts into `rep`
// what the rewrite does to it.
Result<TableTree> find_tree(const DumpSource& src, std::uint64_t root_pfn, int top,
                            PvTableReport& rep) {
  const DumpMetadata& meta = src.metadata();
  const MachineFrameMap& m2p = *meta.machine_frames;
  TableTree tree;
  for (int l = 1; l <= top; ++l) tree.level[l] = PfnBitmap(meta.max_pfn);
  auto reader = src.make_reader();
  std::vector<std::byte> scratch(meta.page_size), copy(meta.page_size);
  std::vector<std::uint64_t> todo{root_pfn};
  tree.level[top].set(root_pfn);
  for (int l = top; l >= 1; --l) {
    std::vector<std::uint64_t> next;
    for (std::uint64_t table : todo) {
      auto page = reader->read(table, scratch);
      if (!page) {
        GUESTDUMP_LOG(kDebug, "pv-tables")
            << "'" << meta.path << "': table PFN " << table << ": " << page.error().message;
        continue;
      }
      std::memcpy(copy.data(), *page, meta.page_size);
      rewrite_table(copy, l, m2p, &rep);
      ++rep.tables;
      for (std::size_t i = 0; l > 1 && i < meta.page_size / 8; ++i) {
        std::uint64_t e = 0;
        std::memcpy(&e, *page + i * 8, 8);
        if ((e & kPresent) == 0) continue;
        if ((l == 2 || l == 3) && (e & kPse) != 0) continue; // a large page, not a table
        auto pfn = m2p.pfn((e & kEntryAddrMask) >> 12);
        if (!pfn || !meta.available.test(*pfn) || tree.level_of(*pfn) != 0) continue;
        tree.level[l - 1].set(*pfn);
        next.push_back(*pfn);
      }
      GUESTDUMP_CHECK(check_cancel());
    }
    todo = std::move(next);
  }
  return tree;
}

class PvTablesReader final : public PageReader {
public:
  PvTablesReader(std::unique_ptr<PageReader> inner, const TableTree& tree,
                 const MachineFrameMap& m2p, std::size_t page_size)
      : inner_(std::move(inner)), tree_(tree), m2p_(m2p), page_size_(page_size) {}
  Result<const std::byte*> read(std::uint64_t pfn, std::span<std::byte> scratch) override {
    GUESTDUMP_TRY(const std::byte* page, inner_->read(pfn, scratch));
    const int level = tree_.level_of(pfn);
    if (level == 0) return page;
    if (page != scratch.data()) std::memcpy(scratch.data(), page, page_size_);
    rewrite_table(scratch.first(page_size_), level, m2p_, nullptr);
    return static_cast<const std::byte*>(scratch.data());
  }

private:
  std::unique_ptr<PageReader> inner_;
  const TableTree& tree_;
  const MachineFrameMap& m2p_;
  std::size_t page_size_;
};

class PvTablesSource final : public DumpSource {
public:
  PvTablesSource(std::unique_ptr<DumpSource> inner, TableTree tree, DumpMetadata meta)
      : inner_(std::move(inner)), m2p_(inner_->metadata().machine_frames), tree_(std::move(tree)),
        meta_(std::move(meta)) {}
  const DumpMetadata& metadata() const override { return meta_; }
  std::unique_ptr<PageReader> make_reader() const override {
    return std::make_unique<PvTablesReader>(inner_->make_reader(), tree_, *m2p_, meta_.page_size);
  }
  Result<std::optional<std::uint64_t>> shared_zero_pages() const override {
    return inner_->shared_zero_pages();
  }

private:
  std::unique_ptr<DumpSource> inner_;
  std::shared_ptr<const MachineFrameMap> m2p_;
  TableTree tree_;
  DumpMetadata meta_;
};

// The inner notes without a machine-frame map (the view has none) and without trailing zero
// padding, plus the note that says the tables were rewritten.
Result<std::vector<std::byte>> view_notes(const DumpMetadata& meta, const std::string& summary) {
  GUESTDUMP_TRY(auto notes, notes_without(meta.notes, "GUESTDUMP",
                                          {kMachineFramesNoteType, kPvTablesNoteType}));
  append_note(notes, "GUESTDUMP", kPvTablesNoteType, std::as_bytes(std::span(summary)));
  return notes;
}

} // namespace

Result<std::unique_ptr<DumpSource>> with_pseudo_physical_tables(std::unique_ptr<DumpSource> src,
                                                                PvTableReport* report) {
  const DumpMetadata& meta = src->metadata();
  if (!meta.machine_frames || !meta.vmcoreinfo || meta.arch != KdumpArch::kX86_64) return src;
  auto xlat = X86_64Translator::from_vmcoreinfo(*meta.vmcoreinfo);
  const std::uint64_t root_pfn = xlat ? xlat->root() / meta.page_size : 0;
  if (!xlat || (xlat->root() % meta.page_size) != 0 || !meta.available.test(root_pfn)) {
    GUESTDUMP_LOG(kWarn, "pv-tables")
        << "'" << meta.path << "': Xen PV guest: "
        << (xlat ? "its top page table is not in the dump" : xlat.error().message)
        << "; its page tables keep machine frames, which makedumpfile and drgn cannot follow";
    return src;
  }
  PvTableReport rep;
  GUESTDUMP_TRY(TableTree tree, find_tree(*src, root_pfn, xlat->five_level() ? 5 : 4, rep));
  rep.summary = "Xen PV kernel page tables rewritten to pseudo-physical frames: " +
                std::to_string(rep.tables) + " tables, " + std::to_string(rep.entries) +
                " entries; " + std::to_string(rep.not_the_guests) +
                " entries naming frames the guest does not own marked not present";
  GUESTDUMP_LOG(kInfo, "pv-tables") << "'" << meta.path << "': " << rep.summary;
  DumpMetadata view = meta;
  view.machine_frames.reset();
  GUESTDUMP_TRY(view.notes, view_notes(meta, rep.summary));
  if (report) *report = rep;
  return std::unique_ptr<DumpSource>(
      new PvTablesSource(std::move(src), std::move(tree), std::move(view)));
}

} // namespace guestdump::kernel
