#pragma once
// Everything a kdump output needs besides page data, decided from the source alone: the
// identity header (utsname, crash time, phys_base, level, CPUs), the notes (the source's,
// VMCOREINFO guaranteed in them, plus the filter record), and the dumpable-page bitmap.
// Shared by `convert` and the streaming capture, so both write the same file for one input.

#include <cstdint>
#include <functional>
#include <vector>

#include "guestdump/common/result.h"
#include "guestdump/formats/dump_source.h"
#include "guestdump/formats/kdump_format.h"
#include "guestdump/kernel/page_filter.h"

namespace guestdump::kernel {

struct OutputPlan {
  formats::KdumpHeader header;
  std::vector<std::byte> notes;
  PageFilterResult filter;
};

/// Plans the output of `src` at `dump_level` (0-31, checked by the caller). Errors only for
/// unreadable notes and cancellation; filtering problems keep pages (see filter.fallback).
/// `threads` as for filter_pages().
Result<OutputPlan> plan_output(const formats::DumpSource& src, int dump_level,
                               std::function<void(std::uint64_t, std::uint64_t)> progress = {},
                               unsigned threads = 0);

} // namespace guestdump::kernel
