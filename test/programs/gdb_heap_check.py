# SPDX-License-Identifier: BSD-2-Clause
"""Checks for test/programs/gdb_heap.sh (and gdb_heap_aarch64.sh): compares what the gdb command
`heap` printed with what gdb_heap_prog.c says its heap holds.

    python3 gdb_heap_check.py EXPECTED GDB_OUTPUT WHAT [OTHER_GDB_OUTPUT]

GDB_OUTPUT is the output of a gdb run whose sections start with lines "@@ NAME" (json, text,
block-live, block-live_inner, block-freed..., top). With OTHER_GDB_OUTPUT (the other run: live
and core), the two JSON objects must be equal but for the walk's time. Prints one line per check
and exits 1 on the first failure.
"""
import json
import os
import sys


def fail(what, msg):
    print('FAIL: %s: %s' % (what, msg))
    sys.exit(1)


def sections(path):
    out, name = {}, None
    with open(path) as f:
        for line in f:
            line = line.rstrip('\n')
            if line.startswith('@@ '):
                name = line[3:].strip()
                out[name] = []
            elif name is not None:
                out[name].append(line)
    return out


def heap_json(secs, what):
    lines = [l for l in secs.get('json', []) if l.startswith('{')]
    if len(lines) != 1:
        fail(what, 'no JSON object after "@@ json" (gdb said: %s)'
             % ' | '.join(secs.get('json', [])[-5:]))
    return json.loads(lines[0])


def expected(path):
    exp = {'class': {}, 'large': {}, 'cached_min': {}, 'freed': []}
    with open(path) as f:
        for line in f:
            w = line.split()
            if not w:
                continue
            if w[0] in ('class', 'large', 'cached_min'):
                exp[w[0]][int(w[1])] = int(w[2])
            elif w[0] in ('threads', 'stats_allocated', 'top'):
                exp[w[0]] = int(w[1])
            elif w[0] == 'freed':
                exp['freed'].append(w[1])
            else:
                exp[w[0]] = w[1]
    return exp


def check_json(j, exp, what):
    for k in ('allocated', 'active', 'mapped', 'tcached', 'resident', 'metadata'):
        if not isinstance(j.get(k), int) or j[k] < 0:
            fail(what, 'top-level "%s" is not a byte count: %r' % (k, j.get(k)))
    if not (0 < j['allocated'] <= j['active'] <= j['mapped']):
        fail(what, 'not 0 < allocated (%d) <= active (%d) <= mapped (%d)'
             % (j['allocated'], j['active'], j['mapped']))
    if j['warnings']:
        fail(what, 'the walk reported warnings: %s' % '; '.join(j['warnings'][:5]))
    classes = {c['size']: c for c in j['classes']}
    for c in j['classes']:
        if c['bytes'] != c['count'] * c['size']:
            fail(what, 'class %d: bytes %d != count %d x size' % (c['size'], c['bytes'],
                                                                  c['count']))
    if sum(c['bytes'] for c in j['classes']) != j['allocated']:
        fail(what, 'the classes add up to %d bytes, allocated is %d'
             % (sum(c['bytes'] for c in j['classes']), j['allocated']))
    for size, n in sorted(exp['class'].items()):
        got = classes.get(size, {}).get('count', 0)
        if got != n:
            fail(what, 'class %d: %d live blocks, the program holds %d' % (size, got, n))
    print('%s: live blocks per class as the program holds them: %s' % (
        what, ', '.join('%d x%d' % (s, n) for s, n in sorted(exp['class'].items()))))
    for size, n in sorted(exp['large'].items()):
        # Large with 4 KiB pages; with larger pages (a 64 KiB kernel, or ALLOCATOR_TEST_LG_PAGE=16
        # in a debug build) a class below 4 pages
        # is small, in slabs, and only the class table has it.
        small = classes.get(size, {}).get('small', False)
        got = n if small else sum(1 for b in j['large'] if b['size'] == size and not b['cached'])
        if got != n or classes.get(size, {}).get('count', 0) != n:
            fail(what, 'large %d: %d live in the list, %d in the class table; the program holds %d'
                 % (size, got, classes.get(size, {}).get('count', 0), n))
        if any(b['huge'] != (size > j['chunk']) for b in j['large'] if b['size'] == size):
            fail(what, 'large %d: wrongly marked huge or not' % size)
    print('%s: large and huge blocks as the program holds them: %s (page %d)' % (
        what, ', '.join('%d x%d' % (s, n) for s, n in sorted(exp['large'].items())), j['page']))
    # Under heap profiling (GDB_HEAP_PROF set, gdb_heap.sh's run with prof:true), a sampled
    # small block is freed as its 16 KiB extent, not into its class's cache.
    for size, n in sorted(exp['cached_min'].items() if not os.environ.get('GDB_HEAP_PROF')
                          else ()):
        got = classes.get(size, {}).get('tcached', 0)
        if got < n:
            fail(what, 'class %d: %d blocks in thread caches, the program left at least %d'
                 % (size, got, n))
    in_caches = sum(t['bytes'] for t in j['tcaches'])
    if in_caches != j['tcached'] or sum(c['tcached_bytes'] for c in j['classes']) != j['tcached']:
        fail(what, 'thread caches list %d bytes, tcached is %d' % (in_caches, j['tcached']))
    threads = sum(1 for t in j['tcaches'] if t['kind'] == 'thread')
    if threads != exp['threads']:
        fail(what, '%d thread caches, the program has %d threads' % (threads, exp['threads']))
    print('%s: %d thread caches hold %d blocks (%d bytes), at least the ones the program left'
          % (what, threads, j['tcached_count'], j['tcached']))
    if j['allocated'] + j['tcached'] + j['sampled_overhead'] != exp['stats_allocated']:
        fail(what, 'allocated %d + tcached %d + sampled_overhead %d != mallctl stats.allocated %d'
             % (j['allocated'], j['tcached'], j['sampled_overhead'], exp['stats_allocated']))
    print('%s: allocated + tcached + sampled_overhead = mallctl stats.allocated = %d'
          % (what, exp['stats_allocated']))
    # Sampled small blocks are live blocks of their class, never in the large list.
    sampled = {b['addr'] for b in j['sampled']}
    if len(sampled) != j['sampled_count'] or any(b['addr'] in sampled for b in j['large']):
        fail(what, 'sampled blocks: %d listed, sampled_count %d, or some listed as large'
             % (len(sampled), j['sampled_count']))
    for c in j['classes']:
        if c['sampled'] > c['count'] or (c['sampled'] and not c['small']):
            fail(what, 'class %d: %d sampled blocks of %d live' % (c['size'], c['sampled'],
                                                                  c['count']))
    if os.environ.get('GDB_HEAP_PROF'):
        if j['sampled_count'] == 0:
            fail(what, 'profiling at a 1 KiB period sampled no small block')
        print('%s: %d sampled small blocks, each a live block of its class (%d bytes of their '
              'extents besides)' % (what, j['sampled_count'], j['sampled_overhead']))


def check_text(secs, what):
    text = '\n'.join(secs.get('text', []))
    for needle in ('liballocator heap: layout', 'arena 0', 'total', 'size classes',
                   'large and huge blocks', 'thread caches', '5242880'):
        if needle not in text:
            fail(what, '`heap` output lacks "%s":\n%s' % (needle, text[-2000:]))
    if 'warnings (' in text or 'Error' in text or 'Traceback' in text:
        fail(what, '`heap` printed warnings or an error:\n%s' % text[-2000:])
    print('%s: `heap` prints the summary, classes, large blocks and thread caches' % what)


def check_blocks(secs, exp, what):
    def out(name):
        return ' '.join(secs.get('block-' + name, []))

    live = int(exp['live'], 16)
    s = out('live')
    if ('block 0x%x + 0, size class 80, live' % live) not in s or 'arena' not in s:
        fail(what, 'heap block %s (a live 80-byte block): %s' % (exp['live'], s))
    inner = int(exp['live_inner'], 16)
    s = out('live_inner')
    if ('block 0x%x + 1000, size class 65536, live' % (inner - 1000)) not in s:
        fail(what, 'heap block %s (1000 bytes into a live 64 KiB block): %s'
             % (exp['live_inner'], s))
    # Under heap profiling the program's later blocks may take a freed block's place (sampled
    # blocks move extents around), so the freed addresses are checked without it only.
    for i, addr in enumerate(exp['freed'] if not os.environ.get('GDB_HEAP_PROF') else ()):
        s = out('freed%d' % i)
        if 'live' in s or 'free' not in s or ('0x%x' % int(addr, 16)) not in s:
            fail(what, 'heap block %s (a freed block): %s' % (addr, s))
    print('%s: heap block finds a live block, an inner address and %d freed blocks'
          % (what, 0 if os.environ.get('GDB_HEAP_PROF') else len(exp['freed'])))
    top = [l.split() for l in secs.get('top', []) if l.strip().startswith('0x')]
    sizes = [int(t[1]) for t in top]
    if sizes != [exp['top'], 65536, 65536]:
        fail(what, 'heap top 3 gave sizes %s, expected [%d, 65536, 65536]' % (sizes, exp['top']))
    print('%s: heap top 3: %s' % (what, sizes))


def main():
    exp = expected(sys.argv[1])
    secs = sections(sys.argv[2])
    what = sys.argv[3]
    j = heap_json(secs, what)
    check_json(j, exp, what)
    if 'text' in secs:
        check_text(secs, what)
    if 'top' in secs:
        check_blocks(secs, exp, what)
    if len(sys.argv) > 4:
        other = heap_json(sections(sys.argv[4]), what)
        for d in (j, other):
            d.pop('walk_seconds', None)
        if j != other:
            keys = sorted(k for k in set(j) | set(other) if j.get(k) != other.get(k))
            fail(what, 'the live and core JSON differ in %s' % ', '.join(keys))
        print('%s: the core gives the same JSON as the live process' % what)


if __name__ == '__main__':
    main()
