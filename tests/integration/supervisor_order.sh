#!/bin/bash
# supervisor_order: the start order of the configuration's programs.  A program
# with start_after = [ "apid" ] starts only once apid is ready (it finds the API
# answering); one with start_after = [ "first" ] and start_delay_ms waits for
# that program to be up (running for a second) and then the delay; a restart after a failure does not wait the
# delay again; one that waits for a program that failed stays "waiting" and
# status names whom it waits for.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"
need curl

sv_library
DELAY=2500
sv_config "programs = (
	{ name = \"third\"; command = [ \"sleep\", \"1000\" ]; start_after = [ \"broken\" ]; },
	{ name = \"second\"; start_after = [ \"first\" ]; start_delay_ms = $DELAY;
	  command = [ \"/bin/sh\", \"-c\", \"echo started; exec sleep 1000\" ]; },
	{ name = \"first\"; start_after = [ \"apid\" ];
	  command = [ \"/bin/sh\", \"-c\",
	    \"curl -sf http://127.0.0.1:$API_PORT/health >/dev/null && echo apid answers; echo started; exec sleep 1000\" ]; },
	{ name = \"broken\"; command = [ \"/bin/sh\", \"-c\", \"exit 1\" ]; }
);"
[ -x "$BIN/meta-fuse-apid" ] || skip "apid is not built"
start_bg sv "$MF" run -c "$T/mf.conf" --watchdog-sec 10
SV_PID=$LAST_PID
register_mount "$MNT"

wait_state first running 30
wait_for 10 grep -q "^first: started$" "$T/sv.log" || fail "first did not say it started"
grep -q "^first: apid answers$" "$T/sv.log" || fail "first started before apid answered"
ok "start_after = [ \"apid\" ]: the API answered when the program started"
# A program is up for its followers once it has run a second.
delaying() { [ "$(wfield second waitingFor)" = "start delay" ]; }
wait_for 10 delaying || fail "second is not waiting its start delay: $(sv_status)"
ok "second waits for first, then its start delay"
wait_state second running 30
wait_for 10 grep -q "^second: started$" "$T/sv.log" || fail "second did not say it started"
# The supervisor's times of both starts (ms since the epoch; timers never fire early).
t1=$(wfield first since)
t2=$(wfield second since)
echo "# second started $((t2 - t1)) ms after first (1 s to be up, then start_delay_ms = $DELAY)"
[ $((t2 - t1)) -ge $((DELAY + 1000)) ] ||
	fail "expected second at least $((DELAY + 1000)) ms after first, got $((t2 - t1)) ms"
ok "start_after = [ \"first\" ] and the start delay"

# --- a program waiting for a failed one stays waiting, and says for whom ---
wait_state broken failed 20
wait_state third waiting 5
expect_eq "$(wfield third waitingFor)" "broken" "status: third waits for broken"
expect_eq "$(wfield third pid)" 0 "third was never started"
expect_match "$("$MF" status -c "$T/mf.conf" | grep "^third ")" "waiting for broken$" \
	"meta-fuse status: third is waiting for broken"

# --- a restart after a failure does not wait the delay again ---
sleep 1.1 # a good run
P2=$(wpid second)
t0=$(now_ms)
kill -9 "$P2"
again() { [ "$(wpid second)" != "$P2" ] && wstate_is second running; }
wait_for 20 again || fail "second was not restarted: $(sv_status)"
el=$(($(now_ms) - t0))
echo "# second: kill -9 to running again in $el ms"
[ "$el" -lt $DELAY ] || fail "the restart after a kill waited the start delay ($el ms)"
ok "a restart after a failure skips the start delay"

# --- check-config prints the order ---
out=$("$MF" check-config -c "$T/mf.conf")
expect_match "$out" 'programs\.second\.start_after = \[ "first" \]' "check-config: start_after"
expect_match "$out" "programs\.second\.start_delay_ms = $DELAY" "check-config: start_delay_ms"

stop_sv
