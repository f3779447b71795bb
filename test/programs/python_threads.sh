#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A multithreaded python3 under liballocator with PYTHONMALLOC=malloc: worker threads build
# objects and pass them through queues to other threads, which consume and drop them, so blocks
# are allocated in one OS thread and freed in another. The result must equal a plain run's.
. "$(dirname "$0")/common.bash"

PY=$(find_python)
[ -n "$PY" ] || skip "python3 is not installed (Debian package python3)"

script=$TEST_TMPDIR/threads.py
cat >"$script" <<'PYEOF'
import queue, threading, hashlib

N_PRODUCERS, N_CONSUMERS, ITEMS = 3, 3, 30000
q = queue.Queue(maxsize=1000)
results = [0] * N_CONSUMERS
lock = threading.Lock()

def producer(pid):
    for i in range(ITEMS):
        n = (i * 7 + pid) % 200
        item = {"p": pid, "i": i, "data": [str(j) * (j % 5 + 1) for j in range(n)],
                "blob": bytes([i % 256]) * (n * 10)}
        q.put(item)

def consumer(cid):
    total = 0
    while True:
        item = q.get()
        if item is None:
            break
        total += item["i"] + len(item["data"]) + len(item["blob"]) + sum(map(len, item["data"]))
    with lock:
        results[cid] = total

producers = [threading.Thread(target=producer, args=(p,)) for p in range(N_PRODUCERS)]
consumers = [threading.Thread(target=consumer, args=(c,)) for c in range(N_CONSUMERS)]
for t in producers + consumers:
    t.start()
for t in producers:
    t.join()
for _ in consumers:
    q.put(None)
for t in consumers:
    t.join()

# Work spread over threads: each builds and hashes its own structures.
digests = [None] * 4
def builder(k):
    d = {}
    for i in range(50000):
        d["%d-%d" % (k, i)] = list(range(i % 20))
    digests[k] = hashlib.sha256(repr(sorted(d.items())[:2000]).encode()).hexdigest()
ts = [threading.Thread(target=builder, args=(k,)) for k in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(sum(results), *digests)
PYEOF

"$PY" "$script" >"$TEST_TMPDIR/plain.out" || fail "plain python3 run failed"
PYTHONMALLOC=malloc with_allocator "$TEST_TMPDIR/err" "$PY" "$script" >"$TEST_TMPDIR/alloc.out" ||
    { tail -20 "$TEST_TMPDIR/err" >&2; fail "python3 with threads under liballocator failed"; }
expect_same_file "$TEST_TMPDIR/plain.out" "$TEST_TMPDIR/alloc.out" "python3 with threads"
expect_served "$TEST_TMPDIR/err" 100000 "python3 with threads"
echo "ok: $PROG_TEST"
