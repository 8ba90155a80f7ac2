// Shared CLI pieces; see cli.h.

#include "cli.h"

#include <cstdio>
#include <iostream>

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
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
    if (vm.count("help") != 0) {
      std::cout << usage << "\n" << desc;
      code = 0;
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    code = usage_error(e.what());
    return std::nullopt;
  }
  return vm;
}

} // namespace guestdump::guest::cli
