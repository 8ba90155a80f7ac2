#include "guestdump/objstore/config.h"

#include <cstdlib>
#include <fstream>
#include <optional>

#include <pwd.h>
#include <unistd.h>

#include "guestdump/common/text.h"

namespace guestdump::objstore {
namespace {

// One section of an AWS config or credentials file. `s3 =` followed by indented `key = value`
// lines is a nested section (botocore's rule), kept in `nested`.
struct IniSection {
  std::map<std::string, std::string> values;
  std::map<std::string, std::map<std::string, std::string>> nested;
};
using IniFile = std::map<std::string, IniSection>;

std::optional<std::string> env_value(const Environment& env, const std::string& name) {
  auto it = env.find(name);
  if (it == env.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

// Reads an AWS-style INI file; nullopt if it does not exist. Error messages name the file and the
// line number but never quote the line: it may hold a secret key.
Result<std::optional<IniFile>> read_ini(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) return std::optional<IniFile>{};
    return errno_error("open", path);
  }
  IniFile file;
  IniSection* section = nullptr;
  std::map<std::string, std::string>* nested = nullptr;
  std::string raw;
  for (int number = 1; std::getline(in, raw); ++number) {
    auto bad = [&](std::string_view why) {
      return make_error(ErrorCode::kBadData, "parse '" + path + "': line " +
                                                 std::to_string(number) + ": " + std::string(why));
    };
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    const bool indented = raw.front() == ' ' || raw.front() == '\t';
    if (!indented && line.front() == '[') {
      if (line.back() != ']') return bad("expected '[section]'");
      section = &file[std::string(trim(line.substr(1, line.size() - 2)))];
      nested = nullptr;
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos) return bad("expected 'key = value'");
    if (section == nullptr) return bad("'key = value' before any '[section]'");
    std::string key(trim(line.substr(0, eq)));
    std::string value(trim(line.substr(eq + 1)));
    if (indented) {
      if (nested == nullptr) return bad("indented line outside a nested section");
      (*nested)[key] = value;
    } else if (value.empty()) {
      nested = &section->nested[key];
    } else {
      nested = nullptr;
      section->values[key] = value;
    }
  }
  if (in.bad()) return errno_error("read", path);
  return std::optional<IniFile>{std::move(file)};
}

const IniSection* find_section(const std::optional<IniFile>& file, const std::string& name) {
  if (!file) return nullptr;
  auto it = file->find(name);
  return it == file->end() ? nullptr : &it->second;
}

std::optional<std::string> section_value(const IniSection* section, const std::string& key) {
  if (section == nullptr) return std::nullopt;
  auto it = section->values.find(key);
  if (it == section->values.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

std::optional<std::string> nested_value(const IniSection* section, const std::string& nest,
                                        const std::string& key) {
  if (section == nullptr) return std::nullopt;
  auto it = section->nested.find(nest);
  if (it == section->nested.end()) return std::nullopt;
  auto value = it->second.find(key);
  if (value == it->second.end() || value->second.empty()) return std::nullopt;
  return value->second;
}

Result<std::string> check_endpoint(std::string endpoint, std::string_view where) {
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  std::string_view rest = endpoint;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else {
    return make_error(ErrorCode::kInvalidArgument, "endpoint '" + endpoint + "' (" +
                                                       std::string(where) +
                                                       "): expected http(s)://HOST[:PORT]");
  }
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument, "endpoint '" + endpoint + "' (" +
                                                       std::string(where) +
                                                       "): expected http(s)://HOST[:PORT]");
  }
  return endpoint;
}

} // namespace

Result<S3Url> parse_s3_url(std::string_view url) {
  const std::string shown(url);
  if (!url.starts_with("s3://")) {
    return make_error(ErrorCode::kInvalidArgument,
                      "store URL '" + shown + "': expected s3://BUCKET[/PREFIX]");
  }
  url.remove_prefix(5);
  auto slash = url.find('/');
  S3Url out;
  out.bucket = std::string(url.substr(0, slash));
  std::string_view prefix = slash == std::string_view::npos ? "" : url.substr(slash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  out.prefix = std::string(prefix);
  const auto& b = out.bucket;
  bool ok = b.size() >= 3 && b.size() <= 63 && b.front() != '.' && b.front() != '-' &&
            b.back() != '.' && b.back() != '-';
  for (char c : b)
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-');
  if (!ok) {
    return make_error(ErrorCode::kInvalidArgument,
                      "store URL '" + shown + "': bucket '" + escape_text(b) +
                          "' is not a valid S3 bucket name (3-63 of a-z, 0-9, '.', '-')");
  }
  if (out.prefix.find("//") != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument, "store URL '" + shown + "': empty path level");
  }
  return out;
}

std::string S3Config::describe() const {
  std::string key = credentials.access_key_id;
  // As `aws configure list` shows it: the last four characters only.
  std::string shown_key =
      key.size() > 4 ? std::string(key.size() - 4, '*') + key.substr(key.size() - 4) : "****";
  return "endpoint " + endpoint + ", region " + region + ", " +
         (addressing == Addressing::kPath ? "path-style" : "virtual-hosted") + ", access key " +
         shown_key + " (from " + credentials_source + ")";
}

Environment process_environment() {
  Environment env;
  for (const char* name :
       {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "HOME"}) {
    if (const char* value = std::getenv(name)) env[name] = value;
  }
  if (!env.contains("HOME")) {
    if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr) {
      env["HOME"] = pw->pw_dir;
    }
  }
  return env;
}

Result<S3Config> resolve_s3_config(const Environment& env) {
  const std::string home = env_value(env, "HOME").value_or("/");
  const std::string config_path = env_value(env, "AWS_CONFIG_FILE").value_or(home + "/.aws/config");
  const std::string credentials_path =
      env_value(env, "AWS_SHARED_CREDENTIALS_FILE").value_or(home + "/.aws/credentials");
  auto named_profile = env_value(env, "AWS_PROFILE");
  if (!named_profile) named_profile = env_value(env, "AWS_DEFAULT_PROFILE");
  const std::string profile = named_profile.value_or("default");

  GUESTDUMP_TRY(auto config_file, read_ini(config_path));
  GUESTDUMP_TRY(auto credentials_file, read_ini(credentials_path));
  // In the config file a profile is "[profile NAME]", except "[default]"; in the credentials
  // file it is "[NAME]".
  const IniSection* config = find_section(config_file, "profile " + profile);
  if (config == nullptr && profile == "default") config = find_section(config_file, "default");
  const IniSection* creds = find_section(credentials_file, profile);
  if (named_profile && config == nullptr && creds == nullptr) {
    return make_error(ErrorCode::kNotFound, "AWS profile '" + escape_text(profile) +
                                                "' not found in '" + config_path + "' or '" +
                                                credentials_path + "'");
  }

  S3Config out;
  out.region = env_value(env, "AWS_REGION")
                   .value_or(env_value(env, "AWS_DEFAULT_REGION")
                                 .value_or(section_value(config, "region").value_or("us-east-1")));

  // Endpoint: the service-specific variable, the global one, the profile's services section,
  // the profile's endpoint_url (AWS CLI v2's order).
  std::optional<std::pair<std::string, std::string>> endpoint;
  if (auto v = env_value(env, "AWS_ENDPOINT_URL_S3")) {
    endpoint = {*v, "AWS_ENDPOINT_URL_S3"};
  } else if (auto g = env_value(env, "AWS_ENDPOINT_URL")) {
    endpoint = {*g, "AWS_ENDPOINT_URL"};
  } else if (auto services = section_value(config, "services")) {
    if (auto s = nested_value(find_section(config_file, "services " + *services), "s3",
                              "endpoint_url")) {
      endpoint = {*s, config_path};
    }
  }
  if (!endpoint) {
    if (auto p = section_value(config, "endpoint_url")) endpoint = {*p, config_path};
  }
  auto style = nested_value(config, "s3", "addressing_style");
  if (endpoint) {
    GUESTDUMP_TRY(out.endpoint, check_endpoint(endpoint->first, endpoint->second));
    // Custom endpoints (Ceph RGW, MinIO) are addressed path-style unless told otherwise.
    out.addressing = style == "virtual" ? Addressing::kVirtualHosted : Addressing::kPath;
  } else {
    out.endpoint = "https://s3." + out.region + ".amazonaws.com";
    out.addressing = style == "path" ? Addressing::kPath : Addressing::kVirtualHosted;
  }

  auto env_key = env_value(env, "AWS_ACCESS_KEY_ID");
  auto env_secret = env_value(env, "AWS_SECRET_ACCESS_KEY");
  if (env_key.has_value() != env_secret.has_value()) {
    return make_error(ErrorCode::kInvalidArgument,
                      env_key ? "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"
                              : "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  }
  if (env_key) {
    out.credentials = {*env_key, *env_secret, env_value(env, "AWS_SESSION_TOKEN").value_or("")};
    out.credentials_source = "environment";
    return out;
  }
  for (auto [section, path] :
       {std::pair{creds, credentials_path}, std::pair{config, config_path}}) {
    auto key = section_value(section, "aws_access_key_id");
    auto secret = section_value(section, "aws_secret_access_key");
    if (!key && !secret) continue;
    if (!key || !secret) {
      return make_error(ErrorCode::kBadData, "AWS profile '" + escape_text(profile) + "' in '" +
                                                 path + "': needs both aws_access_key_id and " +
                                                 "aws_secret_access_key");
    }
    out.credentials = {*key, *secret, section_value(section, "aws_session_token").value_or("")};
    out.credentials_source = path + " [" + profile + "]";
    return out;
  }
  return make_error(ErrorCode::kNotFound,
                    "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give "
                    "profile '" +
                        escape_text(profile) +
                        "' aws_access_key_id and aws_secret_access_key in '" + credentials_path +
                        "'");
}

} // namespace guestdump::objstore
