#pragma once
// JSON out of guest text: nlohmann::json throws type_error 316 when it serialises a string
// that is not valid UTF-8, and guest strings (OSRELEASE, domain names, agent replies) can be
// anything. Everything we serialise goes through dump_json(), which cannot throw for that.

#include <string>

#include <nlohmann/json.hpp>

namespace guestdump {

/// A copy of `j` whose every string value and object key is valid UTF-8: ill-formed bytes
/// become `\xNN` text (escape_invalid_utf8), well-formed text is unchanged.
nlohmann::json json_with_valid_utf8(const nlohmann::json& j);

/// `j.dump(indent)` for any content: strings are made valid UTF-8 first, and the text is pure
/// ASCII (non-ASCII characters as \uXXXX escapes), so no raw control of any kind is in it.
std::string dump_json(const nlohmann::json& j, int indent = -1);

} // namespace guestdump
