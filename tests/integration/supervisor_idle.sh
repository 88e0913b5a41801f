#!/bin/bash
# supervisor_idle: with the watchdog on (2 s here) an idle supervisor is not
# woken by the workers' pings: each worker pushes the deadline of its own
# timerfd, and the supervisor's context switches stay at zero over three
# periods while every worker stays up; a hung worker still lets its deadline
# pass and is killed and restarted, whichever loop pings (kvwatch's sd-event,
# davd's and apid's HTTP loop; fused's in supervisor_restart).  A second
# after every worker is ready the supervisor drops the page-table entries of its
# read-only file mappings (trim.c): what stays resident of its code while idle
# is printed and must be small, and it keeps working afterwards.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"

sv_library
sv_config
start_sv --watchdog-sec 2 -v
for w in davd apid; do
	wstate_is $w running || [ "$(wfield $w reason)" != "not built" ] || skip "$w is not built"
done
for w in kvwatch fused davd apid; do wait_state $w running; done

switches() { awk '/ctxt_switches/ { s += $2 } END { print s }' /proc/$1/status; }
declare -A before
for w in kvwatch fused davd apid; do before[$w]=$(wpid $w); done
sleep 2 # the start's STATUS messages are read, the trim a second later is done
s0=$(switches "$SV_PID")
sleep 6
s1=$(switches "$SV_PID")
cat /proc/$SV_PID/smaps >"$T/smaps"
for w in kvwatch fused davd apid; do
	expect_eq "$(wpid $w)" "${before[$w]}" "$w kept its deadline ahead over three periods"
done
echo "# the supervisor's context switches over 6 idle seconds: $((s1 - s0))"
expect_eq "$((s1 - s0))" 0 "no wake-up of the supervisor over 6 idle seconds (watchdog 2 s)"

# --- the trim: code and constants of the start-up no longer resident ---
grep -q "trimming [0-9]* read-only file mappings" "$T/sv.log" || fail "no trim logged"
# kB resident and mapped of the read-only file mappings without a private page
read -r rss size < <(awk 'function flush() { if (c && !anon) { r += rs; z += sz } }
	/^[0-9a-f]+-[0-9a-f]+ / { flush(); c = ($2 !~ /w/ && $6 ~ /^\//); rs = sz = anon = 0; next }
	/^Size:/ { sz = $2 } /^Rss:/ { rs = $2 } /^Anonymous:/ { anon = $2 }
	END { flush(); print r, z }' "$T/smaps")
echo "# idle supervisor: $rss kB of its $size kB of read-only file mappings resident"
[ "$rss" -lt 1536 ] || fail "expected less than 1536 kB of code resident while idle, got $rss kB"
ok "the start-up's code is no longer counted while idle"

# --- hung workers are still caught ---
for w in kvwatch davd; do
	old=$(wpid $w)
	kill -STOP "$old"
	t0=$(now_ms)
	gone() { [ "$(wpid $w)" != "$old" ] && wstate_is $w running; }
	wait_for 20 gone || fail "the watchdog did not restart the stopped $w: $(sv_status)"
	echo "# $w: SIGSTOP to running again in $(($(now_ms) - t0)) ms (watchdog 2 s)"
	expect_eq "$(wfield $w lastExit)" "killed by the watchdog" "the watchdog killed the hung $w"
	grep -q "$w (pid $old): no watchdog ping within 2.0 s, killing it" "$T/sv.log" ||
		fail "no log line for $w's watchdog"
done
curl -sf "http://127.0.0.1:$API_PORT/api/fuse/health" >/dev/null || fail "apid does not answer"
ok "apid answers after the others' restarts"

stop_sv
