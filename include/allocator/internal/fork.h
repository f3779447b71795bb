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

/*
 * Take every allocator lock in rank order, as before a fork, and keep them until
 * fork_unlock_all (called by the same thread). While they are held, a fork from the holding
 * thread leaves both parent and child holding them (see fork.c). Initialisation must be done.
 */
void fork_lock_all(void);
void fork_unlock_all(void);

#endif
