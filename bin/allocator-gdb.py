# SPDX-License-Identifier: BSD-2-Clause
# allocator-gdb.py -- the gdb command `heap`: liballocator's heap, read from a process or a core.
#
#   (gdb) source /usr/local/share/liballocator/allocator-gdb.py
#   (gdb) heap                 summary per arena, size classes, large and huge blocks, thread caches
#   (gdb) heap all             the same without the cap on the list of large blocks
#   (gdb) heap json            the same data as one JSON object
#   (gdb) heap block ADDRESS   the block an address falls in: start, class, live/free, owner
#   (gdb) heap top N           the N largest live blocks
#
# The script only reads memory: it never calls a function of the inferior, so it works on core
# files and on a process stopped anywhere, inside the allocator included (a structure caught in
# the middle of an update shows up as a warning, not an error). It reads liballocator's own
# structures through the library's debug information, by field name: arenas[] and each arena's
# chunks, whose extents it walks through the radix tree (rtree.h), slab bitmaps (a set bit is a
# free region), bins, bin_infos[] and sz_index2size_tab[], the thread states on tsd.c's live list
# and their caches (with the blocks of a flush in progress), the explicit caches (tcache.c's
# tcaches[]) and base.c's counters. Threads are named by their kernel id (tsd_t.owner_tid).
# allocator_gdb_consts gives what the types cannot (page size, radix-tree geometry) and
# allocator_gdb_layout the version of the layout; see include/allocator/internal/gdb.h. A library
# without debug information, or with a layout version this script does not know, gets a clear
# error.
#
# Definitions (the same as mallctl's stats.*): allocated counts the blocks the program holds;
# blocks in thread caches are free to the program but not to their arena and are counted apart
# as tcached (mallctl's stats.allocated is allocated + tcached + sampled_overhead: a small block
# sampled by the heap profiler is a live block of its class, alone in a large extent whose rest
# its arena counts as allocated too). active = pages of slabs and
# large extents; dirty, muzzy, retained = free pages in those states; metadata = bytes base
# handed out; mapped = active + dirty + muzzy + base's mappings; resident (an estimate) = active +
# dirty + muzzy + metadata rounded to pages. A large block is huge when it is larger than a chunk.

import bisect
import json
import os
import struct
import time

import gdb

SUPPORTED_LAYOUTS = (9,)
STATES = ('active', 'dirty', 'muzzy', 'retained')
LARGE_LIST_CAP = 50
# A radix-tree entry's bit for a sampled block (rtree.h, RTREE_PROF_BIT; part of the layout).
RTREE_PROF_BIT = 2
# extent_t.prof_tctx of such an extent kept free by a thread (edata.h, EXTENT_PROF_SPARE).
EXTENT_PROF_SPARE = 1
# Sanity bounds for a walk through memory that may be damaged or caught mid-update.
MAX_LIST = 1 << 24
MAX_CACHED = 1 << 16


class HeapError(gdb.GdbError):
    pass


def human(n):
    for unit, shift in (('G', 30), ('M', 20), ('K', 10)):
        if n >= 1 << shift:
            return ('%.1f' % (n / float(1 << shift))).replace('.0', '') + unit
    return str(n)


def popcount(x):
    return bin(x).count('1')


if hasattr(int, 'bit_count'):
    def popcount(x):
        return x.bit_count()


class Struct:
    """Reads chosen fields of a C struct from raw bytes, at offsets found in the debug info."""

    def __init__(self, typ, fields, what, optional=()):
        self.type = typ.strip_typedefs()
        self.size = self.type.sizeof
        self.fields = {}
        for path in list(fields) + list(optional):
            try:
                off, ftype = field_offset(self.type, path, what)
            except HeapError:
                if path in optional:
                    continue
                raise
            if ftype.code == gdb.TYPE_CODE_ARRAY:
                elem = ftype.target().strip_typedefs()
                count = ftype.sizeof // elem.sizeof
                fmt = '<%d%s' % (count, int_format(elem.sizeof, what, path))
                self.fields[path] = (off, struct.Struct(fmt), True)
            else:
                fmt = '<' + int_format(ftype.sizeof, what, path)
                self.fields[path] = (off, struct.Struct(fmt), False)

        self.compile()

    def compile(self):
        """One struct.Struct for all the fields (with pad bytes between), so decode is one call."""
        fmt, pos, self.order = '<', 0, []
        for name, (off, st, is_array) in sorted(self.fields.items(), key=lambda kv: kv[1][0]):
            if off < pos:
                raise HeapError('heap: overlapping fields in a liballocator structure')
            fmt += ('%dx' % (off - pos) if off > pos else '') + st.format.lstrip('<')
            n = len(st.unpack_from(bytes(st.size))) if is_array else 0
            self.order.append((name, n))
            pos = off + st.size
        self.whole = struct.Struct(fmt)

    def get(self, buf, name, base=0):
        off, st, is_array = self.fields[name]
        vals = st.unpack_from(buf, base + off)
        return vals if is_array else vals[0]

    def decode(self, buf, base=0):
        vals = self.whole.unpack_from(buf, base)
        out, i = {}, 0
        for name, n in self.order:
            if n:
                out[name] = vals[i:i + n]
                i += n
            else:
                out[name] = vals[i]
                i += 1
        return out


def int_format(size, what, path):
    fmt = {1: 'B', 2: 'H', 4: 'I', 8: 'Q'}.get(size)
    if fmt is None:
        raise HeapError('heap: %s.%s is %d bytes, not an integer or pointer: a liballocator '
                        'layout this script does not know' % (what, path, size))
    return fmt


def field_offset(typ, path, what):
    t = typ.strip_typedefs()
    off = 0
    for name in path.split('.'):
        for f in t.fields():
            if f.name == name:
                break
        else:
            raise HeapError('heap: liballocator\'s %s has no field "%s": a layout this script '
                            'does not know (update bin/allocator-gdb.py)' % (what, path))
        off += f.bitpos // 8
        t = f.type.strip_typedefs()
    return off, t


class Library:
    """liballocator in the selected inferior: its symbols, types and constants."""

    def __init__(self):
        self.inferior = gdb.selected_inferior()
        if not self.inferior.threads():
            raise HeapError('heap: no process or core file')
        self.objfile, layout_sym = self.find()
        self.layout = int(layout_sym.value())
        if self.layout not in SUPPORTED_LAYOUTS:
            raise HeapError('heap: liballocator in %s has heap layout version %d; this '
                            'allocator-gdb.py reads version%s %s (use the script installed with '
                            'that library)' % (self.objfile.filename, self.layout,
                                               's' if len(SUPPORTED_LAYOUTS) > 1 else '',
                                               ', '.join(map(str, SUPPORTED_LAYOUTS))))
        endian = gdb.execute('show endian', to_string=True)
        if 'big' in endian:
            raise HeapError('heap: big-endian targets are not supported')
        c = self.value('allocator_gdb_consts')
        # The page size: fixed at build time, or read at boot (pages_lg_page).
        self.lg_page = int(c['lg_page'])
        if self.lg_page == 0:
            self.lg_page = int(self.value('pages_lg_page'))
        self.page = 1 << self.lg_page
        self.chunk = 1 << int(c['lg_chunk'])
        self.lg_grain = int(c['rtree_lg_grain'])
        self.leaf_bits = int(c['rtree_leaf_bits'])
        self.root_bits = int(c['rtree_root_bits'])
        self.szind_shift = int(c['rtree_szind_shift'])
        self.nbins = 4 * (self.lg_page + 2) - 21
        self.nsizes = int(c['nsizes'])
        self.ptr_mask = int(c['rtree_ptr_mask'])
        self.slot_size = int(c['rtree_slot_size'])

        arenas = self.symbol('arenas')
        self.arenas_addr = int(arenas.value().address)
        self.arenas_max = arenas.type.sizeof // 8
        arena_t = arenas.type.strip_typedefs().target().target()
        self.arena = Struct(arena_t, ['ind', 'ex.mapped', 'ex.npages_active', 'ex.chunks',
                                      'ex.dirty.npages', 'ex.muzzy.npages',
                                      'ex.retained.npages', 'ex.bitmaps.bytes',
                                      'ex.idle_pages', 'large_allocated'], 'arena_t')
        self.arena_bins_off, bins_t = field_offset(arena_t, 'bins', 'arena_t')
        bin_t = bins_t.target()
        self.bin_size = bin_t.strip_typedefs().sizeof
        self.bin = Struct(bin_t, ['stats.curregs', 'stats.curslabs'], 'bin_t')
        off, chunks_t = field_offset(arena_t, 'ex.chunks', 'arena_t')
        self.chunk_s = Struct(chunks_t.target(), ['addr', 'size', 'next'], 'chunk_t')
        off, slabcur_t = field_offset(bin_t, 'slabcur', 'bin_t')
        extent_t = slabcur_t.target()
        # A slab's bitmap is its own, pointed to by the extent (slab.h): as many words as the
        # class's nregs needs.
        self.extent = Struct(extent_t, ['addr', 'bitmap', 'arena_ind', 'nfree', 'szind', 'state',
                                        'slab', 'size'], 'extent_t', optional=('prof_tctx',))

        tsd_live = self.symbol('tsd_live', static=True)
        self.tsd_live_addr = int(tsd_live.value().address)
        tsd_t = tsd_live.type.strip_typedefs().target()
        # tid (the thread's kernel id) and a flush in progress are read where the library has
        # them.
        self.tsd = Struct(tsd_t, ['list_next', 'arena', 'tcache.nhbins'], 'tsd_t',
                          optional=['owner_tid', 'tcache.flushing', 'tcache.nflushing'])
        self.tsd_bins_off, tbins_t = field_offset(tsd_t, 'tcache.bins', 'tsd_t')
        tcaches = self.symbol('tcaches', static=True)
        self.tcaches_addr = int(tcaches.value().address)
        self.tcaches_n = tcaches.type.sizeof // 8
        tcache_t = tcaches.type.strip_typedefs().target().target()
        self.tcache = Struct(tcache_t, ['nhbins', 'arena'], 'tcache_t',
                             optional=['flushing', 'nflushing'])
        self.tcache_bins_off, _ = field_offset(tcache_t, 'bins', 'tcache_t')
        cache_bin_t = tbins_t.target()
        self.cache_bin = Struct(cache_bin_t, ['stack', 'top', 'low', 'full'], 'cache_bin_t')
        self.cache_bins_n = tbins_t.sizeof // self.cache_bin.size

        infos = self.symbol('bin_infos')
        self.bin_info = Struct(infos.type.strip_typedefs().target(),
                               ['reg_size', 'nregs', 'slab_size'], 'bin_info_t')
        self.infos_addr = int(infos.value().address)
        rtree = self.symbol('rtree').value()
        self.rtree_root_addr = int(rtree['root'].address)
        self.rtree_zero_addr = int(rtree['zero_leaf'].address)
        self.index2size_addr = int(self.symbol('sz_index2size_tab').value().address)

    def find(self):
        for objfile in gdb.objfiles():
            for lookup in ('lookup_global_symbol', 'lookup_static_symbol'):
                try:
                    sym = getattr(objfile, lookup)('allocator_gdb_layout')
                except (AttributeError, gdb.error):
                    sym = None
                if sym is not None:
                    return objfile, sym
        libs = [o.filename for o in gdb.objfiles()
                if o.filename and os.path.basename(o.filename).startswith('liballocator')]
        if libs:
            lib = libs[0]
            has_debug = any(o.lookup_global_symbol('malloc') is not None for o in gdb.objfiles()
                            if o.filename == lib or (o.owner is not None and
                                                     o.owner.filename == lib))
            if has_debug:
                raise HeapError('heap: %s has no heap layout version (allocator_gdb_layout): a '
                                'liballocator older than this script' % lib)
            raise HeapError('heap: %s has no debug information (stripped?): the heap walk reads '
                            'liballocator\'s structures through it; build with -g (the default '
                            'configure flags) and install it unstripped, or install its separate '
                            'debug file' % lib)
        raise HeapError('heap: liballocator is not loaded in this program, or it was linked in '
                        'statically without debug information (no symbol allocator_gdb_layout)')

    def symbol(self, name, static=False):
        sym = None
        for o in [self.objfile] + [x for x in gdb.objfiles() if x.owner == self.objfile]:
            sym = o.lookup_static_symbol(name) if static else o.lookup_global_symbol(name)
            if sym is None and not static:
                sym = o.lookup_static_symbol(name)
            if sym is not None:
                return sym
        raise HeapError('heap: liballocator\'s debug information has no "%s": a layout this '
                        'script does not know' % name)

    def value(self, name, static=False):
        return self.symbol(name, static).value()

    def read(self, addr, size):
        try:
            return bytes(self.inferior.read_memory(addr, size))
        except gdb.MemoryError:
            raise MemoryError('cannot read %d bytes at 0x%x' % (size, addr))

    def word(self, addr):
        return struct.unpack('<Q', self.read(addr, 8))[0]

    def u32(self, addr):
        return struct.unpack('<I', self.read(addr, 4))[0]

    # The radix tree: entries of consecutive pages from addr (one read per leaf; a page is
    # 2^(lg_page - lg_grain) slots, all written alike: the first one's entry is the page's).
    def rtree_entries(self, addr, npages):
        step = 1 << (self.lg_page - self.lg_grain)
        return self.rtree_grain_entries(addr, npages * step)[::step]

    def rtree_grain_entries(self, addr, npages):
        out = []
        nkeys = 1 << (self.root_bits + self.leaf_bits)
        leaf_n = 1 << self.leaf_bits
        page = addr >> self.lg_grain
        while npages > 0:
            key = page & (nkeys - 1)
            slot = key >> self.leaf_bits
            first = key & (leaf_n - 1)
            n = min(npages, leaf_n - first)
            off = self.word(self.rtree_root_addr + 8 * slot)
            leaf = (self.rtree_zero_addr + off) & 0xffffffffffffffff
            words = self.slot_size // 8
            raw = struct.unpack('<%dQ' % (n * words), self.read(leaf + self.slot_size * first,
                                                                 self.slot_size * n))
            out.extend(raw[::words])
            page += n
            npages -= n
        return out


class Heap:
    """One walk of the heap: arenas, extents, slabs, large blocks and thread caches."""

    def __init__(self, lib, want_regions=True):
        self.lib = lib
        self.warnings = []
        t0 = time.time()
        self.sizes = struct.unpack('<%dQ' % lib.nsizes,
                                   lib.read(lib.index2size_addr, 8 * lib.nsizes))
        raw = lib.read(lib.infos_addr, lib.bin_info.size * lib.nbins)
        self.infos = [lib.bin_info.decode(raw, i * lib.bin_info.size) for i in range(lib.nbins)]
        self.initialised = self.sizes[0] != 0
        self.arenas = []
        self.slabs = []      # (addr, szind, free-bitmap int, arena, extent address, size)
        self.large = []      # (addr, usize, szind, arena, extent address)
        # Sampled small blocks (heap profiling): each alone at the start of a large extent of
        # its own, whose radix-tree entry has the prof bit and names the block's small class.
        self.sampled = []    # (addr, usize, szind, arena, extent address, extent size)
        # Free extents of sampled small blocks a thread keeps for its next one (prof_tctx is
        # EXTENT_PROF_SPARE, edata.h): no block, but large to their arena.
        self.spares = []     # (addr, arena, extent address, extent size)
        self.free = []       # (addr, size, state, arena, extent address)
        self.chunks = []     # (addr, size, arena)
        self.read_base()
        self.read_arenas()
        self.read_caches()
        self.count()
        self.seconds = time.time() - t0

    def warn(self, msg):
        self.warnings.append(msg)

    def read_base(self):
        lib = self.lib
        self.base_allocated = int(lib.value('base_allocated', static=True))
        self.base_mapped = int(lib.value('base_mapped', static=True))

    def read_arenas(self):
        lib = self.lib
        n = int(lib.value('narenas_total'))
        n = max(1, min(n, lib.arenas_max))
        ptrs = struct.unpack('<%dQ' % n, lib.read(lib.arenas_addr, 8 * n))
        for ind, p in enumerate(ptrs):
            if p == 0:
                continue
            try:
                self.read_arena(ind, p)
            except MemoryError as e:
                self.warn('arena %d at 0x%x: %s; its blocks are left out' % (ind, p, e))

    def read_arena(self, ind, addr):
        lib = self.lib
        raw = lib.read(addr, lib.arena.size)
        a = lib.arena.decode(raw)
        arena = {
            'ind': ind, 'addr': addr,
            # Idle slabs (extent.h) are active extents holding no block: reported as dirty
            # pages, as mallctl's statistics do; the walk's checks use the raw counts.
            'active': (a['ex.npages_active'] - a['ex.idle_pages']) << lib.lg_page,
            'dirty': (a['ex.dirty.npages'] + a['ex.idle_pages']) << lib.lg_page,
            'idle': a['ex.idle_pages'] << lib.lg_page,
            'muzzy': a['ex.muzzy.npages'] << lib.lg_page,
            'retained': a['ex.retained.npages'] << lib.lg_page,
            'chunks_mapped': a['ex.mapped'],
            'large_allocated': a['large_allocated'],
            'nchunks': 0, 'nextents': 0, 'bitmap_bytes': a['ex.bitmaps.bytes'],
            'curregs': [lib.bin.get(raw, 'stats.curregs', lib.arena_bins_off + b * lib.bin_size)
                        for b in range(lib.nbins)],
        }
        if a['ind'] != ind:
            self.warn('arenas[%d] at 0x%x says it is arena %d' % (ind, addr, a['ind']))
        self.arenas.append(arena)
        c = a['ex.chunks']
        seen = 0
        while c != 0:
            seen += 1
            if seen > MAX_LIST:
                self.warn('arena %d: chunk list longer than %d: a cycle?' % (ind, MAX_LIST))
                break
            ch = lib.chunk_s.decode(lib.read(c, lib.chunk_s.size))
            arena['nchunks'] += 1
            self.chunks.append((ch['addr'], ch['size'], ind))
            try:
                self.walk_chunk(arena, ch['addr'], ch['size'])
            except MemoryError as e:
                self.warn('arena %d, chunk 0x%x: %s' % (ind, ch['addr'], e))
            c = ch['next']

    def walk_chunk(self, arena, base, size):
        lib = self.lib
        page = lib.page
        npages = size >> lib.lg_page
        ents = lib.rtree_entries(base, npages)
        i = 0
        while i < npages:
            ent = ents[i]
            eaddr = ent & lib.ptr_mask
            pos = base + i * page
            if eaddr == 0:
                # No extent starts here: a structure caught mid-update, or damage.
                j = i + 1
                while j < npages and ents[j] & lib.ptr_mask == 0:
                    j += 1
                self.warn('arena %d: pages 0x%x..0x%x of chunk 0x%x have no extent in the radix '
                          'tree' % (arena['ind'], pos, base + j * page, base))
                i = j
                continue
            e = lib.extent.decode(lib.read(eaddr, lib.extent.size))
            if e['addr'] != pos or e['size'] == 0 or e['size'] % page or \
                    pos + e['size'] > base + size:
                self.warn('arena %d: radix tree entry for 0x%x names extent 0x%x, which says '
                          '[0x%x, +%d)' % (arena['ind'], pos, eaddr, e['addr'], e['size']))
                i += 1
                continue
            arena['nextents'] += 1
            state = e['state']
            if state != 0:
                self.free.append((pos, e['size'], STATES[state] if state < 4 else '?%d' % state,
                                  arena['ind'], eaddr))
            elif e['slab']:
                szind = e['szind']
                if szind >= lib.nbins:
                    self.warn('slab extent 0x%x has class %d' % (eaddr, szind))
                else:
                    nregs = self.infos[szind]['nregs']
                    if e['bitmap'] == 0:
                        self.warn('slab 0x%x (extent 0x%x) has no bitmap' % (pos, eaddr))
                        i += e['size'] >> lib.lg_page
                        continue
                    raw = lib.read(e['bitmap'], 8 * ((nregs + 63) // 64))
                    bits = int.from_bytes(raw, 'little') & ((1 << nregs) - 1)
                    nfree = popcount(bits)
                    if nfree != e['nfree']:
                        self.warn('slab 0x%x: bitmap has %d free regions, nfree says %d'
                                  % (pos, nfree, e['nfree']))
                    self.slabs.append((pos, szind, bits, arena['ind'], eaddr, e['size']))
            elif ent & RTREE_PROF_BIT and e.get('prof_tctx') == EXTENT_PROF_SPARE:
                self.spares.append((pos, arena['ind'], eaddr, e['size']))
            elif ent & RTREE_PROF_BIT and 0 < (ent >> lib.szind_shift) <= lib.nbins:
                szind = (ent >> lib.szind_shift) - 1
                self.sampled.append((pos, self.sizes[szind], szind, arena['ind'], eaddr,
                                     e['size']))
            else:
                # A large block, or a sampled one of a large class (its extent is its size).
                szind = e['szind']
                usize = self.sizes[szind] if szind < lib.nsizes else e['size']
                self.large.append((pos, usize, szind, arena['ind'], eaddr))
            i += e['size'] >> lib.lg_page

    def read_cache_bins(self, addr, nhbins, owner):
        lib = self.lib
        cb = lib.cache_bin
        n = min(nhbins + 1, lib.cache_bins_n)
        raw = lib.read(addr, cb.size * n)
        total = 0
        for bi in range(1, n):
            stack = cb.get(raw, 'stack', bi * cb.size)
            # top, low and full are area indices: the bin holds stack[0, top - low), at most
            # full - low
            low = cb.get(raw, 'low', bi * cb.size)
            ncached = cb.get(raw, 'top', bi * cb.size) - low
            nmax = cb.get(raw, 'full', bi * cb.size) - low
            if ncached == 0:
                continue
            if ncached < 0 or ncached > MAX_CACHED or ncached > nmax + 1:
                self.warn('%s: cache bin of class %d says it holds %d blocks (max %d)'
                          % (owner['name'], bi - 1, ncached, nmax))
                continue
            try:
                ptrs = struct.unpack('<%dQ' % ncached, lib.read(stack, 8 * ncached))
            except MemoryError as e:
                self.warn('%s: %s' % (owner['name'], e))
                continue
            for p in ptrs:
                if p in self.cached:
                    self.warn('0x%x is cached twice (%s and %s)'
                              % (p, self.cached[p][1]['name'], owner['name']))
                self.cached[p] = (bi - 1, owner)
            owner['classes'][bi - 1] = ncached
            total += ncached
        owner['count'] = total
        owner['bytes'] = sum(self.sizes[c] * k for c, k in owner['classes'].items())

    def read_flushing(self, d, prefix, owner):
        """A flush in progress: regions taken out of a bin, not all back in their arenas yet."""
        ptr, n = d.get(prefix + 'flushing'), d.get(prefix + 'nflushing')
        if not ptr or not n:
            return
        if n > MAX_CACHED:
            self.warn('%s: a flush in progress of %d blocks?' % (owner['name'], n))
            return
        try:
            for p in struct.unpack('<%dQ' % n, self.lib.read(ptr, 8 * n)):
                self.flushing.append((p, owner))
        except MemoryError as e:
            self.warn('%s: %s' % (owner['name'], e))

    def read_caches(self):
        lib = self.lib
        self.cached = {}
        self.caches = []
        self.flushing = []
        lwps = {} if 'owner_tid' in lib.tsd.fields else self.thread_map()
        t = lib.word(lib.tsd_live_addr)
        seen = 0
        while t != 0:
            seen += 1
            if seen > MAX_LIST:
                self.warn('thread list longer than %d: a cycle?' % MAX_LIST)
                break
            try:
                d = lib.tsd.decode(lib.read(t, lib.tsd.size))
            except MemoryError as e:
                self.warn('thread state 0x%x: %s' % (t, e))
                break
            arena = self.arena_index(d['arena'])
            if d.get('owner_tid'):
                lwps[t] = d['owner_tid']
            name = 'thread %s' % lwps[t] if t in lwps else 'thread state 0x%x' % t
            owner = {'name': name, 'kind': 'thread', 'tsd': t, 'arena': arena, 'classes': {}}
            if t in lwps:
                owner['lwp'] = lwps[t]
            self.caches.append(owner)
            try:
                self.read_cache_bins(t + lib.tsd_bins_off, d['tcache.nhbins'], owner)
                self.read_flushing(d, 'tcache.', owner)
            except MemoryError as e:
                self.warn('%s: %s' % (name, e))
            t = d['list_next']
        ptrs = struct.unpack('<%dQ' % lib.tcaches_n, lib.read(lib.tcaches_addr, 8 * lib.tcaches_n))
        for ind, p in enumerate(ptrs):
            if p == 0:
                continue
            try:
                d = lib.tcache.decode(lib.read(p, lib.tcache.size))
                owner = {'name': 'explicit cache %d' % ind, 'kind': 'explicit', 'index': ind,
                         'arena': self.arena_index(d['arena']), 'classes': {}}
                self.caches.append(owner)
                self.read_cache_bins(p + lib.tcache_bins_off, d['nhbins'], owner)
                self.read_flushing(d, '', owner)
            except MemoryError as e:
                self.warn('explicit cache %d: %s' % (ind, e))

    def arena_index(self, addr):
        for a in self.arenas:
            if a['addr'] == addr:
                return a['ind']
        return None

    def thread_map(self):
        """Thread state address -> LWP, by reading each thread's tsd_tls (needs TLS support)."""
        out = {}
        try:
            sym = self.lib.symbol('tsd_tls')
        except HeapError:
            return out
        selected = gdb.selected_thread()
        try:
            frame = gdb.selected_frame()
        except gdb.error:
            frame = None
        try:
            for th in self.lib.inferior.threads():
                try:
                    th.switch()
                    out[int(sym.value()['tsd'])] = th.ptid[1]
                except gdb.error:
                    pass
        finally:
            if selected is not None and selected.is_valid():
                selected.switch()
                if frame is not None and frame.is_valid():
                    frame.select()
        return out

    def count(self):
        lib = self.lib
        n = lib.nsizes
        self.slab_used = [0] * lib.nbins
        self.slab_count = [0] * lib.nbins
        self.live = [0] * n
        self.ncached = [0] * n
        per_arena = {a['ind']: a for a in self.arenas}
        for a in self.arenas:
            a.update(allocated=0, tcached=0, tcached_count=0, large_bytes=0, used_regs=[0] * lib.nbins,
                     walked={'dirty': 0, 'muzzy': 0, 'retained': 0}, walked_active=0)
        for addr, szind, bits, arena, eaddr, size in self.slabs:
            used = self.infos[szind]['nregs'] - popcount(bits)
            self.slab_used[szind] += used
            self.slab_count[szind] += 1
            a = per_arena[arena]
            a['used_regs'][szind] += used
            a['allocated'] += used * self.sizes[szind]
            a['walked_active'] += size
        for addr, usize, szind, arena, eaddr in self.large:
            if szind < n:
                self.live[szind] += 1
            a = per_arena[arena]
            a['allocated'] += usize
            a['large_bytes'] += usize
            a['walked_active'] += usize
        for addr, size, state, arena, eaddr in self.free:
            if state in per_arena[arena]['walked']:
                per_arena[arena]['walked'][state] += size
        for i in range(lib.nbins):
            self.live[i] = self.slab_used[i]
        # Sampled small blocks: live blocks of their class; the arena counts their extents as
        # large (stats.allocated too), so the rest of each extent is counted apart.
        self.nsampled = [0] * n
        self.sampled_overhead = 0
        for addr, usize, szind, arena, eaddr, esize in self.sampled:
            self.live[szind] += 1
            self.nsampled[szind] += 1
            self.sampled_overhead += esize - usize
            a = per_arena[arena]
            a['allocated'] += usize
            a['large_bytes'] += esize
            a['walked_active'] += esize
        for addr, arena, eaddr, esize in self.spares:
            self.sampled_overhead += esize
            a = per_arena[arena]
            a['large_bytes'] += esize
            a['walked_active'] += esize
        # Cached blocks: count them apart, and check each is where a block of its class starts.
        self.index()
        for p, (szind, owner) in self.cached.items():
            where = self.locate(p)
            if where is None or where['start'] != p or where['szind'] != szind or \
                    where['status'] == 'free':
                self.warn('%s caches 0x%x (class %d), which is not an allocated block of that '
                          'class' % (owner['name'], p, self.sizes[szind]))
                continue
            self.ncached[szind] += 1
            self.live[szind] -= 1
            a = per_arena[where['arena']]
            a['allocated'] -= self.sizes[szind]
            a['tcached'] += self.sizes[szind]
            a['tcached_count'] += 1
        # Blocks a flush took out of a cache: free to the program like cached ones, until the
        # flush gives each back to its arena (those already back are free in their slabs).
        for p, owner in self.flushing:
            where = self.locate(p)
            if where is None or where['start'] != p or where['status'] != 'live':
                continue
            szind = where['szind']
            self.cached[p] = (szind, owner)
            owner['classes'][szind] = owner['classes'].get(szind, 0) + 1
            owner['count'] = owner.get('count', 0) + 1
            owner['bytes'] = owner.get('bytes', 0) + self.sizes[szind]
            owner['flushing'] = owner.get('flushing', 0) + 1
            self.ncached[szind] += 1
            self.live[szind] -= 1
            a = per_arena[where['arena']]
            a['allocated'] -= self.sizes[szind]
            a['tcached'] += self.sizes[szind]
            a['tcached_count'] += 1
        for a in self.arenas:
            for b in range(lib.nbins):
                if a['used_regs'][b] != a['curregs'][b]:
                    self.warn('arena %d, class %d: slab bitmaps hold %d regions, the bin counts %d'
                              % (a['ind'], self.sizes[b], a['used_regs'][b], a['curregs'][b]))
            if a['large_bytes'] != a['large_allocated']:
                self.warn('arena %d: large blocks walked %d bytes, the arena counts %d'
                          % (a['ind'], a['large_bytes'], a['large_allocated']))
            if a['walked_active'] != a['active'] + a['idle']:
                self.warn('arena %d: active extents walked %d bytes, the arena counts %d'
                          % (a['ind'], a['walked_active'], a['active'] + a['idle']))
            for s in ('dirty', 'muzzy', 'retained'):
                counted = a[s] - a['idle'] if s == 'dirty' else a[s]
                if a['walked'][s] != counted:
                    self.warn('arena %d: %s extents walked %d bytes, the arena counts %d'
                              % (a['ind'], s, a['walked'][s], counted))
            a['mapped'] = a['active'] + a['dirty'] + a['muzzy']
            a['resident'] = a['mapped']

    # Every extent sorted by address, for lookups of addresses.
    def index(self):
        ext = []
        for s in self.slabs:
            ext.append((s[0], s[5], 'slab', s))
        for l in self.large:
            ext.append((l[0], l[1], 'large', l))
        for l in self.sampled:
            ext.append((l[0], l[5], 'sampled', l))
        for l in self.spares:
            ext.append((l[0], l[3], 'spare', l))
        for f in self.free:
            ext.append((f[0], f[1], 'free', f))
        ext.sort(key=lambda x: x[0])
        self.extents = ext
        self.extent_starts = [x[0] for x in ext]

    def locate(self, addr):
        i = bisect.bisect_right(self.extent_starts, addr) - 1
        if i < 0:
            return None
        start, size, kind, rec = self.extents[i]
        if addr >= start + size:
            return None
        if kind == 'slab':
            _, szind, bits, arena, eaddr, size = rec
            reg = self.infos[szind]['reg_size']
            idx = (addr - start) // reg
            if idx >= self.infos[szind]['nregs']:
                return {'start': None, 'szind': szind, 'status': 'slab tail', 'arena': arena,
                        'kind': 'slab', 'extent': rec}
            bstart = start + idx * reg
            if bits >> idx & 1:
                status = 'free'
            elif bstart in self.cached:
                status = 'cached'
            else:
                status = 'live'
            return {'start': bstart, 'szind': szind, 'status': status, 'arena': arena,
                    'kind': 'slab', 'extent': rec, 'region': idx}
        if kind == 'spare':
            return {'start': None, 'szind': None, 'status': 'free', 'arena': rec[1],
                    'kind': 'spare', 'extent': rec}
        if kind == 'sampled':
            addr0, usize, szind, arena, eaddr, esize = rec
            return {'start': addr0 if addr < addr0 + usize else None, 'szind': szind,
                    'status': 'live', 'arena': arena, 'kind': 'sampled', 'extent': rec}
        if kind == 'large':
            addr0, usize, szind, arena, eaddr = rec
            status = 'cached' if addr0 in self.cached else 'live'
            return {'start': addr0, 'szind': szind, 'status': status, 'arena': arena,
                    'kind': 'huge' if usize > self.lib.chunk else 'large', 'extent': rec}
        return {'start': None, 'szind': None, 'status': 'free', 'arena': rec[3],
                'kind': 'free extent', 'extent': rec}

    # ---- results --------------------------------------------------------------------------

    def classes(self):
        out = []
        total = sum(self.live[i] * self.sizes[i] for i in range(len(self.sizes)))
        for i, size in enumerate(self.sizes):
            slabs = self.slab_count[i] if i < self.lib.nbins else 0
            if self.live[i] == 0 and self.ncached[i] == 0 and slabs == 0:
                continue
            c = {'size': size, 'index': i, 'small': i < self.lib.nbins, 'count': self.live[i],
                 'bytes': self.live[i] * size,
                 'percent': round(100.0 * self.live[i] * size / total, 2) if total else 0.0,
                 'tcached': self.ncached[i], 'tcached_bytes': self.ncached[i] * size,
                 'sampled': self.nsampled[i]}
            if i < self.lib.nbins:
                nregs = self.infos[i]['nregs']
                c.update(slabs=slabs, regions_per_slab=nregs,
                         fill=round(100.0 * self.slab_used[i] / (slabs * nregs), 2)
                         if slabs else 0.0)
            out.append(c)
        return out

    def totals(self):
        t = {}
        for k in ('allocated', 'tcached', 'tcached_count', 'active', 'dirty', 'muzzy',
                  'retained'):
            t[k] = sum(a[k] for a in self.arenas)
        t['metadata'] = self.base_allocated
        t['mapped'] = t['active'] + t['dirty'] + t['muzzy'] + self.base_mapped
        page = self.lib.page
        t['resident'] = t['active'] + t['dirty'] + t['muzzy'] + \
            (self.base_allocated + page - 1) // page * page
        t['count'] = sum(self.live)
        t['sampled_count'] = len(self.sampled)
        t['sampled_overhead'] = self.sampled_overhead
        return t

    def large_blocks(self):
        out = []
        for addr, usize, szind, arena, eaddr in sorted(self.large):
            out.append({'addr': addr, 'size': usize, 'arena': arena, 'extent': eaddr,
                        'huge': usize > self.lib.chunk, 'cached': addr in self.cached})
        return out

    def to_json(self):
        t = self.totals()
        d = {'layout': self.lib.layout, 'page': self.lib.page, 'chunk': self.lib.chunk}
        d.update(t)
        d['arenas'] = [{k: a[k] for k in ('ind', 'allocated', 'tcached', 'active', 'dirty',
                                          'muzzy', 'retained', 'mapped', 'resident')}
                       for a in self.arenas]
        for a, src in zip(d['arenas'], self.arenas):
            a['chunks'] = src['nchunks']
            a['metadata'] = self.arena_metadata(src)
        d['classes'] = self.classes()
        d['large'] = self.large_blocks()
        d['sampled'] = [{'addr': addr, 'size': usize, 'arena': arena, 'extent': eaddr,
                         'extent_size': esize}
                        for addr, usize, szind, arena, eaddr, esize in sorted(self.sampled)]
        d['tcaches'] = []
        for o in self.caches:
            e = {k: o[k] for k in ('name', 'kind', 'arena', 'count', 'bytes') if k in o}
            for k in ('lwp', 'tsd', 'index', 'flushing'):
                if k in o:
                    e[k] = o[k]
            e['classes'] = [{'size': self.sizes[c], 'count': n}
                            for c, n in sorted(o['classes'].items())]
            d['tcaches'].append(e)
        d['warnings'] = self.warnings
        d['walk_seconds'] = round(self.seconds, 4)
        return d

    def arena_metadata(self, a):
        # The arena's own records (its struct, extent and chunk records, slab bitmaps); base's
        # total also holds the radix tree, thread states and caches.
        return self.lib.arena.size + a['nextents'] * self.lib.extent.size + \
            a['nchunks'] * self.lib.chunk_s.size + a['bitmap_bytes']


# ---- the command ----------------------------------------------------------------------------

def print_summary(h, cap):
    lib = h.lib
    t = h.totals()
    print('liballocator heap: layout %d, %d-byte pages, %d arena%s, %d thread cache%s; walk %.3f s'
          % (lib.layout, lib.page, len(h.arenas), '' if len(h.arenas) == 1 else 's',
             len(h.caches), '' if len(h.caches) == 1 else 's', h.seconds))
    if not h.initialised:
        print('(the allocator has not initialised yet)')
    cols = ('mapped', 'resident', 'active', 'allocated', 'tcached', 'dirty', 'muzzy', 'retained',
            'metadata')
    print('%-10s' % '' + ''.join('%11s' % c for c in cols))
    for a in h.arenas:
        row = dict(a, metadata=h.arena_metadata(a))
        print('%-10s' % ('arena %d' % a['ind']) + ''.join('%11s' % human(row[c]) for c in cols))
    print('%-10s' % 'total' + ''.join('%11s' % human(t[c]) for c in cols))
    print('(arena rows: mapped and resident without metadata, metadata = arena and extent '
          'records and slab bitmaps; total: base\'s metadata included)')

    print()
    print('size classes: live blocks (thread-cached blocks apart)')
    print('%10s %10s %12s %7s %8s %6s %6s %8s %12s' % ('size', 'live', 'bytes', '%alloc',
                                                     'slabs', 'regs', 'fill', 'cached',
                                                     'cached B'))
    for c in h.classes():
        if c['small']:
            slabs = '%8d %6d %5.1f%%' % (c['slabs'], c['regions_per_slab'], c['fill'])
        else:
            slabs = '%8s %6s %6s' % ('-', '-', '-')
        print('%10d %10d %12d %6.1f%% %s %8d %12d' % (c['size'], c['count'], c['bytes'],
                                                     c['percent'], slabs, c['tcached'],
                                                     c['tcached_bytes']))
    print('%10s %10d %12d' % ('total', t['count'], t['allocated']))
    if h.sampled or h.spares:
        print('(%d of the small blocks are sampled by the heap profiler, each in an extent of its '
              'own; those extents, and %d kept free for the next ones, hold %d bytes besides the '
              'blocks, counted as large by the arenas)'
              % (len(h.sampled), len(h.spares), h.sampled_overhead))

    large = h.large_blocks()
    print()
    nhuge = sum(1 for b in large if b['huge'])
    print('large and huge blocks: %d large, %d huge (larger than a %s chunk)'
          % (len(large) - nhuge, nhuge, human(lib.chunk)))
    shown = large if cap is None else sorted(large, key=lambda b: -b['size'])[:cap]
    for b in sorted(shown, key=lambda b: b['addr']):
        print('  0x%x %12d  %-5s arena %d%s' % (b['addr'], b['size'],
                                                'huge' if b['huge'] else 'large', b['arena'],
                                                '  (in a thread cache)' if b['cached'] else ''))
    if len(shown) < len(large):
        print('  ... %d more (the %d largest shown; `heap all` lists every one)'
              % (len(large) - len(shown), len(shown)))

    print()
    print('thread caches: blocks free to the program, still allocated in their arenas')
    total_n = total_b = 0
    for o in h.caches:
        if o.get('count', 0) == 0:
            print('  %-30s arena %s: empty' % (o['name'], o['arena']))
            continue
        parts = ', '.join('%d x%d' % (h.sizes[c], n) for c, n in sorted(o['classes'].items()))
        if o.get('flushing'):
            parts += ' (%d of them being flushed)' % o['flushing']
        print('  %-30s arena %s: %d blocks, %d bytes: %s' % (o['name'], o['arena'], o['count'],
                                                            o['bytes'], parts))
        total_n += o['count']
        total_b += o['bytes']
    print('  total: %d blocks, %d bytes' % (total_n, total_b))
    print_warnings(h)


def print_warnings(h):
    if h.warnings:
        print()
        print('warnings (%d): a process stopped inside the allocator, or a damaged heap'
              % len(h.warnings))
        for w in h.warnings[:50]:
            print('  ' + w)
        if len(h.warnings) > 50:
            print('  ... %d more (heap json has them all)' % (len(h.warnings) - 50))


def print_block(h, addr):
    w = h.locate(addr)
    if w is None:
        for cbase, csize, arena in h.chunks:
            if cbase <= addr < cbase + csize:
                print('0x%x: in a chunk of arena %d but in no extent (see the warnings)'
                      % (addr, arena))
                print_warnings(h)
                return
        print('0x%x: not in liballocator\'s heap (no arena chunk holds it)' % addr)
        return
    ext = w['extent']
    if w['kind'] == 'spare':
        saddr, arena, eaddr, esize = ext
        print('0x%x: in the free extent [0x%x, 0x%x) of a sampled block, kept by a thread for its '
              'next one (heap profiling), arena %d, extent record 0x%x'
              % (addr, saddr, saddr + esize, arena, eaddr))
        return
    if w['kind'] == 'free extent':
        faddr, fsize, state, arena, eaddr = ext
        print('0x%x: in a free (%s) extent [0x%x, 0x%x) of %d bytes, arena %d, extent record 0x%x'
              % (addr, state, faddr, faddr + fsize, fsize, arena, eaddr))
        return
    size = h.sizes[w['szind']]
    if w['kind'] == 'sampled':
        saddr, usize, szind, arena, eaddr, esize = ext
        where = 'an extent of its own [0x%x, 0x%x) (sampled by the heap profiler), extent ' \
            'record 0x%x' % (saddr, saddr + esize, eaddr)
        if w['start'] is None:
            print('0x%x: past the end of the sampled %d-byte block 0x%x, in %s, arena %d'
                  % (addr, size, saddr, where, arena))
            return
        print('0x%x: block 0x%x + %d, size class %d, live (allocated)' % (addr, saddr,
                                                                          addr - saddr, size))
        print('  arena %d, %s' % (arena, where))
        return
    if w['kind'] == 'slab':
        saddr, szind, bits, arena, eaddr, ssize = ext
        if w['start'] is None:
            print('0x%x: in the unused tail of a slab of class %d, arena %d' % (addr, size, arena))
            return
        info = h.infos[szind]
        slab = 'slab [0x%x, 0x%x) region %d of %d (%d free), extent record 0x%x' % (
            saddr, saddr + ssize, w['region'], info['nregs'], popcount(bits), eaddr)
    else:
        saddr, usize, szind, arena, eaddr = ext
        slab = '%s extent [0x%x, 0x%x), extent record 0x%x' % (w['kind'], saddr, saddr + usize,
                                                             eaddr)
    status = {'live': 'live (allocated)', 'free': 'free',
              'cached': 'free to the program, held in %s' % (
                  h.cached[w['start']][1]['name'] if w['start'] in h.cached else '?')}
    print('0x%x: block 0x%x + %d, size class %d, %s' % (addr, w['start'], addr - w['start'], size,
                                                         status[w['status']]))
    print('  arena %d, %s' % (arena, slab))


def print_top(h, n):
    blocks = [(usize, addr) for addr, usize, szind, arena, e in h.large if addr not in h.cached]
    blocks.sort(reverse=True)
    blocks = blocks[:n]
    if len(blocks) < n:
        # Small blocks, from the largest class down (sampled ones first in their class).
        by_class = {}
        for s in h.slabs:
            by_class.setdefault(s[1], []).append(s)
        sampled = {}
        for s in h.sampled:
            sampled.setdefault(s[2], []).append(s[0])
        for szind in sorted(set(by_class) | set(sampled), reverse=True):
            for p in sorted(sampled.get(szind, [])):
                if len(blocks) < n:
                    blocks.append((h.sizes[szind], p))
            if len(blocks) == n:
                break
            by_class.setdefault(szind, [])
            reg = h.infos[szind]['reg_size']
            nregs = h.infos[szind]['nregs']
            for saddr, _, bits, _, _, _ in sorted(by_class[szind]):
                for i in range(nregs):
                    if bits >> i & 1:
                        continue
                    p = saddr + i * reg
                    if p not in h.cached:
                        blocks.append((reg, p))
                        if len(blocks) == n:
                            break
                if len(blocks) == n:
                    break
            if len(blocks) == n:
                break
    print('the %d largest live blocks:' % len(blocks))
    for size, addr in blocks:
        w = h.locate(addr)
        print('  0x%x %12d  %-5s arena %d' % (addr, size, w['kind'], w['arena']))


class HeapCommand(gdb.Command):
    """liballocator's heap, read from memory only (works on core files).

heap              summary per arena, size classes, large and huge blocks, thread caches
heap all          the same, listing every large block
heap json         the same data as one JSON object
heap block ADDR   the block ADDR falls in: start, size class, live or free, arena, slab/extent
heap top N        the N largest live blocks"""

    def __init__(self):
        super(HeapCommand, self).__init__('heap', gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        sub = args[0] if args else ''
        lib = Library()
        try:
            if sub in ('', 'all'):
                print_summary(Heap(lib), None if sub == 'all' else LARGE_LIST_CAP)
            elif sub == 'json':
                print(json.dumps(Heap(lib).to_json(), sort_keys=True))
            elif sub == 'block':
                if len(args) != 2:
                    raise HeapError('usage: heap block ADDRESS')
                addr = int(gdb.parse_and_eval(args[1]).cast(gdb.lookup_type('unsigned long')))
                print_block(Heap(lib), addr)
            elif sub == 'top':
                try:
                    n = int(args[1]) if len(args) > 1 else 10
                except ValueError:
                    n = 0
                if len(args) > 2 or n <= 0:
                    raise HeapError('usage: heap top N (N > 0)')
                print_top(Heap(lib), n)
            else:
                raise HeapError('heap: unknown subcommand "%s" (heap, heap all, heap json, '
                                'heap block ADDRESS, heap top N)' % sub)
        except MemoryError as e:
            raise HeapError('heap: %s (a damaged heap, or a core without that memory)' % e)


HeapCommand()
