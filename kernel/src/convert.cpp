#include "guestdump/kernel/convert.h"

#include <cstring>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/elf_notes.h"
#include "guestdump/formats/elf_writer.h"
#include "guestdump/kernel/kernel_log.h"
#include "guestdump/kernel/kernel_memory.h"
#include "guestdump/kernel/output_plan.h"
#include "guestdump/kernel/pv_page_tables.h"
#include "guestdump/kernel/vmcoreinfo_locator.h"

namespace guestdump::kernel {

using namespace guestdump::formats;

namespace {

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

// Adds "'path': " unless the message already names the file (open/read errors do).
Error naming(Error e, const std::string& path) {
  if (e.message.find(quoted(path)) != std::string::npos) return e;
  return std::move(e).context(quoted(path));
}

// --format elf: the filtered ELF core, reported in the kdump writer's statistics.
Result<KdumpWriteStats> write_elf(const DumpSource& src, std::span<const std::byte> notes,
                                  const PfnBitmap& dumpable, const ConvertOptions& opts,
                                  const OutputFile& out, std::uint64_t& segments) {
  ElfWriteRequest req;
  req.source = &src;
  req.notes = notes;
  req.ram = &src.metadata().ram;
  req.dumpable = &dumpable;
  req.exclude_zero_pages = (opts.dump_level & kDumpLevelZero) != 0;
  req.progress = opts.progress;
  GUESTDUMP_TRY(auto es, write_elf_core(req, out.fd(), out.path()));
  segments = es.segments;
  KdumpWriteStats stats;
  stats.pages_dumped = es.pages_dumped;
  stats.pages_zero = es.pages_zero; // excluded, unlike kdump's shared zero pages
  stats.pages_raw = es.pages_dumped;
  stats.file_size = es.file_size;
  stats.threads = 1;
  return stats;
}

} // namespace

Result<void> check_dump_level(int level) {
  if (level < 0 || level > 31) {
    return make_error(ErrorCode::kInvalidArgument,
                      "dump level " + std::to_string(level) + " is out of range (0-31)");
  }
  return {};
}

Result<ConvertResult> convert(const ConvertOptions& opts) {
  GUESTDUMP_CHECK(check_dump_level(opts.dump_level));
  auto src_r = open_dump(opts.input);
  if (!src_r) return naming(std::move(src_r).error(), opts.input);
  // Inputs without a VMCOREINFO note get the guest kernel's own copy from guest memory.
  GUESTDUMP_TRY(auto src, with_vmcoreinfo(std::move(src_r).value(), opts.locate));
  const DumpMetadata& meta = src->metadata();
  if (meta.max_pfn == 0)
    return make_error(ErrorCode::kBadData, quoted(opts.input) + ": no memory in dump");
  // Header, notes and the 2nd bitmap (what the dump level keeps; zero pages are decided by
  // the writer), planned exactly as the streaming capture plans them.
  auto plan = plan_output(*src, opts.dump_level, {}, opts.threads);
  if (!plan) return naming(std::move(plan).error(), opts.input);
  const PageFilterResult* filtered = &plan->filter;

  auto out_r =
      OutputFile::create(opts.output, opts.output_may_be_stream ? OutputFile::Target::kStream
                                                                : OutputFile::Target::kFile);
  if (!out_r) return std::move(out_r).error();
  OutputFile out = std::move(out_r).value();
  out.sync_while_writing();
  // "-" is a stream by contract, even when standard output happens to be a regular file.
  if (opts.format == OutputFormat::kElf && opts.flattened) {
    return make_error(ErrorCode::kInvalidArgument, "the flattened format is for kdump output");
  }
  bool flattened = opts.format == OutputFormat::kKdump &&
                   (opts.flattened || opts.output == "-" || !out.seekable());
  auto sink = flattened ? make_flattened_sink(out.fd(), out.path())
                        : make_positioned_sink(out.fd(), out.path());
  const std::vector<std::byte>& notes = plan->notes;
  if (!meta.vmcoreinfo) {
    GUESTDUMP_LOG(kWarn, "convert")
        << quoted(opts.input)
        << ": no VMCOREINFO in the dump or in guest memory; crash, drgn "
           "and makedumpfile will not recognise the kernel";
  }
  KdumpWriteRequest req;
  req.source = src.get();
  req.header = plan->header;
  req.notes = notes;
  req.ram = &meta.ram;
  req.dumpable = &filtered->dumpable;
  req.codec = opts.codec;
  req.share_zero_pages = (opts.dump_level & kDumpLevelZero) != 0;
  req.threads = opts.threads;
  req.progress = opts.progress;
  ConvertResult res;
  if (opts.extract_dmesg) { // best effort: a dump without a readable log is still a dump
    if (auto log = read_kernel_log(*src)) {
      res.dmesg = std::move(log->text);
    } else {
      res.dmesg_error = log.error().message;
    }
  }
  auto stats = opts.format == OutputFormat::kElf
                   ? write_elf(*src, notes, filtered->dumpable, opts, out, res.elf_segments)
                   : write_kdump(req, *sink);
  if (!stats) {
    auto e = std::move(stats).error();
    // Name the file a read error came from; write errors already name the output.
    if (e.code == ErrorCode::kBadData) return naming(std::move(e), opts.input);
    return e;
  }
  GUESTDUMP_CHECK(out.commit());
  res.format = opts.format;
  res.input_format = meta.format;
  res.pages_ram = meta.ram.count();
  res.pages_not_in_source = res.pages_ram - meta.available.count();
  res.dump_level = req.header.dump_level;
  res.flattened = flattened;
  res.stats = *stats;
  res.excluded = filtered->excluded;
  res.pages_unfiltered = filtered->pages_unfiltered;
  res.filter_fallback = filtered->fallback;
  res.vmcoreinfo_origin = vmcoreinfo_origin(meta);
  return res;
}

namespace {

// What inspect() reports of an opened source; file_size is the caller's.
Result<DumpSummary> summarize(std::unique_ptr<DumpSource> opened, const std::string& path) {
  GUESTDUMP_TRY(auto src, with_vmcoreinfo(std::move(opened)));
  const DumpMetadata& meta = src->metadata();
  DumpSummary s;
  s.path = path;
  s.format = meta.format;
  s.arch = meta.arch == KdumpArch::kX86_64 ? "x86_64" : "i386";
  if (meta.vmcoreinfo && meta.vmcoreinfo->osrelease()) {
    s.release = std::string(*meta.vmcoreinfo->osrelease());
  } else {
    s.release = meta.utsname[2];
  }
  s.page_size = meta.page_size;
  s.max_pfn = meta.max_pfn;
  s.pages_ram = meta.ram.count();
  s.pages_dumped = meta.available.count();
  s.nr_cpus = meta.nr_cpus;
  s.has_vmcoreinfo = meta.vmcoreinfo.has_value();
  s.vmcoreinfo_origin = vmcoreinfo_origin(meta);
  // Our own output carries located VMCOREINFO as a note; its filter record says where from.
  if (auto rec = find_filter_note(meta.notes);
      rec && !rec->vmcoreinfo.empty() && meta.vmcoreinfo_origin.empty()) {
    s.vmcoreinfo_origin = rec->vmcoreinfo;
  }
  s.producer = meta.producer;
  s.warnings = meta.warnings;
  if (auto parsed = parse_notes(meta.notes)) {
    for (const NoteView& n : *parsed) {
      if (n.name == "GUESTDUMP" && n.type == kPvTablesNoteType) {
        s.page_tables.assign(reinterpret_cast<const char*>(n.desc.data()), n.desc.size());
      }
    }
  }
  if (s.page_tables.empty() && meta.machine_frames) {
    s.page_tables = "Xen PV: page tables hold machine frames (" +
                    std::to_string(meta.machine_frames->size()) + " in the map)";
  }
  s.crash_time = meta.timestamp_sec;
  if (s.crash_time == 0 && meta.vmcoreinfo && meta.vmcoreinfo->crash_time()) {
    s.crash_time = *meta.vmcoreinfo->crash_time();
  }
  if (meta.format.starts_with("kdump")) {
    s.dump_level = meta.dump_level;
    std::uint32_t f = meta.codec_flags;
    auto c = codec_from_flag(f);
    s.codec = f == 0 ? std::string("none") : c ? std::string(codec_name(*c)) : "mixed";
    GUESTDUMP_TRY(s.pages_zero, src->shared_zero_pages());
    s.header_version = meta.kdump_header_version;
    s.filter = find_filter_note(meta.notes);
  }
  return s;
}

} // namespace

Result<DumpSummary> inspect(const std::string& path) {
  auto src_r = open_dump(path);
  if (!src_r) return naming(std::move(src_r).error(), path);
  GUESTDUMP_TRY(DumpSummary s, summarize(std::move(src_r).value(), path));
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) s.file_size = static_cast<std::uint64_t>(st.st_size);
  return s;
}

Result<DumpSummary> inspect(std::unique_ptr<ByteSource> bytes) {
  const std::string name = bytes->name();
  const std::uint64_t size = bytes->size();
  auto src_r = open_dump(std::move(bytes));
  if (!src_r) return naming(std::move(src_r).error(), name);
  GUESTDUMP_TRY(DumpSummary s, summarize(std::move(src_r).value(), name));
  s.file_size = size;
  return s;
}

Result<VerifyReport> verify(const std::string& path, const std::optional<std::string>& against,
                            std::function<void(std::uint64_t, std::uint64_t)> progress) {
  auto src_r = open_dump(path);
  if (!src_r) return naming(std::move(src_r).error(), path);
  auto dump = std::move(src_r).value();
  const DumpMetadata& meta = dump->metadata();
  std::unique_ptr<DumpSource> ref;
  if (against) {
    auto ref_r = open_dump(*against);
    if (!ref_r) return naming(std::move(ref_r).error(), *against);
    ref = std::move(ref_r).value();
    // A Xen PV guest's dump is compared as convert wrote it: page tables in PFNs.
    if (ref->metadata().machine_frames && !meta.machine_frames) {
      GUESTDUMP_TRY(ref, with_vmcoreinfo(std::move(ref)));
    }
    const DumpMetadata& rm = ref->metadata();
    if (rm.page_size != meta.page_size) {
      return make_error(ErrorCode::kBadData,
                        quoted(path) + ": page size differs from " + quoted(*against));
    }
    // The RAM maps must agree: a page of RAM in one and not the other is a conversion bug.
    std::uint64_t n = std::max(meta.max_pfn, rm.max_pfn);
    for (std::uint64_t pfn = 0; pfn < n; ++pfn) {
      if (meta.ram.test(pfn) != rm.ram.test(pfn)) {
        return make_error(ErrorCode::kBadData, quoted(path) + ": PFN " + std::to_string(pfn) +
                                                   (meta.ram.test(pfn) ? " is" : " is not") +
                                                   " RAM, unlike in " + quoted(*against));
      }
    }
  }
  VerifyReport rep;
  auto reader = dump->make_reader();
  auto ref_reader = ref ? ref->make_reader() : nullptr;
  std::vector<std::byte> scratch(meta.page_size), ref_scratch(meta.page_size);
  const std::uint64_t total = meta.available.count();
  for (std::uint64_t pfn = meta.available.next_set(0); pfn < meta.max_pfn;
       pfn = meta.available.next_set(pfn + 1)) {
    auto page = reader->read(pfn, scratch);
    if (!page) return naming(std::move(page).error(), path);
    ++rep.pages_checked;
    std::span<const std::byte> mine(*page, meta.page_size);
    if (is_zero_page(mine)) ++rep.pages_zero;
    if (ref) {
      if (!ref->metadata().available.test(pfn)) {
        return make_error(ErrorCode::kBadData, quoted(path) + ": PFN " + std::to_string(pfn) +
                                                   " has data but " + quoted(*against) +
                                                   " has none");
      }
      auto theirs = ref_reader->read(pfn, ref_scratch);
      if (!theirs) return naming(std::move(theirs).error(), *against);
      if (std::memcmp(mine.data(), *theirs, meta.page_size) != 0) {
        return make_error(ErrorCode::kBadData, quoted(path) + ": PFN " + std::to_string(pfn) +
                                                   " differs from " + quoted(*against));
      }
      ++rep.pages_compared;
    }
    if (progress && (rep.pages_checked & 0xffff) == 0) progress(rep.pages_checked, total);
    GUESTDUMP_CHECK(check_cancel());
  }
  if (progress) progress(rep.pages_checked, total);
  return rep;
}

} // namespace guestdump::kernel
