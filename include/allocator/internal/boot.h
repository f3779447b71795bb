/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * boot: the boot sequence, the top of the allocator below its entry points. It calls each
 * module's X_boot once, in the order they depend on each other, and is the only module that
 * knows that order. The API layer hands it to init_ensure (init.h), which runs it once.
 *
 * The sequence reads no clock, calls no ctype function, no sysconf, no stdio and no dlsym, so it
 * is safe inside glibc's static startup (which calls malloc before constructors and before the
 * VDSO is set up), from the dynamic linker and under interposers that resolve malloc with
 * dlsym(RTLD_NEXT).
 */
#ifndef ALLOCATOR_INTERNAL_BOOT_H
#define ALLOCATOR_INTERNAL_BOOT_H

#include "allocator/internal/init.h"

/* Boot every module; true on failure. Only through init_ensure(boot_run). */
bool boot_run(void);

#endif
