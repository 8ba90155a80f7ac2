// s3_upload_tool FILE BUCKET KEY STATE PART_SIZE [PARALLEL]: one S3Client::upload_file() with
// the environment's AWS configuration, PARALLEL parts in flight (default 1) and patient retries,
// for s3-upload.sh's restart cases (RGW stopped mid-upload; the uploader killed mid-upload and
// run again) and tests/bench/upload_bench.sh. Prints "sha256 <hex> parts <n>" on success.
#include <cstdio>
#include <string>

#include "guestdump/common/log.h"
#include "guestdump/objstore/config.h"
#include "guestdump/objstore/s3_client.h"

int main(int argc, char** argv) {
  using namespace guestdump::objstore;
  if (argc != 6 && argc != 7) {
    std::fprintf(stderr, "usage: s3_upload_tool FILE BUCKET KEY STATE PART_SIZE [PARALLEL]\n");
    return 2;
  }
  guestdump::set_log_level(guestdump::LogLevel::kInfo); // retries and resumes, for the script
  auto config = resolve_s3_config(process_environment());
  if (!config) {
    std::fprintf(stderr, "s3_upload_tool: %s\n", config.error().message.c_str());
    return 1;
  }
  UploadOptions options;
  options.part_size = std::stoull(argv[5]);
  options.parallel = argc == 7 ? static_cast<unsigned>(std::stoul(argv[6])) : 1;
  options.attempts = 12; // ~1 minute of backoff: longer than an RGW restart
  options.cancelled = [] { return false; };
  auto up = S3Client(*config).upload_file(argv[1], argv[2], argv[3], argv[4], options);
  if (!up) {
    std::fprintf(stderr, "s3_upload_tool: %s\n", up.error().message.c_str());
    return 1;
  }
  std::printf("sha256 %s parts %u\n", up->sha256.c_str(), up->parts);
  return 0;
}
