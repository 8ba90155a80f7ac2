// HMP register and memory text into dump notes and bytes; see hmp_cpu_state.h.

#include "hmp_cpu_state.h"

#include <charconv>
#include <cstring>
#include <optional>

#include "guestdump/formats/elf_notes.h"

namespace guestdump::host::detail {

namespace {

std::optional<std::uint64_t> hex(std::string_view s) {
  if (s.starts_with("0x")) s.remove_prefix(2);
  if (s.empty() || s.size() > 16) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

Error bad(const std::string& what) {
  return make_error(ErrorCode::kBadData, "info registers: " + what);
}

// Register names in HmpCpuState::gpr order; 32-bit CPUs print the E forms of the first eight.
constexpr std::string_view kGpr64[] = {"RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "RSP",
                                       "R8",  "R9",  "R10", "R11", "R12", "R13", "R14", "R15"};
constexpr std::string_view kGpr32[] = {"EAX", "EBX", "ECX", "EDX", "ESI", "EDI", "EBP", "ESP"};
constexpr std::string_view kSegNames[] = {"ES", "CS", "SS", "DS", "FS", "GS", "LDT", "TR"};

struct Pending {
  HmpCpuState cpu;
  bool rip = false;
  unsigned crs = 0; // bit per CR seen
};

Result<void> finish(Pending& p, std::vector<HmpCpuState>& out) {
  const std::string name = "CPU#" + std::to_string(p.cpu.index);
  if (!p.rip) return bad(name + " shows no RIP");
  if ((p.crs & 0x1d) != 0x1d) return bad(name + " shows no CR0, CR2, CR3 and CR4");
  out.push_back(p.cpu);
  return {};
}

// HMP prints es cs ss ds fs gs ldt tr; the notes hold cs ds es fs gs ss ldt tr gdt idt.
formats::X86_64CpuRegs cpu_regs(const HmpCpuState& c) {
  formats::X86_64CpuRegs r;
  r.gpr = c.gpr;
  r.rip = c.rip;
  r.rflags = c.rflags;
  r.orig_rax = 0; // as QEMU writes it
  const auto seg = [](const HmpSegment& s) {
    return formats::X86_64CpuRegs::Segment{s.selector, s.limit, s.flags, s.base};
  };
  r.seg = {seg(c.seg[1]),
           seg(c.seg[3]),
           seg(c.seg[0]),
           seg(c.seg[4]),
           seg(c.seg[5]),
           seg(c.seg[2]),
           seg(c.seg[6]),
           seg(c.seg[7]),
           formats::X86_64CpuRegs::Segment{0, c.gdt_limit, 0, c.gdt_base},
           formats::X86_64CpuRegs::Segment{0, c.idt_limit, 0, c.idt_base}};
  r.cr = c.cr;
  return r;
}

} // namespace

Result<std::vector<HmpCpuState>> parse_info_registers(std::string_view text) {
  std::vector<HmpCpuState> out;
  std::optional<Pending> cur;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string line(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.starts_with("CPU#")) {
      if (cur) GUESTDUMP_CHECK(finish(*cur, out));
      int idx = -1;
      auto [p, ec] = std::from_chars(line.data() + 4, line.data() + line.size(), idx);
      if (ec != std::errc() || idx < 0 || idx > 4095) return bad("bad CPU header '" + line + "'");
      (void)p;
      cur.emplace();
      cur->cpu.index = idx;
      continue;
    }
    // "R8 =..." and "ES =0000 ..." pad the name: join it to its '='.
    for (std::size_t at; (at = line.find(" =")) != std::string::npos;) line.erase(at, 1);
    const auto w = words(line);
    if (w.empty()) continue;
    if (!cur) {
      cur.emplace(); // `info registers` of one CPU has no header
    }
    auto& c = cur->cpu;
    const auto eq = w[0].find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = w[0].substr(0, eq);
    const std::string_view val0 = w[0].substr(eq + 1);
    // Segment lines: NAME=sel base limit flags ...
    for (std::size_t i = 0; i < std::size(kSegNames); ++i) {
      if (key != kSegNames[i]) continue;
      if (w.size() < 4) return bad("short segment line '" + line + "'");
      auto sel = hex(val0), base = hex(w[1]), limit = hex(w[2]), flags = hex(w[3]);
      if (!sel || !base || !limit || !flags) return bad("bad segment line '" + line + "'");
      c.seg[i] = {static_cast<std::uint32_t>(*sel), *base, static_cast<std::uint32_t>(*limit),
                  static_cast<std::uint32_t>(*flags)};
    }
    if (key == "GDT" || key == "IDT") {
      // "GDT=     base limit": the value is in the next two words
      if (w.size() < 3 || !val0.empty()) return bad("bad table line '" + line + "'");
      auto base = hex(w[1]), limit = hex(w[2]);
      if (!base || !limit) return bad("bad table line '" + line + "'");
      (key == "GDT" ? c.gdt_base : c.idt_base) = *base;
      (key == "GDT" ? c.gdt_limit : c.idt_limit) = static_cast<std::uint32_t>(*limit);
      continue;
    }
    // Register lines: KEY=HEX words; others (flags text, CPL=, DR, FPU) are skipped.
    for (const auto word : w) {
      const auto e = word.find('=');
      if (e == std::string_view::npos) continue;
      const std::string_view k = word.substr(0, e);
      const auto v = hex(word.substr(e + 1));
      if (!v) continue;
      for (std::size_t i = 0; i < std::size(kGpr64); ++i) {
        if (k == kGpr64[i] || (i < std::size(kGpr32) && k == kGpr32[i])) c.gpr[i] = *v;
      }
      if (k == "RIP" || k == "EIP") {
        c.rip = *v;
        cur->rip = true;
      } else if (k == "RFL" || k == "EFL") {
        c.rflags = *v;
      } else if (k.size() == 3 && k.starts_with("CR") && k[2] >= '0' && k[2] <= '4') {
        c.cr[static_cast<std::size_t>(k[2] - '0')] = *v;
        cur->crs |= 1u << (k[2] - '0');
      }
    }
  }
  if (cur) GUESTDUMP_CHECK(finish(*cur, out));
  if (out.empty()) return bad("no CPU in the output");
  return out;
}

std::vector<std::byte> cpu_notes(const std::vector<HmpCpuState>& cpus) {
  std::vector<std::byte> blob;
  for (const auto& c : cpus) {
    formats::append_note(
        blob, "CORE", formats::kNtPrstatus,
        formats::prstatus_desc(cpu_regs(c), static_cast<std::uint32_t>(c.index + 1)));
  }
  for (const auto& c : cpus) {
    formats::append_note(blob, "QEMU", 0, formats::qemu_cpu_state_desc(cpu_regs(c)));
  }
  return blob;
}

Result<void> parse_xp_quadwords(std::string_view text, std::uint64_t addr,
                                std::span<std::byte> out) {
  std::vector<bool> seen(out.size() / 8, false);
  const std::string where = "xp at 0x" + std::to_string(addr);
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto at = hex(line.substr(0, colon));
    if (!at)
      return make_error(ErrorCode::kBadData, where + ": bad line '" + std::string(line) + "'");
    std::uint64_t a = *at;
    for (const auto w : words(line.substr(colon + 1))) {
      auto v = hex(w);
      if (!v || !w.starts_with("0x") || a < addr || a - addr + 8 > out.size() || (a - addr) % 8) {
        return make_error(ErrorCode::kBadData, where + ": bad line '" + std::string(line) + "'");
      }
      std::memcpy(out.data() + (a - addr), &*v, 8);
      seen[(a - addr) / 8] = true;
      a += 8;
    }
  }
  for (bool s : seen) {
    if (!s) return make_error(ErrorCode::kBadData, where + ": output does not cover the range");
  }
  return {};
}

} // namespace guestdump::host::detail
