#!/bin/bash
# supervisor_restart_rate: a worker killed after its READY is restarted at once,
# even when the kill comes right after the READY, without a backoff step (the
# benchmark's kill -9 in a row); killed faster than one a second on average, it
# goes through the backoff after a burst of five and ends FATAL (a crash loop
# after READY); `meta-fuse restart fused` brings it back and the mount serves.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"

sv_library
sv_config
start_sv --watchdog-sec 10
FILE="$MNT/Movies/Inception (2010)/Inception.mkv"
SRC="$T/files/media1/Movies/Inception (2010)/Inception.mkv"

# kill_when_ready: wait for a running fused with a new pid, kill -9 it; prints
# the time from the previous kill to the new READY as seen here.
# fused's "pid state" from status.json (one jq call: the loop must be quick)
LAST=0
kill_when_ready() {
	local p st
	fresh() {
		read -r p st < <(jq -r '.workers[] | select(.name == "fused") | "\(.pid) \(.state)"' \
			"$RUN/status.json" 2>/dev/null)
		[ "${p:-0}" -gt 0 ] && [ "$p" != "$LAST" ] && [ "$st" = running ]
	}
	wait_for 30 fresh || return 1
	LAST=$p
	kill -9 "$p"
}

# --- three kills, the last two right after fused's READY (long before a good
# run of 1 s): each restarted at once ---
kill_when_ready || fail "fused never ran"
kill_when_ready || fail "fused was not restarted after the first kill: $(sv_status)"
t0=$(now_ms)
kill_when_ready || fail "fused was not restarted after the second kill: $(sv_status)"
echo "# fused: killed right after a READY, running again $(($(now_ms) - t0)) ms later (machine shared)"
wait_state fused running
expect_eq "$(grep -c "fused (signal 9 (Killed)) after [0-9.]* s: restarting it$" "$T/sv.log")" 3 \
	"three kills after READY: three restarts at once"
grep -q "fused .*restarting it in" "$T/sv.log" && fail "a kill after READY waited for a backoff step"
ok "no backoff step after a kill of a ready worker"
cmp "$FILE" "$SRC" || fail "FUSE read after the restarts"
ok "serving after the restarts"
sleep 3.5 # the allowance of restarts at once fills up again

# --- killed as soon as it is ready, again and again: a burst at once, then the
# backoff, then FATAL ---
n=0
fused_fatal() {
	[ "$(jq -r '.workers[] | select(.name == "fused") | .state' "$RUN/status.json")" = fatal ]
}
end=$((SECONDS + 120)) # the slower the machine, the more kills the allowance takes
while ! fused_fatal && [ $SECONDS -lt $end ]; do
	kill_when_ready || break
	n=$((n + 1))
done
wait_state fused fatal 60
echo "# fused: FATAL after $n kills in a row"
# Restarts at once before the first backoff step: the three above and a burst of five.
at_once=$(sed '/restarting it in/q' "$T/sv.log" |
	grep -c "fused (signal 9 (Killed)) after [0-9.]* s: restarting it$")
[ "$at_once" -ge 8 ] || fail "expected at least 8 restarts at once before the backoff, got $at_once"
ok "a burst of restarts at once ($at_once in all)"
grep -q "fused (signal 9 (Killed)) after [0-9.]* s, failure 2 in a row: restarting it in 0.2 s" "$T/sv.log" ||
	fail "no backoff step in the crash loop"
ok "a crash loop after READY backs off"
grep -q "fused failed 7 times in a row (last: signal 9 (Killed)): FATAL" "$T/sv.log" ||
	fail "no FATAL log line"
ok "a crash loop after READY ends FATAL"

# --- by hand: running and serving again ---
"$MF" restart -c "$T/mf.conf" fused >/dev/null || fail "meta-fuse restart fused failed"
wait_state fused running 30
cmp "$FILE" "$SRC" || fail "FUSE read after the restart by hand"
ok "meta-fuse restart brings a FATAL fused back, the mount serves"

stop_sv
