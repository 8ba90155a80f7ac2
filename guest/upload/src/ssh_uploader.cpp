// The SSH target through the OpenSSH client programs; see upload.h and docs/guest.md.
//
// What is relied on: sftp's batch mode (-b: a failing command without a '-' prefix ends the run
// with a non-zero status), its `mkdir`, `put`, `chmod` and `rename` (posix-rename@openssh.com
// where the server has it, which refuses to replace a non-empty directory), and a remote shell
// with coreutils' `sha256sum` for the check (so an sftp-only account is not enough). Every
// argument we put into a batch line or the remote command is a plain path (is_plain_path(): no
// quote, backslash, blank, glob or shell character), so double quotes in the batch and single
// quotes in the remote command hold it verbatim.

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include "guestdump/common/log.h"
#include "guestdump/common/subprocess.h"
#include "guestdump/common/text.h"
#include "guestdump/common/unique_fd.h"
#include "guestdump/guest/upload.h"
#include "guestdump/objstore/dump_upload.h"
#include "guestdump/store/dump_store.h"

namespace guestdump::guest {
namespace {

constexpr std::string_view kLog = "upload";
constexpr std::size_t kMaxOutput = 64 * 1024; // what we read back of a child's output

struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using UniqueEvpMdCtx = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;

/// A private directory for batch files, meta.json and the children's output; removed with it.
class WorkDir {
public:
  static Result<WorkDir> create() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/guestdump-upload.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return errno_error("create directory", tmpl);
    return WorkDir(tmpl);
  }
  WorkDir(WorkDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  WorkDir& operator=(WorkDir&&) = delete;
  WorkDir(const WorkDir&) = delete;
  ~WorkDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
  explicit WorkDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

/// At most the last kMaxOutput bytes of a file.
std::string read_tail(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::uint64_t>(in.tellg());
  const std::uint64_t start = size > kMaxOutput ? size - kMaxOutput : 0;
  in.seekg(static_cast<std::streamoff>(start));
  std::string out(static_cast<std::size_t>(size - start), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

/// The last lines of a child's stderr as one escaped line ("a; b"), for an error message.
std::string stderr_summary(const std::string& path) {
  std::istringstream in(read_tail(path));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (trim(line).empty()) continue;
    lines.push_back(escape_text(trim(line)));
  }
  if (lines.size() > 4) lines.erase(lines.begin(), lines.end() - 4);
  std::string out;
  for (const std::string& l : lines) out += (out.empty() ? "" : "; ") + l;
  return out.empty() ? "no message" : out;
}

Result<void> write_file(const std::string& path, const std::string& text) {
  GUESTDUMP_TRY(UniqueFd fd, UniqueFd::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("write", path);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

std::string quoted(const std::string& plain) {
  return "\"" + plain + "\"";
}

class SshUploader final : public DumpUploader {
public:
  explicit SshUploader(SshOptions o) : o_(std::move(o)), url_(ssh_url(o_.target)) {}

  std::string describe() const override { return url_; }

  Result<std::string> upload(const std::string& dump_dir) const override {
    return upload_checked(dump_dir);
  }

private:
  /// Options common to ssh and sftp: never a prompt, only the configured key and known hosts.
  std::vector<std::string> common_options() const {
    std::vector<std::string> a = {
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "IdentityAgent=none",
        "-o", "PasswordAuthentication=no",
        "-o", "KbdInteractiveAuthentication=no",
        "-o", "ConnectTimeout=" + std::to_string(o_.connect_timeout.count()),
        "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=4"};
    if (!o_.key.empty()) {
      a.insert(a.end(), {"-o", "IdentitiesOnly=yes", "-i", o_.key});
    }
    if (!o_.known_hosts.empty()) a.insert(a.end(), {"-o", "UserKnownHostsFile=" + o_.known_hosts});
    if (!o_.target.user.empty()) a.insert(a.end(), {"-o", "User=" + o_.target.user});
    return a;
  }

  Result<void> run(const std::vector<std::string>& argv, const ProcessIo& io,
                   std::chrono::seconds timeout) const {
    GUESTDUMP_TRY(ProcessExit ex, run_process(argv, timeout, io));
    if (ex.timed_out)
      return make_error(ErrorCode::kTimeout,
                        argv[0] + " timed out after " + std::to_string(timeout.count()) + " s");
    if (ex.signal)
      return make_error(ErrorCode::kOs,
                        argv[0] + " killed by signal " + std::to_string(*ex.signal));
    if (ex.code != 0)
      return make_error(ErrorCode::kOs, argv[0] + " exited with status " + std::to_string(ex.code) +
                                            ": " + stderr_summary(io.stderr_path));
    return {};
  }

  /// Runs an sftp batch (one command per line).
  Result<void> sftp(const WorkDir& work, const std::string& name, const std::string& batch,
                    std::chrono::seconds timeout) const {
    GUESTDUMP_CHECK(write_file(work.file(name + ".batch"), batch));
    std::vector<std::string> argv = {o_.sftp};
    for (std::string& a : common_options()) argv.push_back(std::move(a));
    if (o_.target.port != 0) argv.insert(argv.end(), {"-P", std::to_string(o_.target.port)});
    argv.insert(argv.end(), {"-b", work.file(name + ".batch"), "--"});
    argv.push_back(o_.target.host.find(':') != std::string::npos ? "[" + o_.target.host + "]"
                                                                 : o_.target.host);
    ProcessIo io;
    io.stdout_path = work.file(name + ".out");
    io.stderr_path = work.file(name + ".err");
    return run(argv, io, timeout);
  }

  /// `sha256sum` of remote files through ssh: {file name → hex}.
  Result<std::map<std::string, std::string>>
  remote_sha256(const WorkDir& work, const std::string& dir,
                const std::vector<std::string>& names) const {
    std::string command = "sha256sum --";
    for (const std::string& n : names) command += " '" + dir + "/" + n + "'";
    std::vector<std::string> argv = {o_.ssh, "-n"};
    for (std::string& a : common_options()) argv.push_back(std::move(a));
    if (o_.target.port != 0) argv.insert(argv.end(), {"-p", std::to_string(o_.target.port)});
    argv.insert(argv.end(), {"--", o_.target.host, command});
    ProcessIo io;
    io.stdout_path = work.file("sha256.out");
    io.stderr_path = work.file("sha256.err");
    if (auto r = run(argv, io, o_.command_timeout); !r)
      return std::move(r).error().context("remote sha256sum of '" + dir + "'");
    std::map<std::string, std::string> out;
    std::istringstream in(read_tail(io.stdout_path));
    for (std::string line; std::getline(in, line);) {
      // "<64 hex>  <path>"; our paths need no escaping, so a line starting '\' is not ours.
      if (line.size() < 67 || line.compare(64, 2, "  ") != 0) continue;
      const std::string path = line.substr(66);
      const auto slash = path.rfind('/');
      out[slash == std::string::npos ? path : path.substr(slash + 1)] = line.substr(0, 64);
    }
    return out;
  }

  /// Every local file's SHA-256 must be what the remote side reports.
  Result<void> verify(const WorkDir& work, const std::string& dir,
                      const std::map<std::string, std::string>& local) const {
    std::vector<std::string> names;
    for (const auto& [name, hash] : local) names.push_back(name);
    GUESTDUMP_TRY(auto remote, remote_sha256(work, dir, names));
    for (const auto& [name, hash] : local) {
      auto it = remote.find(name);
      if (it == remote.end())
        return make_error(ErrorCode::kProtocol,
                          "remote '" + dir + "/" + name + "': no SHA-256 reported");
      if (it->second != hash)
        return make_error(ErrorCode::kBadData, "remote '" + dir + "/" + name + "': SHA-256 " +
                                                   escape_text(it->second) +
                                                   " differs from the local file's " + hash);
    }
    return {};
  }

  Result<std::string> upload_checked(const std::string& dump_dir) const {
    if (!is_plain_path(dump_dir))
      return make_error(ErrorCode::kUnsupported,
                        "local path has characters sftp's batch syntax would change");
    auto meta = store::read_meta(dump_dir);
    if (!meta) return make_error(ErrorCode::kBadData, "no readable meta.json");
    const std::string stamp = std::filesystem::path(dump_dir).filename().string();
    // <host>/<uuid>/<stamp>/ with every level sanitised as for S3 keys (meta.json is untrusted).
    const std::string rel = objstore::dump_key_prefix(objstore::S3Url{}, *meta, stamp);
    const auto first = rel.find('/');
    const auto second = rel.find('/', first + 1);
    const std::string uuid_dir = o_.target.path + "/" + rel.substr(0, second);
    const std::string final_dir = o_.target.path + "/" + rel.substr(0, rel.size() - 1);
    const std::string part_dir =
        uuid_dir + "/." + rel.substr(second + 1, rel.size() - second - 2) + ".part";
    const std::string url = url_.substr(0, url_.size() - o_.target.path.size()) + final_dir + "/";

    GUESTDUMP_TRY(WorkDir work, WorkDir::create());
    if (!is_plain_path(work.file("meta.json")))
      return make_error(ErrorCode::kUnsupported, "temporary directory '" + work.file("") +
                                                     "' has characters sftp's batch syntax "
                                                     "would change (set TMPDIR)");
    std::map<std::string, std::string> local; // file name → SHA-256
    std::vector<std::string> files;
    for (const char* name : {"vmcore", "dmesg.txt"}) {
      std::error_code ec;
      if (std::string_view(name) != "vmcore" && !std::filesystem::exists(dump_dir + "/" + name, ec))
        continue;
      GUESTDUMP_TRY(local[name], file_sha256(dump_dir + "/" + name));
      files.push_back(name);
    }
    nlohmann::json checksums = nlohmann::json::object();
    for (const auto& [name, hash] : local) checksums[name] = {{"sha256", hash}};
    store::record_upload(*meta, url, checksums);
    const std::string meta_text = store::meta_text(*meta);
    GUESTDUMP_CHECK(write_file(work.file("meta.json"), meta_text));
    GUESTDUMP_TRY(local["meta.json"], file_sha256(work.file("meta.json")));

    // 1. Everything into the temporary directory (mkdir -p by hand; '-' ignores "exists").
    std::string batch;
    std::string prefix;
    std::istringstream levels(final_dir.substr(1));
    std::vector<std::string> parents;
    for (std::string level; std::getline(levels, level, '/');) {
      prefix += "/" + level;
      if (prefix != final_dir) parents.push_back(prefix);
    }
    for (const std::string& p : parents) batch += "-mkdir " + quoted(p) + "\n";
    batch += "-mkdir " + quoted(part_dir) + "\n";
    batch += "chmod 700 " + quoted(part_dir) + "\n";
    for (const std::string& f : files)
      batch += "put " + quoted(dump_dir + "/" + f) + " " + quoted(part_dir + "/" + f) + "\n";
    batch += "put " + quoted(work.file("meta.json")) + " " + quoted(part_dir + "/meta.json") + "\n";
    for (const auto& [name, hash] : local)
      batch += "chmod 600 " + quoted(part_dir + "/" + name) + "\n";
    if (auto r = sftp(work, "put", batch, o_.transfer_timeout); !r)
      return std::move(r).error().context("sftp into '" + part_dir + "'");

    // 2. The remote copy must hash to the local files before it gets its final name.
    GUESTDUMP_CHECK(verify(work, part_dir, local));

    // 3. The final name. A directory already there (an earlier run renamed it but did not get
    // to record it here) counts when it holds the same files.
    if (auto r = sftp(work, "rename", "rename " + quoted(part_dir) + " " + quoted(final_dir) + "\n",
                      o_.command_timeout);
        !r) {
      std::map<std::string, std::string> data = local;
      data.erase("meta.json");
      if (auto same = verify(work, final_dir, data); !same) {
        if (same.error().code == ErrorCode::kBadData)
          return make_error(ErrorCode::kBadData,
                            "'" + final_dir + "' already exists with other contents (" +
                                same.error().message + "); left as it is, not recorded");
        return std::move(r).error().context("rename '" + part_dir + "' to '" + final_dir + "'");
      }
      GUESTDUMP_LOG(kInfo, kLog) << "'" << final_dir << "' was already there with the same files";
      // Our own files by name (a quoted '*' would not be a glob to sftp).
      std::string cleanup;
      for (const auto& [name, hash] : local)
        cleanup += "-rm " + quoted(part_dir + "/" + name) + "\n";
      cleanup += "-rmdir " + quoted(part_dir) + "\n";
      (void)sftp(work, "cleanup", cleanup, o_.command_timeout);
    }

    // Confirmed: only now does the local record say so (keep-local may then delete the dump).
    GUESTDUMP_CHECK(store::rewrite_meta(dump_dir, *meta));
    return url;
  }

  SshOptions o_;
  std::string url_;
};

} // namespace

Result<std::string> file_sha256(const std::string& path) {
  GUESTDUMP_TRY(UniqueFd fd, UniqueFd::open(path, O_RDONLY | O_CLOEXEC));
  UniqueEvpMdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return make_error(ErrorCode::kOs, "SHA-256 of '" + path + "': cannot set up libcrypto");
  std::vector<unsigned char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read", path);
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 15]);
  }
  return hex;
}

std::unique_ptr<DumpUploader> make_ssh_uploader(SshOptions options) {
  return std::make_unique<SshUploader>(std::move(options));
}

} // namespace guestdump::guest
