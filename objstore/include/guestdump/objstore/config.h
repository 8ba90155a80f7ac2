#pragma once
// Where an S3-compatible store is and how to reach it, resolved by the AWS CLI's conventions so an
// operator's existing setup works unchanged: the environment first (AWS_ENDPOINT_URL_S3,
// AWS_ENDPOINT_URL, AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), then the profile (AWS_PROFILE, else "default") of ~/.aws/credentials and
// ~/.aws/config (AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE move them).
//
// The secret key and session token never appear in an error message, a log line or meta.json:
// describe() is what may be shown.

#include <map>
#include <string>
#include <string_view>

#include "guestdump/common/result.h"

namespace guestdump::objstore {

/// `s3://BUCKET/PREFIX`, split. The prefix has no leading or trailing '/' (it may be empty).
struct S3Url {
  std::string bucket;
  std::string prefix;
};

/// Parses `s3://BUCKET[/PREFIX]`; the bucket must follow S3's naming rules (3–63 of [a-z0-9.-]).
Result<S3Url> parse_s3_url(std::string_view url);

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key; // never shown
  std::string session_token;     // never shown; empty for static keys
};

enum class Addressing { kPath, kVirtualHosted };

struct S3Config {
  std::string endpoint; // "http://127.0.0.1:7480" (no trailing '/'), or AWS's for the region
  std::string region;   // "us-east-1" unless configured
  Addressing addressing = Addressing::kPath;
  Credentials credentials;
  std::string credentials_source; // "environment", "/root/.aws/credentials [profile x]", ...

  /// "endpoint http://…, region us-east-1, path-style, key AKIA… (from environment)": what a
  /// message may say about the configuration; no secret.
  std::string describe() const;
};

/// The variables resolve_s3_config() reads (and HOME), so a test can pass its own.
using Environment = std::map<std::string, std::string>;

/// The process's values of the variables resolve_s3_config() reads.
Environment process_environment();

/// Resolves endpoint, region, addressing and credentials. Fails when no credentials are found,
/// when AWS_PROFILE names a profile neither file has, or when a file cannot be parsed (the message
/// names the file and line number, never the line's text).
Result<S3Config> resolve_s3_config(const Environment& env);

} // namespace guestdump::objstore
