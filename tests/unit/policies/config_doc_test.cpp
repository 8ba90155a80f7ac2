// docs/config.md is the operator's reference for the policy keys: it must list every key that
// policy_keys() knows, with the same default.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include <guestdump/policies/config.h>

namespace guestdump::policies {
namespace {

std::string read_config_doc() {
  const std::filesystem::path doc = std::filesystem::path(GUESTDUMP_SOURCE_DIR) / "docs/config.md";
  std::ifstream in(doc);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(ConfigDoc, ListsEveryPolicyKeyWithItsDefault) {
  const std::string doc = read_config_doc();
  ASSERT_FALSE(doc.empty()) << "docs/config.md not found next to the sources";
  for (const PolicyKey& key : policy_keys()) {
    // A table row starts "| `key` | <default> ...".
    const std::string row = "| `" + std::string(key.name) + "` | ";
    const std::size_t at = doc.find(row);
    ASSERT_NE(at, std::string::npos) << "docs/config.md has no row for '" << key.name << "'";
    if (key.default_value.empty()) continue;
    const std::string cell =
        doc.substr(at + row.size(), doc.find(" |", at + row.size()) - (at + row.size()));
    EXPECT_EQ(cell.rfind("`" + std::string(key.default_value) + "`", 0), 0u)
        << "key '" << key.name << "': docs/config.md says " << cell << ", the code says "
        << key.default_value;
  }
}

} // namespace
} // namespace guestdump::policies
