#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# python3 running an allocation-heavy script (dicts, lists, strings, tuples, sets: a few hundred
# thousand objects made and dropped) under liballocator, once with Python's own small-object
# allocator in front of malloc and once with PYTHONMALLOC=malloc, which sends every object
# through malloc/realloc/free. The script's result must equal a plain run's.
. "$(dirname "$0")/common.bash"

PY=$(find_python)
[ -n "$PY" ] || skip "python3 is not installed (Debian package python3)"

script=$TEST_TMPDIR/alloc.py
cat >"$script" <<'PYEOF'
import hashlib, random, sys

rng = random.Random(2024)
h = hashlib.sha256()

# Dicts of strings to lists, grown and shrunk.
table = {}
for i in range(200000):
    key = "k%07d-%s" % (i, "x" * (i % 37))
    table[key] = [i, str(i * 7), (i, i + 1)]
for i in range(0, 200000, 3):
    del table["k%07d-%s" % (i, "x" * (i % 37))]
total = sum(v[0] for v in table.values())
h.update(str(total).encode())

# Strings built, joined, split and replaced.
words = ["".join(chr(97 + rng.randrange(26)) for _ in range(rng.randrange(1, 40)))
         for _ in range(100000)]
text = " ".join(words)
parts = text.replace("a", "AA").split("e")
h.update(str(len(text)).encode())
h.update(str(sum(len(p) for p in parts)).encode())

# Lists that grow by appending (realloc), sorted, sliced.
big = []
for i in range(300000):
    big.append((rng.random(), i))
big.sort()
h.update(repr(big[:50]).encode())
h.update(repr(big[-50:]).encode())
del big

# Sets and nested structures, with reference cycles for the collector.
s = set()
for i in range(150000):
    s.add(("t", i % 50000, str(i % 1000)))
h.update(str(len(s)).encode())
nodes = []
for i in range(50000):
    n = {"id": i, "peers": []}
    if nodes:
        peer = nodes[rng.randrange(len(nodes))]
        n["peers"].append(peer)
        peer["peers"].append(n)
    nodes.append(n)
del nodes
import gc
h.update(str(gc.collect() >= 0).encode())

# Large buffers (bytes objects of megabytes).
blob = b"".join(bytes([i % 251]) * 100000 for i in range(200))
h.update(hashlib.sha256(blob).digest())

print(h.hexdigest())
PYEOF

"$PY" "$script" >"$TEST_TMPDIR/plain.out" || fail "plain python3 run failed"

with_allocator "$TEST_TMPDIR/err1" "$PY" "$script" >"$TEST_TMPDIR/alloc1.out" ||
    { tail -20 "$TEST_TMPDIR/err1" >&2; fail "python3 under liballocator exited with $?"; }
expect_same_file "$TEST_TMPDIR/plain.out" "$TEST_TMPDIR/alloc1.out" "python3 (pymalloc)"
expect_served "$TEST_TMPDIR/err1" 1000 "python3 (pymalloc)"

PYTHONMALLOC=malloc with_allocator "$TEST_TMPDIR/err2" "$PY" "$script" >"$TEST_TMPDIR/alloc2.out" ||
    { tail -20 "$TEST_TMPDIR/err2" >&2; fail "python3 (PYTHONMALLOC=malloc) under liballocator failed"; }
expect_same_file "$TEST_TMPDIR/plain.out" "$TEST_TMPDIR/alloc2.out" "python3 (PYTHONMALLOC=malloc)"
expect_served "$TEST_TMPDIR/err2" 200000 "python3 (PYTHONMALLOC=malloc)"
echo "ok: $PROG_TEST"
