#!/usr/bin/env bash
# bench/vfs: build a snapshot from 100,000 and 1,000,000 synthetic records and time
# lookups.  Builds an optimised tree of its own (no sanitizers) first.
#   bench/vfs/run.sh [SIZES...]      default: 100000 1000000
#   bench/vfs/run.sh --dups [SIZES]  files with one name in one folder (dupbench),
#                                    default: 100000
set -euo pipefail
dups=false
if [ "${1:-}" = "--dups" ]; then
	dups=true
	shift
fi
cd "$(dirname "$0")/../.."
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target vfsbench dupbench >/dev/null
dir=$(mktemp -d /dev/shm/vfsbench.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
if $dups; then
	for size in "${@:-100000}"; do
		echo "== $size files with one name"
		"$build"/bench/dupbench -n "$size" -d "$dir"
	done
	exit 0
fi
for n in "${@:-100000 1000000}"; do
	for size in $n; do
		echo "== $size records"
		"$build"/bench/vfsbench -n "$size" -d "$dir"
	done
done
