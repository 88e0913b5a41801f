#!/bin/bash
# supervisor_cli: the control commands through control.sock.  `refresh` makes
# kvwatch resync everything (a large removal found that way is held back, and
# status says so); `confirm-removals` applies it; anybody but root is refused
# with a clear message; `stop` takes everything down.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"

sv_library
sv_config
sed -i 's/debounce_ms = 50;/debounce_ms = 50; refresh_interval_ms = 600000; hold_threshold_percent = 20; hold_time_ms = 0;/' "$T/mf.conf"
start_sv --watchdog-sec 10
C=(-c "$T/mf.conf")
files() { sv_status | jq -r '.snapshot.files'; }
expect_eq "$(files)" 3 "3 files"

# --- refresh: a full resync; two of three files went quietly -> held ---
rcli DEL meta-sort:file:m2:filePath meta-sort:file:m3:filePath >/dev/null
sleep 0.3
expect_eq "$(files)" 3 "no resync without refresh"
out=$("$MF" refresh "${C[@]}")
expect_eq "$?" 0 "refresh: exit 0"
expect_match "$out" "full resync" "refresh answers"
held() { sv_status | jq -e '.snapshot.held and .snapshot.heldRemovals == 2' >/dev/null; }
wait_for 20 held || fail "the resync did not hold the removal: $(sv_status)"
ok "refresh resynced; the large removal is held"
expect_eq "$(files)" 3 "held: still 3 files"
expect_match "$("$MF" status "${C[@]}")" "2 removals held \(meta-fuse confirm-removals applies them\)" \
	"status tells about the held removals"

# --- confirm-removals ---
out=$("$MF" confirm-removals "${C[@]}")
expect_eq "$?" 0 "confirm-removals: exit 0"
applied() { sv_status | jq -e '.snapshot.files == 1 and (.snapshot.held | not)' >/dev/null; }
wait_for 20 applied || fail "the held removal was not applied: $(sv_status)"
ok "confirm-removals applied the removal"
wait_for 10 test ! -e "$MNT/Movies/Alien (1979)" || fail "the mount still shows a removed file"
ok "the mount follows"

# --- not root: refused, clearly ---
for cmd in status stop; do
	out=$(setpriv --reuid $READER --regid $READER --clear-groups -- "$MF" $cmd --runtime-dir "$RUN" 2>&1)
	rc=$?
	expect_eq "$rc" 1 "$cmd as uid $READER: exit 1"
	expect_match "$out" "permission denied: the control socket is for root only" "$cmd as uid $READER: the message"
done
wstate_is kvwatch running || fail "a refused stop stopped something"
ok "nothing stopped by the refused request"

# --- hostile input ---
# On control.sock: garbage and an oversized request get a refusal; the
# supervisor carries on.
ctl_raw() {
	python3 - "$RUN/control.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.send(sys.argv[2].encode())
print(s.recv(65536).decode().replace("\n", " "))
PY
}
expect_eq "$(ctl_raw "bogus")" "1 unknown request" "a garbage request is refused"
expect_eq "$(ctl_raw "$(head -c 20000 /dev/zero | tr '\0' a)")" "1 unknown request" "an oversized request is refused"
expect_eq "$(ctl_raw "restart $(head -c 3000 /dev/zero | tr '\0' b)")" "1 no worker named \"$(head -c 248 /dev/zero | tr '\0' b)\"" \
	"an oversized name is cut, not overflowed"
# Clients that connect and never ask: at most 32 wait, the oldest make room
# for new ones, and a real request is still answered.
python3 - "$RUN/control.sock" <<'PY' &
import socket, sys, time
held = []
for _ in range(40):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sys.argv[1])
    held.append(s)
time.sleep(3)
PY
HOLDER=$!
sleep 1
sv_status >/dev/null || fail "no answer while 40 idle connections are held"
ok "idle connections cannot block control.sock"
wait_for 5 grep -q "control: 32 connections wait for their request; dropping the oldest" \
	"$T/sv.log" || fail "no log line for the dropped connections"
ok "the dropped idle connections are logged"
wait "$HOLDER"
sv_status >/dev/null || fail "control.sock does not serve after the idle clients left"
ok "control.sock serves once they left"
# On the notify socket: a process that is not a worker is not listened to.
FP=$(wpid fused)
NS=$(tr '\0' '\n' </proc/$FP/environ | sed -n 's/^NOTIFY_SOCKET=//p')
python3 - "$NS" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"WATCHDOG=trigger\nGENERATION=424242\nSTATUS=spoofed\nREADY=1", "\0" + sys.argv[1][1:])
PY
sleep 0.5
expect_eq "$(wpid fused)" "$FP" "a spoofed WATCHDOG=trigger kills nobody"
[ "$(sv_status | jq .generation)" != 424242 ] || fail "a spoofed GENERATION was taken"
ok "a spoofed GENERATION is ignored"
sv_status | jq -r '.workers[].status' | grep_quiet spoofed && fail "a spoofed STATUS was taken"
ok "a spoofed STATUS is ignored"

# --- bad usage ---
"$MF" restart "${C[@]}" 2>/dev/null
expect_eq "$?" 1 "restart without a name: exit 1"
"$MF" status --runtime-dir "$T/nowhere" 2>"$T/err.txt"
expect_eq "$?" 75 "status without a supervisor: exit 75"
expect_match "$(cat "$T/err.txt")" "the supervisor is not running" "status without a supervisor: the message"

# --- stop ---
out=$("$MF" stop "${C[@]}")
expect_eq "$out" "stopping" "stop answers"
wait "$SV_PID"
expect_eq "$?" 0 "the supervisor exits 0 after meta-fuse stop"
grep -qs " $MNT fuse" /proc/mounts && fail "mount left after stop"
[ -z "$(sv_procs)" ] || fail "processes left after stop"
ok "stop leaves no mount and no process"
check_sanitizer
