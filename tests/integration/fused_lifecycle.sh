#!/bin/bash
# fused_lifecycle: how meta-fuse-fused starts and stops.  SIGTERM and SIGINT
# unmount and exit 0; a killed fused leaves no mount behind (auto_unmount); a
# second fused on the same mount point is refused; a stale mount left by a dead
# daemon is detected and replaced; a descriptor mounted by someone else (the
# supervisor's way) is served with --fuse-fd, where fused itself answers writes
# with EROFS; sd_notify READY, STATUS and watchdog pings arrive; bad usage and
# configuration exit 1, other failures (pipe()) 75.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fused_lib.sh"
need mount

fused_config
make_library 3 3
publish

# --- SIGTERM, SIGINT ---
start_fused
stop_fused

# A file still open when fused stops: the kernel never sends its RELEASE, and
# fused frees the handle itself (a leak fails the sanitizer build's exit code).
start_fused
held=$(find "$MNT" -type f | head -1)
[ -n "$held" ] || fail "no file in the mount"
exec 8<"$held"
stop_fused
exec 8<&-
ok "a handle open at SIGTERM is freed"
start_bg fused2 "$BIN/meta-fuse-fused" -c "$T/fused.conf"
P=$LAST_PID
register_mount "$MNT"
wait_for 10 grep -qs " $MNT fuse" /proc/mounts || fail "no mount"
kill -INT "$P"
wait "$P"
expect_eq "$?" 0 "fused exits 0 on SIGINT"
is_mounted && fail "still mounted after SIGINT"
ok "SIGINT unmounts"

# --- sd_notify: READY once mounted, STATUS per generation, watchdog pings ---
cat >"$T/notify.py" <<'EOP'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        out.write(s.recv(4096).decode(errors="replace").replace("\n", " ") + "\n")
        out.flush()
EOP
start_bg notify python3 "$T/notify.py" "$T/notify.sock" "$T/notify.msgs"
wait_for 30 test -S "$T/notify.sock" || fail "the notify listener did not start"
NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=200000 start_fused
wait_for 5 grep -q "READY=1" "$T/notify.msgs" || fail "no READY=1"
wait_for 5 bash -c "[ \$(grep -c 'WATCHDOG=1' '$T/notify.msgs') -ge 5 ]" ||
	fail "fewer than 5 watchdog pings in 5 s with WATCHDOG_USEC=200000"
ok "READY=1 and watchdog pings from the control loop"
publish --generation 7
kill -HUP "$FUSED_PID"
wait_for 5 grep -q "STATUS=generation 7" "$T/notify.msgs" || fail "no STATUS for generation 7"
ok "STATUS on a new generation"
stop_fused

# --- killed: fused's unmounter takes the mount away (after directories were
# opened, when the kernel no longer sends opendir) ---
start_fused
ls -R "$MNT" >/dev/null
kill -KILL "$FUSED_PID"
wait "$FUSED_PID" 2>/dev/null
wait_for 5 bash -c "! grep -qs ' $MNT fuse' /proc/mounts" || fail "mount left behind by a killed fused"
ok "a killed fused leaves no mount"

# --- started as root with another uid/gid: privileges dropped, still unmounts ---
chmod 755 "$T"
fused_config uid=65534 gid=65534
start_fused
expect_eq "$(awk '/^Uid:/ {print $2 $3 $4 $5}' /proc/$FUSED_PID/status)" 65534655346553465534 \
	"runs as the configured uid"
expect_eq "$(awk '/^Gid:/ {print $2}' /proc/$FUSED_PID/status)" 65534 "and gid"
expect_eq "$(awk '/^NoNewPrivs:/ {print $2}' /proc/$FUSED_PID/status)" 1 "with no_new_privs"
expect_eq "$(awk '/^CapEff:/ {print $2}' /proc/$FUSED_PID/status)" 0000000000000000 \
	"and no capabilities"
expect_eq "$(stat -c '%u:%g' "$MNT/Other/leftover.bin")" "65534:65534" "files belong to uid:gid"
expect_eq "$(md5sum <"$MNT/Other/leftover.bin")" "$(md5sum <"$T/files/media2/leftover.bin")" \
	"and read"
stop_fused
start_fused
ls -R "$MNT" >/dev/null
kill -KILL "$FUSED_PID"
wait "$FUSED_PID" 2>/dev/null
wait_for 5 bash -c "! grep -qs ' $MNT fuse' /proc/mounts" || fail "mount left behind by a killed unprivileged fused"
ok "a killed unprivileged fused leaves no mount"
fused_config

# --- a second fused on a live mount is refused ---
start_fused
"$BIN/meta-fuse-fused" -c "$T/fused.conf" >"$T/second.log" 2>&1
expect_eq "$?" 75 "a second fused exits EX_TEMPFAIL"
expect_match "$(cat "$T/second.log")" "already served by a running meta-fuse" "and says why"
expect_eq "$(cat "$MNT/Other/leftover.bin" | md5sum)" "$(md5sum <"$T/files/media2/leftover.bin")" \
	"the first one still serves"
stop_fused

# --- the supervisor's way: a mounted /dev/fuse descriptor; then a stale mount ---
# No "ro" in this mount, so that the writes below reach fused's own handlers.
exec 7<>/dev/fuse
mount -i -t fuse.meta-fuse -o fd=7,rootmode=40000,user_id=0,group_id=0,default_permissions \
	meta-fuse "$MNT" || skip "cannot mount a /dev/fuse descriptor here"
register_mount "$MNT"
start_bg fdmode "$BIN/meta-fuse-fused" -c "$T/fused.conf" --fuse-fd 7 -v
P=$LAST_PID
exec 7<&-
wait_for 10 grep -q "mounted at \"/dev/fd/7\"" "$T/fdmode.log" || fail "fused did not take fd 7"
expect_eq "$(md5sum <"$MNT/Other/leftover.bin")" "$(md5sum <"$T/files/media2/leftover.bin")" \
	"--fuse-fd serves the mount"
out=$(touch "$MNT/Other/new" 2>&1) && fail "create succeeded"
expect_match "$out" "Read-only file system" "create on a rw mount: fused answers EROFS"
out=$(mkdir "$MNT/Other/d" 2>&1) && fail "mkdir succeeded"
expect_match "$out" "Read-only file system" "mkdir: EROFS"
out=$(bash -c "echo x >>'$MNT/Other/leftover.bin'" 2>&1) && fail "append succeeded"
expect_match "$out" "Read-only file system" "open for writing: EROFS"
out=$(rm "$MNT/Other/leftover.bin" 2>&1) && fail "unlink succeeded"
expect_match "$out" "Read-only file system" "unlink: EROFS"
out=$(setfattr -n user.meta.title -v x "$MNT/Other/leftover.bin" 2>&1) && fail "setxattr succeeded"
expect_match "$out" "Read-only file system" "setxattr: EROFS"

kill -KILL "$P"
wait "$P" 2>/dev/null
out=$(ls "$MNT" 2>&1)
expect_match "$out" "not connected" "a killed fd-mode fused leaves a stale mount"
start_fused
expect_match "$(cat "$T/fused.log")" "stale FUSE mount .*detaching it" "the stale mount is reported"
expect_eq "$(md5sum <"$MNT/Other/leftover.bin")" "$(md5sum <"$T/files/media2/leftover.bin")" \
	"and replaced by a working one"
expect_eq "$(grep -c " $MNT fuse" /proc/mounts)" 1 "one mount, the stale one is gone"
stop_fused

# --- usage and configuration errors ---
"$BIN/meta-fuse-fused" -c "$T/nonexistent.conf" >"$T/err.log" 2>&1
expect_eq "$?" 1 "a missing config exits 1"
echo 'fuse = { file_mode = "9x"; };' >"$T/bad.conf"
"$BIN/meta-fuse-fused" -c "$T/bad.conf" >"$T/err.log" 2>&1
expect_eq "$?" 1 "a bad config exits 1"
"$BIN/meta-fuse-fused" -c "$T/fused.conf" --fuse-fd 99 >"$T/err.log" 2>&1
expect_eq "$?" 1 "--fuse-fd of a closed descriptor exits 1"
expect_match "$(cat "$T/err.log")" "not an open descriptor" "and says so"
"$BIN/meta-fuse-fused" -c "$T/fused.conf" --bogus >"$T/err.log" 2>&1
expect_eq "$?" 1 "an unknown option exits 1"

# --- other failures exit 75 (restart), not 1 ---
# Too few descriptors for pipe(): raise the limit one at a time until fused gets
# past its first descriptors and fails at pipe() (how many it opens before
# differs between builds, so the limit is searched, not assumed).
found=""
for n in $(seq 3 24); do
	(ulimit -n "$n" && exec "$BIN/meta-fuse-fused" -c "$T/fused.conf") >"$T/nofile.log" 2>&1 &
	P=$!
	wait_for 10 bash -c "! kill -0 $P 2>/dev/null || grep -q 'mounted at' '$T/nofile.log'"
	if kill -0 "$P" 2>/dev/null; then
		kill -TERM "$P"
		wait "$P"
		break
	fi
	wait "$P"
	rc=$?
	if grep -q "pipe: Too many open files" "$T/nofile.log" &&
		! grep -q "Sanitizer has encountered" "$T/nofile.log"; then
		found=$n
		break
	fi
done
[ -n "$found" ] || fail "no descriptor limit made pipe() fail"
expect_eq "$rc" 75 "pipe() failing (ulimit -n $found) exits 75"
is_mounted && fail "a failed start left a mount"
ok "failed starts leave no mount"
check_sanitizer
