/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl_tree: how the mallctl tree is written, shared by ctl.c (the tree, its resolver and most
 * subtrees) and ctl_stats.c (the statistics snapshot and the stats.* subtree). A node is a leaf
 * (a handler), has named children, or has one numeric "<i>" child. A subtree is one list of rows
 * that CTL_TABLE expands twice, once into the handlers of value rows and once into the node
 * table, so each name is written once. Only ctl.c, ctl_stats.c and ctl_experimental.c include
 * this header.
 */
#ifndef ALLOCATOR_INTERNAL_CTL_TREE_H
#define ALLOCATOR_INTERNAL_CTL_TREE_H

#include <errno.h>
#include <string.h>

#include "allocator/internal/arena.h"
#include "allocator/internal/ctl.h"
#include "allocator/internal/mutex.h"

#define CTL_ARGS                                                                                   \
    const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp, size_t newlen

typedef int ctl_handler_t(CTL_ARGS);

typedef struct ctl_node_s ctl_node_t;
struct ctl_node_s {
    const char *name;
    const ctl_node_t *children; /* named children, ended by a node with name NULL */
    const ctl_node_t *indexed;  /* the "<i>" child */
    bool (*index_ok)(size_t i); /* is i a valid index for the "<i>" child */
    ctl_handler_t *handler;     /* leaf */
};

/* Serialises handlers that change state, and guards the statistics snapshot (ctl_stats.c). */
extern mutex_t ctl_lock;

/*
 * The handlers' helpers, jemalloc's conventions: a wrong *oldlenp copies what fits and returns
 * EINVAL, a wrong newlen returns EINVAL, writing a read-only name (or reading a write-only one)
 * returns EPERM.
 */
#define READONLY()                                                                                 \
    do {                                                                                           \
        if (newp != NULL || newlen != 0)                                                           \
            return EPERM;                                                                          \
    } while (0)
#define WRITEONLY()                                                                                \
    do {                                                                                           \
        if (oldp != NULL || oldlenp != NULL)                                                       \
            return EPERM;                                                                          \
    } while (0)
#define NEITHER()                                                                                  \
    do {                                                                                           \
        READONLY();                                                                                \
        WRITEONLY();                                                                               \
    } while (0)
#define READ(v, t)                                                                                 \
    do {                                                                                           \
        if (oldp != NULL && oldlenp != NULL) {                                                     \
            t rv_ = (v);                                                                           \
            if (*oldlenp != sizeof(t)) {                                                           \
                size_t cl_ = *oldlenp < sizeof(t) ? *oldlenp : sizeof(t);                          \
                memcpy(oldp, &rv_, cl_);                                                           \
                *oldlenp = cl_;                                                                    \
                return EINVAL;                                                                     \
            }                                                                                      \
            memcpy(oldp, &rv_, sizeof(t));                                                         \
        }                                                                                          \
    } while (0)
/*
 * For names whose read creates something (arenas.create, tcache.create), as jemalloc's
 * VERIFY_READ: unless the caller can take a t, EINVAL with *oldlenp set to 0, before acting.
 */
#define VERIFY_READ(t)                                                                             \
    do {                                                                                           \
        if (oldp == NULL || oldlenp == NULL || *oldlenp != sizeof(t)) {                            \
            if (oldlenp != NULL)                                                                   \
                *oldlenp = 0;                                                                      \
            return EINVAL;                                                                         \
        }                                                                                          \
    } while (0)
/*
 * Declares t NAME from newp when a value was supplied (has_NAME says whether). Read/write names
 * read the old value first, as jemalloc does: a wrong *oldlenp fails the call before the new
 * value takes effect, never after.
 */
#define WRITE_VALUE(name, t)                                                                       \
    t name;                                                                                        \
    memset(&name, 0, sizeof(name));                                                                \
    bool has_##name = newp != NULL;                                                                \
    if (has_##name) {                                                                              \
        if (newlen != sizeof(t))                                                                   \
            return EINVAL;                                                                         \
        memcpy(&name, newp, sizeof(t));                                                            \
    }

/*
 * A subtree's rows: X(KIND, tab, name, a, b), in the order of the MIB's component.
 *   RO    a read-only value: expression b, of type a (the handler tab_name_ctl is generated)
 *   FN    a leaf with a handler of its own: the function a
 *   DIR   named children: the table a (made by CTL_TABLE)
 *   IDX   one "<i>" child: the node a (made by CTL_INDEXED), and b, its index check
 * ctl_stats.c adds value kinds of its own (STAT, ASTAT, BGSTAT), each with a CTL_DEF_ macro.
 * CTL_TABLE(tab, LIST) defines the value handlers and then tab_children[].
 */
#define CTL_DEF(kind, tab, name, a, b) CTL_DEF_##kind(tab##_##name##_ctl, a, b)
#define CTL_DEF_FN(fn, a, b)
#define CTL_DEF_DIR(fn, a, b)
#define CTL_DEF_IDX(fn, a, b)
#define CTL_DEF_RO(fn, t, expr)                                                                    \
    static int fn(CTL_ARGS) {                                                                      \
        (void)mib, (void)miblen;                                                                   \
        READONLY();                                                                                \
        READ((expr), t);                                                                           \
        return 0;                                                                                  \
    }

#define CTL_ROW(kind, tab, name, a, b) CTL_ROW_##kind(tab, name, a, b)
#define CTL_ROW_VALUE(tab, name) {#name, NULL, NULL, NULL, tab##_##name##_ctl},
#define CTL_ROW_RO(tab, name, a, b) CTL_ROW_VALUE(tab, name)
#define CTL_ROW_STAT(tab, name, a, b) CTL_ROW_VALUE(tab, name)
#define CTL_ROW_ASTAT(tab, name, a, b) CTL_ROW_VALUE(tab, name)
#define CTL_ROW_BGSTAT(tab, name, a, b) CTL_ROW_VALUE(tab, name)
#define CTL_ROW_FN(tab, name, fn, b) {#name, NULL, NULL, NULL, fn},
#define CTL_ROW_DIR(tab, name, children, b) {#name, children, NULL, NULL, NULL},
#define CTL_ROW_IDX(tab, name, node, ok) {#name, NULL, &node, ok, NULL},
#define CTL_END                                                                                    \
    { NULL, NULL, NULL, NULL, NULL }

#define CTL_TABLE(tab, LIST)                                                                       \
    LIST(CTL_DEF)                                                                                  \
    static const ctl_node_t tab##_children[] = {LIST(CTL_ROW) CTL_END}
/* The "<i>" node whose children are tab_children. */
#define CTL_INDEXED(tab)                                                                           \
    static const ctl_node_t tab##_node = {NULL, tab##_children, NULL, NULL, NULL}

/* Arenas that exist or may: the automatic ones, the oversize arena, and created ones. */
static inline unsigned ctl_narenas(void) { return arenas_limit(); }
static inline bool ctl_bin_index_ok(size_t i) { return i < SC_NBINS; }
static inline bool ctl_lextent_index_ok(size_t i) { return i < SC_NLARGE; }

/* ctl_prof.c: the prof.* and thread.prof.* subtrees. */
extern const ctl_node_t ctl_prof_children[];
extern const ctl_node_t ctl_thread_prof_children[];

/* ctl_stats.c: the stats.* subtree, the epoch name, and dropping the snapshot (ctl_lock held). */
extern const ctl_node_t ctl_stats_children[];
int ctl_epoch_ctl(CTL_ARGS);
void ctl_stats_invalidate(void);
/* ctl_experimental.c: the experimental.* subtree. */
extern const ctl_node_t ctl_experimental_children[];

#endif
