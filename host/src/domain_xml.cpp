// libvirt XML read as XML; see domain_xml.h.

#include "guestdump/host/domain_xml.h"

#include <climits>
#include <cstring>
#include <memory>

#include <libxml/parser.h>
#include <libxml/tree.h>

namespace guestdump::host {
namespace {

struct XmlDocDeleter {
  void operator()(xmlDoc* d) const noexcept { xmlFreeDoc(d); }
};
using UniqueXmlDoc = std::unique_ptr<xmlDoc, XmlDocDeleter>;

// No network, no entity substitution (XML_PARSE_NOENT unset), no DTD loading, and libxml2's
// default limits on depth and size (XML_PARSE_HUGE unset); nothing printed.
UniqueXmlDoc parse(std::string_view xml) {
  if (xml.empty() || xml.size() > INT_MAX) return nullptr;
  UniqueXmlDoc doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "libvirt.xml", nullptr,
                                 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  // libvirt never writes a DOCTYPE: a document with one is not libvirt's, and refusing it
  // rules out every entity trick (even internal entities are substituted in attribute values).
  if (doc && (doc->intSubset != nullptr || doc->extSubset != nullptr)) return nullptr;
  return doc;
}

bool named(const xmlNode* n, const char* name) {
  return n != nullptr && n->type == XML_ELEMENT_NODE &&
         std::strcmp(reinterpret_cast<const char*>(n->name), name) == 0;
}

const xmlNode* child(const xmlNode* n, const char* name) {
  for (const xmlNode* c = n != nullptr ? n->children : nullptr; c != nullptr; c = c->next) {
    if (named(c, name)) return c;
  }
  return nullptr;
}

bool attribute_is(const xmlNode* n, const char* name, const char* value) {
  xmlChar* v = xmlGetProp(n, reinterpret_cast<const xmlChar*>(name));
  const bool same = v != nullptr && std::strcmp(reinterpret_cast<const char*>(v), value) == 0;
  xmlFree(v);
  return same;
}

} // namespace

std::optional<bool> parse_watch_metadata(std::string_view xml) {
  auto doc = parse(xml);
  if (!doc) return std::nullopt;
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!named(root, "guestdumpd")) return std::nullopt;
  if (attribute_is(root, "watch", "yes")) return true;
  if (attribute_is(root, "watch", "no")) return false;
  return std::nullopt;
}

bool has_agent_channel(std::string_view domain_xml) {
  auto doc = parse(domain_xml);
  if (!doc) return false;
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!named(root, "domain")) return false;
  const xmlNode* devices = child(root, "devices");
  for (const xmlNode* c = devices != nullptr ? devices->children : nullptr; c != nullptr;
       c = c->next) {
    if (!named(c, "channel")) continue;
    const xmlNode* target = child(c, "target");
    if (target != nullptr && attribute_is(target, "type", "virtio") &&
        attribute_is(target, "name", "org.qemu.guest_agent.0")) {
      return true;
    }
  }
  return false;
}

} // namespace guestdump::host
