#include "guestdump/qmp/commands.h"

#include <limits>

namespace guestdump::qmp {
namespace {

Error shape_error(std::string_view command, std::string_view what) {
  return make_error(ErrorCode::kProtocol,
                    "qmp '" + std::string(command) + "': reply " + std::string(what));
}

Result<const Json*> member(const Json& object, std::string_view command, const char* key) {
  if (!object.is_object()) return shape_error(command, "is not an object");
  auto it = object.find(key);
  if (it == object.end()) return shape_error(command, std::string("lacks '") + key + "'");
  return &*it;
}

Result<std::string> string_member(const Json& object, std::string_view command, const char* key) {
  GUESTDUMP_TRY(const Json* v, member(object, command, key));
  if (!v->is_string()) return shape_error(command, std::string("'") + key + "' is not a string");
  return v->get<std::string>();
}

Result<std::uint64_t> u64_member(const Json& object, std::string_view command, const char* key) {
  GUESTDUMP_TRY(const Json* v, member(object, command, key));
  if (v->is_number_unsigned()) return v->get<std::uint64_t>();
  if (v->is_number_integer() && v->get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(v->get<std::int64_t>());
  }
  return shape_error(command, std::string("'") + key + "' is not a non-negative integer");
}

Result<std::int64_t> i64_member(const Json& object, std::string_view command, const char* key) {
  GUESTDUMP_TRY(const Json* v, member(object, command, key));
  if (v->is_number_integer() &&
      !(v->is_number_unsigned() &&
        v->get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))) {
    return v->get<std::int64_t>();
  }
  return shape_error(command, std::string("'") + key + "' is not an integer");
}

Result<void> simple(Client& client, std::string_view command, const Json& args = Json::object(),
                    std::span<const int> fds = {}) {
  GUESTDUMP_TRY(Json ignored, client.execute(command, args, kDefaultCommandTimeout, fds));
  (void)ignored;
  return {};
}

Result<DumpProgress> parse_progress_as(const Json& object, std::string_view what) {
  DumpProgress p;
  GUESTDUMP_TRY(std::string status, string_member(object, what, "status"));
  if (status == "none") {
    p.status = DumpStatus::kNone;
  } else if (status == "active") {
    p.status = DumpStatus::kActive;
  } else if (status == "completed") {
    p.status = DumpStatus::kCompleted;
  } else if (status == "failed") {
    p.status = DumpStatus::kFailed;
  } else {
    return shape_error(what, "has unknown dump status '" + status + "'");
  }
  GUESTDUMP_TRY(p.completed, u64_member(object, what, "completed"));
  GUESTDUMP_TRY(p.total, u64_member(object, what, "total"));
  return p;
}

} // namespace

std::string_view dump_status_name(DumpStatus status) {
  switch (status) {
  case DumpStatus::kNone:
    return "none";
  case DumpStatus::kActive:
    return "active";
  case DumpStatus::kCompleted:
    return "completed";
  case DumpStatus::kFailed:
    return "failed";
  }
  return "unknown";
}

Result<DumpProgress> parse_dump_progress(const Json& object) {
  return parse_progress_as(object, "query-dump");
}

std::string fd_protocol(std::string_view fdname) {
  return "fd:" + std::string(fdname);
}
std::string file_protocol(std::string_view path) {
  return "file:" + std::string(path);
}

Result<RunStatus> query_status(Client& client) {
  GUESTDUMP_TRY(Json r, client.execute("query-status"));
  RunStatus s;
  GUESTDUMP_TRY(s.status, string_member(r, "query-status", "status"));
  GUESTDUMP_TRY(const Json* running, member(r, "query-status", "running"));
  if (!running->is_boolean()) return shape_error("query-status", "'running' is not a boolean");
  s.running = running->get<bool>();
  return s;
}

Result<void> stop(Client& client) {
  return simple(client, "stop");
}
Result<void> cont(Client& client) {
  return simple(client, "cont");
}
Result<void> inject_nmi(Client& client) {
  return simple(client, "inject-nmi");
}

Result<std::vector<std::string>> query_dump_guest_memory_capability(Client& client) {
  constexpr std::string_view kCmd = "query-dump-guest-memory-capability";
  GUESTDUMP_TRY(Json r, client.execute(kCmd));
  GUESTDUMP_TRY(const Json* formats, member(r, kCmd, "formats"));
  if (!formats->is_array()) return shape_error(kCmd, "'formats' is not an array");
  std::vector<std::string> out;
  for (const auto& f : *formats) {
    if (!f.is_string()) return shape_error(kCmd, "'formats' holds a non-string");
    out.push_back(f.get<std::string>());
  }
  return out;
}

Result<void> dump_guest_memory(Client& client, const DumpRequest& request, Milliseconds timeout) {
  if (request.protocol.rfind("fd:", 0) != 0 && request.protocol.rfind("file:", 0) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "qmp 'dump-guest-memory': protocol '" +
                                                       request.protocol +
                                                       "' is neither fd:NAME nor file:PATH");
  }
  Json args = {{"paging", request.paging},
               {"protocol", request.protocol},
               {"detach", request.detach},
               {"format", request.format}};
  GUESTDUMP_TRY(Json ignored, client.execute("dump-guest-memory", args, timeout));
  (void)ignored;
  return {};
}

Result<DumpProgress> query_dump(Client& client) {
  GUESTDUMP_TRY(Json r, client.execute("query-dump"));
  return parse_progress_as(r, "query-dump");
}

Result<void> getfd(Client& client, std::string_view fdname, int fd) {
  const int fds[1] = {fd};
  return simple(client, "getfd", Json{{"fdname", std::string(fdname)}}, fds);
}

Result<void> closefd(Client& client, std::string_view fdname) {
  return simple(client, "closefd", Json{{"fdname", std::string(fdname)}});
}

Result<AddFdInfo> add_fd(Client& client, int fd, std::optional<std::int64_t> fdset_id,
                         std::optional<std::string> opaque) {
  Json args = Json::object();
  if (fdset_id) args["fdset-id"] = *fdset_id;
  if (opaque) args["opaque"] = *opaque;
  const int fds[1] = {fd};
  GUESTDUMP_TRY(Json r, client.execute("add-fd", args, kDefaultCommandTimeout, fds));
  AddFdInfo info;
  GUESTDUMP_TRY(info.fdset_id, i64_member(r, "add-fd", "fdset-id"));
  GUESTDUMP_TRY(info.fd, i64_member(r, "add-fd", "fd"));
  return info;
}

Result<void> remove_fd(Client& client, std::int64_t fdset_id, std::optional<std::int64_t> fd) {
  Json args = {{"fdset-id", fdset_id}};
  if (fd) args["fd"] = *fd;
  return simple(client, "remove-fd", args);
}

Result<std::string> human_monitor_command(Client& client, std::string_view command_line,
                                          Milliseconds timeout) {
  GUESTDUMP_TRY(Json r, client.execute("human-monitor-command",
                                       Json{{"command-line", std::string(command_line)}}, timeout));
  // QEMU returns the text as a string (empty when the command printed nothing).
  if (!r.is_string()) return shape_error("human-monitor-command", "is not a string");
  return r.get<std::string>();
}

} // namespace guestdump::qmp
