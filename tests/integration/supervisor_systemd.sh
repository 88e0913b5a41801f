#!/bin/bash
# supervisor_systemd: the supervisor's own sd_notify side, as systemd would
# see it with Type=notify and WatchdogSec=: READY=1 once every worker is ready
# (and not before kvwatch and fused are), a one-line STATUS=, RELOADING=1 and
# READY=1 around a reload, STOPPING=1 on SIGTERM, WATCHDOG=1 pings.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"
need python3

sv_library
sv_config
# A stand-in for systemd: records every datagram on its notify socket, one line
# per message (newlines inside a message become '|').
NAME="mf-test-notify-$$"
python3 - "$NAME" "$T/notify.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1])
with open(sys.argv[2], "w", buffering=1) as out:
    out.write("listening\n")
    while True:
        msg = s.recv(4096).decode(errors="replace")
        out.write(msg.replace("\n", "|") + "\n")
PY
LISTENER=$!
MF_PIDS+=("$LISTENER")
wait_for 10 grep -q listening "$T/notify.txt" || fail "the notify listener did not start"
NOTIFY_SOCKET="@$NAME" WATCHDOG_USEC=1000000 start_sv --watchdog-sec 10
wait_for 10 grep -q "^READY=1$" "$T/notify.txt" || fail "no READY=1: $(cat "$T/notify.txt")"
ok "READY=1 to systemd"
expect_eq "$(grep -c '^READY=1$' "$T/notify.txt")" 1 "READY=1 once"
ready_line=$(grep -n '^READY=1$' "$T/notify.txt" | cut -d: -f1)
# Every worker was ready before: the supervisor logged both before its READY.
grep -q "fused is ready" "$T/sv.log" || fail "fused not ready"
wait_for 10 grep -qE "^STATUS=([0-9]+) of \1 workers running" "$T/notify.txt" ||
	fail "no STATUS: $(cat "$T/notify.txt")"
ok "STATUS=N of N workers running"
wait_for 5 grep -q "^WATCHDOG=1$" "$T/notify.txt" || fail "no WATCHDOG=1 within 5 s (WATCHDOG_USEC 1 s)"
ok "WATCHDOG=1 pings"

"$MF" reload -c "$T/mf.conf" >/dev/null || fail "reload"
wait_for 10 grep -q "^RELOADING=1|MONOTONIC_USEC=[0-9]*$" "$T/notify.txt" || fail "no RELOADING=1: $(cat "$T/notify.txt")"
ok "RELOADING=1 with MONOTONIC_USEC"
rl=$(grep -n "^RELOADING=1" "$T/notify.txt" | cut -d: -f1)
awk -v r="$rl" 'NR > r && $0 == "READY=1" { found = 1 } END { exit !found }' "$T/notify.txt" ||
	fail "no READY=1 after RELOADING=1: $(cat "$T/notify.txt")"
ok "READY=1 after the reload"
[ "$ready_line" -lt "$rl" ] || fail "order"

stop_sv
grep -q "^STOPPING=1$" "$T/notify.txt" || fail "no STOPPING=1: $(cat "$T/notify.txt")"
ok "STOPPING=1"
