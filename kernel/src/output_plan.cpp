// Output planning shared by convert() and the streaming capture; see output_plan.h.

#include "guestdump/kernel/output_plan.h"

#include <algorithm>
#include <string>

#include "guestdump/common/log.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/kernel/kernel_memory.h"
#include "guestdump/kernel/vmcoreinfo_locator.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

KdumpHeader header_for(const DumpSource& src, int dump_level) {
  const DumpMetadata& meta = src.metadata();
  KdumpHeader hdr;
  hdr.arch = meta.arch;
  hdr.utsname = meta.utsname;
  if (hdr.utsname[1].empty() && meta.vmcoreinfo) {
    // Like makedumpfile: the header carries the guest's own utsname from init_uts_ns.
    // libkdumpfile (and so drgn) takes the architecture from it only when every field is set.
    if (auto uts = read_guest_utsname(src)) {
      hdr.utsname = *uts;
    } else {
      GUESTDUMP_LOG(kWarn, "convert") << "'" << meta.path << "': cannot read the guest's utsname ("
                                      << uts.error().message << "); the header gets a partial one";
    }
  }
  const auto& vi = meta.vmcoreinfo;
  if (hdr.utsname[0].empty()) hdr.utsname[0] = "Linux";
  if (hdr.utsname[2].empty() && vi && vi->osrelease())
    hdr.utsname[2] = std::string(*vi->osrelease());
  // The machine is the architecture the reader proved, never a source header's free text (QEMU
  // >= 8 writes "Unknown", which makedumpfile refuses) nor a lying guest's utsname.
  if (arch_from_machine(hdr.utsname[4]) != meta.arch) hdr.utsname[4] = machine_name(meta.arch);
  hdr.timestamp_sec = meta.timestamp_sec;
  if (hdr.timestamp_sec == 0 && vi && vi->crash_time()) hdr.timestamp_sec = *vi->crash_time();
  // The guest's own NUMBER(phys_base) wins over a source header's value: QEMU parses that
  // decimal number as hex and writes the wrong phys_base into its kdump sub header, which then
  // sends makedumpfile's page-table walk outside RAM.
  if (vi && vi->number("phys_base")) {
    hdr.phys_base = static_cast<std::uint64_t>(*vi->number("phys_base"));
  } else if (meta.phys_base) {
    hdr.phys_base = *meta.phys_base;
  }
  hdr.dump_level = dump_level | meta.dump_level;
  hdr.nr_cpus = meta.nr_cpus;
  return hdr;
}

// The output's notes: the source's, plus a VMCOREINFO note when the source had VMCOREINFO only
// outside its notes (an old kdump file), since libkdumpfile reads it from the notes alone, and
// for a Xen PV guest the machine-frame map (its page tables name machine frames, and the
// output is indexed by PFN like any dump: without the map, guestdump could not read it again).
Result<std::vector<std::byte>> notes_for(const DumpMetadata& meta) {
  // A guestdump output read again carries a map: it is written anew below.
  GUESTDUMP_TRY(auto notes, notes_without(meta.notes, "GUESTDUMP", {kMachineFramesNoteType}));
  GUESTDUMP_TRY(auto parsed, parse_notes(meta.notes));
  if (find_vmcoreinfo(parsed) == nullptr && meta.vmcoreinfo) {
    const std::string& text = meta.vmcoreinfo->text();
    append_note(notes, "VMCOREINFO", 0, std::as_bytes(std::span(text)));
  }
  if (meta.machine_frames) {
    append_note(notes, "GUESTDUMP", kMachineFramesNoteType,
                machine_frames_note_desc(*meta.machine_frames));
  }
  return notes;
}

} // namespace

Result<OutputPlan> plan_output(const DumpSource& src, int dump_level,
                               std::function<void(std::uint64_t, std::uint64_t)> progress,
                               unsigned threads) {
  const DumpMetadata& meta = src.metadata();
  OutputPlan plan;
  GUESTDUMP_TRY(plan.filter, filter_pages(src, dump_level, std::move(progress), threads));
  GUESTDUMP_TRY(plan.notes, notes_for(meta));
  FilterRecord record{dump_level | meta.dump_level,
                      plan.filter.excluded,
                      plan.filter.pages_unfiltered,
                      plan.filter.fallback,
                      {}};
  // Re-filtering a guestdump file: its earlier exclusions stay excluded, so keep their counts.
  record.vmcoreinfo = vmcoreinfo_origin(meta);
  if (auto earlier = find_filter_note(meta.notes)) {
    record.excluded += earlier->excluded;
    // A guestdump output carries located VMCOREINFO as its note: keep saying where it came from.
    if (meta.vmcoreinfo_origin.empty() && !earlier->vmcoreinfo.empty()) {
      record.vmcoreinfo = earlier->vmcoreinfo;
    }
  }
  GUESTDUMP_CHECK(put_filter_note(plan.notes, record));
  plan.header = header_for(src, dump_level);
  return plan;
}

} // namespace guestdump::kernel
