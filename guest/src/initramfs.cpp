// Capture initramfs builder; see initramfs.h.

#include "guestdump/guest/initramfs.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <zlib.h>

#include "guestdump/common/io.h"
#include "guestdump/guest/capture_config.h"

namespace fs = std::filesystem;

namespace guestdump::guest {

namespace {

Result<std::vector<std::byte>> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_error("open", path);
  std::vector<char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return errno_error("read", path);
  std::vector<std::byte> out(buf.size());
  if (!buf.empty()) std::memcpy(out.data(), buf.data(), buf.size());
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <typename T> T load_le(const std::vector<std::byte>& b, std::size_t off) {
  T v{};
  std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

std::span<const std::byte> as_bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

} // namespace

std::string module_name(std::string_view name_or_path) {
  std::size_t slash = name_or_path.rfind('/');
  if (slash != std::string_view::npos) name_or_path.remove_prefix(slash + 1);
  std::size_t ko = name_or_path.find(".ko");
  if (ko != std::string_view::npos) name_or_path = name_or_path.substr(0, ko);
  std::string n(name_or_path);
  for (char& c : n)
    if (c == '-') c = '_';
  return n;
}

Result<ModuleIndex> load_module_index(const std::string& modules_dir) {
  ModuleIndex idx;
  idx.dir = modules_dir;
  std::error_code ec;
  if (!fs::is_directory(modules_dir, ec))
    return make_error(ErrorCode::kNotFound, "modules directory '" + modules_dir + "' not found");
  for (auto it = fs::recursive_directory_iterator(modules_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string file = it->path().filename().string();
    if (!it->is_regular_file(ec)) continue;
    if (!(file.ends_with(".ko") || file.ends_with(".ko.xz") || file.ends_with(".ko.zst") ||
          file.ends_with(".ko.gz")))
      continue;
    idx.path.emplace(module_name(file), fs::relative(it->path(), modules_dir).string());
  }
  if (ec) return errno_error("list", modules_dir, ec.value());
  std::istringstream builtin(read_text(modules_dir + "/modules.builtin"));
  for (std::string line; std::getline(builtin, line);)
    if (!line.empty()) idx.builtin.insert(module_name(line));
  std::string dep_text = read_text(modules_dir + "/modules.dep");
  if (!dep_text.empty()) {
    idx.have_modules_dep = true;
    std::istringstream dep(dep_text);
    for (std::string line; std::getline(dep, line);) {
      std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::vector<std::string> deps;
      std::istringstream words(line.substr(colon + 1));
      for (std::string w; words >> w;) deps.push_back(module_name(w));
      idx.deps[module_name(line.substr(0, colon))] = std::move(deps);
    }
  }
  return idx;
}

Result<std::vector<std::string>> modinfo_depends(const std::vector<std::byte>& ko,
                                                 std::string_view name) {
  auto bad = [&](const std::string& why) {
    return make_error(ErrorCode::kBadData, "module '" + std::string(name) + "': " + why);
  };
  if (ko.size() < 64 || std::memcmp(ko.data(),
                                    "\x7f"
                                    "ELF",
                                    4) != 0)
    return bad("not an ELF file (compressed modules need modules.dep: run depmod)");
  if (ko[4] != std::byte{2} || ko[5] != std::byte{1}) return bad("not a little-endian ELF64 file");
  auto shoff = load_le<std::uint64_t>(ko, 0x28);
  auto shentsize = load_le<std::uint16_t>(ko, 0x3a);
  auto shnum = load_le<std::uint16_t>(ko, 0x3c);
  auto shstrndx = load_le<std::uint16_t>(ko, 0x3e);
  if (shentsize < 64 || shstrndx >= shnum || shoff > ko.size() ||
      std::uint64_t{shnum} * shentsize > ko.size() - shoff)
    return bad("section headers out of bounds");
  auto section = [&](unsigned i, std::uint64_t& off, std::uint64_t& size) {
    std::size_t h = shoff + std::size_t{i} * shentsize;
    off = load_le<std::uint64_t>(ko, h + 24);
    size = load_le<std::uint64_t>(ko, h + 32);
    return off <= ko.size() && size <= ko.size() - off;
  };
  std::uint64_t stroff = 0, strsize = 0;
  if (!section(shstrndx, stroff, strsize)) return bad("section names out of bounds");
  for (unsigned i = 0; i < shnum; ++i) {
    auto name_off = load_le<std::uint32_t>(ko, shoff + std::size_t{i} * shentsize);
    if (name_off >= strsize) continue;
    const char* sname = reinterpret_cast<const char*>(ko.data() + stroff + name_off);
    if (std::strncmp(sname, ".modinfo", strsize - name_off) != 0) continue;
    std::uint64_t off = 0, size = 0;
    if (!section(i, off, size)) return bad(".modinfo out of bounds");
    std::string_view info(reinterpret_cast<const char*>(ko.data() + off), size);
    std::vector<std::string> deps;
    while (!info.empty()) {
      std::size_t z = info.find('\0');
      std::string_view entry = info.substr(0, z);
      info = z == std::string_view::npos ? std::string_view{} : info.substr(z + 1);
      if (!entry.starts_with("depends=")) continue;
      entry.remove_prefix(8);
      while (!entry.empty()) {
        std::size_t c = entry.find(',');
        if (c != 0) deps.push_back(module_name(entry.substr(0, c)));
        entry = c == std::string_view::npos ? std::string_view{} : entry.substr(c + 1);
      }
    }
    return deps;
  }
  return bad("no .modinfo section");
}

Result<ResolvedModules> resolve_modules(ModuleIndex& index,
                                        const std::vector<std::string>& wanted) {
  ResolvedModules res;
  std::set<std::string> done, active;
  std::function<Result<void>(const std::string&, const std::string&)> visit =
      [&](const std::string& m, const std::string& needed_by) -> Result<void> {
    if (done.count(m) != 0) return {};
    if (active.count(m) != 0)
      return make_error(ErrorCode::kBadData, "module '" + m + "': dependency cycle");
    auto p = index.path.find(m);
    if (p == index.path.end()) {
      if (index.builtin.count(m) != 0) {
        done.insert(m);
        if (needed_by.empty()) res.builtin.push_back(m);
        return {};
      }
      return make_error(ErrorCode::kNotFound,
                        "module '" + m + "'" +
                            (needed_by.empty() ? "" : " (needed by '" + needed_by + "')") +
                            " is neither in '" + index.dir + "' nor built into the kernel");
    }
    active.insert(m);
    auto d = index.deps.find(m);
    if (d == index.deps.end()) {
      GUESTDUMP_TRY(auto bytes, read_file(index.dir + "/" + p->second));
      GUESTDUMP_TRY(auto deps, modinfo_depends(bytes, m));
      d = index.deps.emplace(m, std::move(deps)).first;
    }
    for (const std::string& dep : std::vector<std::string>(d->second))
      GUESTDUMP_CHECK(visit(dep, m));
    active.erase(m);
    done.insert(m);
    res.load_order.push_back(m);
    return {};
  };
  for (const std::string& w : wanted) GUESTDUMP_CHECK(visit(module_name(w), ""));
  return res;
}

void CpioWriter::add(const std::string& name, unsigned mode, std::span<const std::byte> data,
                     unsigned rmajor, unsigned rminor) {
  char hdr[111];
  std::snprintf(hdr, sizeof hdr, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
                ino_++, mode, 0u, 0u, (mode & 0170000) == 0040000 ? 2u : 1u, 0u,
                static_cast<unsigned>(data.size()), 0u, 0u, rmajor, rminor,
                static_cast<unsigned>(name.size() + 1), 0u);
  auto append = [&](std::span<const std::byte> b) { out_.insert(out_.end(), b.begin(), b.end()); };
  auto pad4 = [&] { out_.resize((out_.size() + 3) & ~std::size_t{3}); };
  append(std::as_bytes(std::span(hdr, 110)));
  append(std::as_bytes(std::span(name.c_str(), name.size() + 1)));
  pad4();
  append(data);
  pad4();
}

void CpioWriter::add_directory(const std::string& name, unsigned mode) {
  add(name, 0040000 | mode, {});
}
void CpioWriter::add_file(const std::string& name, std::span<const std::byte> data, unsigned mode) {
  add(name, 0100000 | mode, data);
}
void CpioWriter::add_char_device(const std::string& name, unsigned major, unsigned minor,
                                 unsigned mode) {
  add(name, 0020000 | mode, {}, major, minor);
}
std::vector<std::byte> CpioWriter::finish() {
  add("TRAILER!!!", 0, {});
  return std::move(out_);
}

Result<std::vector<std::byte>> gzip_compress(std::span<const std::byte> data) {
  z_stream zs{};
  // windowBits 15 + 16: gzip header and trailer.
  if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return make_error(ErrorCode::kOs, "gzip: deflateInit2 failed");
  std::vector<std::byte> out(deflateBound(&zs, static_cast<uLong>(data.size())) + 64);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  std::size_t n = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return make_error(ErrorCode::kOs, "gzip: deflate failed");
  out.resize(n);
  return out;
}

Result<InitramfsReport> build_initramfs(const InitramfsSpec& spec) {
  InitramfsReport rep;
  CpioWriter cpio;
  for (const char* d : {"dev", "proc", "sys", "run", "tmp", "etc", "etc/guestdump", "lib",
                        "lib/modules", "var", "var/crash"})
    cpio.add_directory(d);
  // The kernel opens /dev/console for /init's stdin/stdout/stderr before devtmpfs is mounted.
  cpio.add_char_device("dev/console", 5, 1);
  cpio.add_char_device("dev/null", 1, 3, 0666);
  cpio.add_char_device("dev/kmsg", 1, 11, 0644);

  GUESTDUMP_TRY(auto binary, read_file(spec.binary));
  cpio.add_file("init", binary, 0755);
  if (!spec.shell.empty()) {
    GUESTDUMP_TRY(auto sh, read_file(spec.shell));
    cpio.add_directory("bin");
    cpio.add_file("bin/sh", sh, 0755);
  }

  std::string module_list;
  if (!spec.modules.empty()) {
    GUESTDUMP_TRY(ModuleIndex index, load_module_index(spec.modules_dir));
    GUESTDUMP_TRY(rep.modules, resolve_modules(index, spec.modules));
    std::string release = fs::path(spec.modules_dir).filename().string();
    std::set<std::string> dirs;
    for (const std::string& m : rep.modules.load_order) {
      std::string rel = index.path.at(m);
      std::string dst = "lib/modules/" + release + "/" + rel;
      // Parent directories, outermost first.
      std::vector<std::string> parents;
      for (fs::path p = fs::path(dst).parent_path(); p != "lib/modules" && !p.empty();
           p = p.parent_path())
        parents.push_back(p.string());
      for (auto it = parents.rbegin(); it != parents.rend(); ++it)
        if (dirs.insert(*it).second) cpio.add_directory(*it);
      GUESTDUMP_TRY(auto ko, read_file(index.dir + "/" + rel));
      cpio.add_file(dst, ko, 0644);
      module_list += "/" + dst + "\n";
    }
  }
  cpio.add_file("etc/guestdump/modules", as_bytes(module_list));
  cpio.add_file("etc/guestdump-capture.conf", as_bytes(spec.config_text));
  std::vector<std::byte> archive = cpio.finish();
  rep.unpacked_bytes = archive.size();
  if (spec.compress) {
    GUESTDUMP_TRY(auto packed, gzip_compress(archive));
    archive = std::move(packed);
  }
  rep.archive_bytes = archive.size();

  std::error_code ec;
  fs::path parent = fs::path(spec.output).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  GUESTDUMP_TRY(OutputFile out, OutputFile::create(spec.output));
  GUESTDUMP_CHECK(write_all(out.fd(), archive, spec.output));
  GUESTDUMP_CHECK(out.commit());
  return rep;
}

} // namespace guestdump::guest
