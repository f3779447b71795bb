#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# test/run.sh -- liballocator's test runner; `make check` builds the tests, then starts this.
#
# Tests are found the way the Makefile finds them, in $TOP_SRCDIR/test/<tier>/, and run from
# $TOP_BUILDDIR, each under `timeout`, with a fresh scratch directory in TEST_TMPDIR:
#
#   unit/NAME.c          tbin/unit/NAME, linked with lib/liballocator.a
#   integration/NAME.c   tbin/integration/NAME (linked with liballocator.so) and
#                        tbin/integration/NAME.preload (run with LD_PRELOAD=liballocator.so);
#                        then the linked one again under each MALLOC_CONF in $CHECK_CONFS
#   static/NAME.c        tbin/static/NAME, linked -static; run through static/NAME.sh (given
#                        the binary's path as $1) when that script exists
#   stress/NAME.c        tbin/stress/NAME, linked with liballocator.so; 300 s limit
#   programs/NAME.sh     run with bash; 300 s limit, unless the script has a line
#                        "# run.sh limit: SECONDS"
#   fuzz/fuzz            test/fuzz/fuzz.sh over tbin/fuzz/fuzz, for FUZZ_CHECK_SECONDS (default
#                        30) split over its MALLOC_CONF variants; runs beside the unit,
#                        integration and static tests
#
# Unit, integration and static tests run $CHECK_JOBS at a time (make passes its -j level);
# stress and programs tests always run one at a time, after them, so they have the machine to
# themselves (and programs tests may use fixed ports).
#
# A sidecar test/<tier>/NAME.conf holds a MALLOC_CONF value for that test (its first line that is
# not blank or a '#' comment); in the CHECK_CONFS reruns it is appended after the global value,
# so the test's own settings win.  Every test sees ALLOCATOR_SO, ALLOCATOR_SH, TOP_SRCDIR,
# TOP_BUILDDIR and TEST_TMPDIR; MALLOC_CONF and LD_PRELOAD are cleared unless set as above.
#
# Exit status of a test: 0 pass, 77 skip (print a line "SKIP: why"), anything else fails, and so
# does running past the time limit.  One line per result, the tail of each failure's output, and
# last "N passed, N failed, N skipped".  Full output of every run is kept in tbin/logs/.
#
# Environment: TOP_SRCDIR, TOP_BUILDDIR (required); HAVE_STATIC (yes/no), CHECK_CONFS, TESTS
# (patterns "tier/name", "tier", "tier/%" or "tier/*"), CHECK_JOBS (default 1), TEST_TIMEOUT
# (limit for unit, integration and static tests; default 120 s), CHECK_LOGDIR (where the logs go;
# default tbin/logs: a run inside another, programs/page_sizes, keeps its own).

set -u

: "${TOP_SRCDIR:?TOP_SRCDIR must be set (run this through make check)}"
: "${TOP_BUILDDIR:?TOP_BUILDDIR must be set (run this through make check)}"
HAVE_STATIC=${HAVE_STATIC:-yes}
CHECK_CONFS=${CHECK_CONFS-tcache:false narenas:1 dirty_decay_ms:0}
CHECK_JOBS=${CHECK_JOBS:-1}
TESTS=${TESTS:-}
TIMEOUT_DEFAULT=${TEST_TIMEOUT:-120}
TIMEOUT_LONG=300
TAIL_LINES=40

ALLOCATOR_SO="$TOP_BUILDDIR/lib/liballocator.so"
ALLOCATOR_SH="$TOP_BUILDDIR/bin/allocator.sh"
export ALLOCATOR_SO ALLOCATOR_SH TOP_SRCDIR TOP_BUILDDIR

case $CHECK_JOBS in '' | *[!0-9]* | 0) CHECK_JOBS=1 ;; esac

tbin="$TOP_BUILDDIR/tbin"
logdir=${CHECK_LOGDIR:-$tbin/logs}
rm -rf "$logdir"
mkdir -p "$logdir" || exit 1
# Scratch space: one TEST_TMPDIR per run inside it, and the parallel runs' result files.
work=$(mktemp -d "${TMPDIR:-/tmp}/allocator-check.XXXXXX") || exit 1

npass=0
nfail=0
nskip=0
failures=()

# Soft limit only: a test that needs a core (gdb_heap_aarch64) may raise it for itself.
ulimit -S -c 0 2>/dev/null
mkdir -p "$work/pids" || exit 1
# On exit or interruption: stop the tests still running.  Each runs under its own `timeout`,
# which has a process group of its own (out of reach of a terminal's ^C) and passes a TERM on
# to the test's whole group; $work/pids names those timeout processes.
cleanup() {
    local f pids
    for f in "$work"/pids/*; do
        [ -e "$f" ] && kill -TERM "${f##*/}" 2>/dev/null
    done
    pids=$(jobs -p)
    # shellcheck disable=SC2086 # a list of pids
    [ -n "$pids" ] && kill $pids 2>/dev/null
    chmod -R u+rwx "$work" 2>/dev/null
    rm -rf "$work"
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

# selected ID: is test ID ("tier/name") chosen by $TESTS?
selected() {
    local id=$1 pat
    [ -z "$TESTS" ] && return 0
    for pat in $TESTS; do
        pat=${pat//%/*}
        case $pat in */*) ;; *) pat="$pat/*" ;; esac
        # shellcheck disable=SC2053 # $pat is a glob on purpose
        [[ $id == $pat ]] && return 0
    done
    return 1
}

# sidecar_conf TIER NAME: the MALLOC_CONF value from test/TIER/NAME.conf, or nothing.
sidecar_conf() {
    local f="$TOP_SRCDIR/test/$1/$2.conf"
    [ -f "$f" ] || return 0
    sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' -e 's/^[[:space:]]*//' \
        -e 's/[[:space:]]*$//' "$f" | head -n 1
}

# names TIER EXT: the test names in test/TIER with extension EXT, sorted.
names() {
    local f
    for f in "$TOP_SRCDIR/test/$1"/*."$2"; do
        [ -e "$f" ] || continue
        f=${f##*/}
        echo "${f%."$2"}"
    done | LC_ALL=C sort
}

now_ns() { date +%s%N; }

# ---------------------------------------------------------------------------------------------
# Results.
# ---------------------------------------------------------------------------------------------

record_pass() { npass=$((npass + 1)); echo "PASS: $1 $2"; }

record_skip() { nskip=$((nskip + 1)); echo "SKIP: $1 $2: $3"; }

# record_fail LABEL TIME WHY [LOG]
record_fail() {
    nfail=$((nfail + 1))
    failures+=("$1")
    echo "FAIL: $1 $2 ($3)"
    if [ -n "${4:-}" ] && [ -s "$4" ]; then
        echo "---- last $TAIL_LINES lines of output (all of it: ${4#"$TOP_BUILDDIR"/}) ----"
        tail -n "$TAIL_LINES" "$4" | sed -e 's/^/| /'
        echo "----"
    fi
}

# report LABEL LIMIT LOG RC CENTISECONDS: record how one run ended.
report() {
    local label=$1 limit=$2 log=$3 rc=$4 cs=$5 t why reason
    t=$(printf '%d.%02ds' $((cs / 100)) $((cs % 100)))
    case $rc in
    0) record_pass "$label" "$t" ;;
    77)
        reason=$(sed -n -e 's/^SKIP:[[:space:]]*//p' "$log" | head -n 1)
        record_skip "$label" "$t" "${reason:-no reason given}"
        ;;
    *)
        if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ $((cs / 100)) -ge "$limit" ]; }; then
            why="timed out after ${limit}s"
        elif [ "$rc" -gt 128 ]; then
            why="killed by signal SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
        else
            why="exit $rc"
        fi
        record_fail "$label" "$t" "$why" "$log"
        ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# Running.
# ---------------------------------------------------------------------------------------------

# execute LIMIT CONF PRELOAD LOG COMMAND...: run one test; print "RC CENTISECONDS".
execute() {
    local limit=$1 conf=$2 preload=$3 log=$4 scratch start rc pid
    shift 4
    scratch=$(mktemp -d "$work/tmp.XXXXXX") || return 1
    start=$(now_ns)
    (
        : >"$work/pids/$BASHPID"
        cd "$TOP_BUILDDIR" || exit 1
        unset MALLOC_CONF LD_PRELOAD
        [ -n "$conf" ] && export MALLOC_CONF="$conf"
        export TEST_TMPDIR="$scratch"
        if [ -n "$preload" ]; then
            # Set through env so that only the test, not timeout itself, gets the preload.
            exec timeout -k 10 "$limit" env LD_PRELOAD="$preload" "$@"
        fi
        exec timeout -k 10 "$limit" "$@"
    ) >"$log" 2>&1 </dev/null &
    pid=$!
    # 2>/dev/null: bash's own "Aborted" or "Segmentation fault" notice; the result line says how
    # the test ended.
    wait "$pid" 2>/dev/null
    rc=$?
    rm -f "$work/pids/$pid"
    echo "$rc $((($(now_ns) - start) / 10000000))"
    chmod -R u+rwx "$scratch" 2>/dev/null
    rm -rf "$scratch"
}

log_for() { echo "$logdir/$(printf '%s' "$1" | tr -c 'A-Za-z0-9._=:,-' '_').log"; }

# The queue of runs that may go in parallel: label, limit, conf, preload, command (%q-quoted).
q_label=()
q_limit=()
q_conf=()
q_preload=()
q_cmd=()

# enqueue LABEL LIMIT CONF PRELOAD COMMAND...
enqueue() {
    q_label+=("$1")
    q_limit+=("$2")
    q_conf+=("$3")
    q_preload+=("$4")
    q_cmd+=("$(printf '%q ' "${@:5}")")
}

# enqueue_binary LABEL BIN LIMIT CONF PRELOAD: enqueue, or FAIL at once when BIN was not built.
enqueue_binary() {
    if [ ! -x "$2" ]; then
        record_fail "$1" "0.00s" "not built: see the build errors above"
        return
    fi
    enqueue "$1" "$3" "$4" "$5" "$2"
}

# run_queue JOBS: run everything queued, JOBS at a time, recording results as runs finish.  Runs
# go in the background even one at a time, so that a signal reaches the traps at once.
run_queue() {
    local jobs=$1 n=${#q_label[@]} next=0 i log res entry pid
    local -a running=() still=()
    while [ "$next" -lt "$n" ] || [ "${#running[@]}" -gt 0 ]; do
        while [ "$next" -lt "$n" ] && [ "${#running[@]}" -lt "$jobs" ]; do
            i=$next
            next=$((next + 1))
            log=$(log_for "${q_label[i]}")
            eval "execute \"\${q_limit[i]}\" \"\${q_conf[i]}\" \"\${q_preload[i]}\" \
                \"\$log\" ${q_cmd[i]}" >"$work/result.$i" &
            running+=("$i:$!")
        done
        wait -n 2>/dev/null
        still=()
        for entry in "${running[@]}"; do
            i=${entry%%:*}
            pid=${entry#*:}
            if kill -0 "$pid" 2>/dev/null; then
                still+=("$entry")
                continue
            fi
            wait "$pid" 2>/dev/null
            res=$(cat "$work/result.$i" 2>/dev/null)
            [ -n "$res" ] || res="1 0"
            # shellcheck disable=SC2086 # "RC CENTISECONDS"
            report "${q_label[i]}" "${q_limit[i]}" "$(log_for "${q_label[i]}")" $res
        done
        running=("${still[@]+"${still[@]}"}")
    done
    q_label=()
    q_limit=()
    q_conf=()
    q_preload=()
    q_cmd=()
}

# ---------------------------------------------------------------------------------------------
# The tiers.
# ---------------------------------------------------------------------------------------------

for name in $(names unit c); do
    selected "unit/$name" || continue
    enqueue_binary "unit/$name" "$tbin/unit/$name" "$TIMEOUT_DEFAULT" \
        "$(sidecar_conf unit "$name")" ""
done

for name in $(names integration c); do
    id="integration/$name"
    selected "$id" || continue
    bin="$tbin/$id"
    conf=$(sidecar_conf integration "$name")
    enqueue_binary "$id (linked)" "$bin" "$TIMEOUT_DEFAULT" "$conf" ""
    enqueue_binary "$id (preload)" "$bin.preload" "$TIMEOUT_DEFAULT" "$conf" "$ALLOCATOR_SO"
    for global in $CHECK_CONFS; do
        c="$global${conf:+,$conf}"
        enqueue_binary "$id (linked, MALLOC_CONF=$c)" "$bin" "$TIMEOUT_DEFAULT" "$c" ""
    done
done

for name in $(names static c); do
    id="static/$name"
    selected "$id" || continue
    if [ "$HAVE_STATIC" != yes ]; then
        record_skip "$id" "0.00s" "the toolchain cannot link -static programs (no static libc?)"
        continue
    fi
    bin="$tbin/$id"
    script="$TOP_SRCDIR/test/$id.sh"
    if [ ! -x "$bin" ]; then
        record_fail "$id" "0.00s" "not built: see the build errors above"
    elif [ -f "$script" ]; then
        enqueue "$id" "$TIMEOUT_DEFAULT" "$(sidecar_conf static "$name")" "" bash "$script" "$bin"
    else
        enqueue "$id" "$TIMEOUT_DEFAULT" "$(sidecar_conf static "$name")" "" "$bin"
    fi
done

if selected "fuzz/fuzz"; then
    if [ ! -x "$tbin/fuzz/fuzz" ]; then
        record_fail "fuzz/fuzz" "0.00s" "not built: see the build errors above"
    else
        enqueue "fuzz/fuzz" "$TIMEOUT_DEFAULT" "" "" bash "$TOP_SRCDIR/test/fuzz/fuzz.sh" \
            --seconds "${FUZZ_CHECK_SECONDS:-30}" --bin "$tbin/fuzz/fuzz"
    fi
fi

run_queue "$CHECK_JOBS"

for name in $(names stress c); do
    selected "stress/$name" || continue
    enqueue_binary "stress/$name" "$tbin/stress/$name" "$TIMEOUT_LONG" \
        "$(sidecar_conf stress "$name")" ""
done

for name in $(names programs sh); do
    selected "programs/$name" || continue
    # A script may raise its own limit with a line "# run.sh limit: SECONDS".
    limit=$(sed -n 's/^# run\.sh limit: \([0-9][0-9]*\)$/\1/p' "$TOP_SRCDIR/test/programs/$name.sh")
    enqueue "programs/$name" "${limit:-$TIMEOUT_LONG}" "" "" bash "$TOP_SRCDIR/test/programs/$name.sh"
done

run_queue 1

if [ "$nfail" -gt 0 ]; then
    echo "Failed:"
    for f in "${failures[@]}"; do
        echo "  $f"
    done
    echo "Logs: ${logdir#"$TOP_BUILDDIR"/}/"
fi
echo "$npass passed, $nfail failed, $nskip skipped"
[ "$nfail" -eq 0 ]
