#!/bin/bash
# supervisor_nowatchdog: --watchdog-sec 0 turns the workers' watchdog off: no
# descriptor and no WATCHDOG_USEC are passed, and once a worker is READY its
# start timeout no longer holds (here 2 s: every worker is still the same
# process after three times that); the supervisor is not woken meanwhile.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"

sv_library
sv_config
start_sv --watchdog-sec 0 --start-timeout-sec 2
declare -A before
for w in kvwatch fused; do
	wait_state $w running
	before[$w]=$(wpid $w)
done
env=$(tr '\0' '\n' </proc/${before[fused]}/environ)
printf '%s\n' "$env" | grep_quiet "^META_FUSE_WATCHDOG_" && fail "a watchdog descriptor passed with the watchdog off"
printf '%s\n' "$env" | grep_quiet "^WATCHDOG_USEC=" && fail "WATCHDOG_USEC passed with the watchdog off"
ok "no watchdog passed with --watchdog-sec 0"
switches() { awk '/ctxt_switches/ { s += $2 } END { print s }' /proc/$1/status; }
sleep 2 # the trim a second after the start is done
s0=$(switches "$SV_PID")
sleep 5
s1=$(switches "$SV_PID")
for w in kvwatch fused; do
	expect_eq "$(wpid $w)" "${before[$w]}" "$w still runs 7 s after its READY (start timeout 2 s)"
	expect_eq "$(wfield $w restarts)" 0 "$w: no restart"
done
grep -q "no watchdog ping" "$T/sv.log" && fail "a worker was killed by the start timeout after its READY"
ok "the start timeout ends at READY"
echo "# the supervisor's context switches over 5 idle seconds: $((s1 - s0))"
expect_eq "$((s1 - s0))" 0 "no wake-up of the supervisor over 5 idle seconds (watchdog off)"
stop_sv
