#pragma once
// A finished dump directory of the local store, uploaded to the remote store's layout (design.md
// §3): s3://BUCKET/PREFIX/<host>/<domain-uuid>/<timestamp>/{vmcore,dmesg.txt,meta.json}.

#include <string>

#include "guestdump/common/result.h"
#include "guestdump/objstore/config.h"
#include "guestdump/objstore/s3_client.h"
#include "guestdump/store/meta.h"

namespace guestdump::objstore {

/// The key prefix of a dump ("PREFIX/<host>/<uuid>/<timestamp>/"). Host and UUID come from
/// meta.json, which anyone may have edited: characters other than [A-Za-z0-9._-] become '_', and
/// an empty or dot-only level becomes "unknown".
std::string dump_key_prefix(const S3Url& store, const store::DumpMeta& meta,
                            const std::string& timestamp);

/// Uploads `vmcore`, then `dmesg.txt` (when present), then `meta.json` with the files' SHA-256
/// and the upload's URL recorded, and rewrites the local meta.json the same way once the remote
/// one is stored. Multipart state files (`.vmcore.upload`, ...) live in the dump directory, so a
/// second call after a cut-short one resumes. Returns the dump's URL ("s3://…/").
Result<std::string> upload_dump(const S3Client& client, const S3Url& store,
                                const std::string& dump_dir, const UploadOptions& options);

} // namespace guestdump::objstore
