// locate_bench DUMP [RUNS]: times the VMCOREINFO locator on a dump, as if it had no VMCOREINFO
// note (the note, if any, is ignored), and prints what it found. Used by locator_bench.sh to
// measure what locating adds to a conversion on dumps too big to copy without their note.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "guestdump/formats/dump_source.h"
#include "guestdump/kernel/vmcoreinfo_locator.h"

int main(int argc, char** argv) {
  using namespace guestdump::formats;
  using namespace guestdump::kernel;
  if (argc < 2) {
    std::fprintf(stderr, "usage: locate_bench DUMP [RUNS]\n");
    return 2;
  }
  const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  double best = 1e9;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto src = open_dump(argv[1]);
    if (!src) {
      std::fprintf(stderr, "locate_bench: %s\n", src.error().message.c_str());
      return 1;
    }
    auto rep = locate_vmcoreinfo(**src);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!rep) {
      std::fprintf(stderr, "locate_bench: %s\n", rep.error().message.c_str());
      return 1;
    }
    best = std::min(best, s);
    if (i == 0) std::printf("%s\n", rep->summary.c_str());
    if (!rep->vmcoreinfo) return 1;
  }
  std::printf("locate_seconds=%.3f\n", best);
  return 0;
}
