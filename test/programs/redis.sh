#!/bin/bash
# Debian's redis-server, which is linked with libjemalloc and drives it through mallctl and
# malloc_stats_print, run under liballocator: redis-benchmark (SET, GET, LPUSH, LPOP, pipelined)
# against it, then what redis reports about its allocator must come from liballocator:
#   - INFO memory: allocator_allocated, allocator_active, allocator_resident (read by redis with
#     mallctl "stats.*" after an "epoch" write) are non-zero, ordered allocated <= active <=
#     resident, and agree with the totals in our statistics;
#   - MEMORY MALLOC-STATS (malloc_stats_print) prints liballocator's statistics;
#   - MEMORY PURGE (mallctl "arena.<arenas.narenas>.purge", jemalloc's name for all arenas) is OK;
#   - SHUTDOWN NOSAVE ends the server cleanly, and its statistics at exit show it was served.
# The server listens on a free loopback port with no persistence, in a scratch directory, and is
# always killed at the end. Skips when redis-server or redis-tools are not installed.
. "$(dirname "$0")/common.bash"

need_tool redis-server redis-server
need_tool redis-cli redis-tools
need_tool redis-benchmark redis-tools
server_bin=$(command -v redis-server)
libs=$(ldd "$server_bin" 2>/dev/null)
if [[ $libs != *libjemalloc* ]]; then
    skip "$server_bin is not linked with libjemalloc, so it does not use the jemalloc interface"
fi

pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null
    fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# A port nothing listens on.
port=
for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        port=$p
        break
    fi
done
[ -n "$port" ] || fail "no free loopback port found"

cli() { timeout 20 redis-cli -h 127.0.0.1 -p "$port" "$@"; }

MALLOC_CONF=stats_print:true "$ALLOCATOR_SH" "$server_bin" --port "$port" --bind 127.0.0.1 \
    --save '' --appendonly no --dir "$TEST_TMPDIR" --daemonize no \
    --logfile "$TEST_TMPDIR/redis.log" >"$TEST_TMPDIR/server.out" 2>"$TEST_TMPDIR/server.err" &
pid=$!
for _ in $(seq 1 300); do
    [ "$(cli ping 2>/dev/null)" = PONG ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ "$(cli ping 2>/dev/null)" != PONG ]; then
    tail -20 "$TEST_TMPDIR/redis.log" "$TEST_TMPDIR/server.err" >&2
    fail "redis-server did not answer PING on port $port"
fi
maps=$(cat "/proc/$pid/maps")
[[ $maps == *liballocator* ]] || fail "liballocator is not mapped in redis-server"
version=$(cli info server | sed -n 's/^redis_version://p' | tr -d '\r')
echo "redis-server $version on port $port, pid $pid"

timeout 60 redis-benchmark -h 127.0.0.1 -p "$port" -n 20000 -q -t set,get,lpush,lpop -P 8 \
    >"$TEST_TMPDIR/bench.out" 2>&1 || {
    cat "$TEST_TMPDIR/bench.out" >&2
    fail "redis-benchmark failed"
}
tr '\r' '\n' <"$TEST_TMPDIR/bench.out" >"$TEST_TMPDIR/bench.txt"
grep -E 'requests per second' "$TEST_TMPDIR/bench.txt" | sed 's/^ *//'
for t in SET GET LPUSH LPOP; do
    grep -q "^ *$t: .*requests per second" "$TEST_TMPDIR/bench.txt" ||
        fail "redis-benchmark reported no result for $t"
done
[ "$(cli dbsize | tr -d '\r')" -ge 1 ] || fail "the benchmark left no keys"

# INFO memory: redis refreshes its allocator figures in its 100 ms cron, which a busy machine
# may delay: read them until two reads 0.2 s apart agree (at most 30 s), so they are the
# figures of the idle server and not of the benchmark's last moments.
info() { sed -n "s/^$1://p" "$TEST_TMPDIR/info.txt"; }
prev=
for _ in $(seq 1 150); do
    sleep 0.2
    cli info memory | tr -d '\r' >"$TEST_TMPDIR/info.txt"
    cur="$(info allocator_allocated) $(info allocator_active) $(info allocator_resident)"
    [ "$cur" = "$prev" ] && break
    prev=$cur
done
allocated=$(info allocator_allocated)
active=$(info allocator_active)
resident=$(info allocator_resident)
echo "INFO memory: mem_allocator=$(info mem_allocator) used_memory=$(info used_memory)" \
    "allocator_allocated=$allocated allocator_active=$active allocator_resident=$resident"
for v in "$allocated" "$active" "$resident"; do
    [[ $v =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] || fail "INFO memory lacks non-zero allocator figures"
done
[ "$allocated" -le "$active" ] || fail "allocator_allocated $allocated > allocator_active $active"
[ "$active" -le "$resident" ] || fail "allocator_active $active > allocator_resident $resident"

# MEMORY MALLOC-STATS: our report, whose totals match INFO's (taken moments apart).
cli memory malloc-stats | tr -d '\r' >"$TEST_TMPDIR/mstats.txt"
[ "$(head -n 1 "$TEST_TMPDIR/mstats.txt")" = "___ Begin allocator statistics ___" ] || {
    head -5 "$TEST_TMPDIR/mstats.txt" >&2
    fail "MEMORY MALLOC-STATS did not print liballocator's statistics"
}
grep -q '^___ End allocator statistics ___$' "$TEST_TMPDIR/mstats.txt" ||
    fail "MEMORY MALLOC-STATS output is truncated"
line=$(grep -m1 '^Allocated: ' "$TEST_TMPDIR/mstats.txt")
echo "MEMORY MALLOC-STATS: $line"
s_alloc=$(printf '%s\n' "$line" | sed -n 's/^Allocated: \([0-9]*\), .*/\1/p')
s_active=$(printf '%s\n' "$line" | sed -n 's/.* active: \([0-9]*\),.*/\1/p')
[ -n "$s_alloc" ] && [ -n "$s_active" ] ||
    fail "no 'Allocated: N, active: N' line in our statistics"
# near A B: A is within 1 MiB or 25% of B.
near() {
    local a=$1 b=$2 d
    d=$((a > b ? a - b : b - a))
    [ "$d" -le $((1 << 20)) ] || [ $((d * 4)) -le "$b" ]
}
near "$s_alloc" "$allocated" || fail "INFO allocator_allocated $allocated vs our Allocated $s_alloc"
near "$s_active" "$active" || fail "INFO allocator_active $active vs our active $s_active"

# MEMORY PURGE
# (a failure here is reported at the end, after the rest has been checked)
purge_failure=
r=$(cli memory purge | tr -d '\r')
if [ "$r" != OK ]; then
    purge_failure="MEMORY PURGE answered '$r', expected OK (redis purges with mallctl"
    purge_failure+=" \"arena.<arenas.narenas>.purge\", jemalloc's alias of MALLCTL_ARENAS_ALL)"
    echo "FAIL (deferred): $purge_failure" >&2
fi

# The server still works, and stops cleanly.
[ "$(cli set after purge | tr -d '\r')" = OK ] && [ "$(cli get after | tr -d '\r')" = purge ] ||
    fail "redis-server misbehaves after MEMORY PURGE"
cli shutdown nosave >/dev/null 2>&1
for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "redis-server did not exit after SHUTDOWN NOSAVE"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || {
    tail -20 "$TEST_TMPDIR/redis.log" >&2
    fail "redis-server exited with status $rc"
}
# (libjemalloc, loaded too, also reads MALLOC_CONF and its exit handler calls malloc_stats_print,
# which is ours: the statistics appear twice, from one process.)
expect_served "$TEST_TMPDIR/server.err" 10000 "redis-server"
[ -z "$purge_failure" ] || fail "$purge_failure"
echo "ok: $PROG_TEST"
