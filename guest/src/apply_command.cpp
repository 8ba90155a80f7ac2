// guestdump-guest apply.

#include <iostream>

#include "cli.h"
#include "commands.h"
#include "guestdump/guest/apply.h"
#include "report.h"

namespace po = boost::program_options;

namespace guestdump::guest {

int run_apply(const std::vector<std::string>& args) {
  po::options_description desc("apply options");
  desc.add_options()("help,h", "show this help")(
      "mode", po::value<std::string>()->default_value("distro"),
      "distro: configure the installed kdump tooling; standalone: install "
      "guestdump-guest.service")("dry-run", "print the changes as unified diffs, write nothing")(
      "hyperv-blacklist", po::value<std::string>()->default_value("auto"),
      "auto|always|never (as for plan)");
  add_detect_options(desc);
  int code = 0;
  auto vm = cli::parse_args(args, desc, {},
                            "usage: guestdump-guest apply [--mode distro|standalone] [--dry-run] "
                            "[--root DIR]",
                            code);
  if (!vm) return code;
  const std::string mode_s = (*vm)["mode"].as<std::string>();
  ApplyMode mode;
  if (mode_s == "distro")
    mode = ApplyMode::kDistro;
  else if (mode_s == "standalone")
    mode = ApplyMode::kStandalone;
  else
    return cli::usage_error("--mode must be distro or standalone");
  PlanOptions popt;
  if (!blacklist_mode_from(*vm, popt.hyperv_blacklist))
    return cli::usage_error("--hyperv-blacklist must be auto, always or never");
  const DetectOptions dopt = detect_options_from(*vm);
  auto info = detect_system(dopt);
  if (!info) return cli::fail(info.error().what());
  auto plan = make_plan(*info, popt);
  if (!plan) return cli::fail(plan.error().what());
  auto actions = plan_apply(*info, *plan, mode);
  if (!actions) return cli::fail("apply: " + actions.error().what());
  for (const auto& w : plan->warnings) std::cerr << "guestdump-guest: warning: " << w << "\n";
  if (vm->count("dry-run") != 0) {
    std::cout << describe_actions(*actions);
    return 0;
  }
  if (auto r = write_actions(dopt.root, *actions); !r)
    return cli::fail("apply: " + r.error().what());
  for (const auto& f : actions->files)
    std::cout << "wrote " << f.path << (f.before ? " (backup " + f.path + ".guestdump.bak)" : "")
              << "\n";
  for (const auto& l : actions->links)
    std::cout << "linked " << l.path << " -> " << l.target << "\n";
  for (const auto& c : actions->commands) std::cout << "now run: " << c << "\n";
  for (const auto& n : actions->notes) std::cout << "note: " << n << "\n";
  return 0;
}

} // namespace guestdump::guest
