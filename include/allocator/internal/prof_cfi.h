/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof_cfi: the row of a frame's DWARF call-frame information (CFI) that the backtrace walk
 * needs, computed from the FDE that libgcc's _Unwind_Find_FDE finds (prof_cfi.c, a small CFI
 * interpreter following libgcc's). Part of the prof module, used by prof_unwind.c only; the
 * walk caches rows per return address and packs them into a word (prof_unwind.c).
 *
 * The architecture's DWARF register numbers: FP (RBP, x29), SP, and the return-address column.
 * DW_RA_STATE is aarch64's return-address signing state (libgcc's
 * DWARF_REGNUM_AARCH64_RA_STATE): a row with any rule for it is not modelled, and
 * DW_CFA_AARCH64_negate_ra_state toggles it; x86_64 has no such column (a number no CFI gives).
 */
#ifndef ALLOCATOR_INTERNAL_PROF_CFI_H
#define ALLOCATOR_INTERNAL_PROF_CFI_H

#include "allocator/internal/prof.h"

#if defined(__x86_64__) /* platform: x86_64's register numbers */
#define DW_FP 6  /* RBP */
#define DW_SP 7  /* RSP */
#define DW_RA 16 /* the return-address column (RIP) */
#define DW_RA_STATE UINT64_MAX
#elif defined(__aarch64__) && !defined(__ILP32__) && !defined(__AARCH64EB__)
/* platform: aarch64's (LP64, little-endian, as the interpreter reads its fixed-size fields) */
#define DW_FP 29 /* x29 */
#define DW_SP 31
#define DW_RA 30 /* the return-address column: x30, the link register */
#define DW_RA_STATE 34
#else /* platform: none; the walk always gives up (prof_unwind.c) */
#define DW_FP 6
#define DW_SP 7
#define DW_RA 16
#define DW_RA_STATE UINT64_MAX
#endif

/* One row, as the walk uses it. */
enum { RULE_BAD = 0, RULE_OK = 1, RULE_END = 2, RULE_SIGNED = 3 /* RULE_OK, RA signed */ };
typedef struct {
    unsigned kind;  /* RULE_* */
    bool cfa_fp;    /* CFA = FP + cfa_off, else SP + cfa_off */
    bool fp_saved;  /* the caller's FP is at CFA + fp_off, else FP is unchanged */
    int64_t cfa_off;
    int64_t ra_off; /* the return address is at CFA + ra_off */
    int64_t fp_off; /* (which offsets a cached row can hold: prof_unwind.c's rule_pack) */
} prof_unwind_rule_t;

/*
 * The rule for return address pc (its row at pc - 1, as libgcc's execute_cfa_program stops),
 * from its FDE: RULE_BAD for anything not modelled (no FDE, 64-bit DWARF, a signal frame or
 * other special augmentation, a DWARF expression, a CFA on a register other than SP or FP, SP
 * or the signing state given a rule, a return address or FP saved other than at an offset from
 * the CFA). Calls into libgcc: only inside prof_unwind's loader bracket.
 */
prof_unwind_rule_t prof_cfi_rule(const prof_libgcc_t *lib, uintptr_t pc);

#endif
