#!/bin/bash
# supervisor_pid1: the supervisor as PID 1 of a new PID namespace
# (unshare --pid --fork --mount-proc) runs the suite and reaps the orphans its
# workers leave; outside a namespace it is a child subreaper, and a process
# that escaped its worker's process group (setsid) does not outlive it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"
need unshare pgrep

sv_library
# orphans: a child whose parent exits at once (reparented to us, exits after
# 0.3 s: must be reaped), and one in a session of its own that stays.  Their
# durations are this run's own, so another run of the test cannot be mistaken
# for them.
STAY=$((1000000 + $$ * 2))
ESCAPE=$((STAY + 1))
sv_config "programs = (
	{ name = \"orphans\"; command = [ \"/bin/sh\", \"-c\",
	  \"(sleep 0.3 &); (setsid sleep $ESCAPE </dev/null >/dev/null 2>&1 &); exec sleep $STAY\" ]; }
);"

# --- PID 1 ---
start_bg sv unshare --pid --fork --mount-proc "$MF" run -c "$T/mf.conf" --watchdog-sec 10
UNSHARE_PID=$LAST_PID
wait_for 60 sv_state_is running || fail "the supervisor did not get ready in the namespace: $(sv_status)"
SV=$(pgrep -P "$UNSHARE_PID" | head -1)
expect_match "$(grep ^NSpid: /proc/$SV/status)" "NSpid:\s+$SV\s+1$" "the supervisor is PID 1 of its namespace"
wait_state orphans running 20
sleep 1
zombies=$(ps --ppid "$SV" -o stat= | grep -c '^Z')
expect_eq "$zombies" 0 "no zombie under PID 1 (orphans reaped)"
expect_match "$(ps --ppid "$SV" -o args=)" "sleep $ESCAPE" "the setsid orphan was reparented to PID 1"
kill -TERM "$SV"
wait "$UNSHARE_PID"
expect_eq "$?" 0 "PID 1 exits 0 on SIGTERM"
pgrep -f "^sleep ($STAY|$ESCAPE)$" >/dev/null && fail "a process of the namespace outlived it"
ok "nothing of the namespace is left"

# --- subreaper, no namespace: the setsid orphan goes with the supervisor ---
start_sv --watchdog-sec 10
wait_state orphans running 20
sleep 0.5
ORPHAN=$(pgrep -f "^sleep $ESCAPE$" | head -1)
[ -n "$ORPHAN" ] || fail "no setsid orphan found"
expect_eq "$(ps -o ppid= -p "$ORPHAN" | tr -d ' ')" "$SV_PID" "the orphan's parent is the supervisor (subreaper)"
kill -TERM "$SV_PID"
wait "$SV_PID"
expect_eq "$?" 0 "the supervisor exits 0"
kill -0 "$ORPHAN" 2>/dev/null && fail "the setsid orphan outlived the supervisor"
ok "the setsid orphan did not outlive the supervisor"
grep -q "killing leftover process $ORPHAN" "$T/sv.log" || fail "no log line for the leftover"
ok "the leftover is logged"
grep -qs " $MNT fuse" /proc/mounts && fail "mount left"
ok "no mount left"
check_sanitizer
