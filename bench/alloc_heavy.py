# SPDX-License-Identifier: BSD-2-Clause
"""Allocation-heavy Python workload for the allocator benchmarks.

    python3 alloc_heavy.py [GENERATIONS [RECORDS]]

Builds and discards many small objects the way data-processing scripts do: records as dicts
holding strings and lists, an index of them by key, strings assembled by joining and slicing,
byte buffers that grow, and random deletion so freed memory is scattered.  run.sh runs it with
PYTHONMALLOC=malloc so that every object comes from the allocator under test instead of
Python's own small-object pools.  Prints nothing.
"""
import random
import sys


def make_record(rng, i):
    name = "item-%d-%s" % (i, "x" * rng.randrange(1, 40))
    tags = [("t%d" % rng.randrange(1000)) for _ in range(rng.randrange(0, 8))]
    return {
        "id": i,
        "name": name,
        "tags": tags,
        "score": rng.random(),
        "pos": (rng.randrange(1 << 20), rng.randrange(1 << 20)),
        "blob": bytes(rng.randrange(0, 600)),
    }


def generation(rng, n):
    records = [make_record(rng, i) for i in range(n)]
    index = {}
    for r in records:
        for t in r["tags"]:
            index.setdefault(t, []).append(r["id"])
    # Drop a random half, then add new ones into the holes.
    for i in rng.sample(range(n), n // 2):
        records[i] = None
    for i in range(n):
        if records[i] is None and i % 3 == 0:
            records[i] = make_record(rng, n + i)
    # String work: render, split, rejoin.
    lines = [
        "%s,%s,%.3f" % (r["name"], ";".join(r["tags"]), r["score"])
        for r in records if r is not None
    ]
    text = "\n".join(lines)
    fields = [line.split(",") for line in text.split("\n")]
    total = sum(len(f[0]) + len(f[1]) for f in fields)
    # A growing buffer.
    buf = bytearray()
    for f in fields[: n // 4]:
        buf += f[0].encode()
    return total + len(buf) + len(index)


def main():
    generations = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    records = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    rng = random.Random(42)
    acc = 0
    for _ in range(generations):
        acc += generation(rng, records)
    if acc == 1:
        print(acc)


if __name__ == "__main__":
    main()
