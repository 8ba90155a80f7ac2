#include "guestdump/common/json_text.h"

#include "guestdump/common/text.h"

namespace guestdump {

nlohmann::json json_with_valid_utf8(const nlohmann::json& j) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    return is_valid_utf8(s) ? j : nlohmann::json(escape_invalid_utf8(s));
  }
  if (j.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : j) out.push_back(json_with_valid_utf8(e));
    return out;
  }
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : j.items()) out[escape_invalid_utf8(k)] = json_with_valid_utf8(v);
    return out;
  }
  return j;
}

std::string dump_json(const nlohmann::json& j, int indent) {
  // ensure_ascii: everything outside ASCII becomes \uXXXX, so no C1 control (U+009B is an
  // 8-bit CSI to some terminals) or bidirectional override reaches `cat meta.json` raw.
  return json_with_valid_utf8(j).dump(indent, ' ', true);
}

} // namespace guestdump
