#!/bin/bash
# supervisor_restart: kill -9 of each worker: it is restarted and serves again
# (a FUSE read), and the time from the kill to its READY is printed; the mount
# never shows the empty directory beneath while fused is replaced; a hung
# worker (SIGSTOP) is killed by the watchdog and restarted; `meta-fuse restart
# NAME` restarts one worker and nothing else.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"

sv_library
sv_config
start_sv --watchdog-sec 2
FILE="$MNT/Movies/Inception (2010)/Inception.mkv"
SRC="$T/files/media1/Movies/Inception (2010)/Inception.mkv"

# kill9 NAME: kill -9, wait for a new pid that is running; prints the time.
kill9() {
	local name=$1 old new t0 t1
	old=$(wpid "$name")
	[ "$old" -gt 0 ] || fail "$name has no pid"
	t0=$(now_ms)
	kill -9 "$old"
	restarted() {
		new=$(wpid "$name")
		[ "$new" -gt 0 ] && [ "$new" != "$old" ] && wstate_is "$name" running
	}
	wait_for 20 restarted || fail "$name was not restarted: $(sv_status)"
	t1=$(now_ms)
	echo "# $name: kill -9 to READY in $((t1 - t0)) ms (polled through status; machine shared)"
	expect_match "$(wfield "$name" lastExit)" "signal 9" "$name: last exit is signal 9"
}

# --- fused: restarted on a fresh mount, no window with the empty directory ---
# A reader stats the mount in a loop during the switch: it may see an error
# (the dead mount: ENOTCONN) but never an empty directory.
(
	end=$((SECONDS + 4))
	while [ $SECONDS -lt $end ]; do
		# One listing: its status and its output belong together.
		if out=$(ls "$MNT" 2>/dev/null) && [ -z "$out" ]; then
			echo empty >"$T/saw-empty"
		fi
	done
) &
WATCHER=$!
sleep 0.2
for i in 1 2 3; do
	kill9 fused
	cmp "$FILE" "$SRC" || fail "FUSE read after fused's restart"
	ok "fused serves again after kill -9 ($i)"
	sleep 1.1 # a good run: the backoff starts over
done
wait $WATCHER
[ -e "$T/saw-empty" ] && fail "the mount point showed the empty directory during a restart"
ok "the mount point never showed the empty directory"
expect_eq "$(grep -c " $MNT fuse" /proc/mounts)" 1 "one mount at the mount point (the dead ones detached)"
expect_eq "$(wfield fused restarts)" 3 "fused: 3 restarts counted"

# --- kvwatch: restarted; the reader keeps serving meanwhile ---
FP=$(wpid fused)
kill9 kvwatch
expect_eq "$(wpid fused)" "$FP" "fused was not restarted with kvwatch"
cmp "$FILE" "$SRC" || fail "FUSE read after kvwatch's restart"
ok "served throughout kvwatch's restart"

# --- the watchdog: a stopped worker is killed and restarted ---
sleep 1.1
old=$(wpid fused)
kill -STOP "$old"
t0=$(now_ms)
wd_restarted() {
	[ "$(wpid fused)" != "$old" ] && wstate_is fused running
}
wait_for 20 wd_restarted || fail "the watchdog did not restart the stopped fused: $(sv_status)"
echo "# fused: SIGSTOP to running again in $(($(now_ms) - t0)) ms (watchdog 2 s)"
expect_eq "$(wfield fused lastExit)" "killed by the watchdog" "the watchdog killed the hung fused"
cmp "$FILE" "$SRC" || fail "FUSE read after the watchdog's restart"
ok "serving again after the watchdog"
grep -q "fused (pid $old): no watchdog ping" "$T/sv.log" || fail "no log line for the watchdog"
ok "the watchdog kill is logged"

# --- restart by hand ---
KP=$(wpid kvwatch)
FP=$(wpid fused)
out=$("$MF" restart -c "$T/mf.conf" fused)
expect_match "$out" "fused \(pid $FP\) is being restarted" "meta-fuse restart fused answers"
fp_new() { [ "$(wpid fused)" != "$FP" ] && wstate_is fused running; }
wait_for 20 fp_new || fail "fused was not restarted by hand"
ok "meta-fuse restart fused: a new fused"
expect_eq "$(wpid kvwatch)" "$KP" "kvwatch untouched by restart fused"
cmp "$FILE" "$SRC" || fail "FUSE read after the restart by hand"
ok "serving after the restart by hand"
"$MF" restart -c "$T/mf.conf" nosuch 2>"$T/err.txt"
expect_eq "$?" 1 "restart of an unknown worker: exit 1"
expect_match "$(cat "$T/err.txt")" "no worker named \"nosuch\"" "restart of an unknown worker: the message"

stop_sv
