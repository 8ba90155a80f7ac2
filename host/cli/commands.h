#pragma once
// The guestdump subcommands. Each takes its arguments (after the command word) and returns the
// process exit code: 0 success, 1 operation failed, 2 usage error.

#include <memory>
#include <string>
#include <vector>

#include "guestdump/common/byte_source.h"
#include "guestdump/common/result.h"
#include "guestdump/objstore/s3_client.h"

namespace guestdump::cli {

int run_convert(const std::vector<std::string>& args);
int run_info(const std::vector<std::string>& args);
int run_verify(const std::vector<std::string>& args);
int run_dmesg(const std::vector<std::string>& args); // dmesg_command.cpp
int run_dump(const std::vector<std::string>& args);  // dump_command.cpp
int run_list(const std::vector<std::string>& args);  // dump_command.cpp
int run_fetch(const std::vector<std::string>& args); // store_commands.cpp

/// list --store's filters (empty: no filter).
struct StoreFilter {
  std::string host, domain, trigger, since, until;
};
/// guestdump list --store s3://BUCKET/PREFIX: the remote store's dumps, newest first.
int run_list_store(const std::string& store_url, const StoreFilter& filter, bool json);

/// A remote object opened for ranged reads, and the client whose read_stats() count them.
struct RemoteFile {
  std::unique_ptr<ByteSource> bytes;
  objstore::S3Client client;
};
/// True for "s3://…": info and dmesg read such a file in place.
bool is_s3_url(const std::string& text);
/// Opens s3://BUCKET/KEY with the AWS CLI's configuration from the environment.
Result<RemoteFile> open_remote_file(const std::string& url);
/// "fetched N bytes in M requests (P% of S bytes)": on stderr when `print`, else a debug line.
void report_fetched(const objstore::S3Client& client, const std::string& name, std::uint64_t size,
                    bool print);

/// design.md §3: where dumps go unless -o says otherwise.
inline constexpr const char* kDefaultDumpDir = "/var/lib/guestdump/dumps";

/// Prints "guestdump: error: <message>" and returns 1.
int fail(const std::string& message);
/// Prints "guestdump: error: <message>" plus a usage hint and returns 2.
int usage_error(const std::string& message);

} // namespace guestdump::cli
