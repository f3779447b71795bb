# SPDX-License-Identifier: BSD-2-Clause
# Sourced in gdb by gdb_heap.sh and gdb_heap_aarch64.sh once the heap is there: `heap block` on
# the addresses gdb_heap_prog.c wrote to the file named by $GDB_HEAP_EXPECTED (a live block, an
# address inside it, the freed blocks), then `heap top 3`, each under the @@ section header
# gdb_heap_check.py reads.
import os

import gdb

exp = [line.split() for line in open(os.environ['GDB_HEAP_EXPECTED'])]
freed = [w[1] for w in exp if w[0] == 'freed']
for name in ('live', 'live_inner'):
    print('@@ block-' + name)
    gdb.execute('heap block ' + [w[1] for w in exp if w[0] == name][0])
for i, a in enumerate(freed):
    print('@@ block-freed%d' % i)
    gdb.execute('heap block ' + a)
print('@@ top')
gdb.execute('heap top 3')
