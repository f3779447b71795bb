/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof_cfi: the row of a frame's DWARF call-frame information (CFI) that the backtrace walk
 * needs, computed from the FDE that the object's .eh_frame_hdr table gives (or, for objects
 * without one, libgcc's _Unwind_Find_FDE) by a small CFI interpreter following libgcc's
 * (prof_cfi.c). Part of the prof module, used by prof_unwind.c only; the walk caches rows per
 * return address and packs them into a word (prof_unwind.c).
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
 * The FDE for code address pc by the binary-search table in an object's .eh_frame_hdr (its
 * PT_GNU_EH_FRAME segment, hdr, of size bytes): false when there is no table of the layout
 * linkers write, and libgcc's _Unwind_Find_FDE must then look (it also reads .eh_frame from its
 * start); else true, with *fde the FDE whose first address (*func) is the last at or below pc,
 * or NULL when pc is below every FDE. Whether that FDE reaches pc, prof_cfi_rule checks.
 */
bool prof_cfi_fde_find(const uint8_t *hdr, size_t size, uintptr_t pc, const uint8_t **fde,
                       uintptr_t *func);

/*
 * The rule for return address pc (its row at pc - 1, as libgcc's execute_cfa_program stops),
 * from fde, the FDE whose first address is func (prof_cfi_fde_find's, or libgcc's lookup's):
 * RULE_BAD for anything not modelled (no FDE, or one that ends before pc - 1, 64-bit DWARF, a
 * signal frame or other special augmentation, a DWARF expression, a CFA on a register other
 * than SP or FP, SP or the signing state given a rule, a return address or FP saved other than
 * at an offset from the CFA). The FDE's object must stay loaded meanwhile: called inside
 * dl_iterate_phdr's callback, or for objects never unloaded.
 */
prof_unwind_rule_t prof_cfi_rule(const uint8_t *fde, uintptr_t func, uintptr_t pc);

#endif
