#include "guestdump/objstore/config.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "temp_dir.h"

namespace guestdump::objstore {
namespace {

constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETKEY";

void write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

struct ConfigTest : ::testing::Test {
  test::TempDir home;
  Environment env{{"HOME", home.path()}};
  std::string config_path() const { return home.path() + "/.aws/config"; }
  std::string credentials_path() const { return home.path() + "/.aws/credentials"; }
  void env_keys() {
    env["AWS_ACCESS_KEY_ID"] = "AKIDENVIRONMENT";
    env["AWS_SECRET_ACCESS_KEY"] = kSecret;
  }
};

TEST_F(ConfigTest, EnvironmentGivesEndpointRegionAndKeys) {
  env_keys();
  env["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:7480/";
  env["AWS_REGION"] = "default-placement";
  env["AWS_SESSION_TOKEN"] = "TOKEN";
  auto c = resolve_s3_config(env);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->endpoint, "http://127.0.0.1:7480");
  EXPECT_EQ(c->region, "default-placement");
  EXPECT_EQ(c->addressing, Addressing::kPath);
  EXPECT_EQ(c->credentials.access_key_id, "AKIDENVIRONMENT");
  EXPECT_EQ(c->credentials.secret_access_key, kSecret);
  EXPECT_EQ(c->credentials.session_token, "TOKEN");
  EXPECT_EQ(c->credentials_source, "environment");
}

TEST_F(ConfigTest, ServiceSpecificEndpointBeatsTheGlobalOne) {
  env_keys();
  env["AWS_ENDPOINT_URL"] = "http://global:1";
  env["AWS_ENDPOINT_URL_S3"] = "https://s3only:2";
  EXPECT_EQ(resolve_s3_config(env)->endpoint, "https://s3only:2");
  env.erase("AWS_ENDPOINT_URL_S3");
  EXPECT_EQ(resolve_s3_config(env)->endpoint, "http://global:1");
}

TEST_F(ConfigTest, WithoutEndpointAwsIsAddressedVirtualHosted) {
  env_keys();
  env["AWS_DEFAULT_REGION"] = "eu-west-1";
  auto c = resolve_s3_config(env);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->endpoint, "https://s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(c->addressing, Addressing::kVirtualHosted);
}

TEST_F(ConfigTest, RegionFromEnvironmentThenProfileThenUsEast1) {
  env_keys();
  EXPECT_EQ(resolve_s3_config(env)->region, "us-east-1");
  write(config_path(), "[default]\nregion = from-file\n");
  EXPECT_EQ(resolve_s3_config(env)->region, "from-file");
  env["AWS_DEFAULT_REGION"] = "default-region";
  EXPECT_EQ(resolve_s3_config(env)->region, "default-region");
  env["AWS_REGION"] = "region";
  EXPECT_EQ(resolve_s3_config(env)->region, "region");
}

TEST_F(ConfigTest, NamedProfileFromBothFiles) {
  write(config_path(), "# fleet store\n[default]\nregion = wrong\n\n[profile ceph]\n"
                       "region = rgw\nendpoint_url = http://rgw.example:8080\n"
                       "s3 =\n  addressing_style = virtual\n");
  write(credentials_path(), "[default]\naws_access_key_id = WRONG\naws_secret_access_key = x\n"
                            "[ceph]\naws_access_key_id = AKIDCEPH\n"
                            "aws_secret_access_key = " +
                                std::string(kSecret) + "\n");
  env["AWS_PROFILE"] = "ceph";
  auto c = resolve_s3_config(env);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->endpoint, "http://rgw.example:8080");
  EXPECT_EQ(c->region, "rgw");
  EXPECT_EQ(c->addressing, Addressing::kVirtualHosted);
  EXPECT_EQ(c->credentials.access_key_id, "AKIDCEPH");
  EXPECT_EQ(c->credentials.secret_access_key, kSecret);
  EXPECT_EQ(c->credentials_source, credentials_path() + " [ceph]");
}

TEST_F(ConfigTest, ServicesSectionGivesTheS3Endpoint) {
  write(config_path(), "[default]\nservices = onprem\nendpoint_url = http://generic:1\n"
                       "[services onprem]\ns3 =\n  endpoint_url = http://rgw:7480\n");
  env_keys();
  auto c = resolve_s3_config(env);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->endpoint, "http://rgw:7480");
  EXPECT_EQ(c->addressing, Addressing::kPath);
}

TEST_F(ConfigTest, KeysOrder) {
  write(config_path(), "[default]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = c\n");
  auto c = resolve_s3_config(env);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->credentials.access_key_id, "AKIDCONFIG");
  write(credentials_path(), "[default]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = "
                            "k\naws_session_token = t\n");
  c = resolve_s3_config(env);
  EXPECT_EQ(c->credentials.access_key_id, "AKIDCREDS");
  EXPECT_EQ(c->credentials.session_token, "t");
  env_keys();
  EXPECT_EQ(resolve_s3_config(env)->credentials.access_key_id, "AKIDENVIRONMENT");
}

TEST_F(ConfigTest, FileLocationsFromTheEnvironment) {
  write(home.file("elsewhere/conf"), "[profile p]\nregion = moved\n");
  write(home.file("elsewhere/creds"), "[p]\naws_access_key_id = AKIDMOVED\n"
                                      "aws_secret_access_key = s\n");
  env["AWS_CONFIG_FILE"] = home.file("elsewhere/conf");
  env["AWS_SHARED_CREDENTIALS_FILE"] = home.file("elsewhere/creds");
  env["AWS_PROFILE"] = "p";
  auto c = resolve_s3_config(env);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->region, "moved");
  EXPECT_EQ(c->credentials.access_key_id, "AKIDMOVED");
}

TEST_F(ConfigTest, UnknownProfileIsAnError) {
  env_keys();
  write(config_path(), "[profile other]\nregion = x\n");
  env["AWS_PROFILE"] = "missing";
  auto c = resolve_s3_config(env);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, "AWS profile 'missing' not found in '" + config_path() + "' or '" +
                                   credentials_path() + "'");
}

TEST_F(ConfigTest, NoCredentialsIsAnError) {
  auto c = resolve_s3_config(env);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kNotFound);
  EXPECT_NE(c.error().message.find("no S3 credentials"), std::string::npos);
}

TEST_F(ConfigTest, HalfAKeyPairIsAnError) {
  env["AWS_ACCESS_KEY_ID"] = "AKID";
  auto c = resolve_s3_config(env);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
  write(credentials_path(), "[default]\naws_secret_access_key = s\n");
  env.erase("AWS_ACCESS_KEY_ID");
  c = resolve_s3_config(env);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("needs both"), std::string::npos);
}

TEST_F(ConfigTest, ParseErrorsNameTheLineButNeverQuoteIt) {
  // A secret pasted without its key: the message must not repeat it.
  write(credentials_path(), "[default]\naws_access_key_id = AKID\n" + std::string(kSecret) + "\n");
  auto c = resolve_s3_config(env);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message,
            "parse '" + credentials_path() + "': line 3: expected 'key = value'");
  EXPECT_EQ(c.error().message.find(kSecret), std::string::npos);
}

TEST_F(ConfigTest, BadEndpointIsAnError) {
  env_keys();
  env["AWS_ENDPOINT_URL"] = "rgw:7480";
  auto c = resolve_s3_config(env);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message,
            "endpoint 'rgw:7480' (AWS_ENDPOINT_URL): expected http(s)://HOST[:PORT]");
}

TEST_F(ConfigTest, DescribeShowsNoSecret) {
  env_keys();
  env["AWS_SESSION_TOKEN"] = "SESSIONTOKENVALUE";
  env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:7480";
  auto c = resolve_s3_config(env);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->describe(), "endpoint http://127.0.0.1:7480, region us-east-1, path-style, access "
                           "key ***********MENT (from environment)");
}

TEST(S3Url, Parses) {
  auto u = parse_s3_url("s3://dumps.fleet-1/prod/eu/");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->bucket, "dumps.fleet-1");
  EXPECT_EQ(u->prefix, "prod/eu");
  u = parse_s3_url("s3://dumps");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->bucket, "dumps");
  EXPECT_EQ(u->prefix, "");
}

TEST(S3Url, Rejects) {
  EXPECT_EQ(parse_s3_url("http://x/y").error().message,
            "store URL 'http://x/y': expected s3://BUCKET[/PREFIX]");
  EXPECT_EQ(parse_s3_url("s3://Dumps/x").error().message,
            "store URL 's3://Dumps/x': bucket 'Dumps' is not a valid S3 bucket name (3-63 of a-z, "
            "0-9, '.', '-')");
  EXPECT_FALSE(parse_s3_url("s3://ab"));
  EXPECT_FALSE(parse_s3_url("s3:///prefix"));
  EXPECT_FALSE(parse_s3_url("s3://bucket/a//b"));
}

} // namespace
} // namespace guestdump::objstore
