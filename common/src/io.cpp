#include "guestdump/common/io.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guestdump/common/byte_source.h"

namespace guestdump {

Result<void> write_all(int fd, std::span<const std::byte> data, std::string_view name) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("write", name);
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> pwrite_all(int fd, std::span<const std::byte> data, std::uint64_t offset,
                        std::string_view name) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("write", name);
    }
    data = data.subspan(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

Result<void> pread_exact(int fd, std::span<std::byte> data, std::uint64_t offset,
                         std::string_view name) {
  std::uint64_t start = offset;
  while (!data.empty()) {
    ssize_t n = ::pread(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read", name);
    }
    if (n == 0) {
      return make_error(ErrorCode::kBadData, "read '" + std::string(name) +
                                                 "': unexpected end of file at offset " +
                                                 std::to_string(start));
    }
    data = data.subspan(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

Result<std::size_t> read_full(int fd, std::span<std::byte> data, std::string_view name) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read", name);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Result<RegularFile> open_regular_file(const std::string& path) {
  GUESTDUMP_TRY(UniqueFd fd, UniqueFd::open(path, O_RDONLY));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errno_error("stat", path);
  if (!S_ISREG(st.st_mode)) {
    return make_error(ErrorCode::kUnsupported, "open '" + path + "': not a regular file");
  }
  return RegularFile{std::move(fd), static_cast<std::uint64_t>(st.st_size)};
}

Result<MappedFile> MappedFile::open(const std::string& path) {
  GUESTDUMP_TRY(RegularFile f, open_regular_file(path));
  if (f.size == 0) return MappedFile(path, std::move(f.fd), nullptr, 0);
  const auto size = static_cast<std::size_t>(f.size);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, f.fd.get(), 0);
  if (p == MAP_FAILED) return errno_error("mmap", path);
  return MappedFile(path, std::move(f.fd), static_cast<const std::byte*>(p), size);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::move(other.fd_)), data_(other.data_),
      size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    path_ = std::move(other.path_);
    fd_ = std::move(other.fd_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

void MappedFile::advise_sequential() const {
  if (data_ != nullptr) ::madvise(const_cast<std::byte*>(data_), size_, MADV_SEQUENTIAL);
}

void MappedFile::release_pages() const {
  if (data_ != nullptr) ::madvise(const_cast<std::byte*>(data_), size_, MADV_DONTNEED);
}

// Polls the file's size every few milliseconds and fdatasyncs it when it has grown by the
// threshold. Polling keeps the writers (sinks that only know the fd) unchanged; a wakeup costs an
// fstat. The first sync error ends the thread and is kept for commit(): the kernel reports a
// writeback error to each open file once, so the fsync in commit() might not see it again.
class OutputFile::Syncer {
public:
  Syncer(int fd, std::string name, std::uint64_t every)
      : fd_(fd), name_(std::move(name)), every_(every), thread_([this] { run(); }) {}
  Syncer(const Syncer&) = delete;
  Syncer& operator=(const Syncer&) = delete;
  ~Syncer() { (void)stop(); }

  /// Stops the thread (waiting for a sync in progress) and returns its first error.
  Result<void> stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (error_) return *error_;
    return {};
  }

private:
  void run() {
    std::uint64_t synced = 0;
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(4), [this] { return stop_; })) {
      lock.unlock();
      struct stat st {};
      bool failed = false;
      if (::fstat(fd_, &st) == 0 && static_cast<std::uint64_t>(st.st_size) >= synced + every_) {
        if (::fdatasync(fd_) != 0 && errno != EINTR) {
          error_ = errno_error("sync", name_);
          failed = true;
        }
        synced = static_cast<std::uint64_t>(st.st_size);
      }
      lock.lock();
      if (failed) return;
    }
  }

  int fd_;
  std::string name_;
  std::uint64_t every_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::optional<Error> error_; // written by the thread, read after join
  std::thread thread_;         // last: starts after everything above is initialized
};

OutputFile::OutputFile() = default;
OutputFile::OutputFile(OutputFile&& other) noexcept = default;
OutputFile& OutputFile::operator=(OutputFile&& other) noexcept = default;

void OutputFile::sync_while_writing(std::uint64_t every_bytes) {
  if (temp_path_.empty() || syncer_ || fd_.get() < 0) return;
  syncer_ = std::make_unique<Syncer>(fd_.get(), path_, std::max<std::uint64_t>(every_bytes, 1));
}

Result<void> sync_directory(const std::string& path) {
  GUESTDUMP_TRY(UniqueFd fd, UniqueFd::open(path, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) != 0) return errno_error("sync directory", path);
  return {};
}

namespace {

std::string_view file_type_name(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISDIR(mode)) return "a directory";
  return "not a regular file";
}

std::string parent_dir(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

} // namespace

Result<OutputFile> OutputFile::create(const std::string& path, Target target) {
  OutputFile out;
  out.path_ = path;
  if (path == "-") { // always a request for a stream
    int fd = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) return errno_error("open", "standard output");
    out.fd_ = UniqueFd(fd);
    out.path_ = "standard output";
    out.seekable_ = ::lseek(out.fd_.get(), 0, SEEK_CUR) >= 0;
    return out;
  }
  struct stat st {};
  bool in_place = false;
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) {
      return make_error(ErrorCode::kInvalidArgument, "output '" + path + "' is a directory");
    }
    // A stream the user named may be reached through a symlink (/dev/stdout, /dev/fd/N).
    struct stat followed {};
    if (target == Target::kStream && ::stat(path.c_str(), &followed) == 0 &&
        (S_ISFIFO(followed.st_mode) || S_ISCHR(followed.st_mode))) {
      in_place = true;
    } else if (!S_ISLNK(st.st_mode)) {
      // A FIFO would block us (or hand the dump to whoever reads it), a device would be
      // overwritten: nothing but a regular file or a new name is written.
      return make_error(ErrorCode::kInvalidArgument,
                        "refusing to write output '" + path + "': it is " +
                            std::string(file_type_name(st.st_mode)) + ", not a regular file");
    }
    // A symlink is replaced by the rename in commit(), never followed.
  }
  if (in_place) {
    GUESTDUMP_TRY(out.fd_, UniqueFd::open(path, O_WRONLY));
  } else {
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    std::string tmpl =
        (slash == std::string::npos ? std::string() : dir) + "." + base + ".partial.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = ::mkostemp(buf.data(), O_CLOEXEC); // mkostemp creates the file with mode 0600
    if (fd < 0) return errno_error("create", path);
    out.fd_ = UniqueFd(fd);
    out.temp_path_ = buf.data();
  }
  out.seekable_ = ::lseek(out.fd_.get(), 0, SEEK_CUR) >= 0;
  return out;
}

OutputFile::~OutputFile() {
  syncer_.reset();
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

Result<void> OutputFile::commit() {
  if (syncer_) {
    auto stopped = syncer_->stop();
    syncer_.reset();
    if (!stopped) return stopped;
  }
  if (!temp_path_.empty()) {
    if (::fsync(fd_.get()) != 0) return errno_error("sync", path_);
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) return errno_error("rename", path_);
    GUESTDUMP_CHECK(sync_directory(parent_dir(path_)));
  }
  committed_ = true;
  fd_.reset();
  return {};
}

namespace {
// Lock-free, so safe to set from a signal handler, and race-free for worker threads that poll
// it (a volatile sig_atomic_t is only the former).
std::atomic<int> g_cancel{0};
static_assert(std::atomic<int>::is_always_lock_free);
} // namespace

void request_cancel() noexcept {
  g_cancel.store(1, std::memory_order_relaxed);
}
bool cancel_requested() noexcept {
  return g_cancel.load(std::memory_order_relaxed) != 0;
}
Result<void> check_cancel() {
  if (cancel_requested()) return make_error(ErrorCode::kCancelled, "cancelled");
  return {};
}

} // namespace guestdump

namespace guestdump {

Result<void> MappedByteSource::read(std::uint64_t offset, std::span<std::byte> out) const {
  const auto bytes = file_.bytes();
  if (offset > bytes.size() || out.size() > bytes.size() - offset) {
    return make_error(ErrorCode::kBadData, "'" + file_.path() + "': " + std::to_string(out.size()) +
                                               " bytes at offset " + std::to_string(offset) +
                                               " lie past its end");
  }
  if (!out.empty()) std::memcpy(out.data(), bytes.data() + offset, out.size());
  return {};
}

Result<void> write_metrics_file(const std::string& path, const std::string& text) {
  GUESTDUMP_TRY(OutputFile out, OutputFile::create(path));
  // OutputFile creates 0600; the collector runs as another user.
  if (::fchmod(out.fd(), 0644) != 0) return errno_error("chmod", path);
  GUESTDUMP_CHECK(write_all(out.fd(), std::as_bytes(std::span(text.data(), text.size())), path));
  return out.commit();
}

} // namespace guestdump
