// guestdumpd's options: defaults, config file + flags precedence, repeatable keys, and the one
// line each bad configuration produces.

#include "guestdump/host/daemon_config.h"

#include <fstream>

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace guestdump::host {
namespace {

std::string write_conf(const test::TempDir& dir, const std::string& text) {
  const std::string path = dir.file("guestdumpd.conf");
  std::ofstream(path) << text;
  return path;
}

Result<DaemonCommandLine> parse(std::vector<std::string> args) {
  return parse_daemon_command_line(args);
}

TEST(DaemonConfig, DefaultsWithoutFile) {
  test::TempDir dir;
  // A --config naming an empty file stands in for "no file at the default path".
  auto r = parse({"--config", write_conf(dir, "")});
  ASSERT_TRUE(r) << r.error().message;
  const DaemonConfig& c = r->config;
  EXPECT_EQ(c.connect, std::vector<std::string>{"qemu:///system"});
  EXPECT_EQ(c.dump_dir, "/var/lib/guestdump/dumps");
  EXPECT_EQ(c.jobs, 1u);
  EXPECT_TRUE(c.post_hook.empty());
  EXPECT_EQ(c.policy.defaults.dump_level, 31);
  EXPECT_EQ(c.policy.retention.keep, 5u);
  EXPECT_FALSE(r->check_config);
}

TEST(DaemonConfig, FileValuesAndFlagsOverride) {
  test::TempDir dir;
  const std::string conf = write_conf(dir, "# comment\n"
                                           "connect = qemu:///system\n"
                                           "connect = xen:///system\n"
                                           "dump-dir = /srv/dumps\n"
                                           "dump-level = 1\n"
                                           "codec = zlib\n"
                                           "keep = 2\n"
                                           "min-free = 1G\n"
                                           "after-dump = restart\n"
                                           "post-hook = /usr/local/bin/notify\n"
                                           "jobs = 2\n"
                                           "hang-timeout = 30\n"
                                           "hang-interval = 5\n");
  auto r =
      parse({"--config", conf, "--keep", "7", "--connect", "test:///default", "--check-config"});
  ASSERT_TRUE(r) << r.error().message;
  const DaemonConfig& c = r->config;
  EXPECT_TRUE(r->check_config);
  EXPECT_EQ(c.config_file, conf);
  // Repeatable: flags and file together (command line first).
  EXPECT_EQ(c.connect,
            (std::vector<std::string>{"test:///default", "qemu:///system", "xen:///system"}));
  EXPECT_EQ(c.dump_dir, "/srv/dumps");
  EXPECT_EQ(c.policy.defaults.dump_level, 1);
  EXPECT_EQ(c.policy.defaults.codec, policies::Codec::kZlib);
  EXPECT_EQ(c.policy.retention.keep, 7u); // the flag wins
  EXPECT_EQ(c.policy.min_free.bytes, 1ull << 30);
  EXPECT_EQ(c.policy.defaults.after_dump, policies::AfterDump::kRestart);
  EXPECT_EQ(c.post_hook, "/usr/local/bin/notify");
  EXPECT_EQ(c.jobs, 2u);
  EXPECT_EQ(c.policy.hang.timeout, std::chrono::seconds(30));
}

TEST(DaemonConfig, EveryPolicyKeyIsAFlag) {
  test::TempDir dir;
  const std::string conf = write_conf(dir, "");
  for (const policies::PolicyKey& k : policies::policy_keys()) {
    if (k.default_value.empty()) continue;
    auto r = parse({"--config", conf, "--" + std::string(k.name), std::string(k.default_value)});
    EXPECT_TRUE(r) << k.name << ": " << r.error().message;
  }
}

struct BadCase {
  std::string conf;
  std::vector<std::string> flags;
  std::string expect; // substring of the one-line error
};

TEST(DaemonConfig, BadConfigurationNamesTheKey) {
  const std::vector<BadCase> cases = {
      {"keep-old-dumps = 3\n", {}, "unknown key 'keep-old-dumps'"},
      {"dump-level = 40\n", {}, "'dump-level'"},
      {"codec = gzip\n", {}, "'codec'"},
      {"after-dump = reboot\n", {}, "'after-dump'"},
      {"jobs = 0\n", {}, "invalid value '0' for 'jobs'"},
      {"jobs = many\n", {}, "'jobs'"},
      {"min-free = lots\n", {}, "'min-free'"},
      {"hang-timeout = -5\n", {}, "'hang-timeout'"},
      {"keep = 2\nkeep = 3\n", {}, "'keep' given more than once"},
      {"log-level = loud\n", {}, "'log-level'"},
      {"connect =\n", {}, "'connect'"},
      {"", {"--no-such-flag", "1"}, "unknown option '--no-such-flag'"},
      {"", {"--keep", "x"}, "'keep'"},
  };
  for (const BadCase& bc : cases) {
    test::TempDir dir;
    std::vector<std::string> args = {"--config", write_conf(dir, bc.conf)};
    args.insert(args.end(), bc.flags.begin(), bc.flags.end());
    auto r = parse(args);
    ASSERT_FALSE(r) << bc.conf << " accepted";
    EXPECT_NE(r.error().message.find(bc.expect), std::string::npos)
        << "error '" << r.error().message << "' lacks '" << bc.expect << "'";
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  }
}

TEST(DaemonConfig, NamedConfigFileMustExist) {
  test::TempDir dir;
  auto r = parse({"--config", dir.file("missing.conf")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("missing.conf"), std::string::npos);
}

TEST(DaemonConfig, HelpAndVersionSkipTheFile) {
  auto h = parse({"--help", "--config", "/nonexistent/x.conf"});
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->help);
  const std::string usage = daemon_usage();
  for (const char* key :
       {"--connect", "--dump-dir", "--dump-level", "--codec", "--keep", "--min-free",
        "--after-dump", "--post-hook", "--jobs", "--hang-timeout"}) {
    EXPECT_NE(usage.find(key), std::string::npos) << key;
  }
}

objstore::Environment keys_env() {
  return {{"AWS_ACCESS_KEY_ID", "AKIDTEST"},
          {"AWS_SECRET_ACCESS_KEY", "not-shown-secret"},
          {"AWS_ENDPOINT_URL", "http://127.0.0.1:7480"},
          {"HOME", "/nonexistent"}};
}

TEST(DaemonConfig, UploadDefaultsToNone) {
  test::TempDir dir;
  auto r = parse_daemon_command_line({"--config", write_conf(dir, "")}, keys_env());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->config.upload.empty());
  EXPECT_FALSE(r->config.upload_url);
  EXPECT_FALSE(r->config.upload_s3);
  EXPECT_FALSE(r->config.keep_local); // keep all
  EXPECT_EQ(r->config.upload_part_size, 64u << 20);
  EXPECT_EQ(r->config.upload_parallel, 4u);
  EXPECT_EQ(r->config.upload_jobs, 1u);
  EXPECT_EQ(r->config.upload_max_rate, 0u);
}

TEST(DaemonConfig, UploadKeysAndResolvedStore) {
  test::TempDir dir;
  const std::string conf = write_conf(dir, "upload = s3://fleet-dumps/guestdump/\n"
                                           "upload-part-size = 8MiB\n"
                                           "upload-parallel = 2\n"
                                           "upload-jobs = 3\n"
                                           "upload-max-rate = 10M\n"
                                           "keep-local = 2\n");
  auto r = parse_daemon_command_line({"--config", conf}, keys_env());
  ASSERT_TRUE(r) << r.error().message;
  const DaemonConfig& c = r->config;
  ASSERT_TRUE(c.upload_url);
  EXPECT_EQ(c.upload_url->bucket, "fleet-dumps");
  EXPECT_EQ(c.upload_url->prefix, "guestdump");
  ASSERT_TRUE(c.upload_s3);
  EXPECT_EQ(c.upload_s3->endpoint, "http://127.0.0.1:7480");
  EXPECT_EQ(c.upload_s3->credentials.access_key_id, "AKIDTEST");
  EXPECT_EQ(c.upload_part_size, 8u << 20);
  EXPECT_EQ(c.upload_parallel, 2u);
  EXPECT_EQ(c.upload_jobs, 3u);
  EXPECT_EQ(c.upload_max_rate, 10u << 20);
  ASSERT_TRUE(c.keep_local);
  EXPECT_EQ(*c.keep_local, 2u);
  // A flag wins; "all" restores the default; 0 removes each dump once uploaded.
  auto all = parse_daemon_command_line({"--config", conf, "--keep-local", "all"}, keys_env());
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_FALSE(all->config.keep_local);
  auto zero = parse_daemon_command_line({"--config", conf, "--keep-local", "0"}, keys_env());
  ASSERT_TRUE(zero) << zero.error().message;
  EXPECT_EQ(zero->config.keep_local, std::optional<std::uint32_t>(0));
}

TEST(DaemonConfig, BadUploadSettingsAreRefusedWithOneLine) {
  test::TempDir dir;
  const std::string conf = write_conf(dir, "");
  struct Case {
    std::vector<std::string> flags;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"--upload", "http://bucket/x"}, "expected s3://BUCKET[/PREFIX]"},
      {{"--upload", "s3://Bad_Bucket/x"}, "not a valid S3 bucket name"},
      {{"--upload", "s3://bucket/x", "--upload-part-size", "1MiB"}, "5MiB to 5GiB"},
      {{"--upload", "s3://bucket/x", "--upload-parallel", "0"}, "1 to 32"},
      {{"--upload", "s3://bucket/x", "--upload-jobs", "17"}, "1 to 16"},
      {{"--upload", "s3://bucket/x", "--keep-local", "some"}, "keep-local"},
      {{"--keep-local", "1"}, "'keep-local' needs 'upload'"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"--config", conf};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    auto r = parse_daemon_command_line(args, keys_env());
    ASSERT_FALSE(r) << c.needle;
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  }
}

TEST(DaemonConfig, UploadWithoutCredentialsIsRefusedWithoutShowingSecrets) {
  test::TempDir dir;
  const std::string conf = write_conf(dir, "upload = s3://bucket/x\n");
  auto r = parse_daemon_command_line({"--config", conf}, {{"HOME", dir.path()}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("upload 's3://bucket/x'"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("AWS_SHARED_CREDENTIALS_FILE"), std::string::npos);
  // A credentials file that holds a key id but no secret: refused, and the message names the
  // file, never the file's text.
  const std::string creds = dir.file("credentials");
  std::ofstream(creds) << "[default]\naws_access_key_id = AKIDONLY\n";
  objstore::Environment env = {{"HOME", dir.path()}, {"AWS_SHARED_CREDENTIALS_FILE", creds}};
  auto partial = parse_daemon_command_line({"--config", conf}, env);
  ASSERT_FALSE(partial);
  EXPECT_EQ(partial.error().message.find("not-shown-secret"), std::string::npos);
  // With the secret it resolves, and describe() never shows it.
  std::ofstream(creds) << "[default]\naws_access_key_id = AKIDFILE\n"
                          "aws_secret_access_key = not-shown-secret\n";
  auto ok = parse_daemon_command_line({"--config", conf}, env);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->config.upload_s3->describe().find("not-shown-secret"), std::string::npos);
}

TEST(DaemonConfig, HelpListsTheUploadKeys) {
  const std::string usage = daemon_usage();
  for (const char* key : {"--upload", "--upload-part-size", "--upload-parallel", "--upload-jobs",
                          "--upload-max-rate", "--keep-local"}) {
    EXPECT_NE(usage.find(key), std::string::npos) << key;
  }
}

} // namespace
} // namespace guestdump::host
