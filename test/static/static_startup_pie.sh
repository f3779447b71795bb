#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The same runs as static_startup.sh, on the -static-pie build; first checks that the binary
# really is a static PIE (an ELF of type DYN with no interpreter).
bin=${1:?usage: static_startup_pie.sh BINARY}
if command -v readelf >/dev/null 2>&1; then
    type=$(readelf -h "$bin" | sed -n 's/^ *Type: *\([A-Z]*\).*/\1/p')
    if [ "$type" != DYN ] || readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
        echo "FAIL: static_startup_pie.sh: $bin is not a static PIE (type '$type')" >&2
        exit 1
    fi
fi
exec bash "$(dirname "$0")/static_startup.sh" "$bin"
