#!/bin/bash
# supervisor_crashloop: programs of the configuration go through the same
# machinery as the workers.  One that keeps failing (exit 75) is restarted with
# a growing delay and ends FATAL; one that exits 1 (a configuration error) is
# not retried at all; `meta-fuse restart NAME` tries a FATAL one again; a
# program runs as the readers' user and starts only after kvwatch's READY.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"

sv_library
sv_config 'programs = (
	{ name = "crashy"; command = [ "/bin/sh", "-c", "echo crashing; exit 75" ]; },
	{ name = "badconf"; command = [ "/bin/sh", "-c", "echo bad config >&2; exit 1" ]; },
	{ name = "steady"; command = [ "sleep", "1000" ]; }, # found in PATH
	{ name = "envy"; command = [ "/bin/sh", "-c", "echo \"FOO=$FOO\"; exec sleep 1000" ];
	  user = "61002"; environment = [ "FOO=bar baz" ]; },
	{ name = "oneshot"; command = [ "/bin/sh", "-c", "exit 75" ]; autorestart = false; },
	{ name = "nobody"; command = [ "/bin/sleep", "1000" ]; user = "no-such-user-mf"; },
	{ name = "stubborn"; command = [ "/bin/sh", "-c", "trap \"\" TERM; exec sleep 1000" ];
	  stop_timeout_ms = 500; }
);'
t0=$(now_ms)
start_bg sv "$MF" run -c "$T/mf.conf" --watchdog-sec 10
SV_PID=$LAST_PID
register_mount "$MNT"

wait_state badconf failed 30
expect_eq "$(wfield badconf restarts)" 1 "exit 1: one failure, no retry"
grep -q "badconf exited with status 1 (a configuration error)" "$T/sv.log" || fail "no log line for badconf"
ok "exit 1 is logged as a configuration error"

wait_state crashy fatal 60
t1=$(now_ms)
echo "# crashy: FATAL $((t1 - t0)) ms after start, $(wfield crashy restarts) failures"
expect_eq "$(wfield crashy restarts)" 7 "crashy: 7 failures, then FATAL"
# Delays 0, 0.2, 0.4, 0.8, 1.6, 3.2 s: at least 6 s between the first and FATAL.
[ $((t1 - t0)) -ge 6000 ] || fail "crashy went FATAL after $((t1 - t0)) ms: no backoff"
ok "the restarts backed off (>= 6 s to FATAL)"
grep -q "crashy failed 7 times in a row (last: exit 75): FATAL" "$T/sv.log" || fail "no FATAL log line"
ok "FATAL is logged"
expect_eq "$(grep -c "crashy: crashing" "$T/sv.log")" 7 "crashy's output forwarded, once per run"
sleep 1
expect_eq "$(wfield crashy restarts)" 7 "a FATAL program stays down"

wstate_is steady running || fail "steady is not running"
SP=$(wpid steady)
expect_match "$(grep ^Uid: /proc/$SP/status)" "^Uid:\s+$READER\s" "a program runs as the readers' user"
expect_match "$(grep ^CapEff: /proc/$SP/status)" "CapEff:\s+0+$" "a program has no capability"
# It started after kvwatch's READY.
kv_ready=$(grep -n "kvwatch is ready" "$T/sv.log" | head -1 | cut -d: -f1)
[ -n "$kv_ready" ] || fail "no READY of kvwatch in the log"
ok "kvwatch said READY before the programs ran"
first_crash=$(grep -n "crashy: crashing" "$T/sv.log" | head -1 | cut -d: -f1)
[ "$first_crash" -gt "$kv_ready" ] || fail "crashy ran before kvwatch's READY"
ok "the programs started after kvwatch's READY"

# --- a program's own settings ---
wait_state envy running 20
EP=$(wpid envy)
expect_match "$(grep ^Uid: /proc/$EP/status)" "^Uid:\s+61002\s" "a program's own user"
expect_match "$(grep ^Gid: /proc/$EP/status)" "^Gid:\s+61002\s" "its group: the same number (no passwd entry)"
wait_for 10 grep -q "^envy: FOO=bar baz$" "$T/sv.log" || fail "the program's environment did not arrive"
ok "a program's own environment"
wait_state nobody failed 20
expect_eq "$(wfield nobody pid)" 0 "a program whose user does not exist is not started"
expect_eq "$(wfield nobody lastExit)" "unknown user" "... and status says why"
grep -q 'program "nobody": user: user "no-such-user-mf" does not exist' "$T/sv.log" || fail "no log line for nobody"
ok "the unknown user is logged"
wait_state oneshot stopped 20
expect_eq "$(wfield oneshot restarts)" 0 "autorestart = false: not restarted"
grep -q "oneshot exited (exit 75); autorestart is off for it" "$T/sv.log" || fail "no log line for oneshot"
ok "autorestart = false is logged"
wait_state stubborn running 20
SBP=$(wpid stubborn)
t0=$(now_ms)
"$MF" restart -c "$T/mf.conf" stubborn >/dev/null
sb_new() { [ "$(wpid stubborn)" != "$SBP" ] && wstate_is stubborn running; }
wait_for 20 sb_new || fail "stubborn was not restarted"
el=$(($(now_ms) - t0))
[ "$el" -lt 5000 ] || fail "stubborn took $el ms: stop_timeout_ms = 500 not applied"
ok "stop_timeout_ms: a program that ignores SIGTERM is killed after its own timeout ($el ms)"
grep -q "stubborn (pid $SBP) did not stop in time after SIGTERM: SIGKILL" "$T/sv.log" || fail "no SIGKILL log line"
ok "the SIGKILL is logged"

# --- restart by hand: FATAL -> tried again ---
out=$("$MF" restart -c "$T/mf.conf" crashy)
expect_match "$out" "crashy is being started \(it was fatal\)" "restart of a FATAL program"
more() { [ "$(wfield crashy restarts)" -gt 7 ]; }
wait_for 20 more || fail "crashy was not started again"
ok "a FATAL program runs again after meta-fuse restart"
"$MF" restart -c "$T/mf.conf" badconf >/dev/null
more_bad() { [ "$(wfield badconf restarts)" -eq 2 ] && wstate_is badconf failed; }
wait_for 20 more_bad || fail "badconf was not tried again: $(sv_status)"
ok "a FAILED program is tried again by hand, and fails once"

stop_sv
