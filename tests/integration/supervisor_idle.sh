#!/bin/bash
# supervisor_idle: with the watchdog on (2 s here) an idle supervisor is not
# woken by the workers' pings: each worker pushes the deadline of its own
# timerfd, and the supervisor's context switches stay at zero over three
# periods while every worker stays up; a hung worker still lets its deadline
# pass and is killed and restarted, whichever loop pings (kvwatch's sd-event,
# davd's and apid's HTTP loop; fused's in supervisor_restart).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"

sv_library
sv_config
start_sv --watchdog-sec 2
for w in davd apid; do
	wstate_is $w running || [ "$(wfield $w reason)" != "not built" ] || skip "$w is not built"
done
for w in kvwatch fused davd apid; do wait_state $w running; done

switches() { awk '/ctxt_switches/ { s += $2 } END { print s }' /proc/$1/status; }
declare -A before
for w in kvwatch fused davd apid; do before[$w]=$(wpid $w); done
sleep 1 # the start's STATUS messages are read
s0=$(switches "$SV_PID")
sleep 6
s1=$(switches "$SV_PID")
for w in kvwatch fused davd apid; do
	expect_eq "$(wpid $w)" "${before[$w]}" "$w kept its deadline ahead over three periods"
done
echo "# the supervisor's context switches over 6 idle seconds: $((s1 - s0))"
expect_eq "$((s1 - s0))" 0 "no wake-up of the supervisor over 6 idle seconds (watchdog 2 s)"

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
