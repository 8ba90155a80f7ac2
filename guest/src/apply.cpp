// See apply.h. The rule for every distro file: read it, change only our keys with the
// config_edit functions, and keep every other byte.

#include "guestdump/guest/apply.h"

#include <algorithm>
#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_util.h"
#include "guestdump/common/io.h"
#include "guestdump/guest/config_edit.h"
#include "guestdump/guest/paths.h"

namespace guestdump::guest {

namespace {

// What each distro appends when its own variable is unset (Debian's comes from
// debian/rules at build time, so the shipped file has it commented out); setting the
// variable replaces that default, so it must be kept.
constexpr const char* kDebianDefaultAppend =
    "reset_devices systemd.unit=kdump-tools-dump.service nr_cpus=1 irqpoll usbcore.nousb";

std::vector<std::string> blacklist_tokens() {
  return {std::begin(kHypervBlacklistArgs), std::end(kHypervBlacklistArgs)};
}

// A file apply may change: nullopt when it does not exist (yet), an error when it exists but
// cannot be read whole (not a regular file, unreadable, larger than kMaxConfigBytes) - then the
// original could not be kept in the backup, so nothing is written.
Result<std::optional<std::string>> read_config(const std::string& root, const std::string& path) {
  auto where = resolve_in_root(root, path);
  if (!where && where.error().sys_errno == ENOENT) return std::optional<std::string>();
  if (!where) return std::move(where).error();
  struct stat st {};
  if (::fstatat(where->dir.get(), where->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 &&
      errno == ENOENT)
    return std::optional<std::string>();
  auto text = read_file_under(root, path, kMaxConfigBytes);
  if (!text)
    return make_error(ErrorCode::kUnsupported,
                      "'" + under_root(root, where->canonical) + "' (for " + path +
                          "): not a regular file, unreadable or larger than " +
                          std::to_string(kMaxConfigBytes) + " bytes; not edited");
  return text;
}

// Adds `change` when it changes the file.
void add_change(ApplyActions& a, const std::string& path, const std::optional<std::string>& before,
                std::string after, std::string why) {
  if (before && *before == after) return;
  a.files.push_back({path, before, std::move(after), std::move(why)});
}

// The append value for a distro variable: its current value (or the distro default), with
// our arguments merged in and the blacklist removed when the plan does not want it.
std::string distro_append(const std::optional<std::string>& current, const char* fallback,
                          std::vector<std::string> ours, const Plan& plan) {
  std::vector<std::string> remove;
  if (!plan.hyperv_blacklist) remove = blacklist_tokens();
  return merge_params(current ? *current : fallback, ours, remove);
}

// The boot loader command to run after the reservation changed.
void add_bootloader_update(ApplyActions& a, const SystemInfo& info, const std::string& token) {
  if (info.distro_family == DistroFamily::kRhel && info.grubby) {
    a.commands.push_back("grubby --update-kernel=ALL --args=" + token);
  } else if (info.distro_family == DistroFamily::kSuse) {
    a.commands.push_back("update-bootloader --refresh");
  } else if (info.distro_family == DistroFamily::kRhel) {
    a.commands.push_back("grub2-mkconfig -o /boot/grub2/grub.cfg");
  } else {
    a.commands.push_back("update-grub");
  }
}

// Debian: crashkernel= goes into our own GRUB drop-in, never into /etc/default/grub (ucf's,
// from the grub packages) or kdump-tools' grub.d/kdump-tools.cfg. grub-mkconfig sources
// grub.d/*.cfg in name order after /etc/default/grub, so "zz-" puts ours after kdump-tools.cfg,
// and appending puts our crashkernel= last on the command line: the one the kernel uses.
Result<void> grub_dropin(ApplyActions& a, const SystemInfo& info, const Plan& plan) {
  const std::string token = "crashkernel=" + plan.crashkernel;
  GUESTDUMP_TRY(auto before, read_config(info.root, kGrubDropin));
  std::string after = std::string("# Written by guestdump-guest apply: the capture kernel's "
                                  "reservation (") +
                      plan.crashkernel_reason +
                      ").\n"
                      "# Sourced after /etc/default/grub and kdump-tools.cfg; the kernel uses "
                      "the last crashkernel=.\n"
                      "GRUB_CMDLINE_LINUX_DEFAULT=\"$GRUB_CMDLINE_LINUX_DEFAULT " +
                      token + "\"\n";
  add_change(a, kGrubDropin, before, after, "reserve the capture kernel's memory at boot");
  add_bootloader_update(a, info, token);
  return {};
}

// Other distributions: crashkernel= goes into whichever GRUB variable already has one, else
// into GRUB_CMDLINE_LINUX_DEFAULT, of /etc/default/grub.
Result<void> grub_crashkernel(ApplyActions& a, const SystemInfo& info, const Plan& plan) {
  if (info.distro_family == DistroFamily::kDebian) return grub_dropin(a, info, plan);
  const std::string token = "crashkernel=" + plan.crashkernel;
  const std::string path = "/etc/default/grub";
  GUESTDUMP_TRY(auto before, read_config(info.root, path));
  if (!before) {
    a.notes.push_back("no " + path + ": add " + token + " to the boot loader's kernel command " +
                      "line by hand");
    return {};
  }
  const std::string source = under_root(info.root, path);
  std::string after = *before;
  bool placed = false;
  for (const char* var : {"GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"}) {
    GUESTDUMP_TRY(auto v, get_shell_var(after, var, source));
    if (v && v->find("crashkernel=") != std::string::npos) {
      // The first crashkernel= is rewritten in place; any further ones are dropped.
      std::vector<std::string> extra;
      bool first = true;
      for (auto& t : split_cmdline(*v))
        if (t.rfind("crashkernel=", 0) == 0) {
          if (!first && t != token) extra.push_back(t);
          first = false;
        }
      GUESTDUMP_TRY(after, set_shell_var(after, var, merge_params(*v, {token}, extra), source));
      placed = true;
    }
  }
  if (!placed) {
    GUESTDUMP_TRY(auto v, get_shell_var(after, "GRUB_CMDLINE_LINUX_DEFAULT", source));
    GUESTDUMP_TRY(after, set_shell_var(after, "GRUB_CMDLINE_LINUX_DEFAULT",
                                       merge_params(v.value_or(""), {token}, {}), source));
  }
  add_change(a, path, before, after,
             "reserve the capture kernel's memory at boot (" + plan.crashkernel_reason + ")");
  add_bootloader_update(a, info, token);
  return {};
}

// `value` inside a double-quoted systemd setting: % starts a specifier, \\ and " escape.
std::string systemd_quoted(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '%' || c == '\\' || c == '"') out += c == '%' ? '%' : '\\';
    out += c;
  }
  return out;
}

// Sets KEY in `text` to the distro append value built from its current value (see
// distro_append).
Result<void> set_append(std::string& text, const char* key, const char* fallback,
                        const std::vector<std::string>& ours, const Plan& plan,
                        const std::string& source) {
  GUESTDUMP_TRY(auto current, get_shell_var(text, key, source));
  GUESTDUMP_TRY(text,
                set_shell_var(text, key, distro_append(current, fallback, ours, plan), source));
  return {};
}

Result<void> sysctl_file(ApplyActions& a, const SystemInfo& info, const Plan& plan) {
  std::string text = "# Written by guestdump-guest apply: panics become crash dumps.\n";
  for (const auto& s : plan.sysctls)
    text += "# " + s.reason + "\n" + s.key + " = " + s.value + "\n";
  GUESTDUMP_TRY(auto before, read_config(info.root, kSysctlFile));
  add_change(a, kSysctlFile, before, text, "panic and NMI knobs");
  return {};
}

Result<void> distro_files(ApplyActions& a, const SystemInfo& info, const Plan& plan) {
  const std::string& root = info.root;
  const std::string os = info.distro_id ? "ID '" + *info.distro_id + "'" : "no ID";
  if (info.distro_family == DistroFamily::kUnknown)
    return make_error(ErrorCode::kUnsupported,
                      "distro mode: unknown distro (" + os + " in " +
                          under_root(root, "/etc/os-release") +
                          "): no kdump tooling to configure; use --mode standalone");
  if (info.kdump_tooling == KdumpTooling::kNone) {
    const char* pkg = info.distro_family == DistroFamily::kDebian
                          ? "kdump-tools (/etc/default/kdump-tools)"
                      : info.distro_family == DistroFamily::kRhel
                          ? "kdump-utils or kexec-tools (kdumpctl, /etc/kdump.conf)"
                          : "kdump (kdumptool, /etc/sysconfig/kdump)";
    return make_error(ErrorCode::kNotFound,
                      std::string("distro mode: ") +
                          std::string(distro_family_name(info.distro_family)) + " system (" + os +
                          ") without its kdump tooling: install " + pkg +
                          " or use --mode standalone");
  }
  const std::vector<std::string> args = plan.capture_args;
  switch (info.kdump_tooling) {
  case KdumpTooling::kKdumpTools: {
    // /etc/default/kdump-tools belongs to kdump-tools (ucf) and has no drop-in directory, so
    // it is only read. kdump-tools.service reads it as EnvironmentFile= and kdump-config
    // sources it, and both leave an environment value alone that the file does not set
    // (Debian ships KDUMP_CMDLINE_APPEND commented out): our arguments go into a systemd
    // drop-in of kdump-tools.service as Environment=.
    const std::string path = "/etc/default/kdump-tools";
    const std::string source = under_root(root, path);
    GUESTDUMP_TRY(auto defaults, read_config(root, path));
    const std::string text = defaults.value_or("");
    GUESTDUMP_TRY(auto use, get_shell_var(text, "USE_KDUMP", source));
    GUESTDUMP_TRY(auto current, get_shell_var(text, "KDUMP_CMDLINE_APPEND", source));
    const std::string value = distro_append(current, kDebianDefaultAppend, args, plan);
    if (use && (use->empty() || *use == "0"))
      a.notes.push_back(source + " sets USE_KDUMP=" + *use +
                        ": kdump-tools stays off until it says USE_KDUMP=1");
    if (current)
      a.notes.push_back(source + " sets KDUMP_CMDLINE_APPEND itself, which wins over " +
                        kKdumpToolsDropin + ": set it there to \"" + value + "\"");
    GUESTDUMP_TRY(auto before, read_config(root, kKdumpToolsDropin));
    add_change(a, kKdumpToolsDropin, before,
               std::string("# Written by guestdump-guest apply: the capture kernel's arguments "
                           "for kdump-tools\n"
                           "# (Debian's default append kept). /etc/default/kdump-tools wins "
                           "when it sets the variable.\n"
                           "[Service]\n"
                           "Environment=\"KDUMP_CMDLINE_APPEND=") +
                   systemd_quoted(value) + "\"\n",
               "kdump-tools: append the capture arguments (Debian's default append kept)");
    a.commands.push_back("systemctl daemon-reload");
    a.reload_commands.push_back("systemctl restart kdump-tools");
    break;
  }
  case KdumpTooling::kKdumpctl: {
    const std::string path = "/etc/sysconfig/kdump";
    GUESTDUMP_TRY(auto before, read_config(root, path));
    std::string after = before.value_or("");
    GUESTDUMP_CHECK(
        set_append(after, "KDUMP_COMMANDLINE_APPEND", "", args, plan, under_root(root, path)));
    add_change(a, path, before, after, "kdumpctl: capture kernel arguments");
    const std::string conf = "/etc/kdump.conf";
    const std::string csource = under_root(root, conf);
    GUESTDUMP_TRY(auto cbefore, read_config(root, conf));
    std::string cafter = cbefore.value_or("");
    GUESTDUMP_TRY(cafter, set_directive(cafter, "failure_action", "reboot", csource));
    GUESTDUMP_TRY(cafter, set_directive(cafter, "final_action", "reboot", csource));
    add_change(a, conf, cbefore, cafter,
               "kdumpctl: a failed or finished capture reboots instead of waiting at a shell");
    a.reload_commands.push_back("kdumpctl restart");
    break;
  }
  case KdumpTooling::kSuseKdump: {
    const std::string path = "/etc/sysconfig/kdump";
    const std::string source = under_root(root, path);
    GUESTDUMP_TRY(auto before, read_config(root, path));
    std::string after = before.value_or("");
    // SUSE writes nr_cpus=$KDUMP_CPUS itself (default 32): set that key, not the token.
    std::vector<std::string> suse_args;
    for (const auto& t : args)
      if (t.rfind("nr_cpus=", 0) != 0) suse_args.push_back(t);
    GUESTDUMP_TRY(after, set_shell_var(after, "KDUMP_CPUS", "1", source));
    GUESTDUMP_CHECK(set_append(after, "KDUMP_COMMANDLINE_APPEND", "", suse_args, plan, source));
    GUESTDUMP_TRY(after, set_shell_var(after, "KDUMP_CRASHKERNEL",
                                       "crashkernel=" + plan.crashkernel, source));
    add_change(a, path, before, after,
               "SUSE kdump: one capture CPU, capture arguments, and the reservation its "
               "bootloader update writes");
    a.reload_commands.push_back("systemctl restart kdump");
    break;
  }
  case KdumpTooling::kNone:
    break;
  }
  if (info.config_kexec_file == false)
    a.notes.push_back("the kernel has no CONFIG_KEXEC_FILE: the distro tooling must use "
                      "kexec_load, which lockdown refuses");
  return {};
}

} // namespace

std::string standalone_unit_text() {
  return std::string("# Installed by guestdump-guest apply --mode standalone.\n"
                     "[Unit]\n"
                     "Description=Load the guestdump capture kernel (kexec on crash)\n"
                     "Documentation=man:guestdump-guest(8)\n"
                     "After=local-fs.target\n"
                     "ConditionKernelCommandLine=crashkernel\n"
                     "ConditionPathExists=") +
         kCaptureInitrdUnitPath +
         "\n"
         "\n"
         "[Service]\n"
         "Type=oneshot\n"
         "RemainAfterExit=yes\n"
         "ExecStart=" +
         kGuestBinary + " load\n" + "ExecStop=" + kGuestBinary +
         " unload\n"
         "\n"
         "[Install]\n"
         "WantedBy=multi-user.target\n";
}

Result<ApplyActions> plan_apply(const SystemInfo& info, const Plan& plan, ApplyMode mode) {
  ApplyActions a;
  if (mode == ApplyMode::kDistro) {
    GUESTDUMP_CHECK(distro_files(a, info, plan));
  } else {
    if (info.config_kexec_file == false)
      return make_error(ErrorCode::kUnsupported,
                        "standalone mode: kernel " + info.kernel_release.value_or("") +
                            " is built without CONFIG_KEXEC_FILE (" +
                            info.kernel_config.value_or("") +
                            "), which guestdump-guest load needs; use --mode distro");
    // The package ships the unit; without the package apply installs its own copy.
    std::string unit_path = kPackageUnit;
    if (!exists_under(info.root, kPackageUnit)) {
      unit_path = kSystemdUnit;
      GUESTDUMP_TRY(auto unit, read_config(info.root, kSystemdUnit));
      add_change(a, kSystemdUnit, unit, standalone_unit_text(),
                 "loads the capture kernel at every boot");
    }
    a.links.push_back(
        {"/etc/systemd/system/multi-user.target.wants/guestdump-guest.service", unit_path});
    if (!info.capture_initrd_size)
      a.notes.push_back("the capture initramfs " +
                        capture_initrd_for(info.kernel_release.value_or("RELEASE")) +
                        " does not exist yet: run 'guestdump-guest initramfs' before rebooting");
  }
  GUESTDUMP_CHECK(grub_crashkernel(a, info, plan));
  GUESTDUMP_CHECK(sysctl_file(a, info, plan));
  if (!info.crashkernel)
    a.notes.push_back("no crashkernel= on the running kernel: reboot after the boot loader "
                      "update for the reservation to exist");
  return a;
}

namespace {

// FILE.guestdump.bak next to the file (`dir`, `name` from resolve_in_root), unless something
// (even a dangling symlink) already has that name: the first backup holds the original, and a
// planted name is never written through.
Result<void> copy_backup(const std::string& root, const RootPath& file, const std::string& content,
                         mode_t mode) {
  const std::string bak_name = file.name + ".guestdump.bak";
  struct stat st {};
  if (::fstatat(file.dir.get(), bak_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return {};
  const std::string bak = under_root(root, file.canonical + ".guestdump.bak");
  GUESTDUMP_TRY(auto out, OutputFile::create(bak));
  GUESTDUMP_CHECK(write_all(out.fd(), std::as_bytes(std::span(content)), bak));
  if (::fchmod(out.fd(), mode) != 0) return errno_error("chmod", bak);
  return out.commit();
}

} // namespace

Result<void> write_actions(const std::string& root, const ApplyActions& actions) {
  for (const FileChange& c : actions.files) {
    // A symlinked config file is changed where it points (inside the root), and stays a
    // symlink. The resolved path has no symlink left, so the path string below is that file.
    GUESTDUMP_TRY(auto file, resolve_in_root(root, c.path, {.create_parents = true}));
    const std::string path = under_root(root, file.canonical);
    mode_t mode = 0644;
    struct stat st {};
    const bool existed =
        ::fstatat(file.dir.get(), file.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (existed && !S_ISREG(st.st_mode))
      return make_error(ErrorCode::kUnsupported,
                        "'" + path + "' (for " + c.path + "): not a regular file, not replaced");
    if (existed) {
      mode = st.st_mode & 07777;
      GUESTDUMP_CHECK(copy_backup(root, file, c.before.value_or(""), mode));
    }
    GUESTDUMP_TRY(auto out, OutputFile::create(path));
    GUESTDUMP_CHECK(write_all(out.fd(), std::as_bytes(std::span(c.after)), path));
    if (::fchmod(out.fd(), mode) != 0) return errno_error("chmod", path);
    if (existed && (st.st_uid != ::geteuid() || st.st_gid != ::getegid()) &&
        ::fchown(out.fd(), st.st_uid, st.st_gid) != 0)
      return errno_error("chown", path);
    GUESTDUMP_CHECK(out.commit());
  }
  for (const SymlinkChange& l : actions.links) {
    GUESTDUMP_TRY(auto link,
                  resolve_in_root(root, l.path, {.follow_last = false, .create_parents = true}));
    const std::string path = under_root(root, link.canonical);
    if (auto current = read_link_under(root, link.canonical); current && *current == l.target)
      continue;
    const std::string tmp = link.name + ".guestdump.tmp";
    ::unlinkat(link.dir.get(), tmp.c_str(), 0);
    if (::symlinkat(l.target.c_str(), link.dir.get(), tmp.c_str()) != 0)
      return errno_error("symlink", path + ".guestdump.tmp");
    if (::renameat(link.dir.get(), tmp.c_str(), link.dir.get(), link.name.c_str()) != 0)
      return errno_error("rename", path);
  }
  return {};
}

std::string describe_actions(const ApplyActions& a) {
  std::string out;
  for (const FileChange& c : a.files)
    out += "# " + c.path + ": " + c.why + "\n" + unified_diff(c.before, c.after, c.path);
  for (const SymlinkChange& l : a.links) out += "# link " + l.path + " -> " + l.target + "\n";
  for (const std::string& cmd : a.commands) out += "# then run: " + cmd + "\n";
  for (const std::string& cmd : a.reload_commands)
    out += "# then, with a crashkernel= reservation in place, run: " + cmd + "\n";
  for (const std::string& n : a.notes) out += "# note: " + n + "\n";
  return out;
}

} // namespace guestdump::guest
