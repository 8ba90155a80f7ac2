// guestdump-guest detect / plan.

#include <iostream>

#include "cli.h"
#include "commands.h"
#include "report.h"

namespace po = boost::program_options;

namespace guestdump::guest {

int run_detect(const std::vector<std::string>& args) {
  po::options_description desc("detect options");
  desc.add_options()("help,h", "show this help")("json", "print one JSON object");
  add_detect_options(desc);
  int code = 0;
  auto vm =
      cli::parse_args(args, desc, {}, "usage: guestdump-guest detect [--json] [--root DIR]", code);
  if (!vm) return code;
  auto info = detect_system(detect_options_from(*vm));
  if (!info) return cli::fail(info.error().what());
  if (vm->count("json") != 0)
    std::cout << system_info_json(*info).dump(2) << "\n";
  else
    std::cout << system_info_text(*info);
  return 0;
}

int run_plan(const std::vector<std::string>& args) {
  po::options_description desc("plan options");
  desc.add_options()("help,h", "show this help")("json", "print one JSON object")(
      "hyperv-blacklist", po::value<std::string>()->default_value("auto"),
      "auto|always|never: the legacy Hyper-V module blacklist in the capture kernel");
  add_detect_options(desc);
  int code = 0;
  auto vm = cli::parse_args(args, desc, {},
                            "usage: guestdump-guest plan [--json] [--root DIR] "
                            "[--hyperv-blacklist auto|always|never]",
                            code);
  if (!vm) return code;
  PlanOptions popt;
  if (!blacklist_mode_from(*vm, popt.hyperv_blacklist))
    return cli::usage_error("--hyperv-blacklist must be auto, always or never");
  auto info = detect_system(detect_options_from(*vm));
  if (!info) return cli::fail(info.error().what());
  auto plan = make_plan(*info, popt);
  if (!plan) return cli::fail(plan.error().what());
  if (vm->count("json") != 0)
    std::cout << plan_json(*plan).dump(2) << "\n";
  else
    std::cout << plan_text(*plan);
  return 0;
}

} // namespace guestdump::guest
