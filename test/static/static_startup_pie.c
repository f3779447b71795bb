/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * static_startup.c linked as a static position-independent executable (-static-pie, in the
 * sidecar .ldflags): the same checks where glibc relocates itself before the startup code
 * allocates and before constructors run.
 */
#include "static_startup.c"
