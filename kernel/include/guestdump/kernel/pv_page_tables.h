#pragma once
// A Xen PV guest's memory as every other reader of a dump expects it. A PV guest's page-table
// entries name machine frames (MFNs) while a dump is indexed by pseudo-physical frames (PFNs),
// so makedumpfile, drgn and libkdumpfile, which walk the kernel's page tables themselves,
// cannot read a PV guest's dump whose tables are copied as they are (makedumpfile:
// "Can't get pud_pte"). The view below rewrites, as pages are read, every entry of the kernel's
// page-table tree (the tables reachable from VMCOREINFO's init_top_pgt) to name the PFN of its
// frame; an entry that names a frame the guest does not own (Xen's own slots of the top table,
// a foreign or granted frame) is marked not present. The view's metadata has no machine-frame
// map: to every walker, guestdump's included, the guest now looks like an HVM guest.
// User page tables (each process's lower half) are not part of that tree and keep machine
// frames. Guest memory is untrusted: the tree is found with one bitmap per level (each table
// at one level only, first come), so its cost is bounded by the dump's pages.

#include <cstdint>
#include <memory>
#include <string>

#include "guestdump/common/result.h"
#include "guestdump/formats/dump_source.h"

namespace guestdump::kernel {

struct PvTableReport {
  std::uint64_t tables = 0;         // page-table pages in the kernel's tree
  std::uint64_t entries = 0;        // present entries rewritten to PFNs
  std::uint64_t not_the_guests = 0; // present entries naming foreign frames, marked not present
  std::string summary;              // one line for logs, `info` and the output's note
};

/// The GUESTDUMP note that says an output's page tables were rewritten (its descriptor is the
/// report's summary). Readers other than guestdump skip it.
inline constexpr std::uint32_t kPvTablesNoteType = 0x47440003; // "GD" + 3

/// `src` itself unless it is a Xen PV guest's dump (metadata().machine_frames set) with
/// VMCOREINFO; then the view described above, whose notes also carry the kPvTablesNoteType
/// note. Without a usable init_top_pgt the view is not made and `src` is returned with a
/// warning in the log. Errors only for cancellation.
Result<std::unique_ptr<formats::DumpSource>>
with_pseudo_physical_tables(std::unique_ptr<formats::DumpSource> src,
                            PvTableReport* report = nullptr);

} // namespace guestdump::kernel
