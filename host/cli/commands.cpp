#include "commands.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "cli_support.h"
#include "guestdump/common/json_text.h"
#include "guestdump/common/text.h"
#include "guestdump/kernel/convert.h"

namespace po = boost::program_options;

namespace guestdump::cli {

int fail(const std::string& message) {
  std::fprintf(stderr, "guestdump: error: %s\n", escape_text(message).c_str());
  return 1;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "guestdump: error: %s (see 'guestdump --help')\n",
               escape_text(message).c_str());
  return 2;
}

int run_convert(const std::vector<std::string>& args) {
  kernel::ConvertOptions opts;
  std::string codec = "zstd";
  std::string format = "kdump";
  po::options_description desc("convert options");
  desc.add_options()("help,h", "show this help")(
      "dump-level,d", po::value<int>(&opts.dump_level)->default_value(31),
      "makedumpfile dump level 0-31: sum of 1 zero, 2 cache, 4 cache+private, 8 user, 16 free "
      "pages")("compress,c", po::value<std::string>(&codec)->default_value("zstd"),
               "page codec: zstd, zlib, lzo, snappy, none")(
      "threads,j", po::value<unsigned>(&opts.threads)->default_value(0),
      "worker threads (0 = online CPUs)")("flattened", po::bool_switch(&opts.flattened),
                                          "write makedumpfile's flattened format")(
      "format", po::value<std::string>(&format)->default_value("kdump"),
      "output format: kdump, or elf (a filtered ELF core, like makedumpfile -E)")(
      "input", po::value<std::string>(&opts.input)->required(), "input dump")(
      "output", po::value<std::string>(&opts.output)->required(), "output file or '-'");
  po::positional_options_description pos;
  pos.add("input", 1).add("output", 1);
  int code = 0;
  auto vm = parse_args(args, desc, pos,
                       "usage: guestdump convert [-d LEVEL] [-c CODEC] [-j THREADS] [--flattened] "
                       "[--format kdump|elf] INPUT OUTPUT",
                       code);
  if (!vm) return code;
  auto c = formats::parse_codec(codec);
  if (!c) return usage_error("unknown codec '" + codec + "' (zstd, zlib, lzo, snappy, none)");
  opts.codec = *c;
  if (format == "elf") {
    opts.format = kernel::OutputFormat::kElf;
    if (opts.flattened) return usage_error("--flattened applies to --format kdump only");
  } else if (format != "kdump") {
    return usage_error("unknown output format '" + format + "' (kdump, elf)");
  }
  if (auto r = kernel::check_dump_level(opts.dump_level); !r) {
    return r.error().code == ErrorCode::kInvalidArgument ? usage_error(r.error().message)
                                                         : fail(r.error().message);
  }
  opts.output_may_be_stream = true; // the user named OUTPUT: a FIFO or device there is a stream
  Progress bar("converting", 4096, false);
  opts.progress = [&bar](std::uint64_t done, std::uint64_t total) { bar.update(done, total); };
  auto t0 = std::chrono::steady_clock::now();
  auto res = kernel::convert(opts);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!res) return fail("convert: " + res.error().message);
  const auto& s = res->stats;
  std::FILE* out = opts.output == "-" ? stderr : stdout;
  if (res->format == kernel::OutputFormat::kElf) {
    std::fprintf(out,
                 "wrote %s: %s, ELF core, %llu pages dumped in %llu PT_LOAD segments (%llu zero "
                 "pages left out), dump level %d, %.2f s\n",
                 opts.output == "-" ? "standard output" : opts.output.c_str(),
                 format_bytes(static_cast<double>(s.file_size)).c_str(),
                 static_cast<unsigned long long>(s.pages_dumped),
                 static_cast<unsigned long long>(res->elf_segments),
                 static_cast<unsigned long long>(s.pages_zero), res->dump_level, secs);
  } else {
    std::fprintf(out,
                 "wrote %s: %s, %llu pages dumped (%llu zero, %llu compressed, %llu raw), "
                 "dump level %d, %s%s, %.2f s, %u threads\n",
                 opts.output == "-" ? "standard output" : opts.output.c_str(),
                 format_bytes(static_cast<double>(s.file_size)).c_str(),
                 static_cast<unsigned long long>(s.pages_dumped),
                 static_cast<unsigned long long>(s.pages_zero),
                 static_cast<unsigned long long>(s.pages_compressed),
                 static_cast<unsigned long long>(s.pages_raw), res->dump_level,
                 std::string(formats::codec_name(opts.codec)).c_str(),
                 res->flattened ? ", flattened" : "", secs, s.threads);
  }
  const auto& x = res->excluded;
  if (x.total() != 0 || (res->dump_level & ~kernel::kDumpLevelZero) != 0) {
    std::fprintf(
        out,
        "excluded %llu pages: %llu cache, %llu cache private, %llu user, %llu free, "
        "%llu hwpoison, %llu offline, %llu outside the kernel's memory map\n",
        static_cast<unsigned long long>(x.total()), static_cast<unsigned long long>(x.cache),
        static_cast<unsigned long long>(x.cache_private), static_cast<unsigned long long>(x.user),
        static_cast<unsigned long long>(x.free), static_cast<unsigned long long>(x.hwpoison),
        static_cast<unsigned long long>(x.offline), static_cast<unsigned long long>(x.unmanaged));
  }
  if (res->vmcoreinfo_origin != "dump note") {
    std::fprintf(out, "vmcoreinfo: %s\n", escape_text(res->vmcoreinfo_origin).c_str());
  }
  if (!res->filter_fallback.empty()) {
    std::fprintf(stderr, "guestdump: warning: page filter: %s\n",
                 escape_text(res->filter_fallback).c_str());
  }
  return 0;
}

int run_info(const std::vector<std::string>& args) {
  std::string file;
  bool json = false;
  bool stats = false;
  po::options_description desc("info options");
  desc.add_options()("help,h", "show this help")("json", po::bool_switch(&json), "print JSON")(
      "stats", po::bool_switch(&stats),
      "s3:// FILE: print the bytes and requests fetched on standard error")(
      "file", po::value<std::string>(&file)->required(), "dump file, or s3://BUCKET/KEY");
  po::positional_options_description pos;
  pos.add("file", 1);
  int code = 0;
  auto vm = parse_args(args, desc, pos, "usage: guestdump info [--json] [--stats] FILE", code);
  if (!vm) return code;
  Result<kernel::DumpSummary> r = make_error(ErrorCode::kInvalidArgument, "no file");
  if (is_s3_url(file)) {
    // Read in place: only the blocks the summary needs are fetched.
    auto remote = open_remote_file(file);
    if (!remote) return fail("info: " + remote.error().message);
    const std::uint64_t size = remote->bytes->size();
    r = kernel::inspect(std::move(remote->bytes));
    report_fetched(remote->client, file, size, stats);
  } else {
    r = kernel::inspect(file);
  }
  if (!r) return fail("info: " + r.error().message);
  const auto& s = *r;
  // Degraded but readable (a header that names no or the wrong machine): said on stderr, so
  // scripts reading the output see the same text either way.
  for (const auto& w : s.warnings) {
    std::fprintf(stderr, "guestdump: warning: %s: %s\n", escape_text(s.path).c_str(),
                 escape_text(w).c_str());
  }
  if (json) {
    nlohmann::json j;
    j["file"] = s.path;
    j["format"] = s.format;
    j["arch"] = s.arch;
    j["release"] = s.release;
    j["page_size"] = s.page_size;
    j["max_pfn"] = s.max_pfn;
    j["cpus"] = s.nr_cpus;
    j["crash_time"] = s.crash_time;
    j["vmcoreinfo"] = s.has_vmcoreinfo;
    j["vmcoreinfo_source"] = s.vmcoreinfo_origin;
    j["file_size"] = s.file_size;
    j["pages"] = {{"total", s.pages_ram},
                  {"dumped", s.pages_dumped},
                  {"excluded", s.pages_ram - s.pages_dumped}};
    if (s.pages_zero) j["pages"]["zero"] = *s.pages_zero;
    if (s.dump_level) j["dump_level"] = *s.dump_level;
    if (s.codec) j["codec"] = *s.codec;
    if (s.header_version) j["header_version"] = *s.header_version;
    if (!s.producer.empty()) j["producer"] = s.producer;
    if (!s.page_tables.empty()) j["page_tables"] = s.page_tables;
    j["warnings"] = s.warnings;
    if (s.filter) {
      const auto& x = s.filter->excluded;
      j["pages"]["excluded_by_class"] = {
          {"cache", x.cache},        {"cache_private", x.cache_private}, {"user", x.user},
          {"free", x.free},          {"hwpoison", x.hwpoison},           {"offline", x.offline},
          {"unmanaged", x.unmanaged}};
      j["pages"]["unfiltered"] = s.filter->pages_unfiltered;
      if (!s.filter->fallback.empty()) j["filter_fallback"] = s.filter->fallback;
    }
    std::cout << dump_json(j, 2) << "\n";
    return 0;
  }
  // Every string below may come from the dump (release, origin, fallback reasons): escaped.
  std::printf("file:        %s\n", escape_text(s.path).c_str());
  std::printf("format:      %s\n", escape_text(s.format).c_str());
  if (!s.producer.empty()) std::printf("producer:    %s\n", escape_text(s.producer).c_str());
  std::printf("kernel:      %s\n", s.release.empty() ? "unknown" : escape_text(s.release).c_str());
  std::printf("arch:        %s, page size %u\n", escape_text(s.arch).c_str(), s.page_size);
  std::printf("cpus:        %d\n", s.nr_cpus);
  std::printf("crash time:  %s%s\n", utc_time_text(s.crash_time).c_str(),
              s.crash_time == 0 ? "" : " UTC");
  if (s.dump_level) std::printf("dump level:  %d\n", *s.dump_level);
  if (s.codec) std::printf("codec:       %s\n", escape_text(*s.codec).c_str());
  std::printf("pages:       %llu total, %llu dumped", static_cast<unsigned long long>(s.pages_ram),
              static_cast<unsigned long long>(s.pages_dumped));
  if (s.pages_zero) std::printf(" (%llu zero)", static_cast<unsigned long long>(*s.pages_zero));
  std::printf(", %llu excluded\n", static_cast<unsigned long long>(s.pages_ram - s.pages_dumped));
  if (s.filter) {
    const auto& x = s.filter->excluded;
    std::printf(
        "excluded:    %llu cache, %llu cache private, %llu user, %llu free, %llu hwpoison, "
        "%llu offline, %llu outside the kernel's memory map\n",
        static_cast<unsigned long long>(x.cache), static_cast<unsigned long long>(x.cache_private),
        static_cast<unsigned long long>(x.user), static_cast<unsigned long long>(x.free),
        static_cast<unsigned long long>(x.hwpoison), static_cast<unsigned long long>(x.offline),
        static_cast<unsigned long long>(x.unmanaged));
    if (!s.filter->fallback.empty()) {
      std::printf("filter:      some pages kept unfiltered: %s\n",
                  escape_text(s.filter->fallback).c_str());
    }
  }
  std::printf("vmcoreinfo:  %s (%s)\n", s.has_vmcoreinfo ? "yes" : "no",
              escape_text(s.vmcoreinfo_origin).c_str());
  if (!s.page_tables.empty()) std::printf("page tables: %s\n", escape_text(s.page_tables).c_str());
  std::printf("file size:   %s\n", format_bytes(static_cast<double>(s.file_size)).c_str());
  return 0;
}

int run_verify(const std::vector<std::string>& args) {
  std::string file;
  std::string against;
  po::options_description desc("verify options");
  desc.add_options()("help,h", "show this help")("against", po::value<std::string>(&against),
                                                 "compare every page with this source dump")(
      "file", po::value<std::string>(&file)->required(), "kdump file");
  po::positional_options_description pos;
  pos.add("file", 1);
  int code = 0;
  auto vm = parse_args(args, desc, pos, "usage: guestdump verify FILE [--against SOURCE]", code);
  if (!vm) return code;
  std::optional<std::string> ref;
  if (!against.empty()) ref = against;
  Progress bar("verifying", 4096, false);
  auto r =
      kernel::verify(file, ref, [&bar](std::uint64_t d, std::uint64_t t) { bar.update(d, t); });
  if (!r) return fail("verify: " + r.error().message);
  if (ref) {
    std::printf("%s: ok, %llu pages checked, all equal to %s\n", file.c_str(),
                static_cast<unsigned long long>(r->pages_checked), against.c_str());
  } else {
    std::printf("%s: ok, %llu pages checked\n", file.c_str(),
                static_cast<unsigned long long>(r->pages_checked));
  }
  return 0;
}

} // namespace guestdump::cli
