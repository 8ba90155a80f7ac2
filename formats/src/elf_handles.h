#pragma once
// RAII alias for libelf handles (private to formats/).

#include <memory>
#include <string>

#include <libelf.h>

#include "guestdump/common/result.h"

namespace guestdump::formats::detail {

struct ElfDeleter {
  void operator()(Elf* e) const noexcept { elf_end(e); }
};
using UniqueElf = std::unique_ptr<Elf, ElfDeleter>;

/// libelf's last error as an Error: the one place libelf errors are translated.
inline Error elf_error(std::string_view what) {
  return make_error(ErrorCode::kBadData, std::string(what) + ": " + elf_errmsg(-1));
}

} // namespace guestdump::formats::detail
