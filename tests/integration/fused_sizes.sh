#!/usr/bin/env bash
# fused_sizes: files whose size in the snapshot is wrong (the KV store's word,
# smaller or larger than the source), read through a real mount with the
# shipped ten-minute attribute timeout.  The first open after a fresh lookup is
# where the kernel still holds the snapshot's size; at that open, and at every
# one after it:
#   - fstat of the descriptor shows the source's size (what `wc -c` prints),
#   - a read to the end returns every byte of the source, through the page cache,
#   - stat of the path shows the source's size afterwards,
# for 200 files, each opened first by one process that fstats and reads at once
# (the tightest race with fused's answer), then again after the kernel dropped
# its dentries and inodes, after two new generations that change every size
# claimed (fused forgets what it measured), and after fused is restarted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fused_lib.sh"
need python3

N=200
fused_config attr_ttl_ms=600000 dir_ttl_ms=600000
mkdir -p "$T/files/w"
for i in $(seq 1 $N); do
	# Never a multiple of the page size: wc -c then trusts fstat alone.
	head -c $((4567 + i * 131)) /dev/urandom >"$T/files/w/f$i.mkv"
done

# records CLAIM: every file's record with a size claim of CLAIM(i) (shell arithmetic).
records() {
	local i real
	: >"$T/records.jsonl"
	for i in $(seq 1 $N); do
		real=$((4567 + i * 131))
		printf '{"hashId": "w%03d", "filePath": "w/f%d.mkv", "size": %d, "mtime": 1600000000}\n' \
			"$i" "$i" $(($1)) >>"$T/records.jsonl"
	done
}

# check WHAT: one process opens each file, fstats it and reads it to the end at
# once, then stats the path; every figure must be the source's.
check() {
	python3 - "$MNT/Other" "$T/files/w" $N <<'EOF' >"$T/check.out" 2>&1 ||
import os, sys
mnt, src, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
bad = 0
for i in range(1, n + 1):
    p = f"{mnt}/f{i}.mkv"
    want = open(f"{src}/f{i}.mkv", "rb").read()
    fd = os.open(p, os.O_RDONLY)
    size = os.fstat(fd).st_size
    got = b""
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        got += b
    os.close(fd)
    after = os.stat(p).st_size
    if size != len(want) or got != want or after != len(want):
        bad += 1
        if bad <= 5:
            print(f"f{i}.mkv: expected {len(want)} bytes, got fstat {size}, "
                  f"read {len(got)} ({'equal' if got == want else 'differ'}), stat {after}")
sys.exit(1 if bad else 0)
EOF
		fail "$1: $(cat "$T/check.out")"
	ok "$1"
}

# Half the claims too small, half too large.
records 'i % 2 ? 10 + i : real * 3 + 1'
publish --generation 1
start_fused --check-interval 0
expect_eq "$(stat -c %s "$MNT/Other/f1.mkv")" 11 "before any open, stat shows the snapshot's claim"
check "the first open after a lookup: fstat, every byte and stat are the source's"
check "the next opens too"
echo 2 >/proc/sys/vm/drop_caches
check "after the kernel dropped dentries and inodes"

records 'i % 2 ? real * 2 : 7'
publish --generation 2
wait_for 10 grep -q "serving generation 2" "$T/fused.log" || fail "generation 2 not loaded"
check "generation 2 changes every claim: the first open is right again"

records 'real - 1'
publish --generation 3
wait_for 10 grep -q "serving generation 3" "$T/fused.log" || fail "generation 3 not loaded"
echo 2 >/proc/sys/vm/drop_caches
check "generation 3, one byte short, after dropped caches"

stop_fused
start_fused --check-interval 0
echo 2 >/proc/sys/vm/drop_caches
check "a restarted fused: the first open after a fresh lookup is right"

# The same through the tools a user has: wc -c (fstat only), cat to the end.
records 'i % 2 ? 10 : real + 100000'
publish --generation 4
wait_for 10 grep -q "serving generation 4" "$T/fused.log" || fail "generation 4 not loaded"
for i in 3 4; do
	want=$((4567 + i * 131))
	expect_eq "$(wc -c <"$MNT/Other/f$i.mkv")" $want "f$i: wc -c at the first open"
done
for i in 5 6; do
	want=$((4567 + i * 131))
	expect_eq "$(cat "$MNT/Other/f$i.mkv" | wc -c)" $want "f$i: cat at the first open"
done
stop_fused
check_sanitizer
