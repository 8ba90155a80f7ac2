#pragma once
// Command-line parsing shared by guestdump (host/cli) and guestdump-guest (guest/): header-only,
// so that guestdump::common itself does not link Boost.Program_options.

#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace guestdump {

/// Parses `args` against `desc` and `pos`. With --help, prints `usage` and the options to
/// stdout and sets `code` to 0; on a parse error, sets `code` to usage_error(message) (which
/// prints it). Returns nullopt in both cases: the command then returns `code`.
inline std::optional<boost::program_options::variables_map>
parse_cli_args(const std::vector<std::string>& args,
               const boost::program_options::options_description& desc,
               const boost::program_options::positional_options_description& pos, const char* usage,
               const std::function<int(const std::string&)>& usage_error, int& code) {
  namespace po = boost::program_options;
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

} // namespace guestdump
