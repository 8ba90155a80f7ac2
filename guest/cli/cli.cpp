// Shared CLI pieces; see cli.h.

#include "cli.h"

#include <cstdio>
#include <iostream>

#include "guestdump/common/cli_args.h"

namespace po = boost::program_options;

namespace guestdump::guest::cli {

int fail(const std::string& message) {
  std::fprintf(stderr, "guestdump-guest: error: %s\n", message.c_str());
  return 1;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "guestdump-guest: %s\nRun 'guestdump-guest --help' for usage.\n",
               message.c_str());
  return 2;
}

std::optional<po::variables_map> parse_args(const std::vector<std::string>& args,
                                            const po::options_description& desc,
                                            const po::positional_options_description& pos,
                                            const char* usage, int& code) {
  return parse_cli_args(args, desc, pos, usage, usage_error, code);
}

} // namespace guestdump::guest::cli
