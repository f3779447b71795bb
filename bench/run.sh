#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# bench/run.sh -- liballocator's benchmark suite (`make bench` runs it).
#
#   bench/run.sh [--runs N] [--quick] [--only REGEX] [--allocators LIST] [--lib PATH]
#                [--variant NAME=CONF]... [--out DIR] [--no-install] [--no-callgrind]
#
# Builds the benchmark programs in bench/ with the system compiler (-O2, linked to no allocator),
# then runs every workload under liballocator, jemalloc, mimalloc, tcmalloc (each through
# LD_PRELOAD) and glibc (no preload), N times each (default 5), interleaving the allocators run
# by run and rotating their order, so slow drifts of a shared machine hit every allocator alike.
# Wall time, peak RSS and CPU time of each run are measured from outside by bench/timeit (fork,
# wait4).  At the end it prints per workload the median time and median peak RSS of each
# allocator, liballocator's ratios to each peer, a thread-scaling table, instructions per
# malloc/free pair of 64 B, 8 KiB and 20 KB (callgrind) and geometric means, and writes to bench/results/ (or --out):
#
#   raw.csv       every run
#   results.csv   medians and ratios per workload and allocator
#   report.md     the printed report (Markdown tables)
#   chart.svg     time and RSS of every allocator relative to the best, per workload
#   meta.txt      machine, date, command, versions
#
# Options:
#   --runs N        runs per workload and allocator (default 5)
#   --quick         1 run and smaller sizes, for development (under two minutes)
#   --only REGEX    only the workloads whose name matches (bash regex), e.g. 'larson|prodcons'
#   --allocators L  comma-separated subset of liballocator,jemalloc,mimalloc,tcmalloc,glibc
#   --lib PATH      liballocator to test (default: lib/liballocator.so of the tree above bench/)
#   --variant NAME=CONF  also run liballocator with MALLOC_CONF=CONF, as the allocator
#                   "liballocator[NAME]" (repeatable): the report gets a liballocator /
#                   liballocator[NAME] column, e.g. --variant nodecay=dirty_decay_ms:-1
#   --build NAME=PATH  also run another build of liballocator (the .so at PATH), as the
#                   allocator "liballocator[NAME]" (repeatable), to compare two builds run by
#                   run in one invocation, e.g. --build before=/tmp/old/liballocator.so
#   --out DIR       where the results go (default bench/results)
#   --no-install    do not apt-get install missing peers (they are left out with a note)
#   --no-callgrind  skip the instruction-count probe
#
# Peers that are missing are installed from Debian's packages (libjemalloc2, libmimalloc2.0,
# libtcmalloc-minimal4) when running as root; otherwise they are left out with a note.  The
# redis workload needs redis-server, redis-cli and redis-benchmark and is skipped without them;
# the instruction probe needs valgrind.  A run that fails or exceeds the time limit is recorded
# as such and left out of the medians; the suite goes on.
set -euo pipefail

bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$bench/.." && pwd)
runs=5
quick=0
only=''
lib="$top/lib/liballocator.so"
install=1
callgrind=1
want_allocs=''
variants=()
builds=()
res=''
cmdline="bench/run.sh $*"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --runs=*) runs=${1#*=}; shift ;;
        --quick) quick=1; shift ;;
        --only) only=$2; shift 2 ;;
        --only=*) only=${1#*=}; shift ;;
        --allocators) want_allocs=$2; shift 2 ;;
        --allocators=*) want_allocs=${1#*=}; shift ;;
        --lib) lib=$2; shift 2 ;;
        --lib=*) lib=${1#*=}; shift ;;
        --variant) variants+=("$2"); shift 2 ;;
        --variant=*) variants+=("${1#*=}"); shift ;;
        --build) builds+=("$2"); shift 2 ;;
        --build=*) builds+=("${1#*=}"); shift ;;
        --out) res=$2; shift 2 ;;
        --out=*) res=${1#*=}; shift ;;
        --no-install) install=0; shift ;;
        --no-callgrind) callgrind=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$quick" = 1 ] && [[ "$cmdline" != *--runs* ]]; then runs=1; fi
declare -A conf=()
for v in "${variants[@]}"; do
    if ! [[ "$v" =~ ^[A-Za-z0-9_.+-]+=.+$ ]]; then
        echo "run.sh: --variant wants NAME=CONF (NAME: letters, digits, _.+-), not '$v'" >&2
        exit 2
    fi
    a="liballocator[${v%%=*}]"
    if [ -n "${conf[$a]-}" ]; then
        echo "run.sh: --variant ${v%%=*} given twice" >&2
        exit 2
    fi
    conf[$a]=${v#*=}
done
declare -A build_lib=()
for b in "${builds[@]}"; do
    if ! [[ "$b" =~ ^[A-Za-z0-9_.+-]+=.+$ ]] || [ ! -e "${b#*=}" ]; then
        echo "run.sh: --build wants NAME=PATH of an existing library, not '$b'" >&2
        exit 2
    fi
    a="liballocator[${b%%=*}]"
    if [ -n "${conf[$a]-}" ] || [ -n "${build_lib[$a]-}" ]; then
        echo "run.sh: liballocator[${b%%=*}] given twice" >&2
        exit 2
    fi
    build_lib[$a]=${b#*=}
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --runs needs a positive integer" >&2; exit 2; }

say() { printf '%s\n' "$*" >&2; }
t_start=$(date +%s)

# ------------------------------------------------------------------------------------------
# Allocators.
# ------------------------------------------------------------------------------------------
multiarch=$(cc -print-multiarch 2>/dev/null || true)
[ -n "$multiarch" ] || multiarch=x86_64-linux-gnu
libdir=/usr/lib/$multiarch
declare -A path=(
    [liballocator]="$lib"
    [jemalloc]="$libdir/libjemalloc.so.2"
    [mimalloc]="$libdir/libmimalloc.so.2"
    [tcmalloc]="$libdir/libtcmalloc_minimal.so.4"
    [glibc]=""
)
declare -A package=(
    [jemalloc]=libjemalloc2 [mimalloc]=libmimalloc2.0 [tcmalloc]=libtcmalloc-minimal4
)
all_allocs=(liballocator jemalloc mimalloc tcmalloc glibc)
notes=()

[ -e "$lib" ] || { say "run.sh: $lib not found; build first (make), or pass --lib"; exit 2; }

missing=()
for a in jemalloc mimalloc tcmalloc; do
    [ -e "${path[$a]}" ] || missing+=("${package[$a]}")
done
if [ ${#missing[@]} -gt 0 ] && [ "$install" = 1 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "run.sh: installing ${missing[*]}"
        apt_install() { apt-get install -y "${missing[@]}" >/dev/null 2>&1; }
        if ! apt_install && ! { apt-get update >/dev/null 2>&1 && apt_install; }; then
            say "run.sh: apt-get install ${missing[*]} failed"
        fi
    fi
fi
allocs=()
for a in "${all_allocs[@]}"; do
    if [ -n "$want_allocs" ] && [[ ",$want_allocs," != *",$a,"* ]]; then continue; fi
    if [ -n "${path[$a]}" ] && [ ! -e "${path[$a]}" ]; then
        notes+=("$a left out: ${path[$a]} missing (apt-get install ${package[$a]} as root)")
        say "run.sh: ${notes[-1]}"
        continue
    fi
    allocs+=("$a")
done
# Variants: liballocator again under an extra MALLOC_CONF, run and reported as one more allocator.
for v in "${variants[@]}"; do allocs+=("liballocator[${v%%=*}]"); done
for b in "${builds[@]}"; do allocs+=("liballocator[${b%%=*}]"); done
[ ${#allocs[@]} -gt 0 ] || { say "run.sh: no allocator to run"; exit 2; }

# ------------------------------------------------------------------------------------------
# Build the programs and inputs.
# ------------------------------------------------------------------------------------------
bin="$bench/bin"
out="$bench/out"
[ -n "$res" ] || res="$bench/results"
mkdir -p "$bin" "$out" "$res"
tmp=$(mktemp -d)
redis_pid=''
cleanup() {
    if [ -n "$redis_pid" ]; then kill -9 "$redis_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Test one fixed copy of the library: the tree may be rebuilt while a long run is going on.
cp "$lib" "$bin/liballocator.so"
path[liballocator]="$bin/liballocator.so"
for a in "${!conf[@]}"; do path[$a]="$bin/liballocator.so"; done
for a in "${!build_lib[@]}"; do
    n=${a#liballocator[}
    cp "${build_lib[$a]}" "$bin/liballocator-${n%]}.so"
    path[$a]="$bin/liballocator-${n%]}.so"
done

CC=${CC:-cc}
BENCH_CFLAGS="-O2 -std=gnu11 -pthread -Wall -Wextra -fno-builtin-malloc -fno-builtin-calloc \
-fno-builtin-realloc -fno-builtin-free"
for prog in timeit fixed batch larson prodcons falseshare realloc large aligned threadchurn \
    frag fastpath xfree churn hugeloop randsmall manythreads minimise script; do
    if [ ! -x "$bin/$prog" ] || [ "$bench/$prog.c" -nt "$bin/$prog" ]; then
        # shellcheck disable=SC2086
        $CC $BENCH_CFLAGS -o "$bin/$prog" "$bench/$prog.c"
    fi
done

python=''
if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3
elif command -v python3 >/dev/null; then
    python=$(python3 -c 'import sys; print(sys.executable)')
fi
[ -n "$python" ] || say "run.sh: no python3: the python workload, report and chart are skipped"

if [ "$quick" = 1 ]; then gcc_funcs=10 sort_mb=5; else gcc_funcs=40 sort_mb=50; fi
csrc="$out/gen_${gcc_funcs}.c"
lines="$out/lines_${sort_mb}M.txt"
if [ -n "$python" ]; then
    [ -s "$csrc" ] || "$python" "$bench/gen_inputs.py" csource "$csrc" "$gcc_funcs"
    if [ ! -s "$lines" ]; then
        say "run.sh: generating $lines"
        "$python" "$bench/gen_inputs.py" lines "$lines" "$sort_mb"
    fi
fi

have_redis=0
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null &&
    command -v redis-cli >/dev/null; then
    have_redis=1
else
    notes+=("redis left out: redis-server, redis-cli or redis-benchmark missing")
fi

# ------------------------------------------------------------------------------------------
# Workloads: name, threads, command (words; "@" is the bench/bin directory).  Full sizes are
# chosen so that one run takes roughly 0.2-2 s on a 2-core machine; --quick divides them.
# ------------------------------------------------------------------------------------------
names=()
declare -A cmd
declare -A threads
q() { if [ "$quick" = 1 ]; then echo "$2"; else echo "$1"; fi; }
add() {
    local name=$1 nthreads=$2
    shift 2
    if [ -n "$only" ] && ! [[ "$name" =~ $only ]]; then return; fi
    names+=("$name")
    threads[$name]=$nthreads
    cmd[$name]="$*"
}

for s in 16 64 256 1024; do
    add "fixed_$s" 1 @/fixed "$s" "$(q 50000000 4000000)"
done
for o in lifo fifo random; do
    add "batch_$o" 1 @/batch "$o" 20000 "$(q 120 15)"
done
for t in 1 2 4; do
    add "larson_t$t" "$t" @/larson "$t" 2000 "$(q 20000000 1200000)" 16 1024
done
for t in 1 2 4; do
    add "prodcons_t$t" "$t" @/prodcons "$t" "$(q 5000000 800000)" 16 512
done
add cache_thrash 2 @/falseshare thrash 2 "$(q 600000 20000)" 100 8
add cache_scratch 2 @/falseshare scratch 2 "$(q 600000 20000)" 100 8
add realloc_str 1 @/realloc str 256 "$(q 24000 2000)" 16384
add realloc_vec 1 @/realloc vec 64 "$(q 1500 300)" 4194304
add large_64k_2m 1 @/large "$(q 4000 600)" 65536 2097152 25 8
add huge_2m_64m 1 @/large "$(q 40 10)" 2097152 67108864 25 4
add aligned 1 @/aligned "$(q 24000 2000)" 512 2097152 65536
add thread_churn 2 @/threadchurn "$(q 1200 150)" 2 500
add frag 1 @/frag "$(q 400000 100000)"
add xfree_64 4 @/xfree 2 2 "$(q 10000000 1000000)" 64 4096 8
add churn_server 8 @/churn 8 "$(q 300 60)" 1000 50000 16 8192
add churn_pair 2 @/churn 2 1 "$(q 3000000 300000)" 64 16 256
add hugeloop 1 @/hugeloop "$(q 100 30)" 5000000 25000000 4
add randsmall 1 @/randsmall "$(q 40000000 4000000)" 8 512 8
add minimise 1 @/minimise "$(q 4 1)" "$(q 15 13)"
add script 1 @/script "$(q 5000 600)" 64
add threads_32 32 @/manythreads 32 "$(q 1500000 300000)" 50 262144
add threads_64 64 @/manythreads 64 "$(q 1500000 300000)" 50 262144
if [ -n "$python" ]; then
    add python 1 env PYTHONMALLOC=malloc "$python" "$bench/alloc_heavy.py" "$(q 2 1)" \
        "$(q 20000 5000)"
    add gcc 1 "$CC" -O1 -w -c -o /dev/null "$csrc"
    add sort 2 env LC_ALL=C sort --parallel=2 -o /dev/null "$lines"
fi
if [ "$have_redis" = 1 ]; then add redis 2 redis; fi
[ ${#names[@]} -gt 0 ] || { say "run.sh: no workload matches --only '$only'"; exit 2; }

redis_requests=$(q 50000 5000)
redis_tests=set,get,incr,lpush,rpop,sadd,hset,spop,zadd,zpopmin

# One run of the redis workload: a server under the allocator (redis links jemalloc, so glibc's
# malloc is selected by preloading libc itself, which puts its malloc first in symbol lookup),
# redis-benchmark on loopback with a bounded number of requests (the client on glibc).  Time
# is the client's wall time; peak RSS is the server's VmHWM; extra is requests per second.
run_redis() {
    local preload=$1 tfile=$2 efile=$3 mconf=${4-} port i
    if [ -z "$preload" ]; then
        preload=$(ldd "$(command -v redis-server)" | awk '/libc\.so\.6/ {print $3; exit}')
    fi
    # A port below the kernel's ephemeral range (so no client socket holds it) that nothing
    # listens on; the server must answer with its own pid, else try another.
    local attempt started=0
    for ((attempt = 0; attempt < 8 && !started; attempt++)); do
        port=$((10000 + RANDOM % 20000))
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
        env LD_PRELOAD="$preload" ${mconf:+"MALLOC_CONF=$mconf"} redis-server --port "$port" \
            --bind 127.0.0.1 --save '' \
            --appendonly no --daemonize no --logfile "$tmp/redis.log" --dir "$tmp" &
        redis_pid=$!
        for ((i = 0; i < 100; i++)); do
            if redis-cli -p "$port" info server 2>/dev/null | grep -q "^process_id:$redis_pid"; then
                started=1
                break
            fi
            kill -0 "$redis_pid" 2>/dev/null || break
            sleep 0.05
        done
        if [ "$started" = 0 ]; then
            kill -9 "$redis_pid" 2>/dev/null || true
            wait "$redis_pid" 2>/dev/null || true
            redis_pid=''
        fi
    done
    if [ "$started" = 0 ]; then
        echo "failed 0 0 0 0" >"$tfile"
        return 1
    fi
    local ok=0
    if "$bin/timeit" -o "$tfile" -t 120 -p '' -- redis-benchmark -p "$port" -q \
        -n "$redis_requests" -r 100000 -d 128 -c 32 -P 16 -t "$redis_tests" \
        >"$tmp/rb.out" 2>&1; then
        ok=1
    fi
    local hwm
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$redis_pid/status" 2>/dev/null || echo 0)
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    for ((i = 0; i < 40; i++)); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=''
    # Replace the client's peak RSS with the server's; add the throughput.
    local ntests
    ntests=$(tr ',' '\n' <<<"$redis_tests" | wc -l)
    awk -v h="$hwm" '{ $3 = h; print }' "$tfile" >"$tfile.x" && mv "$tfile.x" "$tfile"
    awk -v n="$redis_requests" -v k="$ntests" '{ printf "ops_per_s %.0f\n", n * k / $2 }' \
        "$tfile" >"$efile"
    [ "$ok" = 1 ]
}

# ------------------------------------------------------------------------------------------
# Machine description.
# ------------------------------------------------------------------------------------------
pkgver() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || echo '?'; }
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "command=$cmdline"
    echo "runs=$runs"
    echo "quick=$quick"
    echo "nproc=$(nproc)"
    echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "kernel=$(uname -sr)"
    echo "memory_mib=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)"
    echo "os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
    echo "cc=$($CC --version | head -1)"
    echo "liballocator=$lib ($(sha256sum "$lib" | cut -c1-12))"
    case "$(cd "$(dirname "$lib")" && pwd -P)/" in
        "$(cd "$top" && pwd -P)"/*)
            echo "git=$(git -C "$top" describe --always --dirty 2>/dev/null || echo '?')" ;;
        *) echo "git=(library built outside this tree)" ;;
    esac
    echo "jemalloc=$(pkgver libjemalloc2)"
    echo "mimalloc=$(pkgver libmimalloc2.0)"
    echo "tcmalloc=$(pkgver libtcmalloc-minimal4)"
    echo "glibc=$(pkgver libc6)"
    echo "allocators=${allocs[*]}"
    for v in "${variants[@]}"; do echo "variant=liballocator[${v%%=*}] MALLOC_CONF=${v#*=}"; done
    for b in "${builds[@]}"; do
        echo "build=liballocator[${b%%=*}] ${b#*=} ($(sha256sum "${b#*=}" | cut -c1-12))"
    done
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    for n in "${notes[@]}"; do echo "note=$n"; done
} >"$res/meta.txt"

# ------------------------------------------------------------------------------------------
# The runs.
# ------------------------------------------------------------------------------------------
raw="$res/raw.csv"
echo "workload,threads,allocator,run,status,time_s,peak_rss_kib,user_s,sys_s,extra_name,extra_value" \
    >"$raw"
nallocs=${#allocs[@]}
total=$((runs * ${#names[@]} * nallocs))
done_runs=0
say "run.sh: ${#names[@]} workloads x ${nallocs} allocators x $runs runs = $total runs"
for ((r = 1; r <= runs; r++)); do
    for ((w = 0; w < ${#names[@]}; w++)); do
        name=${names[$w]}
        for ((k = 0; k < nallocs; k++)); do
            a=${allocs[$(((k + r + w) % nallocs))]}
            tfile="$tmp/time" efile="$tmp/extra"
            rm -f "$tfile"
            : >"$efile"
            ok=1
            if [ "$name" = redis ]; then
                run_redis "${path[$a]}" "$tfile" "$efile" "${conf[$a]-}" || ok=0
            else
                # shellcheck disable=SC2086
                set -- ${cmd[$name]}
                case "$1" in @/*) set -- "$bin/${1#@/}" "${@:2}" ;; esac
                # A variant's MALLOC_CONF reaches the workload through timeit's environment
                # (timeit itself runs on glibc's malloc, which ignores it).
                with_conf=()
                [ -z "${conf[$a]-}" ] || with_conf=(env "MALLOC_CONF=${conf[$a]}")
                "${with_conf[@]}" "$bin/timeit" -o "$tfile" -t 120 -p "${path[$a]}" -- "$@" \
                    >"$tmp/stdout" 2>"$tmp/stderr" || ok=0
                grep -E '^[a-z_]+ [0-9.]+$' "$tmp/stdout" | head -1 >"$efile" || true
            fi
            read -r st t m u s <"$tfile" || st=missing
            read -r en ev <"$efile" || { en=''; ev=''; }
            echo "$name,${threads[$name]},$a,$r,$st,$t,$m,$u,$s,$en,$ev" >>"$raw"
            done_runs=$((done_runs + 1))
            if [ "$ok" = 0 ] || [ "$st" != ok ]; then
                say "  $name [$a] run $r: $st"
                [ -s "$tmp/stderr" ] && tail -3 "$tmp/stderr" | sed 's/^/    /' >&2
            fi
            printf '\r[%d/%d] run %d %-14s %-13s %6ss %8s KiB   ' "$done_runs" "$total" "$r" \
                "$name" "$a" "$t" "$m" >&2
        done
    done
done
printf '\n' >&2

# ------------------------------------------------------------------------------------------
# Instruction-count probe: malloc/free pairs of 64, 8192 and 20000 bytes (one block of the size
# kept live) under callgrind, N and 2N iterations.
# ------------------------------------------------------------------------------------------
ipp="$res/instructions.csv"
echo "allocator,size,instructions_n,instructions_2n,n,per_pair" >"$ipp"
if [ "$callgrind" = 1 ] && command -v valgrind >/dev/null; then
    n=$(q 1000000 200000)
    collected() {
        env ${2:+LD_PRELOAD=$2} ${3:+"MALLOC_CONF=$3"} valgrind --tool=callgrind \
            --callgrind-out-file=/dev/null "$bin/fastpath" "$1" "$4" 2>&1 |
            awk '/Collected :/ {print $NF}'
    }
    for a in "${allocs[@]}"; do
        for size in 64 8192 20000; do
            i1=$(collected "$n" "${path[$a]}" "${conf[$a]-}" "$size")
            i2=$(collected $((2 * n)) "${path[$a]}" "${conf[$a]-}" "$size")
            if [ -n "$i1" ] && [ -n "$i2" ]; then
                per=$(awk -v a="$i1" -v b="$i2" -v n="$n" 'BEGIN {printf "%.1f", (b - a) / n}')
                echo "$a,$size,$i1,$i2,$n,$per" >>"$ipp"
            fi
        done
    done
elif [ "$callgrind" = 1 ]; then
    echo "note=instruction probe skipped: valgrind missing" >>"$res/meta.txt"
fi

t_end=$(date +%s)
{
    echo "runtime_s=$((t_end - t_start))"
    echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
} >>"$res/meta.txt"

if [ -n "$python" ]; then
    "$python" "$bench/report.py" "$res" | tee "$res/report.md"
    "$python" "$bench/chart.py" "$res/results.csv" "$res/chart.svg"
    say "run.sh: wrote $res/{raw.csv,results.csv,instructions.csv,report.md,chart.svg,meta.txt}"
else
    say "run.sh: raw results in $raw (python3 is needed for the report)"
fi
say "run.sh: total $((t_end - t_start)) s"
