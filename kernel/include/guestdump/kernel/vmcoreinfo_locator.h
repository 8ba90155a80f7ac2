#pragma once
// VMCOREINFO locator: when a dump carries no VMCOREINFO note (no QEMU vmcoreinfo device, Xen
// xc_core, QEMU kdump output of such a guest), find the guest kernel's own copy in guest RAM and
// accept it only after it proves itself against the dump: its SYMBOL(_stext) and
// SYMBOL(init_uts_ns) must translate, through the page tables the vCPUs were using (CR3 from the
// "QEMU" CPU notes), to the physical addresses its phys_base predicts, and the release string at
// init_uts_ns must equal its OSRELEASE. Copies from an earlier boot, a crash kernel's note and
// page-cache copies fail that proof or are never candidates (outside the kernel image only page
// starts are looked at). x86_64 only. See docs/architecture.md, "Finding VMCOREINFO".

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/vmcoreinfo.h"
#include "guestdump/kernel/limits.h"

namespace guestdump::kernel {

/// Origin strings (DumpMetadata::vmcoreinfo_origin, `info`, meta.json).
inline constexpr std::string_view kOriginDumpNote = "dump note";
inline constexpr std::string_view kOriginNone = "none";
/// "guest memory at PA 0x11de000"
std::string origin_guest_memory(std::uint64_t pa);
/// "guest agent at PA 0x11de000": the copy at the address the guest agent reported.
std::string origin_guest_agent(std::uint64_t pa);

struct LocateOptions {
  /// Physical address of the note as the guest reported it (/sys/kernel/vmcoreinfo read through
  /// the guest agent); tried before anything else, and still has to prove itself.
  std::optional<std::uint64_t> hint_pa;
  /// Bytes scanned at the start of each likely region before the rest of RAM.
  std::uint64_t likely_region_bytes = 64ULL << 20;
  /// The budget (limits.h): candidates examined and guest bytes scanned before the scan gives
  /// up, saying so in the summary.
  std::uint64_t max_candidates = kLocatorMaxCandidates;
  std::uint64_t max_scan_bytes = kLocatorMaxScanBytes;
};

struct LocateCandidate {
  std::uint64_t pa = 0;
  bool note = false;         // an ELF note ("VMCOREINFO"), else raw "OSRELEASE=" text
  bool page_aligned = false; // starts a page (always, outside the kernel image)
  std::string osrelease;
  int cpu_votes = 0;            // vCPUs whose page tables agree with its symbols
  bool self_consistent = false; // its own init_top_pgt maps its symbols where it says
  bool release_matches = false; // init_uts_ns holds its OSRELEASE
  std::string verdict;          // why it was accepted or rejected
};

struct LocateReport {
  std::optional<formats::VmcoreInfo> vmcoreinfo;
  std::string origin{kOriginNone}; // one of the origin strings above
  std::uint64_t pa = 0;            // of the accepted copy
  int cpus_usable = 0;             // vCPUs in long mode with paging, from the QEMU notes
  std::vector<LocateCandidate> candidates;
  std::uint64_t pages_scanned = 0;
  std::string summary; // one line: what was accepted and why, or why nothing was
};

/// Scans `src` for the guest kernel's VMCOREINFO (hint first, then the kernel image, then the
/// starts of the DMA32 and Normal zones, then the rest of RAM), stopping as soon as a note
/// proves itself against every usable vCPU. Guest data never makes it fail: unreadable pages
/// are skipped. Errors only for cancellation.
Result<LocateReport> locate_vmcoreinfo(const formats::DumpSource& src,
                                       const LocateOptions& opts = {});

/// The one hook every input goes through: `src` itself when it has VMCOREINFO (origin "dump
/// note"), else a view of it whose metadata carries the located VMCOREINFO and its origin (or
/// origin "none"). The view forwards page reads to `src`; a Xen PV guest's dump is then seen
/// through with_pseudo_physical_tables() (pv_page_tables.h). Errors only for cancellation.
Result<std::unique_ptr<formats::DumpSource>>
with_vmcoreinfo(std::unique_ptr<formats::DumpSource> src, const LocateOptions& opts = {});
/// The same for a source the caller keeps alive (the capture spool); never null.
Result<std::unique_ptr<formats::DumpSource>> view_with_vmcoreinfo(const formats::DumpSource& src,
                                                                  const LocateOptions& opts = {});

/// Where VMCOREINFO of `meta` came from: its vmcoreinfo_origin, else "dump note" or "none".
std::string vmcoreinfo_origin(const formats::DumpMetadata& meta);

struct SysfsVmcoreinfo {
  std::uint64_t pa = 0;
  std::uint64_t size = 0;
};
/// Parses /sys/kernel/vmcoreinfo ("%pa %x": "0x000000000123e000 1024"); nullopt if malformed.
std::optional<SysfsVmcoreinfo> parse_sysfs_vmcoreinfo(std::string_view text);

} // namespace guestdump::kernel
