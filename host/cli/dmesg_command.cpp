// guestdump dmesg FILE [-o OUT]: the guest kernel log, as makedumpfile --dump-dmesg prints it;
// guestdump dmesg DOMAIN [-c URI] [-f]: the same, live, out of a running guest's QEMU process.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/program_options.hpp>
#include <unistd.h>

#include "cli_support.h"
#include "commands.h"
#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/host/live_kernel_log.h"
#include "guestdump/kernel/kernel_log.h"
#include "guestdump/kernel/vmcoreinfo_locator.h"

namespace po = boost::program_options;

namespace guestdump::cli {

namespace {

// Live: print the log of the running domain, then (follow) the lines it adds, until Ctrl-C.
int run_live_dmesg(const std::string& uri, const std::string& domain, bool follow) {
  auto log = host::LiveKernelLog::open_libvirt(uri, domain);
  if (!log) return fail("dmesg: " + log.error().message);
  auto print = [](const std::vector<std::string>& lines, std::size_t from) -> Result<void> {
    std::string text;
    for (std::size_t i = from; i < lines.size(); ++i) text += lines[i] + "\n";
    return write_all(STDOUT_FILENO, std::as_bytes(std::span(text)), "standard output");
  };
  auto lines = (*log)->read();
  if (!lines) return fail("dmesg: '" + domain + "': " + lines.error().message);
  if (auto r = print(*lines, 0); !r) return fail("dmesg: " + r.error().message);
  if (!follow) return 0;
  std::string last = lines->empty() ? std::string() : lines->back();
  while (!cancel_requested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto now = (*log)->read();
    if (!now) return fail("dmesg: '" + domain + "': " + now.error().message);
    const std::size_t from = last.empty() ? 0 : host::first_new_line(*now, last);
    if (from < now->size()) {
      if (auto r = print(*now, from); !r) return fail("dmesg: " + r.error().message);
      last = now->back();
    }
  }
  return 0;
}

} // namespace

int run_dmesg(const std::vector<std::string>& args) {
  std::string file;
  std::string output;
  std::string uri;
  bool follow = false;
  bool stats = false;
  po::options_description desc("dmesg options");
  desc.add_options()("help,h", "show this help")(
      "output,o", po::value<std::string>(&output),
      "write the log to this file (mode 0600) instead of standard output")(
      "connect,c", po::value<std::string>(&uri),
      "libvirt URI of a running DOMAIN (default qemu:///system)")(
      "follow,f", po::bool_switch(&follow),
      "DOMAIN: keep printing new records as they arrive, like dmesg -w")(
      "stats", po::bool_switch(&stats),
      "s3:// FILE: print the bytes and requests fetched on standard error")(
      "file", po::value<std::string>(&file)->required(),
      "dump file (ELF or kdump; s3://BUCKET/KEY for a remote kdump file), or a running libvirt "
      "domain");
  po::positional_options_description pos;
  pos.add("file", 1);
  int code = 0;
  if (!parse_args(args, desc, pos,
                  "usage: guestdump dmesg FILE [-o OUT] [--stats]\n"
                  "       guestdump dmesg DOMAIN [-c URI] [-f]\n",
                  code)) {
    return code;
  }
  // A domain, not a file: asked for as one (-c, -f), or a bare name that is no file here.
  std::error_code ec;
  const bool remote = is_s3_url(file);
  const bool live =
      !remote && (!uri.empty() || follow ||
                  (file.find('/') == std::string::npos && !std::filesystem::exists(file, ec)));
  if (live) {
    if (!output.empty()) return usage_error("dmesg: -o is for a dump file, not a live DOMAIN");
    return run_live_dmesg(uri.empty() ? "qemu:///system" : uri, file, follow);
  }
  if (remote && (!uri.empty() || follow)) {
    return usage_error("dmesg: -c and -f are for a live DOMAIN, not an s3:// file");
  }
  // A remote kdump file is read in place: the header, the bitmaps and the pages the log needs.
  std::optional<RemoteFile> remote_file;
  std::uint64_t remote_size = 0;
  Result<std::unique_ptr<formats::DumpSource>> src =
      make_error(ErrorCode::kInvalidArgument, "no file");
  if (remote) {
    auto opened = open_remote_file(file);
    if (!opened) return fail("dmesg: " + opened.error().message);
    remote_file = std::move(*opened);
    remote_size = remote_file->bytes->size();
    src = formats::open_dump(std::move(remote_file->bytes));
  } else {
    src = formats::open_dump(file);
  }
  if (src) src = kernel::with_vmcoreinfo(std::move(src).value());
  if (!src) {
    std::string msg = src.error().message;
    if (msg.find("'" + file + "'") == std::string::npos) msg = "'" + file + "': " + msg;
    return fail("dmesg: " + msg);
  }
  auto log = kernel::read_kernel_log(**src);
  if (remote_file) report_fetched(remote_file->client, file, remote_size, stats);
  if (!log) return fail("dmesg: '" + file + "': " + log.error().message);
  for (const auto& w : log->warnings) {
    GUESTDUMP_LOG(kWarn, "dmesg") << "'" << file << "': " << w;
  }
  const auto bytes = std::as_bytes(std::span(log->text));
  if (output.empty() || output == "-") {
    if (auto r = write_all(STDOUT_FILENO, bytes, "standard output"); !r) {
      return fail("dmesg: " + r.error().message);
    }
    return 0;
  }
  auto out = OutputFile::create(output);
  if (!out) return fail("dmesg: " + out.error().message);
  if (auto r = write_all(out->fd(), bytes, output); !r) return fail("dmesg: " + r.error().message);
  if (auto r = out->commit(); !r) return fail("dmesg: " + r.error().message);
  return 0;
}

} // namespace guestdump::cli
