// The S3 target: objstore::upload_dump() (the host side's layout and resumable multipart
// uploads); see upload.h.

#include "guestdump/guest/upload.h"
#include "guestdump/objstore/config.h"
#include "guestdump/objstore/dump_upload.h"
#include "guestdump/objstore/s3_client.h"

namespace guestdump::guest {
namespace {

class S3Uploader final : public DumpUploader {
public:
  S3Uploader(objstore::S3Config config, objstore::S3Url url, std::string shown)
      : client_(std::move(config)), url_(std::move(url)), shown_(std::move(shown)) {}

  std::string describe() const override { return shown_; }

  Result<std::string> upload(const std::string& dump_dir) const override {
    // The local meta.json says "complete" only once the remote one is stored (upload_dump).
    return objstore::upload_dump(client_, url_, dump_dir, options_);
  }

private:
  objstore::S3Client client_;
  objstore::S3Url url_;
  std::string shown_;
  objstore::UploadOptions options_;
};

} // namespace

Result<std::unique_ptr<DumpUploader>> make_s3_uploader(const std::string& url) {
  GUESTDUMP_TRY(objstore::S3Url parsed, objstore::parse_s3_url(url));
  auto config = objstore::resolve_s3_config(objstore::process_environment());
  if (!config) return std::move(config).error().context("upload target " + url);
  return std::unique_ptr<DumpUploader>(
      std::make_unique<S3Uploader>(std::move(*config), std::move(parsed), url));
}

} // namespace guestdump::guest
