// System probes behind `detect`; see system_info.h. Each probe is one file read under root;
// the absence of a file is an answer ("unknown"), not an error.

#include "guestdump/guest/system_info.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <cpuid.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <zlib.h>

#include "fs_util.h"
#include "guestdump/common/log.h"
#include "guestdump/common/text.h"
#include "guestdump/guest/paths.h"

namespace guestdump::guest {

namespace fs = std::filesystem;

std::string_view hypervisor_name(Hypervisor h) {
  switch (h) {
  case Hypervisor::kNone:
    return "none";
  case Hypervisor::kKvm:
    return "kvm";
  case Hypervisor::kQemu:
    return "qemu";
  case Hypervisor::kXen:
    return "xen";
  case Hypervisor::kHyperV:
    return "hyperv";
  case Hypervisor::kVmware:
    return "vmware";
  }
  return "none";
}

std::string_view distro_family_name(DistroFamily f) {
  switch (f) {
  case DistroFamily::kUnknown:
    return "unknown";
  case DistroFamily::kDebian:
    return "debian";
  case DistroFamily::kRhel:
    return "rhel";
  case DistroFamily::kSuse:
    return "suse";
  }
  return "unknown";
}

std::string_view kdump_tooling_name(KdumpTooling t) {
  switch (t) {
  case KdumpTooling::kNone:
    return "none";
  case KdumpTooling::kKdumpTools:
    return "kdump-tools";
  case KdumpTooling::kKdumpctl:
    return "kdumpctl";
  case KdumpTooling::kSuseKdump:
    return "suse-kdump";
  }
  return "none";
}

std::optional<Hypervisor> hypervisor_from_cpuid(std::string_view signature) {
  // The 12 bytes are NUL-padded ("KVMKVMKVM\0\0\0").
  while (!signature.empty() && signature.back() == '\0') signature.remove_suffix(1);
  if (signature == "KVMKVMKVM" || signature == "Linux KVM Hv") return Hypervisor::kKvm;
  if (signature == "TCGTCGTCGTCG") return Hypervisor::kQemu;
  if (signature == "XenVMMXenVMM") return Hypervisor::kXen;
  if (signature == "Microsoft Hv") return Hypervisor::kHyperV;
  if (signature == "VMwareVMware") return Hypervisor::kVmware;
  return std::nullopt;
}

std::string read_cpuid_signature() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  // Leaf 1 ECX bit 31: a hypervisor is present. Without it leaf 0x40000000 is undefined.
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0 || (ecx & (1u << 31)) == 0) return "";
  __cpuid(0x40000000, eax, ebx, ecx, edx);
  char sig[13] = {};
  std::memcpy(sig, &ebx, 4);
  std::memcpy(sig + 4, &ecx, 4);
  std::memcpy(sig + 8, &edx, 4);
  return std::string(sig);
}

bool parse_hyperv_host_build(std::string_view line, unsigned& build, std::string& version) {
  auto pos = line.find("Host Build");
  if (pos == std::string_view::npos) return false;
  std::string rest(line.substr(pos + 10));
  if (!rest.empty() && (rest[0] == ':' || rest[0] == ' ')) rest.erase(0, 1);
  unsigned a = 0, b = 0, c = 0;
  // x86: BUILD-MAJOR.MINOR-SP-BRANCH.NUMBER
  if (std::sscanf(rest.c_str(), "%u-%u.%u", &a, &b, &c) == 3) {
    build = a;
    version = std::to_string(b) + "." + std::to_string(c);
    return true;
  }
  // arm64 before 2022: MAJOR.MINOR.BUILD.NUMBER-SP-BRANCH
  if (std::sscanf(rest.c_str(), "%u.%u.%u", &a, &b, &c) == 3) {
    build = c;
    version = std::to_string(a) + "." + std::to_string(b);
    return true;
  }
  return false;
}

std::vector<std::string> split_cmdline(std::string_view cmdline) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char ch : cmdline) {
    if (ch == '"') quoted = !quoted;
    if (!quoted && std::isspace(static_cast<unsigned char>(ch))) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    cur += ch;
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::optional<std::string> cmdline_value(std::string_view cmdline, std::string_view name) {
  std::optional<std::string> value;
  for (const std::string& tok : split_cmdline(cmdline))
    if (tok.size() > name.size() && tok.compare(0, name.size(), name) == 0 &&
        tok[name.size()] == '=')
      value = tok.substr(name.size() + 1);
  return value;
}

namespace {

constexpr const char* kEfiGlobalGuid = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
// VMBus device class GUIDs of the synthetic storage controllers (drivers/scsi/storvsc_drv.c).
constexpr const char* kVmbusIdeClass = "32412632-86cb-44a2-9b5c-50d1417354f5";
constexpr const char* kVmbusScsiClass = "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool contains_ci(const std::optional<std::string>& s, std::string_view needle) {
  return s && lower(*s).find(lower(std::string(needle))) != std::string::npos;
}

// "0-3,8,10-11" -> 7
std::optional<unsigned> count_cpu_list(const std::string& list) {
  unsigned n = 0;
  std::stringstream ss(list);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    unsigned a = 0, b = 0;
    if (std::sscanf(part.c_str(), "%u-%u", &a, &b) == 2 && b >= a)
      n += b - a + 1;
    else if (std::sscanf(part.c_str(), "%u", &a) == 1)
      n += 1;
    else
      return std::nullopt;
  }
  return n == 0 ? std::nullopt : std::optional<unsigned>(n);
}

// A gzip file under root, inflated up to kMaxReadBytes.
std::optional<std::string> read_gzip_text(const std::string& root, const std::string& path) {
  auto fd = open_file_under(root, path);
  if (!fd) return std::nullopt;
  gzFile f = gzdopen(fd->get(), "rb");
  if (f == nullptr) return std::nullopt;
  fd->release(); // gzclose closes it
  std::string out;
  char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) {
    if (out.size() + static_cast<std::size_t>(n) > kMaxReadBytes) {
      n = -1;
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  gzclose(f);
  if (n < 0) return std::nullopt;
  return out;
}

void parse_kernel_config(SystemInfo& info, const std::string& text) {
  info.config_kexec_file = text.find("\nCONFIG_KEXEC_FILE=y") != std::string::npos ||
                           text.rfind("CONFIG_KEXEC_FILE=y", 0) == 0;
  info.config_crash_dump = text.find("\nCONFIG_CRASH_DUMP=y") != std::string::npos ||
                           text.rfind("CONFIG_CRASH_DUMP=y", 0) == 0;
}

std::map<std::string, std::string> parse_os_release(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos || line.empty() || line[0] == '#') continue;
    std::string v = line.substr(eq + 1);
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
      v = v.substr(1, v.size() - 2);
    kv[line.substr(0, eq)] = v;
  }
  return kv;
}

DistroFamily family_of(const std::string& id, const std::string& id_like) {
  std::stringstream ss(id + " " + id_like);
  std::string w;
  while (ss >> w) {
    if (w == "debian" || w == "ubuntu") return DistroFamily::kDebian;
    if (w == "rhel" || w == "fedora" || w == "centos" || w == "rocky" || w == "almalinux" ||
        w == "ol" || w == "amzn")
      return DistroFamily::kRhel;
    if (w == "suse" || w == "sles" || w == "sled" || w.rfind("opensuse", 0) == 0)
      return DistroFamily::kSuse;
  }
  return DistroFamily::kUnknown;
}

// The kernel log: the live ring buffer when probing "/", plus the saved boot logs under root
// (a fake root has only these).
std::string kernel_log(const std::string& root) {
  std::string log;
  if (root == "/") {
    int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, nullptr, 0);
    if (size > 0) {
      std::string buf(static_cast<std::size_t>(size), '\0');
      int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf.data(), size);
      if (n > 0) log.append(buf.data(), static_cast<std::size_t>(n));
    }
  }
  for (const char* p : {"/var/log/dmesg", "/var/log/kern.log"})
    if (auto t = read_file_under(root, p)) log += *t;
  return log;
}

// Decides which bus the dump target sits on from its sysfs device path.
void detect_dump_target(SystemInfo& info, const DetectOptions& opt) {
  const std::string& root = opt.root;
  std::string dev;
  if (opt.dump_target) {
    dev = *opt.dump_target;
  } else {
    auto mounts = read_file_under(root, "/proc/self/mounts");
    if (!mounts) mounts = read_file_under(root, "/proc/mounts");
    if (!mounts) return;
    std::stringstream ss(*mounts);
    std::string line;
    std::size_t best = 0;
    const std::string target = "/var/crash";
    while (std::getline(ss, line)) {
      std::stringstream ls(line);
      std::string src, mnt;
      if (!(ls >> src >> mnt)) continue;
      bool covers = mnt == "/" || target == mnt || target.rfind(mnt + "/", 0) == 0;
      if (covers && mnt.size() >= best && src.rfind("/dev/", 0) == 0) {
        best = mnt.size();
        dev = src;
      }
    }
    if (dev.empty()) return;
  }
  // /dev/disk/by-uuid/... and friends are symlinks to ../../sdX.
  if (dev.rfind("/dev/", 0) == 0) {
    if (auto link = read_link_under(root, dev))
      dev = fs::path(*link).filename().string();
    else
      dev = fs::path(dev).filename().string();
  }
  info.dump_target = dev;
  // Device mapper (LVM, LUKS) and md devices sit on other block devices: follow the first
  // slave down to a disk, whose path names the controller.
  for (int depth = 0; depth < 4; ++depth) {
    auto slaves = list_dir_under(root, "/sys/class/block/" + dev + "/slaves");
    if (!slaves || slaves->empty()) break;
    std::sort(slaves->begin(), slaves->end());
    dev = slaves->front();
  }
  auto link = read_link_under(root, "/sys/class/block/" + dev);
  if (!link) return; // no sysfs entry: the bus stays unknown
  const std::string path = *link;
  // A VMBus device appears in the path as its instance GUID; its class says IDE or SCSI.
  for (const auto& part : fs::path(path)) {
    std::string p = part.string();
    if (p.size() == 36 && p[8] == '-' && p[13] == '-' && p[18] == '-' && p[23] == '-') {
      auto cls = read_file_under(root, "/sys/bus/vmbus/devices/" + p + "/class_id");
      std::string c = cls ? lower(std::string(trim(*cls))) : "";
      if (c.find(kVmbusIdeClass) != std::string::npos)
        info.dump_target_bus = "vmbus-ide";
      else if (c.find(kVmbusScsiClass) != std::string::npos)
        info.dump_target_bus = "vmbus-scsi";
      else
        info.dump_target_bus = "vmbus";
      return;
    }
  }
  std::string lp = lower(path);
  if (lp.find("vmbus") != std::string::npos)
    info.dump_target_bus = "vmbus";
  else if (lp.find("virtio") != std::string::npos)
    info.dump_target_bus = "virtio";
  else if (lp.find("nvme") != std::string::npos)
    info.dump_target_bus = "nvme";
  else
    info.dump_target_bus = "other";
}

void detect_hypervisor(SystemInfo& info, const DetectOptions& opt) {
  if (opt.cpuid_signature) {
    if (!opt.cpuid_signature->empty()) info.cpuid_signature = *opt.cpuid_signature;
  } else if (opt.root == "/") {
    std::string sig = read_cpuid_signature();
    if (!sig.empty()) info.cpuid_signature = sig;
  }
  const bool qemu_dmi =
      contains_ci(info.dmi_sys_vendor, "qemu") || contains_ci(info.dmi_product_name, "kvm") ||
      contains_ci(info.dmi_product_name, "qemu") || contains_ci(info.dmi_bios_vendor, "seabios");
  if (info.cpuid_signature) {
    if (auto h = hypervisor_from_cpuid(*info.cpuid_signature)) {
      info.hypervisor = *h;
      info.hypervisor_evidence = "cpuid signature '" + *info.cpuid_signature + "'";
      // QEMU/KVM with Hyper-V enlightenments also says "Microsoft Hv"; DMI tells them apart.
      if (*h == Hypervisor::kHyperV && qemu_dmi && !info.vmbus) {
        info.hypervisor = Hypervisor::kKvm;
        info.hypervisor_evidence += " with QEMU DMI (KVM with Hyper-V enlightenments)";
      }
      return;
    }
  }
  if (info.sys_hypervisor_type && trim(*info.sys_hypervisor_type) == "xen") {
    info.hypervisor = Hypervisor::kXen;
    info.hypervisor_evidence = "/sys/hypervisor/type 'xen'";
    return;
  }
  if (info.vmbus) {
    info.hypervisor = Hypervisor::kHyperV;
    info.hypervisor_evidence = "/sys/bus/vmbus exists";
    return;
  }
  struct DmiRule {
    const std::optional<std::string>* field;
    const char* needle;
    Hypervisor h;
  };
  const DmiRule rules[] = {
      {&info.dmi_sys_vendor, "qemu", Hypervisor::kQemu},
      {&info.dmi_product_name, "qemu", Hypervisor::kQemu},
      {&info.dmi_bios_vendor, "seabios", Hypervisor::kQemu},
      {&info.dmi_product_name, "kvm", Hypervisor::kKvm},
      {&info.dmi_sys_vendor, "microsoft corporation", Hypervisor::kHyperV},
      {&info.dmi_sys_vendor, "vmware", Hypervisor::kVmware},
      {&info.dmi_product_name, "vmware", Hypervisor::kVmware},
      {&info.dmi_sys_vendor, "xen", Hypervisor::kXen},
      {&info.dmi_product_name, "hvm domu", Hypervisor::kXen},
      {&info.dmi_sys_vendor, "amazon ec2", Hypervisor::kKvm},
      {&info.dmi_sys_vendor, "google", Hypervisor::kKvm},
  };
  for (const DmiRule& r : rules) {
    if (!contains_ci(*r.field, r.needle)) continue;
    // Microsoft also makes hardware (Surface): only "Virtual Machine" is Hyper-V.
    if (r.h == Hypervisor::kHyperV && !contains_ci(info.dmi_product_name, "virtual machine"))
      continue;
    info.hypervisor = r.h;
    info.hypervisor_evidence = "dmi '" + **r.field + "'";
    return;
  }
  info.hypervisor = Hypervisor::kNone;
  info.hypervisor_evidence = info.cpuid_signature
                                 ? "unknown cpuid signature '" + *info.cpuid_signature + "'"
                                 : "no hypervisor cpuid leaf, sysfs or dmi evidence";
}

} // namespace

Result<SystemInfo> detect_system(const DetectOptions& opt) {
  std::error_code ec;
  if (!fs::is_directory(opt.root, ec))
    return make_error(ErrorCode::kNotFound, "root '" + opt.root + "': not a directory");
  SystemInfo info;
  info.root = opt.root;
  const std::string& root = opt.root;
  auto read = [&](const char* p) -> std::optional<std::string> {
    auto t = read_file_under(root, p);
    if (!t) return std::nullopt;
    // sysfs and DMI values may end in NULs as well as whitespace.
    std::string_view raw(*t);
    std::string v(trim(raw.substr(0, raw.find_last_not_of('\0') + 1)));
    return v.empty() ? std::nullopt : std::optional<std::string>(v);
  };

  info.dmi_sys_vendor = read("/sys/class/dmi/id/sys_vendor");
  info.dmi_product_name = read("/sys/class/dmi/id/product_name");
  info.dmi_product_version = read("/sys/class/dmi/id/product_version");
  info.dmi_bios_vendor = read("/sys/class/dmi/id/bios_vendor");
  info.dmi_bios_version = read("/sys/class/dmi/id/bios_version");
  info.sys_hypervisor_type = read("/sys/hypervisor/type");
  info.vmbus = exists_under(root, "/sys/bus/vmbus");
  info.efi = exists_under(root, "/sys/firmware/efi");
  detect_hypervisor(info, opt);

  const std::string klog = kernel_log(root);
  if (info.hypervisor == Hypervisor::kHyperV) {
    info.hyperv_generation = info.efi ? 2 : 1;
    std::stringstream ss(klog);
    std::string line;
    while (std::getline(ss, line)) {
      unsigned build = 0;
      std::string version;
      if (parse_hyperv_host_build(line, build, version)) {
        info.hyperv_host_build = build;
        info.hyperv_host_version = version;
      }
      auto v = line.find("Vmbus version:");
      if (v != std::string::npos) info.vmbus_version = std::string(trim(line.substr(v + 14)));
    }
  }

  info.kernel_release = read("/proc/sys/kernel/osrelease");
  if (!info.kernel_release && root == "/") {
    struct utsname u {};
    if (uname(&u) == 0) info.kernel_release = u.release;
  }
  if (info.kernel_release) {
    std::string p = "/boot/config-" + *info.kernel_release;
    if (auto t = read_file_under(root, p)) {
      info.kernel_config = p;
      parse_kernel_config(info, *t);
    }
  }
  if (!info.kernel_config) {
    if (auto t = read_gzip_text(root, "/proc/config.gz")) {
      info.kernel_config = "/proc/config.gz";
      parse_kernel_config(info, *t);
    }
  }

  if (auto mem = read("/proc/meminfo")) {
    unsigned long long kb = 0;
    auto p = mem->find("MemTotal:");
    if (p != std::string::npos && std::sscanf(mem->c_str() + p + 9, "%llu", &kb) == 1)
      info.mem_total_bytes = static_cast<std::uint64_t>(kb) * 1024;
  }
  if (auto online = read("/sys/devices/system/cpu/online")) info.cpus = count_cpu_list(*online);
  if (auto cpuinfo = read("/proc/cpuinfo")) {
    std::stringstream ss(*cpuinfo);
    std::string line;
    unsigned processors = 0;
    while (std::getline(ss, line)) {
      if (line.rfind("processor", 0) == 0) ++processors;
      unsigned id = 0;
      auto c = line.find(':');
      if (processors == 1 && !info.boot_cpu_apicid && line.rfind("initial apicid", 0) == 0 &&
          c != std::string::npos && std::sscanf(line.c_str() + c + 1, "%u", &id) == 1)
        info.boot_cpu_apicid = id;
    }
    if (!info.cpus && processors > 0) info.cpus = processors;
  }

  if (auto l = read("/sys/kernel/security/lockdown")) {
    auto a = l->find('['), b = l->find(']');
    if (a != std::string::npos && b != std::string::npos && b > a)
      info.lockdown = l->substr(a + 1, b - a - 1);
  }
  if (info.efi) {
    auto efivar = [&](const std::string& name) -> std::optional<int> {
      auto t = read_file_under(root, "/sys/firmware/efi/efivars/" + name + "-" + kEfiGlobalGuid);
      // 4 bytes of attributes, then the one-byte value.
      if (!t || t->size() < 5) return std::nullopt;
      return static_cast<unsigned char>((*t)[4]);
    };
    auto sb = efivar("SecureBoot");
    auto setup = efivar("SetupMode");
    if (sb) info.secure_boot = *sb == 1 && setup.value_or(0) == 0;
  }

  auto osr = read_file_under(root, "/etc/os-release");
  if (!osr) osr = read_file_under(root, "/usr/lib/os-release");
  if (osr) {
    auto kv = parse_os_release(*osr);
    if (kv.count("ID") != 0) info.distro_id = kv["ID"];
    if (kv.count("ID_LIKE") != 0) info.distro_id_like = kv["ID_LIKE"];
    if (kv.count("PRETTY_NAME") != 0) info.distro_name = kv["PRETTY_NAME"];
    info.distro_family = family_of(kv["ID"], kv["ID_LIKE"]);
  }
  const bool kdump_tools = exists_under(root, "/etc/default/kdump-tools") ||
                           exists_under(root, "/usr/sbin/kdump-config");
  const bool kdumpctl = exists_under(root, "/usr/bin/kdumpctl") ||
                        exists_under(root, "/usr/sbin/kdumpctl") ||
                        exists_under(root, "/etc/kdump.conf");
  const bool suse_kdump =
      exists_under(root, "/usr/sbin/kdumptool") ||
      (exists_under(root, "/etc/sysconfig/kdump") && info.distro_family == DistroFamily::kSuse);
  switch (info.distro_family) {
  case DistroFamily::kDebian:
    if (kdump_tools) info.kdump_tooling = KdumpTooling::kKdumpTools;
    break;
  case DistroFamily::kRhel:
    if (kdumpctl) info.kdump_tooling = KdumpTooling::kKdumpctl;
    break;
  case DistroFamily::kSuse:
    if (suse_kdump) info.kdump_tooling = KdumpTooling::kSuseKdump;
    break;
  case DistroFamily::kUnknown:
    if (kdump_tools)
      info.kdump_tooling = KdumpTooling::kKdumpTools;
    else if (suse_kdump)
      info.kdump_tooling = KdumpTooling::kSuseKdump;
    else if (kdumpctl)
      info.kdump_tooling = KdumpTooling::kKdumpctl;
    break;
  }
  info.grubby = exists_under(root, "/usr/sbin/grubby") || exists_under(root, "/sbin/grubby");
  info.grub_defaults = exists_under(root, "/etc/default/grub");

  info.cmdline = read("/proc/cmdline");
  if (info.cmdline) info.crashkernel = cmdline_value(*info.cmdline, "crashkernel");
  if (auto s = read("/sys/kernel/kexec_crash_size")) {
    unsigned long long v = 0;
    if (std::sscanf(s->c_str(), "%llu", &v) == 1) info.kexec_crash_size = v;
  }
  if (auto s = read("/sys/kernel/kexec_crash_loaded")) info.kexec_crash_loaded = *s == "1";
  if (auto s = read("/proc/sys/kernel/kexec_load_disabled")) info.kexec_load_disabled = *s == "1";

  detect_dump_target(info, opt);
  // The capture initramfs built for the running (or, under --root, the detected) kernel.
  std::optional<UniqueFd> initrd;
  if (info.kernel_release) initrd = open_file_under(root, capture_initrd_for(*info.kernel_release));
  if (initrd) {
    struct stat st {};
    if (::fstat(initrd->get(), &st) == 0)
      info.capture_initrd_size = static_cast<std::uint64_t>(st.st_size);
  }
  GUESTDUMP_LOG(kDebug, "guest") << "detect under '" << root
                                 << "': " << hypervisor_name(info.hypervisor) << " ("
                                 << info.hypervisor_evidence << ")";
  return info;
}

} // namespace guestdump::guest
