/*
 * fork: pthread_atfork handlers. Before fork every allocator lock is taken in rank order (ctl
 * and arenas, thread list, every bin of every arena, every arena's extents, rtree, base); the
 * parent releases them afterwards and the child re-initialises them, so a child forked while
 * other threads allocate finds a consistent heap with no lock held.
 */
#ifndef ALLOCATOR_INTERNAL_FORK_H
#define ALLOCATOR_INTERNAL_FORK_H

/* Register the handlers (once, from init). */
void fork_boot(void);

#endif
