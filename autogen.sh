#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# Generate ./configure from configure.ac, and fill build-aux/ with the helper scripts it
# needs (config.guess, config.sub, install-sh), copied from automake's data directory.
# Run it once after a fresh checkout, then ./configure && make.
set -eu

cd "$(dirname "$0")"

if ! amdir=$(automake --print-libdir 2>/dev/null) || [ ! -f "$amdir/install-sh" ]; then
    echo "autogen.sh: automake is needed (for config.guess, config.sub, install-sh)" >&2
    exit 1
fi

mkdir -p build-aux
for f in config.guess config.sub install-sh; do
    cp -f "$amdir/$f" build-aux/
    chmod +x "build-aux/$f"
done

autoconf --force
echo "autogen.sh: done; now run ./configure"
