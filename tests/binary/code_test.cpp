// The machine-code questions on hand-assembled functions: RET sites, decoding stops, tail
// jumps, and where Go's prologue ends for each prologue shape the compiler emits.
#include <gtest/gtest.h>

#include "binary/code.h"

namespace bpfault::binary {
namespace {

constexpr uint64_t kEntry = 0x401000;

CodeScan scan(Arch arch, std::vector<uint8_t> code) { return CodeDecoder(arch).scan(code, kEntry); }

TEST(Code, Go121CallSiteIsThePushRbpAfterTheCheck) {
  auto s = scan(Arch::amd64, {
                                 0x49, 0x3b, 0x66, 0x10,     // 0: cmp rsp, [r14+0x10]
                                 0x76, 0x0e,                 // 4: jbe 20 (morestack)
                                 0x55,                       // 6: push rbp            <- call site
                                 0x48, 0x89, 0xe5,           // 7: mov rbp, rsp
                                 0x48, 0x83, 0xec, 0x10,     // 10: sub rsp, 0x10      (prologue_end)
                                 0x48, 0x83, 0xc4, 0x10,     // 14: add rsp, 0x10
                                 0x5d,                       // 18: pop rbp
                                 0xc3,                       // 19: ret
                                 0xe8, 0,    0,    0,    0,  // 20: call runtime.morestack_noctxt
                                 0xeb, 0xe5,                 // 25: jmp entry
                                 0xcc, 0xcc,                 // padding
                             });
  EXPECT_TRUE(s.stack_check);
  EXPECT_EQ(s.body, kEntry + 6);  // emulated by the kernel: ~30x cheaper than the SUB
  EXPECT_TRUE(s.body_at_push);
  EXPECT_EQ(s.rets, (std::vector<uint64_t>{kEntry + 19}));
  EXPECT_FALSE(s.stop);
  EXPECT_FALSE(s.tail_target);
}

TEST(Code, Go119PrologueEndsAtTheSubRightAfterTheCheck) {
  auto s = scan(Arch::amd64, {
                                 0x49, 0x3b, 0x66, 0x10,        // 0: cmp rsp, [r14+0x10]
                                 0x76, 0x18,                    // 4: jbe 30
                                 0x48, 0x83, 0xec, 0x18,        // 6: sub rsp, 0x18   <- prologue_end
                                 0x48, 0x89, 0x6c, 0x24, 0x10,  // 10: mov [rsp+0x10], rbp
                                 0x48, 0x8d, 0x6c, 0x24, 0x10,  // 15: lea rbp, [rsp+0x10]
                                 0x48, 0x8b, 0x6c, 0x24, 0x10,  // 20: mov rbp, [rsp+0x10]
                                 0x48, 0x83, 0xc4, 0x18,        // 25: add rsp, 0x18
                                 0xc3,                          // 29: ret
                                 0xe8, 0,    0,    0,    0,     // 30: call morestack
                                 0xeb, 0xdb,                    // 35: jmp entry
                             });
  EXPECT_EQ(s.body, kEntry + 6);
  EXPECT_EQ(s.rets, (std::vector<uint64_t>{kEntry + 29}));
}

TEST(Code, A386StackCheckLoadsGFromTls) {
  auto s = scan(Arch::i386, {
                                0x65, 0x8b, 0x0d, 0,    0,    0,    0,  // 0: mov ecx, gs:[0]
                                0x8b, 0x89, 0xfc, 0xff, 0xff, 0xff,     // 7: mov ecx, [ecx-4]
                                0x3b, 0x61, 0x08,                       // 13: cmp esp, [ecx+8]
                                0x76, 0x07,                             // 16: jbe 25
                                0x83, 0xec, 0x10,                       // 18: sub esp, 0x10   <- prologue_end
                                0x83, 0xc4, 0x10,                       // 21: add esp, 0x10
                                0xc3,                                   // 24: ret
                                0xe8, 0,    0,    0,    0,              // 25: call morestack
                                0xeb, 0xe0,                             // 30: jmp entry
                            });
  EXPECT_TRUE(s.stack_check);
  EXPECT_EQ(s.body, kEntry + 18);
  EXPECT_EQ(s.rets, (std::vector<uint64_t>{kEntry + 24}));
}

TEST(Code, ALaterBranchIntoTheMorestackBlockIsNotTheStackCheck) {
  // A pointer wrapper's nil-receiver path (call panicwrap) falls through into the morestack
  // block, which jumps to the entry: only the branch before the frame setup is the check.
  auto s = scan(Arch::amd64, {
                                 0x49, 0x3b, 0x66, 0x10,     // 0: cmp rsp, [r14+0x10]
                                 0x76, 0x18,                 // 4: jbe 30
                                 0x55,                       // 6: push rbp
                                 0x48, 0x89, 0xe5,           // 7: mov rbp, rsp
                                 0x48, 0x83, 0xec, 0x10,     // 10: sub rsp, 0x10   <- prologue_end
                                 0x48, 0x85, 0xc0,           // 14: test rax, rax
                                 0x74, 0x06,                 // 17: je 25
                                 0x48, 0x83, 0xc4, 0x10,     // 19: add rsp, 0x10
                                 0x5d,                       // 23: pop rbp
                                 0xc3,                       // 24: ret
                                 0xe8, 0,    0,    0,    0,  // 25: call runtime.panicwrap
                                 0xe8, 0,    0,    0,    0,  // 30: call morestack
                                 0xeb, 0xdb,                 // 35: jmp entry
                             });
  EXPECT_EQ(s.body, kEntry + 6);  // the push rbp after the check
}

TEST(Code, WrappersLoadGBeforeTheFrame) {
  auto s = scan(Arch::amd64, {
                                 0x64, 0x4c, 0x8b, 0x34, 0x25, 0xf8, 0xff, 0xff, 0xff,  // 0: mov r14, fs:[-8]
                                 0x55,                                                  // 9: push rbp  <- call site
                                 0x48, 0x89, 0xe5,                                      // 10: mov rbp, rsp
                                 0x48, 0x83, 0xec, 0x20,              // 13: sub rsp, 0x20  (prologue_end)
                                 0x48, 0x83, 0xc4, 0x20, 0x5d, 0xc3,  // add rsp; pop rbp; ret
                             });
  EXPECT_FALSE(s.stack_check);
  EXPECT_EQ(s.body, kEntry + 9);
}

TEST(Code, FramelessLeafBodyIsTheEntry) {
  auto s = scan(Arch::amd64, {0x48, 0x01, 0xd8, 0xc3, 0xcc, 0xcc, 0xcc, 0xcc});  // add rax, rbx; ret
  EXPECT_FALSE(s.stack_check);
  EXPECT_EQ(s.body, kEntry);
  EXPECT_EQ(s.rets, (std::vector<uint64_t>{kEntry + 3}));
}

TEST(Code, ADecodingStopIsReportedNotSkipped) {
  // 0x06 (push es) does not exist in 64-bit mode: whatever follows cannot be trusted.
  auto s = scan(Arch::amd64, {0x48, 0x89, 0xc3, 0x06, 0xc3, 0xcc});
  ASSERT_TRUE(s.stop);
  EXPECT_EQ(*s.stop, kEntry + 3);
  EXPECT_EQ(s.stop_bytes, "06 c3 cc");
  EXPECT_TRUE(s.rets.empty());
  // Padding (int3 or zeros) after the last instruction is not a stop.
  EXPECT_FALSE(scan(Arch::amd64, {0xc3, 0x00}).stop);
  EXPECT_FALSE(scan(Arch::amd64, {0xc3, 0xcc, 0xcc, 0xcc}).stop);
}

TEST(Code, AvxAndKmovDecode) {
  // From Go 1.27's runtime, where capstone 4 stops: runtime.asyncPreempt's
  // kmovq %k0, 0x800(%rax) and scan.expandAVX512's EVEX vmovdqu64 (%rax), %zmm1.
  auto s = scan(Arch::amd64,
                {0xc4, 0xe1, 0xf8, 0x91, 0x80, 0x00, 0x08, 0x00, 0x00, 0x62, 0xf1, 0xfe, 0x48, 0x6f, 0x08, 0xc3});
  EXPECT_FALSE(s.stop) << s.stop_bytes;
  EXPECT_EQ(s.rets, (std::vector<uint64_t>{kEntry + 15}));
}

TEST(Code, ATailJumpIsNamed) {
  auto s =
      scan(Arch::amd64, {0x48, 0x89, 0xc3, 0xe9, 0x00, 0x10, 0x00, 0x00, 0xcc, 0xcc});  // mov rbx, rax; jmp +0x1000
  EXPECT_TRUE(s.rets.empty());
  ASSERT_TRUE(s.tail_target);
  EXPECT_EQ(*s.tail_target, kEntry + 8 + 0x1000);
}

}  // namespace
}  // namespace bpfault::binary
