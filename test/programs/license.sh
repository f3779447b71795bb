#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The terms are stated: COPYING holds the BSD-2-Clause license, and every source file names it
# on its first line (.ci/spdx --check; `.ci/spdx` adds the line to new files). The per-file
# part needs a git checkout (it asks git which files are sources) and is skipped without one.
. "$(dirname "$0")/common.bash"

copying=$TOP_SRCDIR/COPYING
[ -f "$copying" ] || fail "no COPYING at the top of the source tree"
grep -q 'BSD-2-Clause' "$copying" || fail "COPYING does not name BSD-2-Clause"
grep -q 'Redistributions of source code must retain' "$copying" ||
    fail "COPYING does not hold the license's conditions"

command -v git >/dev/null 2>&1 || skip "git is not installed: the per-file identifiers were not checked"
git -C "$TOP_SRCDIR" rev-parse --git-dir >/dev/null 2>&1 ||
    skip "$TOP_SRCDIR is not a git checkout: the per-file identifiers were not checked"
n=$(git -C "$TOP_SRCDIR" ls-files | grep -c '\.[ch]$')
[ "$n" -gt 50 ] || fail "git lists only $n C files in $TOP_SRCDIR"
if ! "$TOP_SRCDIR/.ci/spdx" --check >"$TEST_TMPDIR/out" 2>&1; then
    cat "$TEST_TMPDIR/out" >&2
    fail "files without an SPDX-License-Identifier line (run .ci/spdx to add it)"
fi
echo "COPYING: BSD-2-Clause; every source file names it"
