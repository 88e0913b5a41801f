#!/usr/bin/env bash
# The README's first command: install what is needed, build, and run the whole
# suite on the bundled sample library (demo/library.tsv) until Ctrl-C.
#
# It ends in `meta-fuse demo`: a private redis-server on a free loopback port
# loaded with the sample library, the suite through the supervisor (kvwatch,
# fused, and davd and apid once they are built) in a temporary directory, the
# mount point and the URLs printed; Ctrl-C stops everything, unmounts and
# removes the directory.  As root the workers run as the numeric users 61000
# and 61001; otherwise as you, with the mount made by fused through fusermount3.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build -j"$(nproc)"
exec ./build/bin/meta-fuse demo "$@"
