// QMP line splitting and message parsing; see framing.h.

#include "framing.h"

namespace guestdump::qmp::detail {
namespace {

Error protocol_error(const std::string& peer, const std::string& what) {
  return make_error(ErrorCode::kProtocol, "qmp '" + peer + "': " + what);
}

// True when no bracket nests deeper than `limit` outside JSON strings. Run before parsing:
// nlohmann's parser is iterative, but copying and printing a value recurse once per level.
bool depth_within(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// `what` prefixes the clipped line in the error: "malformed JSON from peer: ".
Result<Json> parse_object(std::string_view line, const std::string& peer, std::string_view what) {
  if (!depth_within(line, kMaxJsonDepth)) {
    return protocol_error(peer, "JSON nested deeper than " + std::to_string(kMaxJsonDepth) +
                                    " levels from peer: " + clip(line));
  }
  Json msg = Json::parse(line, nullptr, false);
  if (msg.is_discarded() || !msg.is_object()) {
    return protocol_error(peer, std::string(what) + clip(line));
  }
  return msg;
}

Result<Event> parse_event(const Json& msg, const std::string& peer) {
  const auto ev = msg.find("event");
  if (!ev->is_string()) return protocol_error(peer, "event name is not a string");
  Event event;
  event.name = ev->get<std::string>();
  if (auto d = msg.find("data"); d != msg.end()) {
    if (!d->is_object()) {
      return protocol_error(peer, "event '" + event.name + "': data is not an object");
    }
    event.data = *d;
  } else {
    event.data = Json::object();
  }
  if (auto ts = msg.find("timestamp"); ts != msg.end() && ts->is_object()) {
    if (auto s = ts->find("seconds"); s != ts->end() && s->is_number_integer()) {
      event.seconds = s->get<std::int64_t>();
    }
    if (auto us = ts->find("microseconds"); us != ts->end() && us->is_number_integer()) {
      event.microseconds = us->get<std::int64_t>();
    }
  }
  return event;
}

Result<Reply> parse_reply(const Json& msg, const std::string& peer) {
  Reply reply;
  if (auto r = msg.find("return"); r != msg.end()) {
    reply.value = *r;
    return reply;
  }
  const auto& err = *msg.find("error");
  if (!err.is_object()) return protocol_error(peer, "error member is not an object");
  auto cls = err.find("class");
  auto desc = err.find("desc");
  if (cls == err.end() || !cls->is_string() || desc == err.end() || !desc->is_string()) {
    return protocol_error(peer, "error object lacks string 'class' and 'desc'");
  }
  reply.failed = true;
  reply.error.error_class = cls->get<std::string>();
  reply.error.desc = desc->get<std::string>();
  return reply;
}

} // namespace

std::string clip(std::string_view line) {
  constexpr std::size_t kMax = 200;
  if (line.size() <= kMax) return std::string(line);
  return std::string(line.substr(0, kMax)) + "...";
}

std::optional<std::string> LineSplitter::next_line() {
  const std::size_t nl = buffer_.find('\n', scanned_);
  if (nl == std::string::npos) {
    scanned_ = buffer_.size();
    return std::nullopt;
  }
  std::string line = buffer_.substr(0, nl);
  buffer_.erase(0, nl + 1);
  scanned_ = 0;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Result<Message> parse_message(std::string_view line, const std::string& peer) {
  if (line.empty()) return Message(OtherMessage{});
  GUESTDUMP_TRY(Json msg, parse_object(line, peer, "malformed JSON from peer: "));
  if (msg.contains("event")) {
    GUESTDUMP_TRY(Event ev, parse_event(msg, peer));
    return Message(std::move(ev));
  }
  if (msg.contains("return") || msg.contains("error")) {
    ReplyMessage r{false, {}, parse_reply(msg, peer)};
    if (auto id = msg.find("id"); id != msg.end()) {
      r.has_id = true;
      if (id->is_string()) r.id = id->get<std::string>();
    }
    return Message(std::move(r));
  }
  return Message(OtherMessage{});
}

Result<Greeting> parse_greeting(std::string_view line, const std::string& peer) {
  GUESTDUMP_TRY(Json msg, parse_object(line, peer, "greeting is not a JSON object: "));
  auto qmp = msg.find("QMP");
  if (qmp == msg.end() || !qmp->is_object()) {
    return protocol_error(peer, "expected a QMP greeting, got: " + clip(line));
  }
  auto caps = qmp->find("capabilities");
  if (caps == qmp->end() || !caps->is_array()) {
    return protocol_error(peer, "greeting has no capabilities: " + clip(line));
  }
  Greeting greeting;
  for (const auto& c : *caps) {
    if (!c.is_string()) return protocol_error(peer, "greeting capability not a string");
    greeting.capabilities.push_back(c.get<std::string>());
  }
  if (auto v = qmp->find("version"); v != qmp->end() && v->is_object()) {
    if (auto q = v->find("qemu"); q != v->end() && q->is_object()) {
      auto num = [&](const char* key) {
        auto it = q->find(key);
        return it != q->end() && it->is_number_integer() ? it->get<int>() : 0;
      };
      greeting.major = num("major");
      greeting.minor = num("minor");
      greeting.micro = num("micro");
    }
    if (auto pkg = v->find("package"); pkg != v->end() && pkg->is_string()) {
      greeting.package = pkg->get<std::string>();
    }
  }
  return greeting;
}

} // namespace guestdump::qmp::detail
