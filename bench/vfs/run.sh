#!/usr/bin/env bash
# bench/vfs: build a snapshot from 100,000 and 1,000,000 synthetic records and time
# lookups.  Builds an optimised tree of its own (no sanitizers) first.
#   bench/vfs/run.sh [SIZES...]      default: 100000 1000000
set -euo pipefail
cd "$(dirname "$0")/../.."
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target vfsbench >/dev/null
dir=$(mktemp -d /dev/shm/vfsbench.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for n in "${@:-100000 1000000}"; do
	for size in $n; do
		echo "== $size records"
		"$build"/bench/vfsbench -n "$size" -d "$dir"
	done
done
