// guestdump-guest apply.

#include <chrono>
#include <iostream>

#include "cli.h"
#include "commands.h"
#include "guestdump/guest/apply.h"
#include "guestdump/guest/run_command.h"
#include "report.h"

namespace po = boost::program_options;

namespace guestdump::guest {

namespace {

/// A follow-up rebuilds a boot loader configuration or (kdumpctl restart) an initramfs: minutes
/// on a slow disk, never an hour.
constexpr std::chrono::minutes kFollowUpTimeout{15};

} // namespace

int run_apply(const std::vector<std::string>& args) {
  po::options_description desc("apply options");
  desc.add_options()("help,h", "show this help")(
      "mode", po::value<std::string>()->default_value("distro"),
      "distro: configure the installed kdump tooling; standalone: install "
      "guestdump-guest.service")("dry-run", "print the changes as unified diffs, write nothing")(
      "hyperv-blacklist", po::value<std::string>()->default_value("auto"),
      "auto|always|never (as for plan)")(
      "no-run", "write the files but only print the boot loader and kdump reload commands");
  add_detect_options(desc);
  int code = 0;
  auto vm = cli::parse_args(args, desc, {},
                            "usage: guestdump-guest apply [--mode distro|standalone] [--dry-run] "
                            "[--no-run] [--root DIR]",
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
  for (const auto& n : actions->notes) std::cout << "note: " << n << "\n";
  // The follow-up commands run only on the live system: never under --root (a fake or mounted
  // root is not the system those tools would update), never with --no-run.
  const bool live = (dopt.root.empty() || dopt.root == "/") && vm->count("no-run") == 0;
  const bool reserved = info->kexec_crash_size.value_or(0) > 0;
  auto run_all = [&](const std::vector<std::string>& cmds) -> Result<void> {
    for (const auto& c : cmds) {
      std::cout << "running: " << c << std::endl;
      GUESTDUMP_CHECK(run_command(c, kFollowUpTimeout));
    }
    return {};
  };
  if (!live) {
    for (const auto& c : actions->commands) std::cout << "now run: " << c << "\n";
    for (const auto& c : actions->reload_commands)
      std::cout << "now run" << (reserved ? "" : " (after the reboot)") << ": " << c << "\n";
    return 0;
  }
  if (auto r = run_all(actions->commands); !r)
    return cli::fail(
        "apply: the files are written, but " + r.error().what() +
        ": the boot loader does not have crashkernel= yet; fix that and run apply again");
  if (!reserved) {
    for (const auto& c : actions->reload_commands)
      std::cout << "no crashkernel= reservation yet: after the reboot the kdump service loads "
                   "the capture kernel (by hand: "
                << c << ")\n";
    return 0;
  }
  if (auto r = run_all(actions->reload_commands); !r)
    return cli::fail("apply: the files are written and the boot loader updated, but " +
                     r.error().what() + ": the capture kernel is not loaded until it succeeds");
  return 0;
}

} // namespace guestdump::guest
