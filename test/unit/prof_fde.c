/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The backtrace walk's own FDE lookup (prof_cfi_fde_find, through an object's .eh_frame_hdr
 * table) against libgcc's _Unwind_Find_FDE: for code addresses every 8 bytes through the
 * executable segments of every object loaded (the test, libc, the loader, the vdso, libgcc_s),
 * both give the same FDE and the same first address, or neither covers the address (ours may
 * name the FDE before a gap; prof_cfi_rule then finds the address past its end and answers
 * RULE_BAD); and the rows prof_cfi_rule computes from either are the same. Then the lookup's
 * answers on headers it must not trust: another table encoding, a count that the segment
 * cannot hold, an address below the first FDE.
 */
#include <link.h>
#include <string.h>

#include "allocator/internal/prof_cfi.h"
#include "unit.h"

/* libgcc's lookup (unwind-dw2-fde.h), which libgcc_s exports. */
struct dwarf_eh_bases {
    void *tbase;
    void *dbase;
    void *func;
};
extern const void *_Unwind_Find_FDE(void *pc, struct dwarf_eh_bases *bases);

typedef struct {
    unsigned long objects, probes, covered;
} stats_t;

static bool rule_eq(prof_unwind_rule_t a, prof_unwind_rule_t b) {
    if (a.kind != b.kind)
        return false;
    if (a.kind == RULE_BAD)
        return true;
    return a.cfa_fp == b.cfa_fp && a.cfa_off == b.cfa_off &&
           (a.kind == RULE_END || (a.ra_off == b.ra_off && a.fp_saved == b.fp_saved &&
                                   (!a.fp_saved || a.fp_off == b.fp_off)));
}

static int each_object(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    stats_t *st = arg;
    const ElfW(Phdr) *eh = NULL;
    for (unsigned i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
            eh = &info->dlpi_phdr[i];
    if (eh == NULL)
        return 0;
    const uint8_t *hdr = (const uint8_t *)(info->dlpi_addr + eh->p_vaddr);
    st->objects++;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        for (uintptr_t pc = start + 1; pc <= start + ph->p_memsz; pc += 8) {
            struct dwarf_eh_bases bases;
            const uint8_t *want = _Unwind_Find_FDE((void *)(pc - 1), &bases);
            const uint8_t *got;
            uintptr_t func;
            check(prof_cfi_fde_find(hdr, eh->p_memsz, pc - 1, &got, &func));
            st->probes++;
            if (want != NULL) {
                st->covered++;
                check(got == want);
                check(func == (uintptr_t)bases.func);
                check(rule_eq(prof_cfi_rule(got, func, pc),
                              prof_cfi_rule(want, (uintptr_t)bases.func, pc)));
            } else if (got != NULL) {
                check(prof_cfi_rule(got, func, pc).kind == RULE_BAD);
            }
            if (unit_failures > 10)
                return 1;
        }
    }
    return 0;
}

static void test_against_libgcc(void) {
    stats_t st = {0};
    dl_iterate_phdr(each_object, &st);
    /* The test, libc, the loader and the vdso at least, and most addresses inside a function. */
    check(st.objects >= 4);
    check(st.probes > 100000);
    check(st.covered > st.probes / 2);
}

/* A header of version 1, eh_frame_ptr pcrel|sdata4, count udata4, and the table's encoding. */
static size_t make_hdr(uint8_t *h, uint8_t table_enc, uint32_t count) {
    h[0] = 1;
    h[1] = 0x1b;
    h[2] = 0x03;
    h[3] = table_enc;
    memset(h + 4, 0, 4);
    memcpy(h + 8, &count, 4);
    return 12;
}

static void test_untrusted_headers(void) {
    _Alignas(8) uint8_t h[64] = {0};
    const uint8_t *fde = (const uint8_t *)1;
    uintptr_t func = 0;
    /* Entries of another encoding (absolute 8-byte pointers): no binary search here. */
    size_t n = make_hdr(h, 0x0c, 1);
    check(!prof_cfi_fde_find(h, sizeof(h), (uintptr_t)h, &fde, &func));
    /* Three entries where the segment has room for two. */
    n = make_hdr(h, 0x3b, 3);
    check(!prof_cfi_fde_find(h, n + 2 * 8, (uintptr_t)h + 100, &fde, &func));
    /* Version 2. */
    make_hdr(h, 0x3b, 0);
    h[0] = 2;
    check(!prof_cfi_fde_find(h, sizeof(h), (uintptr_t)h, &fde, &func));
    /* Two entries, first addresses h+16 and h+48: below, inside each, and at each start. */
    n = make_hdr(h, 0x3b, 2);
    int32_t e[4] = {16, 40, 48, 56}; /* FDE offsets: not read here */
    memcpy(h + n, e, sizeof(e));
    check(prof_cfi_fde_find(h, n + sizeof(e), (uintptr_t)h + 15, &fde, &func));
    check(fde == NULL);
    check(prof_cfi_fde_find(h, n + sizeof(e), (uintptr_t)h + 16, &fde, &func));
    check(fde == h + 40 && func == (uintptr_t)h + 16);
    check(prof_cfi_fde_find(h, n + sizeof(e), (uintptr_t)h + 47, &fde, &func));
    check(fde == h + 40 && func == (uintptr_t)h + 16);
    check(prof_cfi_fde_find(h, n + sizeof(e), (uintptr_t)h + 48, &fde, &func));
    check(fde == h + 56 && func == (uintptr_t)h + 48);
    check(prof_cfi_fde_find(h, n + sizeof(e), (uintptr_t)h + 4096, &fde, &func));
    check(fde == h + 56);
    /* A header cut before its count. */
    check(!prof_cfi_fde_find(h, 10, (uintptr_t)h, &fde, &func));
}

int main(void) {
    if (!config_prof_libgcc)
        return unit_finish("prof_fde");
    test_against_libgcc();
    test_untrusted_headers();
    return unit_finish("prof_fde");
}
