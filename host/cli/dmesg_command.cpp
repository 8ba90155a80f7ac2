// guestdump dmesg FILE [-o OUT]: the guest kernel log, as makedumpfile --dump-dmesg prints it.

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <unistd.h>

#include "cli_support.h"
#include "commands.h"
#include "guestdump/common/io.h"
#include "guestdump/common/log.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/kernel/kernel_log.h"
#include "guestdump/kernel/vmcoreinfo_locator.h"

namespace po = boost::program_options;

namespace guestdump::cli {

int run_dmesg(const std::vector<std::string>& args) {
  std::string file;
  std::string output;
  po::options_description desc("dmesg options");
  desc.add_options()("help,h", "show this help")(
      "output,o", po::value<std::string>(&output),
      "write the log to this file (mode 0600) instead of standard output")(
      "file", po::value<std::string>(&file)->required(), "dump file (ELF or kdump)");
  po::positional_options_description pos;
  pos.add("file", 1);
  int code = 0;
  if (!parse_args(args, desc, pos, "usage: guestdump dmesg FILE [-o OUT]\n", code)) return code;

  auto src = formats::open_dump(file);
  if (src) src = kernel::with_vmcoreinfo(std::move(src).value());
  if (!src) {
    std::string msg = src.error().message;
    if (msg.find("'" + file + "'") == std::string::npos) msg = "'" + file + "': " + msg;
    return fail("dmesg: " + msg);
  }
  auto log = kernel::read_kernel_log(**src);
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
