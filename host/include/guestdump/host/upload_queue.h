#pragma once
// guestdumpd's uploads of finished dumps to the remote store, away from the dump workers: a
// queue of dump directories run by a bounded number of upload threads (`upload-jobs`), so an
// upload never holds up the capture of another guest. Each directory is queued at most once; a
// failed upload waits (policies::upload_retry_delay, doubling) and is tried again; stop() cancels
// the running uploads, whose multipart state stays in the dump directory for the next start.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <guestdump/common/result.h>

namespace guestdump::host {

/// What one upload of a dump directory stored.
struct UploadDone {
  std::string url;         // "s3://bucket/prefix/host/uuid/timestamp/"
  std::uint64_t bytes = 0; // of the dump's files
  bool already = false;    // nothing was sent: meta.json already confirmed the upload
};

/// An upload's end, as reported to the daemon.
struct UploadEnd {
  std::string dir;
  Result<UploadDone> result = UploadDone{};
  double seconds = 0;         // wall time of this attempt
  std::uint32_t failures = 0; // consecutive failed attempts of this directory, this one included
  std::chrono::milliseconds retry_in{0}; // failed and retried after this; 0: not retried
};

class UploadQueue {
public:
  /// Uploads one directory; polls `cancelled` (true once stop() was called). kNotFound (the
  /// directory is gone, e.g. deleted by retention) and kCancelled are not retried.
  using Uploader = std::function<Result<UploadDone>(const std::string& dir,
                                                    const std::function<bool()>& cancelled)>;
  using Reporter = std::function<void(const UploadEnd&)>;

  /// `report` runs on the upload thread after each attempt.
  UploadQueue(unsigned workers, Uploader upload, Reporter report,
              std::chrono::milliseconds retry_base = std::chrono::minutes(1),
              std::chrono::milliseconds retry_cap = std::chrono::hours(1));
  ~UploadQueue();
  UploadQueue(const UploadQueue&) = delete;
  UploadQueue& operator=(const UploadQueue&) = delete;

  /// Queues `dir` unless it is queued, running or waiting for a retry already (false then, or
  /// after stop()). A waiting directory queued again is tried now.
  bool enqueue(const std::string& dir);
  /// Directories not uploaded yet: queued, running, or waiting for a retry.
  std::size_t backlog() const;
  std::size_t running() const;
  /// Whether `dir` is queued, running or waiting for a retry.
  bool pending(const std::string& dir) const;
  /// Cancels the running uploads, drops the others and joins the threads.
  void stop();

private:
  void worker_main();

  Uploader upload_;
  Reporter report_;
  std::chrono::milliseconds retry_base_;
  std::chrono::milliseconds retry_cap_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string> running_;
  struct Waiting {
    std::chrono::steady_clock::time_point due;
    std::uint32_t failures = 0;
  };
  std::map<std::string, Waiting> waiting_;      // failed, retried at `due`
  std::map<std::string, std::uint32_t> failed_; // failures so far of queued/running directories
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

} // namespace guestdump::host
