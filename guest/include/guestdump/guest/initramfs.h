#pragma once
// The standalone capture initramfs: this static binary as /init, the kernel modules the dump
// target needs (with their dependencies, in load order), the list of those modules and the
// capture config, as a newc cpio archive (written here; no cpio tool needed), gzip-compressed
// by default.

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "guestdump/common/result.h"

namespace guestdump::guest {

/// "virtio-blk", "virtio_blk.ko", ".../virtio_blk.ko.xz" -> "virtio_blk".
std::string module_name(std::string_view name_or_path);

/// What a modules directory (/lib/modules/<release>) offers.
struct ModuleIndex {
  std::string dir;
  std::map<std::string, std::string> path; // name -> path relative to dir
  std::set<std::string> builtin;           // modules.builtin
  /// Dependencies by name: from modules.dep when present, else read from each needed module's
  /// .modinfo section (Debian's kernel packages ship no modules.dep; depmod creates it).
  std::map<std::string, std::vector<std::string>> deps;
  bool have_modules_dep = false;
};

Result<ModuleIndex> load_module_index(const std::string& modules_dir);

/// The `depends=` list of a module's .modinfo section (uncompressed ELF64 .ko bytes).
Result<std::vector<std::string>> modinfo_depends(const std::vector<std::byte>& ko,
                                                 std::string_view name);

struct ResolvedModules {
  std::vector<std::string> load_order; // names; dependencies before their users
  std::vector<std::string> builtin;    // asked for but built into the kernel
};

/// Resolves `wanted` with dependencies. Unknown modules (neither a file nor built in) are errors
/// naming the module and the directory.
Result<ResolvedModules> resolve_modules(ModuleIndex& index, const std::vector<std::string>& wanted);

/// A newc ("070701") cpio archive in memory.
class CpioWriter {
public:
  void add_directory(const std::string& name, unsigned mode = 0755);
  void add_file(const std::string& name, std::span<const std::byte> data, unsigned mode = 0644);
  void add_char_device(const std::string& name, unsigned major, unsigned minor,
                       unsigned mode = 0600);
  /// Appends the trailer; returns the archive.
  std::vector<std::byte> finish();

private:
  void add(const std::string& name, unsigned mode, std::span<const std::byte> data,
           unsigned rmajor = 0, unsigned rminor = 0);
  std::vector<std::byte> out_;
  unsigned ino_ = 1;
};

/// gzip (RFC 1952) of `data`, decompressible by the kernel's initramfs unpacker.
Result<std::vector<std::byte>> gzip_compress(std::span<const std::byte> data);

struct InitramfsSpec {
  std::string output;
  std::string binary;      // becomes /init (default: this executable)
  std::string modules_dir; // /lib/modules/<release>
  std::vector<std::string> modules;
  std::string config_text; // /etc/guestdump-capture.conf
  std::string shell;       // optional static shell copied to /bin/sh (for after=shell)
  bool compress = true;
};

struct InitramfsReport {
  ResolvedModules modules;
  std::uint64_t archive_bytes = 0;
  std::uint64_t unpacked_bytes = 0;
};

/// Builds the archive and writes it atomically (temporary name, rename) with mode 0600.
Result<InitramfsReport> build_initramfs(const InitramfsSpec& spec);

} // namespace guestdump::guest
