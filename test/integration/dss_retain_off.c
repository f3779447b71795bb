/* SPDX-License-Identifier: BSD-2-Clause */
/* dss.c with retain:false (dss_retain_off.conf): a freed chunk at the top of the break goes back. */
#define RETAIN_OFF 1
#include "dss.c"
