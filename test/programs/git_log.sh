#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# git under liballocator on a repository of a few hundred commits, built quickly with
# git fast-import: `git log -p --stat` must print exactly what a plain run prints; then
# `git repack -adf` with two delta-search threads rewrites the pack under liballocator, plain
# `git fsck --full` must find the result sound, and `git log -p` must still print the same.
. "$(dirname "$0")/common.bash"

need_tool git git
need_tool awk mawk

repo=$TEST_TMPDIR/repo
git init -q "$repo" || fail "git init failed"
export GIT_CONFIG_NOSYSTEM=1 HOME=$TEST_TMPDIR GIT_PAGER=cat PAGER=cat LC_ALL=C TZ=UTC

# 400 commits over 30 files: each commit rewrites a few lines of three files.
awk 'BEGIN {
    nfiles = 30; ncommits = 400; seed = 12345
    for (f = 0; f < nfiles; f++)
        for (l = 0; l < 200; l++)
            line[f, l] = sprintf("file %d line %d: initial text %d", f, l, (f * 7919 + l) % 1000)
    for (c = 1; c <= ncommits; c++) {
        printf "commit refs/heads/main\nmark :%d\n", c
        printf "author Test Author <author@example.com> %d +0000\n", 1600000000 + c * 60
        printf "committer Test Committer <committer@example.com> %d +0000\n", 1600000000 + c * 60
        msg = sprintf("Commit %d: change files\n\nA longer body for commit %d.\n", c, c)
        printf "data %d\n%s", length(msg), msg
        if (c > 1) printf "from :%d\n", c - 1
        for (k = 0; k < 3; k++) {
            seed = (seed * 69069 + 1) % 4294967296
            f = (c == 1) ? -1 : seed % nfiles
            for (g = 0; g < nfiles; g++) {
                if (c > 1 && g != f) continue
                for (j = 0; j < 5; j++) {
                    seed = (seed * 69069 + 1) % 4294967296
                    line[g, seed % 200] = sprintf("file %d line %d: changed in commit %d (%d)", g, seed % 200, c, seed % 997)
                }
                body = ""
                for (l = 0; l < 200; l++) body = body line[g, l] "\n"
                printf "M 100644 inline dir%d/file%d.txt\ndata %d\n%s\n", g % 5, g, length(body), body
            }
        }
    }
}' >"$TEST_TMPDIR/stream" || fail "could not generate the fast-import stream"
git -C "$repo" fast-import --quiet <"$TEST_TMPDIR/stream" || fail "git fast-import failed"
git -C "$repo" checkout -q main 2>/dev/null || git -C "$repo" symbolic-ref HEAD refs/heads/main
n=$(git -C "$repo" rev-list --count main) || fail "git rev-list failed"
[ "$n" -eq 400 ] || fail "expected 400 commits, found $n"

git -C "$repo" log -p --stat main >"$TEST_TMPDIR/plain.log" || fail "plain git log failed"
with_allocator "$TEST_TMPDIR/err1" git -C "$repo" log -p --stat main >"$TEST_TMPDIR/alloc.log" ||
    { tail -20 "$TEST_TMPDIR/err1" >&2; fail "git log -p under liballocator exited with $?"; }
expect_same_file "$TEST_TMPDIR/plain.log" "$TEST_TMPDIR/alloc.log" "git log -p"
expect_served "$TEST_TMPDIR/err1" 2000 "git log -p"

with_allocator "$TEST_TMPDIR/err2" git -C "$repo" -c pack.threads=2 repack -q -adf ||
    { tail -20 "$TEST_TMPDIR/err2" >&2; fail "git repack under liballocator exited with $?"; }
expect_served "$TEST_TMPDIR/err2" 1000 "git repack -adf (pack-objects)"
git -C "$repo" fsck --full --no-progress 2>"$TEST_TMPDIR/fsck.err" ||
    { cat "$TEST_TMPDIR/fsck.err" >&2; fail "git fsck finds the repository repacked under liballocator broken"; }
with_allocator "$TEST_TMPDIR/err3" git -C "$repo" log -p --stat main >"$TEST_TMPDIR/alloc2.log" ||
    fail "git log -p after repack under liballocator exited with $?"
expect_same_file "$TEST_TMPDIR/plain.log" "$TEST_TMPDIR/alloc2.log" "git log -p after repack"
echo "ok: $PROG_TEST"
