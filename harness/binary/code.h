// Machine-code questions about one function, answered with Zydis (it decodes all of Go's text,
// AVX-512 and kmov included, where capstone 4 stops): where are the RETs, where does the
// stack-check prologue end, does the sweep reach the end, and where does a RET-less function jump.
#pragma once

#include <Zydis/Zydis.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "binary/binary_info.h"

namespace bpfault::binary {

struct CodeScan {
  std::vector<uint64_t> rets;
  uint64_t body = 0;                    // the call site: see prologue_end()
  bool body_at_push = false;            // body is Go >= 1.21's `push rbp` (before DWARF's prologue_end)
  bool stack_check = false;             // a morestack check was found at the entry
  std::optional<uint64_t> stop;         // where decoding failed before the end (not padding)
  std::string stop_bytes;               // "62 f1 7d 48 ..." at `stop`
  std::optional<uint64_t> tail_target;  // last instruction is a JMP out of the function
};

// Where a function's control goes other than to the next instruction.
struct ControlFlow {
  std::vector<uint64_t> starts;                      // every instruction, in order
  std::vector<uint64_t> transfers;                   // branches, RETs, and calls other than direct ones
  std::vector<std::pair<uint64_t, uint64_t>> calls;  // direct calls: (pc, target)
  std::vector<uint64_t> targets;                     // where direct branches go (sorted)
  bool indirect = false;                             // an indirect jump (a jump table may target anything)
  bool complete = false;                             // decoded to the end
  // Whether the instruction at `from` always runs on to the one at `to` and nothing else
  // reaches `to`: no branch or RET in [from, to), no call that may not return (`returns` says
  // which direct calls' targets do), no branch target in (from, to]. Then both run equally often.
  bool straight_line(uint64_t from, uint64_t to, const std::function<bool(uint64_t target)>& returns) const;
};

// An address an instruction names as data: a RIP-relative memory operand, an absolute one (no
// base, no index: 386), or an immediate as wide as a pointer (386's `MOVL $sym, AX`).
struct DataRef {
  uint32_t insn = 0;      // the instruction's index in the function
  uint16_t mnemonic = 0;  // ZydisMnemonic
  uint8_t operand = 0;    // the operand's index
  uint64_t addr = 0;
  bool operator==(const DataRef&) const = default;
};

class CodeDecoder {
 public:
  explicit CodeDecoder(Arch arch);
  // `code` holds the bytes of [entry, entry + code.size()).
  CodeScan scan(std::span<const uint8_t> code, uint64_t entry) const;
  ControlFlow control_flow(std::span<const uint8_t> code, uint64_t entry) const;
  // Every data address the function's instructions name, in order; nullopt when decoding stops
  // before the end (not padding).
  std::optional<std::vector<DataRef>> data_refs(std::span<const uint8_t> code, uint64_t entry) const;

 private:
  uint64_t prologue_end(std::span<const uint8_t> code, uint64_t entry, CodeScan& s) const;

  Arch arch_;
  ZydisDecoder full_;     // operands too: for the few prologue instructions
  ZydisDecoder minimal_;  // mnemonic, length and raw immediates: for the whole-function sweep
};

}  // namespace bpfault::binary
