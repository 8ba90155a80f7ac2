// `guestdump-guest upload`: runs the dynamically linked helper guestdump-guest-upload (the S3
// store needs libcurl, which this static binary cannot hold; docs/guest.md, "upload").

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <limits.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"

namespace guestdump::guest {

namespace {

constexpr const char* kHelperName = "guestdump-guest-upload";

/// Next to this binary first (a build tree), then the installed place.
std::vector<std::string> helper_candidates() {
  std::vector<std::string> out;
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<std::size_t>(n));
    dir.erase(dir.rfind('/') + 1);
    out.push_back(dir + kHelperName);
  }
  out.push_back(std::string(GUESTDUMP_LIBEXECDIR "/") + kHelperName);
  return out;
}

} // namespace

int run_upload(const std::vector<std::string>& args) {
  const std::vector<std::string> candidates = helper_candidates();
  for (const std::string& helper : candidates) {
    if (::access(helper.c_str(), X_OK) != 0) continue;
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(helper.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(helper.c_str(), argv.data());
    return cli::fail("upload: run '" + helper + "': " + std::strerror(errno));
  }
  return cli::fail("upload: '" + candidates.back() +
                   "' not found (the dynamically linked part of guestdump-guest that uploads; "
                   "it comes with the guestdump-guest package)");
}

} // namespace guestdump::guest
