// Guest-agent file reads for /sys/kernel/vmcoreinfo; see guest_agent.h.

#include "guestdump/host/guest_agent.h"

#include <nlohmann/json.hpp>

#include "guestdump/kernel/vmcoreinfo_locator.h"

namespace guestdump::host {

namespace {

using json = nlohmann::json;

// RFC 4648 base64 as the agent sends it ("buf-b64"); nullopt on any other character.
std::optional<std::string> base64_decode(std::string_view in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      ++pad;
      continue;
    } else {
      return std::nullopt;
    }
    if (pad != 0) return std::nullopt; // data after padding
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (pad > 2 || (in.size() % 4) != 0) return std::nullopt;
  return out;
}

// The "return" member of a parsed reply, looked up in place (nullptr if there is none). The reply
// comes from the guest, which may nest it arbitrarily deep: parsing and destroying a json value
// are iterative, but copying one recurses once per level, so nothing here copies a guest value.
const json* find_return(const json& doc) {
  if (doc.is_discarded() || !doc.is_object()) return nullptr;
  auto it = doc.find("return");
  return it == doc.end() ? nullptr : &*it;
}

} // namespace

std::string agent_file_open_command(std::string_view path) {
  return json{{"execute", "guest-file-open"},
              {"arguments", {{"path", std::string(path)}, {"mode", "r"}}}}
      .dump();
}

std::string agent_file_read_command(std::int64_t handle, std::size_t count) {
  return json{{"execute", "guest-file-read"}, {"arguments", {{"handle", handle}, {"count", count}}}}
      .dump();
}

std::string agent_file_close_command(std::int64_t handle) {
  return json{{"execute", "guest-file-close"}, {"arguments", {{"handle", handle}}}}.dump();
}

std::optional<std::int64_t> parse_agent_file_handle(std::string_view reply) {
  const json doc = json::parse(reply, nullptr, false);
  const json* r = find_return(doc);
  if (r == nullptr || !r->is_number_integer()) return std::nullopt;
  return r->get<std::int64_t>();
}

std::optional<std::string> parse_agent_file_read(std::string_view reply) {
  const json doc = json::parse(reply, nullptr, false);
  const json* r = find_return(doc);
  if (r == nullptr || !r->is_object()) return std::nullopt;
  auto count = r->find("count");
  auto buf = r->find("buf-b64");
  if (count == r->end() || !count->is_number_unsigned() || buf == r->end() || !buf->is_string()) {
    return std::nullopt;
  }
  auto bytes = base64_decode(buf->get<std::string>());
  if (!bytes || bytes->size() != count->get<std::uint64_t>()) return std::nullopt;
  return bytes;
}

std::optional<std::uint64_t> vmcoreinfo_address(std::string_view sysfs_text) {
  auto v = kernel::parse_sysfs_vmcoreinfo(sysfs_text);
  if (!v) return std::nullopt;
  return v->pa;
}

} // namespace guestdump::host
