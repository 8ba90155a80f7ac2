#pragma once
// Option parsing and exit codes shared by the guestdump-guest subcommands (the guest binary
// does not link host/cli, which needs libvirt).

#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace guestdump::guest::cli {

/// Prints "guestdump-guest: error: <message>" to stderr; returns 1.
int fail(const std::string& message);
/// Prints "guestdump-guest: <message>" and a hint to stderr; returns 2.
int usage_error(const std::string& message);

/// Parses `args` against `desc` (+ positionals); returns nullopt and sets `code` (0 after
/// printing --help, 2 after printing a usage error) when the command should stop.
std::optional<boost::program_options::variables_map>
parse_args(const std::vector<std::string>& args,
           const boost::program_options::options_description& desc,
           const boost::program_options::positional_options_description& pos, const char* usage,
           int& code);

} // namespace guestdump::guest::cli
