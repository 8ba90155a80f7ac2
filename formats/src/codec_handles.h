#pragma once
// RAII aliases for the compression libraries' handles (private to formats/).

#include <memory>

#include <zstd.h>

namespace guestdump::formats::detail {

struct ZstdCCtxDeleter {
  void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};
struct ZstdDCtxDeleter {
  void operator()(ZSTD_DCtx* c) const noexcept { ZSTD_freeDCtx(c); }
};
using UniqueZstdCCtx = std::unique_ptr<ZSTD_CCtx, ZstdCCtxDeleter>;
using UniqueZstdDCtx = std::unique_ptr<ZSTD_DCtx, ZstdDCtxDeleter>;

} // namespace guestdump::formats::detail
