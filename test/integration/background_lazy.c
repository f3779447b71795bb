/* SPDX-License-Identifier: BSD-2-Clause */
/* background.c with the threads asked for by MALLOC_CONF (background_lazy.conf). */
#define BG_LAZY 1
#include "background.c"
