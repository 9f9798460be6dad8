// Go stacks as Go's own traceback finds them, from the binary's tables alone (.gopclntab, which
// survives `-ldflags=-s -w`): each physical frame's size from the pc->SP-delta table (pcsp),
// its caller's PC at SP+size (x86 pushes the return address: amd64 and 386 alike), and the
// calls inlined at each PC expanded from the inline tree (FUNCDATA_InlTree, indexed by the
// PCDATA_InlTreeIndex table), each a frame with its own function, file and line. Frame
// pointers are not used: 386 code keeps none.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "binary/binary_info.h"

namespace bpfault::binary {

struct StackFrame {
  std::string function;  // as Go prints it
  uint64_t pc = 0;       // the physical frame's PC (a caller's: its return address), unbiased
  uint64_t offset = 0;   // pc - the physical function's entry
  std::string file;
  int line = 0;
  bool inlined = false;  // a call the compiler inlined into the next frame's function
};

struct Stack {
  std::vector<StackFrame> frames;  // innermost first
  // Why the walk ended before the outermost frame (runtime.goexit, mstart), empty when it
  // reached it: the copy of the stack ended first, a PC outside the Go text, a function that
  // moves SP by other means (assembly) or no SP delta at a PC.
  std::string cut;
};

// The logical frames at `pc` of one physical frame, innermost first: the calls inlined there,
// then the function itself. `lookup_pc` is where file, line and the inline tree are read: the
// PC itself for the frame that was interrupted, the call instruction (return address - 1) for
// a caller, as Go's traceback does.
std::vector<StackFrame> logical_frames(const BinaryInfo& bin, uint64_t pc, uint64_t lookup_pc);

// Unwinds the stack of a Go function stopped at `pc` with stack pointer `sp`, from `stack`: the
// bytes at [sp, sp + stack.size()) as copied then. `bias`: the load bias of a PIE (runtime
// address - file address), taken off every return address. At most `max_frames` physical frames.
Stack unwind(const BinaryInfo& bin, uint64_t pc, uint64_t sp, std::span<const uint8_t> stack, uint64_t bias = 0,
             size_t max_frames = 512);

// The code of `name` wherever it runs: [lo, hi) file addresses, in address order, adjacent ones
// merged. Its own out-of-line code if it has some, and every copy the compiler inlined, by the
// binary's inline trees (stripped binaries too): each PC whose chain of inlined calls (innermost
// to outermost, as the stack shows them) has `name` in it. A call made from `name` has its call
// instruction (return address - 1) in one of them, inlined or not.
struct CodeRange {
  uint64_t lo = 0, hi = 0;
  std::string function;  // the out-of-line function holding the range (`name` itself for its own code)
  bool operator==(const CodeRange&) const = default;
};
std::vector<CodeRange> inlined_ranges(const BinaryInfo& bin, std::string_view name);

}  // namespace bpfault::binary
