// See report.h.

#include "report.h"

#include <cstring>
#include <sstream>

namespace po = boost::program_options;
using nlohmann::json;

namespace guestdump::guest {

namespace {

template <typename T> json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

template <typename T> std::string text(const std::optional<T>& v) {
  if (!v) return "unknown";
  std::ostringstream s;
  if constexpr (std::is_same_v<T, bool>)
    s << (*v ? "yes" : "no");
  else
    s << *v;
  return s.str();
}

} // namespace

json system_info_json(const SystemInfo& i) {
  json j;
  j["hypervisor"] = std::string(hypervisor_name(i.hypervisor));
  j["hypervisor_evidence"] = i.hypervisor_evidence;
  j["cpuid_signature"] = opt(i.cpuid_signature);
  j["sys_hypervisor_type"] = opt(i.sys_hypervisor_type);
  j["dmi"] = {{"sys_vendor", opt(i.dmi_sys_vendor)},
              {"product_name", opt(i.dmi_product_name)},
              {"product_version", opt(i.dmi_product_version)},
              {"bios_vendor", opt(i.dmi_bios_vendor)},
              {"bios_version", opt(i.dmi_bios_version)}};
  j["vmbus"] = i.vmbus;
  j["efi"] = i.efi;
  j["hyperv"] = i.hypervisor == Hypervisor::kHyperV
                    ? json{{"generation", opt(i.hyperv_generation)},
                           {"host_build", opt(i.hyperv_host_build)},
                           {"host_version", opt(i.hyperv_host_version)},
                           {"vmbus_version", opt(i.vmbus_version)}}
                    : json(nullptr);
  j["kernel"] = {{"release", opt(i.kernel_release)},
                 {"config", opt(i.kernel_config)},
                 {"kexec_file", opt(i.config_kexec_file)},
                 {"crash_dump", opt(i.config_crash_dump)}};
  j["memory_bytes"] = opt(i.mem_total_bytes);
  j["cpus"] = opt(i.cpus);
  j["lockdown"] = opt(i.lockdown);
  j["secure_boot"] = opt(i.secure_boot);
  j["distro"] = {{"id", opt(i.distro_id)},
                 {"id_like", opt(i.distro_id_like)},
                 {"name", opt(i.distro_name)},
                 {"family", std::string(distro_family_name(i.distro_family))}};
  j["kdump_tooling"] = std::string(kdump_tooling_name(i.kdump_tooling));
  j["cmdline"] = opt(i.cmdline);
  j["crashkernel"] = opt(i.crashkernel);
  j["kexec_crash_size"] = opt(i.kexec_crash_size);
  j["kexec_crash_loaded"] = opt(i.kexec_crash_loaded);
  j["kexec_load_disabled"] = opt(i.kexec_load_disabled);
  j["dump_target"] = {{"device", opt(i.dump_target)}, {"bus", opt(i.dump_target_bus)}};
  j["capture_initrd_bytes"] = opt(i.capture_initrd_size);
  return j;
}

std::string system_info_text(const SystemInfo& i) {
  std::ostringstream o;
  auto row = [&](const char* k, const std::string& v) {
    o << k << std::string(22 - std::min<std::size_t>(21, std::strlen(k)), ' ') << v << "\n";
  };
  row("hypervisor:",
      std::string(hypervisor_name(i.hypervisor)) + " (" + i.hypervisor_evidence + ")");
  if (i.hypervisor == Hypervisor::kHyperV) {
    row("hyper-v generation:", text(i.hyperv_generation));
    row("hyper-v host build:",
        text(i.hyperv_host_build) +
            (i.hyperv_host_version ? " (" + *i.hyperv_host_version + ")" : ""));
    row("vmbus version:", text(i.vmbus_version));
  }
  row("dmi:", text(i.dmi_sys_vendor) + " / " + text(i.dmi_product_name));
  row("firmware:", i.efi ? "UEFI" : "BIOS (no /sys/firmware/efi)");
  row("kernel:", text(i.kernel_release));
  row("kernel config:", i.kernel_config ? *i.kernel_config + ": CONFIG_KEXEC_FILE " +
                                              text(i.config_kexec_file) + ", CONFIG_CRASH_DUMP " +
                                              text(i.config_crash_dump)
                                        : "unknown (no /boot/config-* or /proc/config.gz)");
  row("memory:", i.mem_total_bytes ? std::to_string(*i.mem_total_bytes >> 20) + " MiB" : "unknown");
  row("cpus:", text(i.cpus));
  row("lockdown:", text(i.lockdown));
  row("secure boot:", text(i.secure_boot));
  row("distro:",
      text(i.distro_name) + " (family " + std::string(distro_family_name(i.distro_family)) + ")");
  row("kdump tooling:", std::string(kdump_tooling_name(i.kdump_tooling)));
  row("crashkernel=:", i.crashkernel ? *i.crashkernel : "not set");
  row("reserved:",
      i.kexec_crash_size ? std::to_string(*i.kexec_crash_size >> 20) + " MiB" : "unknown");
  row("capture kernel:",
      i.kexec_crash_loaded ? (*i.kexec_crash_loaded ? "loaded" : "not loaded") : "unknown");
  row("dump target:", text(i.dump_target) + " (bus " + text(i.dump_target_bus) + ")");
  return o.str();
}

json plan_json(const Plan& p) {
  json j;
  j["hypervisor"] = std::string(hypervisor_name(p.hypervisor));
  j["crashkernel"] = p.crashkernel;
  j["crashkernel_reason"] = p.crashkernel_reason;
  j["reservation_bytes"] = opt(p.reservation_bytes);
  j["capture_cmdline"] = p.capture_cmdline;
  j["capture_args"] = p.capture_args;
  j["capture_cmdline_reason"] = p.capture_cmdline_reason;
  j["hyperv_blacklist"] = p.hyperv_blacklist;
  j["hyperv_blacklist_reason"] = p.hyperv_blacklist_reason;
  json s = json::array();
  for (const auto& k : p.sysctls)
    s.push_back({{"key", k.key}, {"value", k.value}, {"reason", k.reason}});
  j["sysctls"] = s;
  j["warnings"] = p.warnings;
  return j;
}

std::string plan_text(const Plan& p) {
  std::ostringstream o;
  o << "hypervisor: " << hypervisor_name(p.hypervisor) << "\n\n";
  o << "crashkernel=" << p.crashkernel << "\n  because: " << p.crashkernel_reason << "\n\n";
  o << "hyper-v module blacklist: " << (p.hyperv_blacklist ? "yes" : "no")
    << "\n  because: " << p.hyperv_blacklist_reason << "\n\n";
  o << "capture command line:\n  " << p.capture_cmdline
    << "\n  because: " << p.capture_cmdline_reason << "\n\n";
  o << "sysctl:\n";
  for (const auto& s : p.sysctls)
    o << "  " << s.key << " = " << s.value << "\n    because: " << s.reason << "\n";
  for (const auto& w : p.warnings) o << "\nwarning: " << w << "\n";
  return o.str();
}

void add_detect_options(po::options_description& desc) {
  desc.add_options()("root", po::value<std::string>()->default_value("/"),
                     "read /proc, /sys, /etc, /boot under DIR (missing files are allowed)")(
      "cpuid-signature", po::value<std::string>(),
      "CPUID 0x40000000 signature to use instead of executing CPUID ('' = none)")(
      "dump-target", po::value<std::string>(),
      "block device that receives the dump (default: the one holding /var/crash)");
}

DetectOptions detect_options_from(const po::variables_map& vm) {
  DetectOptions o;
  o.root = vm["root"].as<std::string>();
  if (vm.count("cpuid-signature") != 0) o.cpuid_signature = vm["cpuid-signature"].as<std::string>();
  if (vm.count("dump-target") != 0) o.dump_target = vm["dump-target"].as<std::string>();
  return o;
}

bool blacklist_mode_from(const po::variables_map& vm, BlacklistMode& mode) {
  if (vm.count("hyperv-blacklist") == 0) return true;
  const std::string v = vm["hyperv-blacklist"].as<std::string>();
  if (v == "auto")
    mode = BlacklistMode::kAuto;
  else if (v == "always")
    mode = BlacklistMode::kAlways;
  else if (v == "never")
    mode = BlacklistMode::kNever;
  else
    return false;
  return true;
}

} // namespace guestdump::guest
