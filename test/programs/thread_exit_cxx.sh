#!/bin/bash
# 20,000 threads in waves, allocating in C++ thread_local destructors and in pthread key
# destructors while another thread reads statistics (thread_exit_cxx.cc): no crash, every
# destructor ran, and the resident set and stats.allocated after the first 1,000 threads and
# after all 20,000 are about the same (no leak). Compiled here with g++ -O2 -pthread and linked
# with -lallocator.
. "$(dirname "$0")/common.bash"

CXX=${CXX:-g++}
command -v "$CXX" >/dev/null 2>&1 || skip "no C++ compiler ($CXX; Debian package g++)"
lib=$(dirname "$ALLOCATOR_SO")
"$CXX" -std=c++17 -O2 -g -pthread -Wall -Wextra -I"$TOP_SRCDIR/include" \
    -o "$TEST_TMPDIR/thread_exit_cxx" "$TOP_SRCDIR/test/programs/thread_exit_cxx.cc" \
    -L"$lib" -Wl,--no-as-needed -lallocator -Wl,-rpath,"$lib" ||
    fail "building thread_exit_cxx.cc"
"$TEST_TMPDIR/thread_exit_cxx" || fail "thread_exit_cxx failed"
