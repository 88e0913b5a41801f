#!/bin/bash
# fused_snapshot_damage: the served vfs.snapshot is changed in place under a
# mounted fused while a reader walks the tree: cut to 4096 bytes and to 0 (as
# `truncate -s` does), bytes overwritten in place, an older snapshot renamed into
# place, another snapshot `cp`-ed over it.  fused never dies (no SIGBUS) and the
# walker never sees an error or a different tree; each damaged or older file is
# refused with one log line while the last valid generation is served; a valid
# file copied over is taken once it is whole, and so is a restarted writer's
# generation 1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fused_lib.sh"

fused_config
make_library 60 40
publish --generation 1
start_fused --check-interval 200

find "$MNT" -printf '%p %s\n' | sort >"$T/tree.expected"
[ "$(wc -l <"$T/tree.expected")" -gt 150 ] || fail "the library is too small to span pages"
[ "$(stat -c %s "$T/run/vfs.snapshot")" -gt 16384 ] || fail "the snapshot is too small"

# The walker: stats every node and reads a few files, over and over; any error
# or any difference from the first listing is written to walk.fail.
walker() {
	local n=0
	while [ ! -e "$T/walk.stop" ]; do
		if ! find "$MNT" -printf '%p %s\n' 2>"$T/walk.err" | sort >"$T/tree.now"; then
			echo "find failed: $(cat "$T/walk.err")" >>"$T/walk.fail"
		elif ! cmp -s "$T/tree.now" "$T/tree.expected"; then
			echo "the tree changed: $(diff "$T/tree.expected" "$T/tree.now" | head -5)" \
				>>"$T/walk.fail"
		fi
		cat "$MNT"/Movies/*/*.mkv >/dev/null 2>>"$T/walk.fail"
		n=$((n + 1))
		echo "$n" >"$T/walk.count"
	done
}
start_bg walker walker
WALKER_PID=$LAST_PID

# Two more whole passes of the walker, and two more periodic checks of fused.
settle() {
	local w c
	w=$(cat "$T/walk.count" 2>/dev/null || echo 0)
	c=$(grep -c "reload (periodic check)" "$T/fused.log")
	wait_for 20 bash -c "[ \$(cat '$T/walk.count') -ge $((w + 2)) ]" || fail "the walker is stuck"
	wait_for 10 bash -c "[ \$(grep -c 'reload (periodic check)' '$T/fused.log') -ge $((c + 2)) ]" ||
		fail "fused's periodic checks stopped"
	kill -0 "$FUSED_PID" 2>/dev/null || fail "fused died"
	[ -s "$T/walk.fail" ] && fail "the walker saw: $(head -3 "$T/walk.fail")"
	return 0
}

# refused GENERATION REASON WHAT: one line says REASON and keeps GENERATION.
refused() {
	local gen=$1 reason=$2 what=$3
	wait_for 10 grep -q "$reason.*keeping generation $gen" "$T/fused.log" ||
		fail "$what: no refusal saying '$reason'"
	settle
	expect_eq "$(grep -c "keeping generation $gen" "$T/fused.log")" 1 "$what: refused with one line"
	ok "$what: fused serves generation $gen on, the walker saw no change"
}

settle
truncate -s 4096 "$T/run/vfs.snapshot"
refused 1 "truncated: file is 4096 bytes" "truncate -s 4096"

publish --generation 2
wait_for 10 grep -q "serving generation 2" "$T/fused.log" || fail "generation 2 not served"
cp -p "$T/run/vfs.snapshot" "$T/gen2.snapshot"
settle
truncate -s 0 "$T/run/vfs.snapshot"
refused 2 "truncated: file is 0 bytes" "truncate -s 0"

publish --generation 3
wait_for 10 grep -q "serving generation 3" "$T/fused.log" || fail "generation 3 not served"
settle
size=$(stat -c %s "$T/run/vfs.snapshot")
head -c $((size - 4096)) /dev/urandom |
	dd of="$T/run/vfs.snapshot" bs=4096 seek=1 conv=notrunc 2>/dev/null
expect_eq "$(stat -c %s "$T/run/vfs.snapshot")" "$size" "overwritten in place, same size"
refused 3 "checksum mismatch" "bytes overwritten in place"

mv "$T/gen2.snapshot" "$T/run/vfs.snapshot"
wait_for 10 grep -q "generation 2 is not newer than the served generation 3" "$T/fused.log" ||
	fail "an older snapshot put back was not refused"
settle
expect_eq "$(grep -c "not newer than the served generation 3" "$T/fused.log")" 1 \
	"an older snapshot renamed into place: refused with one line"

# The same records as generation 10, copied over the file that is served now.
mkdir -p "$T/stage"
publish --generation 10 --runtime-dir "$T/stage"
cp "$T/stage/vfs.snapshot" "$T/run/vfs.snapshot"
wait_for 10 grep -q "serving generation 10" "$T/fused.log" || fail "generation 10 not served"
settle
ok "a valid snapshot copied over the served file is taken once whole"

# A writer that restarted its count (kvwatch without a file to continue from):
# generation 1 again, built after the one served, is taken.
publish --generation 1
# (by inotify, or by the 200 ms periodic check when it comes first)
wait_for 10 grep -Eq "serving generation 1 \((inotify|periodic check)\)" "$T/fused.log" ||
	fail "a restarted writer's generation 1 was not served"
settle
ok "a restarted writer's first generation, built later, is served"

touch "$T/walk.stop"
wait "$WALKER_PID"
[ "$(cat "$T/walk.count")" -gt 10 ] || fail "the walker made too few passes"
ok "the walker made $(cat "$T/walk.count") passes without an error"
grep -q "Bus error\|SIGBUS" "$T/fused.log" && fail "SIGBUS in fused"
stop_fused
check_sanitizer
