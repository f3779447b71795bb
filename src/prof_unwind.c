/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof_unwind: sampled backtraces without libgcc's per-frame cost (prof.h). libgcc's
 * _Unwind_Backtrace finds and interprets each frame's DWARF call-frame information (CFI) anew on
 * every call, about 1,700 instructions a frame. A program's sampled stacks go through few return
 * addresses, so this walker keeps, per return address, the one row of the CFI table it needs
 * (CFA = SP or FP + k, the return address and the saved FP at CFA + k; FP is RBP on x86_64,
 * x29 on aarch64), computed once by a small CFI interpreter (prof_cfi.c) from the FDE that the
 * object's .eh_frame_hdr table names (libgcc's _Unwind_Find_FDE searches the same table; for an
 * object without one, such as a static program linked without it, that lookup is used), and
 * walks the stack with those rows: about 60 instructions a frame. libgcc_s is then loaded only
 * when a walk needs it, not with the first sample (0.2 ms and 35 page faults a process).
 * It gives up (the caller then takes the whole trace with _Unwind_Backtrace, the reference) on
 * anything it does not model: a PC without an FDE or outside every loaded object (JIT code),
 * signal frames, DWARF expressions, registers saved in other registers, a CFA on any register
 * but SP or FP, a return address not saved on the stack (on aarch64 only the innermost frame
 * may keep it in x30, and every frame walked here has made a call), a rule of any other kind for
 * aarch64's return-address signing state, a stack read that would leave the bounds below. A
 * return address aarch64 code signed (pointer authentication: paciasp, with
 * DW_CFA_AARCH64_negate_ra_state in its CFI, as distributions built with -mbranch-protection
 * sign nearly every frame) is stripped of its signature as libgcc strips it (xpaclri). Where it
 * answers, its frames are exactly _Unwind_Backtrace's (programs/prof_unwind compares them on
 * many stacks, and programs/prof_unwind_aarch64 under qemu). x86_64 and aarch64 only; elsewhere
 * it always gives up.
 *
 * The cache is a fixed table of seqlocked slots from base memory (prof_unwind_boot), shared by
 * every thread without a lock: a reader that sees a slot being written treats it as a miss, and
 * a writer that finds the slot busy does not cache. No row may outlive the code it describes: a
 * row for code in an object the loader may unload (one dlopened after start-up) is tagged with
 * the count of objects unloaded so far (dl_iterate_phdr's dlpi_subs) and used only while that
 * count is unchanged, so after a dlclose every such row misses. Objects loaded at start-up (the
 * program, its libraries and preloads, the vdso, the loader itself) are never unloaded (glibc
 * unmaps only objects dlopened later), and a row for code in one of them is tagged permanent:
 * it is used with no question to the loader. A walk through such code only, the common case,
 * takes no lock of the loader's and makes no call to it; the first row of dlopened code a walk
 * meets makes it read the count once. Which objects were loaded at start-up is learnt when a row
 * is computed, from the order dl_iterate_phdr gives: the objects of the initial namespace come in
 * load order, the program first, so every object listed before the loader (the one at
 * getauxval(AT_BASE), loaded at start-up) was loaded at start-up too; objects after it may be too,
 * and are simply treated as unloadable. In a static program (AT_BASE 0) only the program
 * itself, the first object, counts as permanent. Stack reads are bounded: each frame's CFA must
 * be above the previous one, and every read within PROF_UNWIND_STACK_MAX above the first
 * frame's SP (pthread_getattr_np, which would give the true bounds, allocates).
 */
#include "allocator/internal/prof.h"

#include <link.h>
#include <sys/auxv.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>

#include "allocator/internal/base.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/prof_cfi.h"

/*
 * The architecture's part (its DWARF register numbers are prof_cfi.h's): prof_unwind_regs(r)
 * gives r[0] = the caller's SP once the call returns, r[1] = the return address, r[2] = the
 * caller's frame-pointer register (RBP, x29). A return address read from a frame whose row has
 * aarch64's signing state set (RULE_SIGNED) is passed through ra_strip; x86_64 has no such state
 * and ra_strip is the identity there.
 */
#if defined(__x86_64__) /* platform: the register capture below is x86_64 code */
static const bool prof_unwind_arch = true;
static ALWAYS_INLINE uintptr_t ra_strip(uintptr_t ra) { return ra; }
__asm__(".text\n"
        ".p2align 4\n"
        ".globl prof_unwind_regs\n"
        ".hidden prof_unwind_regs\n"
        ".type prof_unwind_regs, @function\n"
        "prof_unwind_regs:\n"
        ".cfi_startproc\n"
        "    leaq 8(%rsp), %rax\n"
        "    movq %rax, (%rdi)\n"
        "    movq (%rsp), %rax\n"
        "    movq %rax, 8(%rdi)\n"
        "    movq %rbp, 16(%rdi)\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size prof_unwind_regs, .-prof_unwind_regs\n");
#elif defined(__aarch64__) && !defined(__ILP32__) && !defined(__AARCH64EB__)
/* platform: the register capture below is aarch64 code (LP64, little-endian, as rd_fixed) */
static const bool prof_unwind_arch = true;
/*
 * A signed return address without its pointer authentication code: xpaclri (in the hint space,
 * a NOP on CPUs without pointer authentication, whose return addresses carry no code) works on
 * x30 only. The signature is removed, not checked, as libgcc's unwinder does.
 */
static ALWAYS_INLINE uintptr_t ra_strip(uintptr_t ra) {
    register uintptr_t lr __asm__("x30") = ra;
    __asm__("hint #7" : "+r"(lr)); /* xpaclri */
    return lr;
}
/* bl leaves SP as it was: the caller's SP is ours; x30 holds the return address. */
__asm__(".text\n"
        ".p2align 2\n"
        ".globl prof_unwind_regs\n"
        ".hidden prof_unwind_regs\n"
        ".type prof_unwind_regs, %function\n"
        "prof_unwind_regs:\n"
        ".cfi_startproc\n"
        "    mov x1, sp\n"
        "    stp x1, x30, [x0]\n"
        "    str x29, [x0, #16]\n"
        "    ret\n"
        ".cfi_endproc\n"
        ".size prof_unwind_regs, .-prof_unwind_regs\n");
#else
static const bool prof_unwind_arch = false;
static ALWAYS_INLINE uintptr_t ra_strip(uintptr_t ra) { return ra; }
void prof_unwind_regs(uintptr_t *r) { r[0] = r[1] = r[2] = 0; }
#endif

#define PROF_UNWIND_STACK_MAX ((uintptr_t)1 << 30)
#define PROF_UNWIND_LG_SLOTS 11
#define PROF_UNWIND_SLOTS (1u << PROF_UNWIND_LG_SLOTS)

typedef struct {
    uint64_t seq; /* odd while being written */
    uint64_t pc;
    uint64_t gen; /* dlpi_subs when the row was computed, or GEN_PERM */
    uint64_t rule;
} prof_unwind_slot_t;

/* A row's tag for code loaded at start-up, which is never unloaded; and a walk's count of
 * unloaded objects before it has read it. dlpi_subs reaches neither. */
#define GEN_PERM UINT64_MAX
#define GEN_UNREAD (UINT64_MAX - 1)

static prof_unwind_slot_t *prof_unwind_cache;
/* Where the loader is mapped (getauxval(AT_BASE)), 0 in a static program. */
static uintptr_t prof_unwind_rtld;
/* Walks' reads of the unload count to check a cached row (prof_unwind_subs_reads). */
static unsigned long prof_unwind_nsubs;
/* Walks inside the loader or libgcc, and a fork waiting for them to end (prof_unwind_prefork). */
static unsigned prof_unwind_inflight;
static bool prof_unwind_forking;

/* Is the calling thread inside the loader for a walk (a signal handler may fork there)? */
static unsigned unwind_mine(void) {
    tsd_t *tsd = tsd_get();
    return tsd_is_real(tsd) && tsd->prof_unwinding;
}

void prof_unwind_boot(void) {
    if (!prof_unwind_arch || !config_prof_libgcc || prof_unwind_cache != NULL)
        return;
    prof_unwind_rtld = (uintptr_t)getauxval(AT_BASE);
    prof_unwind_slot_t *c = base_alloc(sizeof(*c) * PROF_UNWIND_SLOTS, 64);
    if (c != NULL) /* base memory is zeroed: every slot empty (pc 0) */
        atomic_store_release(&prof_unwind_cache, c);
}

void prof_unwind_postfork_child(void) {
    prof_libgcc_postfork_child();
    __atomic_store_n(&prof_unwind_inflight, unwind_mine(), __ATOMIC_SEQ_CST); /* only ours */
    __atomic_store_n(&prof_unwind_forking, false, __ATOMIC_SEQ_CST);
    prof_unwind_slot_t *c = atomic_load_acquire(&prof_unwind_cache);
    for (unsigned i = 0; c != NULL && i < PROF_UNWIND_SLOTS; i++) {
        uint64_t seq = atomic_load_relaxed(&c[i].seq);
        if (seq & 1) { /* its row may be half written: empty it */
            atomic_store_relaxed(&c[i].pc, 0);
            atomic_store_release(&c[i].seq, seq + 1);
        }
    }
}

unsigned long prof_unwind_subs_reads(void) { return atomic_load_relaxed(&prof_unwind_nsubs); }

unsigned prof_unwind_cached(void) {
    prof_unwind_slot_t *c = atomic_load_acquire(&prof_unwind_cache);
    unsigned n = 0;
    for (unsigned i = 0; c != NULL && i < PROF_UNWIND_SLOTS; i++)
        n += atomic_load_relaxed(&c[i].pc) != 0;
    return n;
}

/*
 * Rules fit a word, laid out so that the walk reads each field with a shift or two: cfa_off in
 * bits 0-31; ra_off in 8-byte units (16 bits, signed) in 32-47; kind in 48-49, cfa_fp in 50,
 * fp_saved in 51; fp_off - ra_off in 8-byte units (12 bits, signed) in 52-63. A saved FP lies
 * near the return address (among the registers saved with it), but aarch64 keeps that area at
 * the bottom of the frame: ra_off is about minus the frame's size (-3048 in a 3 KiB frame),
 * hence its 16 bits in 8-byte units (frames to 256 KiB). The units cost nothing: an address
 * mode scales them. A rule whose offsets do not fit is packed as RULE_BAD (the walk gives up).
 */
#define RW_KIND(w) ((unsigned)((w) >> 48) & 3)
#define RW_CFA_FP(w) (((w) >> 50) & 1)
#define RW_FP_SAVED(w) (((w) >> 51) & 1)
#define RW_CFA_OFF(w) ((int64_t)(int32_t)(uint32_t)(w))
#define RW_RA_OFF(w) (((int64_t)((w) << 16) >> 48) * 8)
#define RW_FP_DELTA(w) (((int64_t)(w) >> 52) * 8)

/* Can a row hold offset off, a multiple of 8 in a signed field of bits bits of 8-byte units? */
static bool rw_fits(int64_t off, unsigned bits) {
    int64_t lim = (int64_t)8 << (bits - 1);
    return off % 8 == 0 && off >= -lim && off < lim;
}

/* r as a row's word; a rule whose offsets the word cannot hold, as RULE_BAD. */
static uint64_t rule_pack(const prof_unwind_rule_t *r) {
    bool fits = r->cfa_off >= INT32_MIN && r->cfa_off <= INT32_MAX;
    if (r->kind == RULE_OK || r->kind == RULE_SIGNED)
        fits = fits && rw_fits(r->ra_off, 16) &&
               (!r->fp_saved || rw_fits(r->fp_off - r->ra_off, 12));
    if (!fits)
        return (uint64_t)RULE_BAD << 48;
    uint64_t ra = (uint64_t)((uint32_t)(r->ra_off / 8) & 0xffff);
    uint64_t fp = r->fp_saved ? (uint64_t)((uint32_t)((r->fp_off - r->ra_off) / 8) & 0xfff) : 0;
    return (uint64_t)(uint32_t)r->cfa_off | ra << 32 | (uint64_t)r->kind << 48 |
           (uint64_t)r->cfa_fp << 50 | (uint64_t)r->fp_saved << 51 | fp << 52;
}

/*
 * A row may sit in either slot of its pair (slot_index and its neighbour, in one cache line):
 * two return addresses of one stack that hash alike would otherwise evict each other on every
 * walk, each then computed anew (thousands of instructions), in some runs and not others as
 * the load addresses change.
 */
static size_t slot_index(uintptr_t pc) {
    return (size_t)(((uint64_t)pc * 0x9e3779b97f4a7c15ULL) >> (64 - PROF_UNWIND_LG_SLOTS));
}

static ALWAYS_INLINE bool slot_get(const prof_unwind_slot_t *s, uintptr_t pc, uint64_t *gen,
                                   uint64_t *rule) {
    uint64_t seq = atomic_load_acquire(&s->seq);
    if (seq & 1)
        return false;
    uint64_t spc = atomic_load_relaxed(&s->pc);
    uint64_t sgen = atomic_load_relaxed(&s->gen);
    uint64_t w = atomic_load_relaxed(&s->rule);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (atomic_load_relaxed(&s->seq) != seq || spc != pc)
        return false;
    *gen = sgen;
    *rule = w;
    return true;
}

/* The row cached for pc, with its tag: false on a miss. */
static ALWAYS_INLINE bool cache_get(prof_unwind_slot_t *c, uintptr_t pc, uint64_t *gen,
                                    uint64_t *rule) {
    size_t i = slot_index(pc);
    return likely(slot_get(&c[i], pc, gen, rule)) || slot_get(&c[i ^ 1], pc, gen, rule);
}

static void cache_put(prof_unwind_slot_t *c, uintptr_t pc, uint64_t gen, uint64_t rule) {
    /* pc's own slot, or an empty one, else the first or second by a bit of pc. */
    size_t i = slot_index(pc);
    uint64_t p0 = atomic_load_relaxed(&c[i].pc), p1 = atomic_load_relaxed(&c[i ^ 1].pc);
    if (p0 != pc && p0 != 0 && (p1 == pc || p1 == 0 || ((pc >> 4) & 1)))
        i ^= 1;
    prof_unwind_slot_t *s = &c[i];
    uint64_t seq = atomic_load_relaxed(&s->seq);
    if ((seq & 1) || !__atomic_compare_exchange_n(&s->seq, &seq, seq + 1, false, __ATOMIC_ACQUIRE,
                                                      __ATOMIC_RELAXED))
        return; /* another writer: leave it the slot */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    atomic_store_relaxed(&s->pc, pc);
    atomic_store_relaxed(&s->gen, gen);
    atomic_store_relaxed(&s->rule, rule);
    atomic_store_release(&s->seq, seq + 2);
}

/* ---- the objects loaded: the unload count, and whether a PC is inside one ------------------- */

typedef struct {
    uintptr_t pc;      /* the code looked for, or 0 for the unload count alone */
    uintptr_t rtld;    /* prof_unwind_rtld */
    unsigned index;    /* objects seen so far */
    bool rtld_seen;    /* the loader was among them */
    bool found;        /* pc is in a loaded object... */
    bool permanent;    /* ...loaded at start-up */
    bool ruled;        /* ...whose .eh_frame_hdr table gave its FDE: rule is pc's */
    prof_unwind_rule_t rule;
    uint64_t subs;
} phdr_arg_t;

/*
 * pc's rule from the FDE that the .eh_frame_hdr table of its object (info) gives, computed here
 * in dl_iterate_phdr's callback, where no dlclose can unmap the object meanwhile; false (and
 * libgcc's lookup then looks) when the object has no such table.
 */
static bool phdr_rule(struct dl_phdr_info *info, uintptr_t pc, prof_unwind_rule_t *rule) {
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        const uint8_t *fde;
        uintptr_t func;
        if (ph->p_type == PT_GNU_EH_FRAME &&
            prof_cfi_fde_find((const uint8_t *)(info->dlpi_addr + ph->p_vaddr), ph->p_memsz,
                              pc - 1, &fde, &func)) {
            *rule = prof_cfi_rule(fde, func, pc);
            return true;
        }
    }
    return false;
}

static int phdr_subs(struct dl_phdr_info *info, size_t size, void *arg) {
    phdr_arg_t *a = arg;
    if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs))
        return -1; /* no count: the cache cannot tell when code goes away */
    a->subs = info->dlpi_subs;
    if (a->pc == 0)
        return 1;
    /* The program, and in a dynamic one everything up to the loader, was loaded at start-up. */
    bool initial = a->index++ == 0 || (a->rtld != 0 && !a->rtld_seen);
    if (a->rtld != 0 && info->dlpi_addr == a->rtld)
        a->rtld_seen = true;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && a->pc - start < ph->p_memsz) {
            a->found = true;
            a->permanent = initial;
            a->ruled = phdr_rule(info, a->pc, &a->rule);
            return 1;
        }
    }
    return 0;
}

/* ---- the walk ------------------------------------------------------------------------------- */

/*
 * dl_iterate_phdr's lock (and libgcc's, and dlopen's) is not renewed in a forked child, so no
 * walk may be inside them at fork: a walk, and prof_backtrace's call of libgcc's unwinder, call
 * them only between prof_unwind_loader_enter and prof_unwind_loader_exit, which
 * prof_unwind_prefork waits for. A walk through cached rows calls neither, and does not pay for
 * the bracket's two atomic operations on a shared line.
 */
bool prof_unwind_loader_enter(void) {
    tsd_t *tsd = tsd_get();
    if (tsd_is_real(tsd))
        tsd->prof_unwinding = true;
    __atomic_add_fetch(&prof_unwind_inflight, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&prof_unwind_forking, __ATOMIC_SEQ_CST))
        return true;
    __atomic_sub_fetch(&prof_unwind_inflight, 1, __ATOMIC_SEQ_CST);
    if (tsd_is_real(tsd))
        tsd->prof_unwinding = false;
    return false; /* a fork is waiting: give up */
}

void prof_unwind_loader_exit(void) {
    __atomic_sub_fetch(&prof_unwind_inflight, 1, __ATOMIC_SEQ_CST);
    tsd_t *tsd = tsd_get();
    if (tsd_is_real(tsd))
        tsd->prof_unwinding = false;
}

/* The bases libgcc's FDE lookup fills (unwind-dw2-fde.h; prof_libgcc_t's find_fde). */
struct dwarf_eh_bases {
    void *tbase;
    void *dbase;
    void *func;
};

/*
 * pc's rule from the FDE libgcc's lookup finds, for an object without an .eh_frame_hdr table (a
 * static program linked without one reads its .eh_frame from the start): the first such row
 * loads libgcc's unwinder, here where fork waits for it.
 */
static prof_unwind_rule_t rule_by_libgcc(uintptr_t pc) {
    const prof_libgcc_t *lib = prof_libgcc_load();
    struct dwarf_eh_bases bases = {0};
    const uint8_t *fde = lib != NULL ? lib->find_fde((void *)(pc - 1), &bases) : NULL;
    return prof_cfi_rule(fde, (uintptr_t)bases.func, pc); /* no FDE: RULE_BAD */
}

/* The row for pc when the cache has none usable: computed, and cached if pc is in a loaded
 * object (*perm: in one loaded at start-up). Out of the walk's loop, whose registers it would
 * otherwise take. */
static NOINLINE uint64_t row_miss(prof_unwind_slot_t *cache, uintptr_t pc, bool *perm) {
    prof_unwind_rule_t nr = {.kind = RULE_BAD};
    *perm = false;
    if (!prof_unwind_loader_enter())
        return rule_pack(&nr);
    /* Only code inside a loaded object has rows worth keeping: the unload count says when such
     * code goes away, and says nothing of code made at run time. */
    phdr_arg_t in = {.pc = pc, .rtld = prof_unwind_rtld};
    if (dl_iterate_phdr(phdr_subs, &in) == 1 && in.found)
        nr = in.ruled ? in.rule : rule_by_libgcc(pc);
    prof_unwind_loader_exit();
    uint64_t w = rule_pack(&nr);
    if (cache != NULL && in.found)
        cache_put(cache, pc, in.permanent ? GEN_PERM : in.subs, w);
    *perm = in.found && in.permanent;
    return w;
}

/* The loader's count of objects unloaded so far, or GEN_UNREAD if it gives none. */
static NOINLINE uint64_t unload_count(void) {
    __atomic_fetch_add(&prof_unwind_nsubs, 1, __ATOMIC_RELAXED);
    if (!prof_unwind_loader_enter())
        return GEN_UNREAD;
    phdr_arg_t a = {.pc = 0};
    uint64_t subs = dl_iterate_phdr(phdr_subs, &a) == 1 ? a.subs : GEN_UNREAD;
    prof_unwind_loader_exit();
    return subs;
}

/*
 * The memo (prof.h): f[d] is a frame met at depth d by a walk from SP lo, in the state (sp, pc,
 * and fp where its CFA is on FP), and where its row put the caller's state: SP cfa, the return
 * address at ra_at, FP at fp_at (0: FP unchanged). From the same state a row of code loaded at
 * start-up (never unloaded, so its row never changes) leads to the same addresses, already
 * checked against the same bounds: a walk from lo whose frame matches its depth's entry reads
 * the stack there and goes on, without looking the row up. Only the values read are new, and
 * they decide whether the next frame matches. Entries are kept by depth, not as one chain: a
 * stack that differs in one frame (another call site of malloc in the same function) matches
 * again above it.
 */
enum { MEMO_CFA_FP = 1, MEMO_SIGNED = 2, MEMO_END = 4 };

/* A walk: its frame's state, its bounds, the rows' cache, the memo. */
typedef struct {
    uintptr_t sp, pc, fp;
    uintptr_t lo, hi;
    uint64_t subs; /* read from the loader when a row of unloadable code needs it */
    prof_unwind_slot_t *cache;
    prof_unwind_memo_t *memo;
    bool in_memo; /* walk_row made the memo's entry for its frame */
} walk_t;

/*
 * Frame d of walk k by its row, and into the memo if that has every depth before it: 1 with
 * k's state its caller's, 0 at the outermost frame, -1 to give up. Out of the walk's loop,
 * whose registers it would take.
 */
static NOINLINE int walk_row(walk_t *k, unsigned d) {
    uintptr_t sp = k->sp, pc = k->pc, fp = k->fp, lo = k->lo;
    uint64_t w, gen;
    bool perm;
    if (unlikely(k->cache == NULL || !cache_get(k->cache, pc, &gen, &w))) {
        w = row_miss(k->cache, pc, &perm);
    } else if (likely(gen == GEN_PERM)) {
        perm = true;
    } else {
        perm = false;
        if (k->subs == GEN_UNREAD && (k->subs = unload_count()) == GEN_UNREAD)
            return -1;
        if (gen != k->subs)
            w = row_miss(k->cache, pc, &perm);
    }
    prof_unwind_memo_t *memo = k->memo;
    prof_unwind_memo_frame_t *m = NULL;
    k->in_memo = false;
    if (memo != NULL && perm && d <= memo->depth && d < PROF_UNWIND_MEMO_N) {
        m = &memo->f[d];
        m->pc = 0; /* matches no frame until made */
        if (d == memo->depth)
            memo->depth++;
    }
    unsigned kind = RW_KIND(w);
    /* RULE_SIGNED only where DW_RA_STATE exists: x86_64's walk keeps its one test. */
    bool is_signed = DW_RA_STATE != UINT64_MAX && kind == RULE_SIGNED;
    if (unlikely(kind != RULE_OK) && !is_signed) {
        if (kind != RULE_END)
            return -1;
        if (m != NULL)
            *m = (prof_unwind_memo_frame_t){.pc = pc, .sp = sp, .flags = MEMO_END};
        return 0;
    }
    uintptr_t cfa = (RW_CFA_FP(w) ? fp : sp) + (uintptr_t)RW_CFA_OFF(w);
    /* Every read 8-aligned in [lo, hi - 8]. */
    uintptr_t ra_at = cfa + (uintptr_t)RW_RA_OFF(w), span = k->hi - 8 - lo;
    uintptr_t fp_at = RW_FP_SAVED(w) ? ra_at + (uintptr_t)RW_FP_DELTA(w) : 0;
    if (cfa <= sp || cfa > k->hi || ra_at - lo > span || (ra_at & 7) != 0 ||
        (fp_at != 0 && (fp_at - lo > span || (fp_at & 7) != 0)))
        return -1;
    if (m != NULL) {
        *m = (prof_unwind_memo_frame_t){
            .pc = pc, .sp = sp, .ra_at = ra_at, .fp = fp, .cfa = cfa, .fp_at = fp_at,
            .flags = (RW_CFA_FP(w) ? MEMO_CFA_FP : 0u) | (is_signed ? MEMO_SIGNED : 0u)};
        k->in_memo = true;
    }
    if (fp_at != 0)
        k->fp = *(const uintptr_t *)fp_at;
    pc = *(const uintptr_t *)ra_at;
    k->pc = is_signed ? ra_strip(pc) : pc;
    k->sp = cfa;
    return 1;
}

/*
 * The walk that just gave frames[0 .. n), from (lo, pc, fp), read the stack only at the memo's
 * entries f[0 .. nread): keep it to replay (prof.h). What it found is read again here: the words
 * are in the live frames of the calling thread, as the walk found them a moment ago. A saved FP
 * matters only if a later frame's CFA is on FP before another is restored (a callee-saved
 * register that held a loop counter would otherwise make every walk differ), and so does the
 * first FP.
 */
static NOINLINE void replay_record(prof_unwind_memo_t *memo, unsigned nread, uintptr_t pc,
                                   uintptr_t fp, void *const *frames, unsigned n, unsigned max,
                                   uintptr_t skip_lo, uintptr_t skip_hi) {
    memo->r_valid = false;
    if (n > PROF_UNWIND_MEMO_N)
        return;
    /* Which saved FPs some frame's CFA needs: needed[d] for the one frame d restores. */
    bool needed[PROF_UNWIND_MEMO_N] = {false}, uses_fp = false;
    int src = -1; /* the frame whose saved FP is the current one; -1: the first FP */
    for (unsigned d = 0; d < nread; d++) {
        const prof_unwind_memo_frame_t *m = &memo->f[d];
        if (m->flags & MEMO_CFA_FP) {
            if (src < 0)
                uses_fp = true;
            else
                needed[src] = true;
        }
        if (m->fp_at != 0)
            src = (int)d;
    }
    /* A CFA on FP at the frame that ended the walk read nothing: it needs no word. */
    unsigned nw = 0;
    for (unsigned d = 0; d < nread; d++) {
        const prof_unwind_memo_frame_t *m = &memo->f[d];
        if (needed[d]) {
            memo->r_at[nw] = (const uintptr_t *)m->fp_at;
            memo->r_word[nw++] = *(const uintptr_t *)m->fp_at;
        }
        memo->r_at[nw] = (const uintptr_t *)m->ra_at;
        memo->r_word[nw++] = *(const uintptr_t *)m->ra_at;
    }
    memcpy(memo->r_frames, frames, n * sizeof(void *));
    memo->r_nwords = nw;
    memo->r_n = n;
    memo->r_max = max;
    memo->r_pc = pc;
    memo->r_fp = fp;
    memo->r_uses_fp = uses_fp;
    memo->r_skip_lo = skip_lo;
    memo->r_skip_hi = skip_hi;
    memo->r_gen += 2; /* prof.h: a thread's two memos number their records apart */
    memo->r_valid = true;
}

static ALWAYS_INLINE unsigned unwind_walk(const uintptr_t *regs, void **frames, unsigned max,
                                          uintptr_t skip_lo, uintptr_t skip_hi,
                                          prof_unwind_memo_t *memo) {
    uintptr_t sp = regs[0], pc = regs[1], fp = regs[2];
    uintptr_t lo = sp;
    if (lo + PROF_UNWIND_STACK_MAX < lo)
        return 0;
    unsigned n = 0, d = 0, depth = 0;
    bool in_memo = false; /* every frame so far walked from, or into, the memo */
    if (memo != NULL) {
        if (memo->lo != lo) {
            memo->lo = lo;
            memo->depth = 0;
            memo->r_valid = false;
        }
        depth = memo->depth;
        in_memo = true;
    }
    walk_t k; /* set up at the first frame the memo does not have */
    bool k_ready = false;
    for (;; d++) {
        /* The frames the memo has, in registers. */
        unsigned d0 = d;
        for (; d < depth; d++) {
            const prof_unwind_memo_frame_t *m = &memo->f[d];
            if (m->pc != pc || m->sp != sp || ((m->flags & MEMO_CFA_FP) && m->fp != fp))
                break;
            frames[n] = (void *)pc;
            n += n != 0 || pc - skip_lo >= skip_hi - skip_lo;
            if (n == max || (m->flags & MEMO_END)) {
                memo->hits += d + 1 - d0;
                goto done;
            }
            if (m->fp_at != 0)
                fp = *(const uintptr_t *)m->fp_at;
            pc = *(const uintptr_t *)m->ra_at;
            if (DW_RA_STATE != UINT64_MAX && (m->flags & MEMO_SIGNED))
                pc = ra_strip(pc);
            sp = m->cfa;
        }
        if (memo != NULL)
            memo->hits += d - d0;
        if (pc == 0)
            goto done;
        if (n != 0 || pc - skip_lo >= skip_hi - skip_lo)
            frames[n++] = (void *)pc;
        if (n == max)
            goto done;
        if (!k_ready) {
            k.lo = lo;
            k.hi = lo + PROF_UNWIND_STACK_MAX;
            k.subs = GEN_UNREAD;
            k.cache = atomic_load_acquire(&prof_unwind_cache);
            k.memo = memo;
            k_ready = true;
        }
        k.sp = sp;
        k.pc = pc;
        k.fp = fp;
        int r = walk_row(&k, d);
        if (r < 0) {
            if (memo != NULL)
                memo->r_valid = false;
            return 0;
        }
        if (r == 0)
            goto done; /* the outermost frame: its row read nothing */
        in_memo &= k.in_memo;
        sp = k.sp;
        pc = k.pc;
        fp = k.fp;
        if (memo != NULL)
            depth = memo->depth;
    }
done:
    /* Frames 0 .. d - 1 read the stack (d itself ended the walk before reading). */
    if (in_memo)
        replay_record(memo, d, regs[1], regs[2], frames, n, max, skip_lo, skip_hi);
    else if (memo != NULL)
        memo->r_valid = false;
    return n;
}

unsigned prof_unwind_replay(const uintptr_t *regs, void **frames, unsigned max,
                            uintptr_t skip_lo, uintptr_t skip_hi, prof_unwind_memo_t *memo) {
    if (memo == NULL || !memo->r_valid || memo->lo != regs[0] || memo->r_pc != regs[1] ||
        (memo->r_uses_fp && memo->r_fp != regs[2]) || memo->r_max != max ||
        memo->r_skip_lo != skip_lo || memo->r_skip_hi != skip_hi)
        return 0;
    const uintptr_t *const *at = memo->r_at;
    const uintptr_t *word = memo->r_word, *end = word + memo->r_nwords;
    for (; word < end; word++, at++) {
        if (**at != *word)
            return 0;
    }
    memo->replays++;
    unsigned n = memo->r_n;
    if (frames != NULL) {
        for (unsigned i = 0; i < n; i++) /* a few frames: no call of memcpy */
            frames[i] = memo->r_frames[i];
    }
    return n;
}

PROF_FRAME unsigned prof_unwind(void **frames, unsigned max, uintptr_t skip_lo,
                              uintptr_t skip_hi, prof_unwind_memo_t *memo) {
    uintptr_t regs[3];
    prof_unwind_regs(regs);
    unsigned n = prof_unwind_replay(regs, frames, max, skip_lo, skip_hi, memo);
    return n != 0 ? n : prof_unwind_at(regs, frames, max, skip_lo, skip_hi, memo);
}

PROF_FRAME unsigned prof_unwind_at(const uintptr_t *regs, void **frames, unsigned max,
                                   uintptr_t skip_lo, uintptr_t skip_hi,
                                   prof_unwind_memo_t *memo) {
    /* Before constructors (glibc's static startup; the loader's own mallocs in a dynamic
     * program) neither libgcc's frame lookup nor dlopen may be called: no stack. */
    if (!config_prof_libgcc || max == 0 || !atomic_load_relaxed(&nstime_ready))
        return 0;
    unsigned n = prof_unwind_arch ? unwind_walk(regs, frames, max, skip_lo, skip_hi, memo) : 0;
    /* Given up: _Unwind_Backtrace takes the trace (prof_backtrace) if libgcc is loaded; the
     * first backtrace loads it, inside the bracket fork waits for. */
    if (n == 0 && prof_libgcc_loaded() == NULL && prof_unwind_loader_enter()) {
        prof_libgcc_load();
        prof_unwind_loader_exit();
    }
    return n;
}

void prof_unwind_prefork(void) {
    __atomic_store_n(&prof_unwind_forking, true, __ATOMIC_SEQ_CST);
    unsigned mine = unwind_mine();
    while (__atomic_load_n(&prof_unwind_inflight, __ATOMIC_SEQ_CST) != mine)
        sched_yield();
}

void prof_unwind_postfork_parent(void) {
    __atomic_store_n(&prof_unwind_forking, false, __ATOMIC_SEQ_CST);
}
