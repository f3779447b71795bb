/* SPDX-License-Identifier: BSD-2-Clause */
/* retain.c with retain:false (retain_off.conf). */
#define RETAIN_OFF 1
#include "retain.c"
