/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof_cfi: a frame's row of the DWARF call-frame information, for the backtrace walk
 * (prof_cfi.h). A small interpreter of CIE and FDE programs that follows libgcc's
 * execute_cfa_program (advance_loc*, def_cfa*, offset*, restore*, same_value, undefined,
 * remember/restore_state, GNU_args_size, nop, aarch64's negate_ra_state) and tracks only the
 * registers the walk uses: FP, SP, the return address and aarch64's signing state.
 */
#include "allocator/internal/prof_cfi.h"

#include <string.h>

typedef struct {
    const uint8_t *p, *end;
    bool bad;
} cursor_t;

static uint8_t rd_u8(cursor_t *c) {
    if (c->p >= c->end) {
        c->bad = true;
        return 0;
    }
    return *c->p++;
}

static uint64_t rd_uleb(cursor_t *c) {
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        uint8_t b = rd_u8(c);
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80) || c->bad)
            return v;
    }
}

static int64_t rd_sleb(cursor_t *c) {
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        b = rd_u8(c);
        if (shift < 64)
            v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
    } while ((b & 0x80) && !c->bad);
    if (shift < 64 && (b & 0x40))
        v |= ~(uint64_t)0 << shift;
    return (int64_t)v;
}

static uint64_t rd_fixed(cursor_t *c, unsigned n) {
    if ((size_t)(c->end - c->p) < n) {
        c->bad = true;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, c->p, n); /* little-endian */
    c->p += n;
    return v;
}

/*
 * A value in pointer encoding enc, as stored (no base added: the callers know theirs); signed
 * formats sign-extended.
 */
static uint64_t rd_encoded(cursor_t *c, uint8_t enc) {
    if (enc == 0xff) /* DW_EH_PE_omit */
        return 0;
    if ((enc & 0x70) == 0x50) { /* DW_EH_PE_aligned */
        c->bad = true;
        return 0;
    }
    switch (enc & 0x0f) {
    case 0x00: return rd_fixed(c, 8);                               /* absptr */
    case 0x01: return rd_uleb(c);                                   /* uleb128 */
    case 0x09: return (uint64_t)rd_sleb(c);                         /* sleb128 */
    case 0x02: return rd_fixed(c, 2);                               /* udata2 */
    case 0x0a: return (uint64_t)(int64_t)(int16_t)rd_fixed(c, 2);   /* sdata2 */
    case 0x03: return rd_fixed(c, 4);                               /* udata4 */
    case 0x0b: return (uint64_t)(int64_t)(int32_t)rd_fixed(c, 4);   /* sdata4 */
    case 0x04: case 0x0c: return rd_fixed(c, 8);                    /* udata8, sdata8 */
    default: c->bad = true; return 0;
    }
}

/*
 * The binary-search table of .eh_frame_hdr, as every linker writes it: version 1, the FDE count
 * as udata4, and entries of two sdata4 offsets from the header's start (DW_EH_PE_datarel), the
 * first address an FDE covers and the FDE, sorted by the first. libgcc's lookup
 * (unwind-dw2-fde-dip.c) searches the same table; without one it reads .eh_frame from its start,
 * which is left to it.
 */
/* The sdata4 at p (the table's entries are 4-aligned only as the linker placed them). */
static int32_t rd_s32_at(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

bool prof_cfi_fde_find(const uint8_t *hdr, size_t size, uintptr_t pc, const uint8_t **fde,
                       uintptr_t *func) {
    cursor_t c = {hdr, hdr + size, false};
    uint8_t version = rd_u8(&c), ptr_enc = rd_u8(&c), count_enc = rd_u8(&c);
    uint8_t table_enc = rd_u8(&c);
    rd_encoded(&c, ptr_enc); /* where .eh_frame starts: the table's offsets do not need it */
    if (c.bad || version != 1 || count_enc != 0x03 || table_enc != 0x3b)
        return false;
    uint64_t count = rd_fixed(&c, 4);
    if (c.bad || count > (uint64_t)(c.end - c.p) / 8)
        return false;
    const uint8_t *table = c.p;
    /* The last entry whose first address is at or below pc. */
    uint64_t lo = 0, hi = count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)hdr + (uintptr_t)(intptr_t)rd_s32_at(table + mid * 8) <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    *fde = NULL;
    if (lo == 0)
        return true; /* below the first FDE: none covers pc */
    const uint8_t *entry = table + (lo - 1) * 8;
    *fde = hdr + rd_s32_at(entry + 4);
    *func = (uintptr_t)hdr + (uintptr_t)(intptr_t)rd_s32_at(entry);
    return true;
}

/* A register's rule, for the three registers the walker uses. */
enum { HOW_UNSAVED, HOW_OFFSET, HOW_UNDEFINED, HOW_OTHER };
typedef struct {
    uint64_t cfa_reg;
    int64_t cfa_off;
    bool cfa_expr;
    uint8_t how[4]; /* FP, SP, RA, RA_STATE */
    int64_t off[4];
    bool ra_signed; /* aarch64: DW_CFA_AARCH64_negate_ra_state's toggle */
} row_t;

typedef struct {
    uint64_t code_align;
    int64_t data_align;
    row_t stack[8]; /* DW_CFA_remember_state */
    unsigned depth;
} cfi_t;

static int reg_slot(uint64_t reg) {
    return reg == DW_FP ? 0 : reg == DW_SP ? 1 : reg == DW_RA ? 2 : reg == DW_RA_STATE ? 3 : -1;
}

static void set_how(row_t *row, uint64_t reg, uint8_t how, int64_t off) {
    int i = reg_slot(reg);
    if (i >= 0) {
        row->how[i] = how;
        row->off[i] = off;
    }
}

/*
 * Run the CFA program [c->p, c->end) from location loc, stopping before the first row whose
 * location is past target, as libgcc's execute_cfa_program does. False on an instruction it
 * does not know or may not model.
 */
static bool cfi_run(cfi_t *cfi, cursor_t *c, row_t *row, uintptr_t loc, uintptr_t target) {
    while (c->p < c->end && !c->bad && loc <= target) {
        uint8_t op = rd_u8(c), lo = op & 0x3f;
        uint64_t reg;
        switch (op >> 6) {
        case 1: /* DW_CFA_advance_loc */
            loc += lo * cfi->code_align;
            continue;
        case 2: /* DW_CFA_offset */
            set_how(row, lo, HOW_OFFSET, (int64_t)rd_uleb(c) * cfi->data_align);
            continue;
        case 3: /* DW_CFA_restore: libgcc makes the register unsaved (an epilogue's) */
            set_how(row, lo, HOW_UNSAVED, 0);
            continue;
        default:
            break;
        }
        switch (op) {
        case 0x00: /* DW_CFA_nop */
            break;
        case 0x02: loc += rd_fixed(c, 1) * cfi->code_align; break; /* advance_loc1 */
        case 0x03: loc += rd_fixed(c, 2) * cfi->code_align; break; /* advance_loc2 */
        case 0x04: loc += rd_fixed(c, 4) * cfi->code_align; break; /* advance_loc4 */
        case 0x05: /* DW_CFA_offset_extended */
            reg = rd_uleb(c);
            set_how(row, reg, HOW_OFFSET, (int64_t)rd_uleb(c) * cfi->data_align);
            break;
        case 0x11: /* DW_CFA_offset_extended_sf */
            reg = rd_uleb(c);
            set_how(row, reg, HOW_OFFSET, rd_sleb(c) * cfi->data_align);
            break;
        case 0x2f: /* DW_CFA_GNU_negative_offset_extended */
            reg = rd_uleb(c);
            set_how(row, reg, HOW_OFFSET, -(int64_t)rd_uleb(c) * cfi->data_align);
            break;
        case 0x06: /* DW_CFA_restore_extended */
        case 0x08: /* DW_CFA_same_value */
            set_how(row, rd_uleb(c), HOW_UNSAVED, 0);
            break;
        case 0x07: /* DW_CFA_undefined */
            set_how(row, rd_uleb(c), HOW_UNDEFINED, 0);
            break;
        case 0x09: /* DW_CFA_register */
        case 0x14: /* DW_CFA_val_offset */
        case 0x15: /* DW_CFA_val_offset_sf */
            set_how(row, rd_uleb(c), HOW_OTHER, 0);
            rd_uleb(c); /* the second operand, skipped: a LEB128, signed or not, is as long */
            break;
        case 0x10: /* DW_CFA_expression */
        case 0x16: /* DW_CFA_val_expression */
            set_how(row, rd_uleb(c), HOW_OTHER, 0);
            reg = rd_uleb(c); /* the expression's length */
            if (reg > (uint64_t)(c->end - c->p))
                return false;
            c->p += reg;
            break;
        case 0x0a: /* DW_CFA_remember_state */
            if (cfi->depth == sizeof(cfi->stack) / sizeof(cfi->stack[0]))
                return false;
            cfi->stack[cfi->depth++] = *row;
            break;
        case 0x0b: /* DW_CFA_restore_state (the CFA too, as libgcc) */
            if (cfi->depth == 0)
                return false;
            *row = cfi->stack[--cfi->depth];
            break;
        case 0x0c: /* DW_CFA_def_cfa */
            row->cfa_reg = rd_uleb(c);
            row->cfa_off = (int64_t)rd_uleb(c);
            row->cfa_expr = false;
            break;
        case 0x12: /* DW_CFA_def_cfa_sf */
            row->cfa_reg = rd_uleb(c);
            row->cfa_off = rd_sleb(c) * cfi->data_align;
            row->cfa_expr = false;
            break;
        case 0x0d: /* DW_CFA_def_cfa_register */
            row->cfa_reg = rd_uleb(c);
            row->cfa_expr = false;
            break;
        case 0x0e: /* DW_CFA_def_cfa_offset (the CFA's kind deliberately unchanged) */
            row->cfa_off = (int64_t)rd_uleb(c);
            break;
        case 0x13: /* DW_CFA_def_cfa_offset_sf */
            row->cfa_off = rd_sleb(c) * cfi->data_align;
            break;
        case 0x0f: /* DW_CFA_def_cfa_expression */
            row->cfa_expr = true;
            reg = rd_uleb(c);
            if (reg > (uint64_t)(c->end - c->p))
                return false;
            c->p += reg;
            break;
        case 0x2e: /* DW_CFA_GNU_args_size: matters to landing pads only */
            rd_uleb(c);
            break;
        case 0x2d: /* DW_CFA_AARCH64_negate_ra_state on aarch64 (SPARC's window_save) */
            if (DW_RA_STATE == UINT64_MAX)
                return false;
            row->ra_signed = !row->ra_signed;
            break;
        default: /* DW_CFA_set_loc, vendor extensions */
            return false;
        }
    }
    return !c->bad;
}

prof_unwind_rule_t prof_cfi_rule(const uint8_t *fde, uintptr_t func, uintptr_t pc) {
    prof_unwind_rule_t r = {.kind = RULE_BAD};
    if (fde == NULL)
        return r;
    uint32_t len, cie_off;
    memcpy(&len, fde, 4);
    memcpy(&cie_off, fde + 4, 4);
    if (len == 0xffffffffu || len < 8 || cie_off == 0)
        return r; /* 64-bit DWARF, or not an FDE */
    const uint8_t *cie = fde + 4 - cie_off;
    uint32_t cie_len, cie_id;
    memcpy(&cie_len, cie, 4);
    memcpy(&cie_id, cie + 4, 4);
    if (cie_len == 0xffffffffu || cie_len < 8 || cie_id != 0)
        return r;

    cursor_t c = {cie + 8, cie + 4 + cie_len, false};
    uint8_t version = rd_u8(&c);
    if (version != 1 && version != 3)
        return r;
    const char *aug = (const char *)c.p;
    size_t aug_len = strnlen(aug, (size_t)(c.end - c.p));
    c.p += aug_len + 1;
    cfi_t cfi = {.code_align = rd_uleb(&c), .data_align = rd_sleb(&c), .depth = 0};
    uint64_t ra_reg = version == 1 ? rd_u8(&c) : rd_uleb(&c);
    uint8_t fde_enc = 0;
    bool has_z = aug[0] == 'z';
    if (c.bad || ra_reg != DW_RA || (aug[0] != '\0' && !has_z))
        return r;
    if (has_z) {
        uint64_t n = rd_uleb(&c);
        if (c.bad || n > (uint64_t)(c.end - c.p))
            return r;
        cursor_t a = {c.p, c.p + n, false};
        for (const char *s = aug + 1; *s != '\0'; s++) {
            if (*s == 'R')
                fde_enc = rd_u8(&a);
            else if (*s == 'P')
                rd_encoded(&a, rd_u8(&a));
            else if (*s == 'L')
                rd_u8(&a);
            else /* 'S' (a signal frame), or an augmentation libgcc may treat specially */
                return r;
        }
        if (a.bad)
            return r;
        c.p += n;
    }
    row_t row = {.cfa_reg = 0, .cfa_off = 0, .cfa_expr = true};
    if (!cfi_run(&cfi, &c, &row, 0, 0) || c.p != c.end)
        return r; /* a CIE's program has no locations: it must run to its end */

    cursor_t f = {fde + 8, fde + 4 + len, false};
    rd_encoded(&f, fde_enc);                       /* pc_begin: func has it */
    uint64_t range = rd_encoded(&f, fde_enc & 0x0f); /* pc_range, a length: no base */
    if (pc - 1 - func >= range)
        return r; /* pc is past the FDE the table found: in a gap between functions */
    if (has_z) {
        uint64_t n = rd_uleb(&f);
        if (f.bad || n > (uint64_t)(f.end - f.p))
            return r;
        f.p += n;
    }
    if (f.bad || !cfi_run(&cfi, &f, &row, func, pc - 1))
        return r;

    if (row.cfa_expr || (row.cfa_reg != DW_SP && row.cfa_reg != DW_FP))
        return r;
    if (row.how[1] != HOW_UNSAVED || row.how[3] != HOW_UNSAVED) /* SP; the signing state */
        return r;
    r.cfa_fp = row.cfa_reg == DW_FP;
    r.cfa_off = row.cfa_off;
    if (row.how[2] == HOW_UNDEFINED) { /* the outermost frame (_start, clone) */
        r.kind = RULE_END;
        return r;
    }
    if (row.how[2] != HOW_OFFSET)
        return r;
    r.ra_off = row.off[2];
    if (row.how[0] == HOW_OFFSET) {
        r.fp_saved = true;
        r.fp_off = row.off[0];
    } else if (row.how[0] != HOW_UNSAVED) {
        return r;
    }
    r.kind = row.ra_signed ? RULE_SIGNED : RULE_OK;
    return r;
}
