// guestdump dmesg FILE [-o OUT]: the guest kernel log, as makedumpfile --dump-dmesg prints it;
// guestdump dmesg DOMAIN [-c URI] [-f] | --qmp SOCKET [-f]: the same, live, out of a running
// guest's QEMU process.

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

// Live: print the log of the running guest, then (follow) the records it adds, until Ctrl-C.
// `what` names the guest in messages.
int run_live_dmesg(Result<std::unique_ptr<host::LiveKernelLog>> log, const std::string& what,
                   bool follow) {
  if (!log) return fail("dmesg: " + log.error().message);
  auto print = [](const std::vector<std::string>& lines, std::size_t from) -> Result<void> {
    std::string text;
    for (std::size_t i = from; i < lines.size(); ++i) text += lines[i] + "\n";
    return write_all(STDOUT_FILENO, std::as_bytes(std::span(text)), "standard output");
  };
  auto first = (*log)->read();
  if (!first) return fail("dmesg: " + what + ": " + first.error().message);
  if (auto r = print(first->lines, 0); !r) return fail("dmesg: " + r.error().message);
  if (!follow) return 0;
  // What was printed last: its record's sequence number where the ring has them, else the line.
  auto remember = [](const host::LiveLogRead& read, std::optional<std::uint64_t>& seq,
                     std::string& line) {
    if (read.lines.empty()) return;
    line = read.lines.back();
    if (!read.seqs.empty()) seq = read.seqs.back();
  };
  std::optional<std::uint64_t> last_seq;
  std::string last_line;
  remember(*first, last_seq, last_line);
  while (!cancel_requested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto now = (*log)->read();
    if (!now) return fail("dmesg: " + what + ": " + now.error().message);
    const std::size_t from = host::first_unprinted(*now, last_seq, last_line);
    if (from < now->lines.size()) {
      if (auto r = print(now->lines, from); !r) return fail("dmesg: " + r.error().message);
      remember(*now, last_seq, last_line);
    }
  }
  return 0;
}

} // namespace

int run_dmesg(const std::vector<std::string>& args) {
  std::string file;
  std::string output;
  std::string uri;
  std::string qmp_socket;
  bool follow = false;
  bool stats = false;
  po::options_description desc("dmesg options");
  desc.add_options()("help,h", "show this help")(
      "output,o", po::value<std::string>(&output),
      "write the log to this file (mode 0600) instead of standard output")(
      "connect,c", po::value<std::string>(&uri),
      "libvirt URI of a running DOMAIN (default qemu:///system)")(
      "qmp", po::value<std::string>(&qmp_socket),
      "the running guest behind this QMP socket (an unmanaged QEMU) instead of a DOMAIN")(
      "follow,f", po::bool_switch(&follow),
      "DOMAIN: keep printing new records as they arrive, like dmesg -w")(
      "stats", po::bool_switch(&stats),
      "s3:// FILE: print the bytes and requests fetched on standard error")(
      "file", po::value<std::string>(&file),
      "dump file (ELF or kdump; s3://BUCKET/KEY for a remote kdump file), or a running libvirt "
      "domain");
  po::positional_options_description pos;
  pos.add("file", 1);
  int code = 0;
  if (!parse_args(args, desc, pos,
                  "usage: guestdump dmesg FILE [-o OUT] [--stats]\n"
                  "       guestdump dmesg DOMAIN [-c URI] [-f]\n"
                  "       guestdump dmesg --qmp SOCKET [-f]\n",
                  code)) {
    return code;
  }
  if (!qmp_socket.empty()) {
    if (!file.empty() || !uri.empty() || !output.empty()) {
      return usage_error("dmesg: --qmp takes no FILE, DOMAIN, -c or -o");
    }
    return run_live_dmesg(host::LiveKernelLog::open_qmp(qmp_socket),
                          "QMP socket '" + qmp_socket + "'", follow);
  }
  if (file.empty()) return usage_error("dmesg: a FILE, a DOMAIN or --qmp SOCKET is needed");
  // A domain, not a file: asked for as one (-c, -f), or a bare name that is no file here.
  std::error_code ec;
  const bool remote = is_s3_url(file);
  const bool live =
      !remote && (!uri.empty() || follow ||
                  (file.find('/') == std::string::npos && !std::filesystem::exists(file, ec)));
  if (live) {
    if (!output.empty()) return usage_error("dmesg: -o is for a dump file, not a live DOMAIN");
    const std::string u = uri.empty() ? "qemu:///system" : uri;
    return run_live_dmesg(host::LiveKernelLog::open_libvirt(u, file), "'" + file + "'", follow);
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
