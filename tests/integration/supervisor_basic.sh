#!/bin/bash
# supervisor_basic: `meta-fuse run` brings up kvwatch, then fused on a mount the
# supervisor made; the workers run as their own users with no capability and no
# new privileges; a reader's user cannot write, truncate, rename or replace the
# snapshot; status (table, JSON, status.json) tells the truth; a new generation
# reaches the reader; SIGTERM leaves no process and no mount.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"

sv_library
sv_config
start_sv --watchdog-sec 10 -v

# --- serving ---
cmp "$MNT/Movies/Inception (2010)/Inception.mkv" \
	"$T/files/media1/Movies/Inception (2010)/Inception.mkv" || fail "FUSE read differs"
ok "a FUSE read through the supervisor's mount"
expect_match "$(grep " $MNT " /proc/mounts)" "fuse.meta-fuse ro,.*user_id=$READER,group_id=$READER,default_permissions,allow_other" \
	"mounted read-only for the readers' user with default_permissions,allow_other"

dev=$(awk -v m="$MNT" '$5 == m { d = $3 } END { print d }' /proc/self/mountinfo)
wait_for 10 grep -qx 1024 "/sys/class/bdi/$dev/read_ahead_kb" ||
	fail "read_ahead_kb of the mount: expected 1024, got $(cat "/sys/class/bdi/$dev/read_ahead_kb")"
ok "the supervisor set fuse.read_ahead_kb (1024) on the mount"

# --- users, privileges, descriptors, environment ---
KP=$(wpid kvwatch)
FP=$(wpid fused)
expect_match "$(grep ^Uid: /proc/$KP/status)" "^Uid:\s+$WRITER\s+$WRITER\s+$WRITER\s+$WRITER$" "kvwatch runs as the writer"
expect_match "$(grep ^Gid: /proc/$KP/status)" "^Gid:\s+$WRITER\s+$WRITER\s+$WRITER\s+$WRITER$" "kvwatch's group: the writer's number (no passwd entry)"
expect_match "$(grep ^Uid: /proc/$FP/status)" "^Uid:\s+$READER\s+$READER\s+$READER\s+$READER$" "fused runs as the readers' user"
for p in $KP $FP; do
	n=$(tr '\0' ' ' </proc/$p/cmdline | cut -c1-40)
	expect_match "$(grep ^NoNewPrivs: /proc/$p/status)" "NoNewPrivs:\s+1" "$n: NoNewPrivs 1"
	for c in CapInh CapPrm CapEff CapBnd CapAmb; do
		expect_match "$(grep ^$c: /proc/$p/status)" "$c:\s+0+$" "$n: $c empty"
	done
	expect_match "$(grep ^Groups: /proc/$p/status)" "^Groups:\s*$" "$n: no supplementary groups"
	env=$(tr '\0' '\n' </proc/$p/environ)
	expect_match "$env" "^NOTIFY_SOCKET=@meta-fuse/" "$n: NOTIFY_SOCKET"
	expect_match "$env" "^META_FUSE_WATCHDOG_USEC=10000000$" "$n: its watchdog period"
	printf '%s\n' "$env" | grep_quiet "^WATCHDOG_USEC=" && fail "$n: WATCHDOG_USEC beside the timerfd"
	wfd=$(printf '%s\n' "$env" | sed -n 's/^META_FUSE_WATCHDOG_FD=//p')
	expect_eq "$(readlink /proc/$p/fd/$wfd)" "anon_inode:[timerfd]" "$n: its watchdog timerfd is fd $wfd"
	printf '%s\n' "$env" | grep_quiet "^MF_BUILD_DIR=" && fail "$n: the environment is not clean"
	ok "$n: a clean environment"
	[ "$(ps -o pgid= -p $p | tr -d ' ')" = "$p" ] || fail "$n: not its own process group"
	ok "$n: its own process group"
done
expect_eq "$(readlink /proc/$FP/fd/3)" "/dev/fuse" "fused got the FUSE descriptor as fd 3"
for fd in /proc/$KP/fd/*; do
	[ "$(readlink "$fd")" = /dev/fuse ] && fail "kvwatch holds /dev/fuse"
done
ok "kvwatch does not hold /dev/fuse"

# --- the runtime directory and the snapshot ---
expect_eq "$(stat -c '%u:%g %a' "$RUN")" "$WRITER:$READER 750" "runtime_dir: writer's, readers' group, 0750"
expect_eq "$(stat -c '%u %a' "$RUN/vfs.snapshot")" "$WRITER 444" "vfs.snapshot: the writer's, 0444"
asreader() {
	setpriv --reuid $READER --regid $READER --clear-groups -- sh -c "$1" 2>/dev/null
}
asreader "cat '$RUN/vfs.snapshot' >/dev/null" || fail "the reader cannot read the snapshot"
ok "the readers' user can read the snapshot"
asreader "echo x >>'$RUN/vfs.snapshot'" && fail "the reader could append to the snapshot"
asreader "truncate -s 0 '$RUN/vfs.snapshot'" && fail "the reader could truncate the snapshot"
asreader "mv '$RUN/vfs.snapshot' '$RUN/x'" && fail "the reader could rename the snapshot"
asreader "echo x >'$RUN/new'; mv -f '$RUN/new' '$RUN/vfs.snapshot'" && fail "the reader could replace the snapshot"
asreader "rm -f '$RUN/vfs.snapshot'" && fail "the reader could remove the snapshot"
[ -s "$RUN/vfs.snapshot" ] || fail "the snapshot was damaged"
ok "the readers' user cannot write, truncate, rename, replace or remove the snapshot"

# --- status ---
table=$("$MF" status -c "$T/mf.conf")
expect_match "$table" "kvwatch +running +$KP " "status table: kvwatch running"
expect_match "$table" "fused +running +$FP " "status table: fused running"
expect_match "$table" "generation [0-9]+, 3 files, store connected" "status table: the snapshot's figures"
for w in davd apid; do
	[ -x "$BIN/meta-fuse-$w" ] && continue
	expect_match "$table" "$w +skipped .*not built" "status names $w as not built"
	grep -q "$w: not built, skipped" "$T/sv.log" || fail "no log line for $w"
done
jq -e '.workers | map(.name) == ["kvwatch","fused","davd","apid"]' "$RUN/status.json" >/dev/null ||
	fail "status.json: $(cat "$RUN/status.json")"
expect_eq "$(jq -r '.workers[1].pid' "$RUN/status.json")" "$FP" "status.json names fused's pid"
expect_eq "$(stat -c %a "$RUN/control.sock")" "600" "control.sock is root's alone"

# --- a new generation reaches the reader ---
gen=$(sv_status | jq .generation)
sv_add m4 "media1/Movies/Heat (1995)/Heat.mkv" Heat 1995
chmod -R a+rX "$T/files"
rcli PUBLISH meta-sort:file:batch '{"timestamp":0,"changes":[{"action":"add","hashId":"m4"}]}' >/dev/null
fused_sees_new() {
	[ "$(sv_status | jq .generation)" -gt "$gen" ] &&
		[ "$(wfield fused status)" = "generation $(sv_status | jq .generation), 4 files" ]
}
wait_for 20 fused_sees_new || fail "fused did not report the new generation: $(sv_status)"
ok "the new generation reached fused ($(wfield fused status))"
g=$(sv_status | jq .generation)
grep -q "generation $g: readers told" "$T/sv.log" || fail "the supervisor did not signal generation $g"
ok "the supervisor sent SIGHUP to the readers for generation $g"
[ -f "$MNT/Movies/Heat (1995)/Heat.mkv" ] || fail "the new file is not in the mount"
ok "the new file is in the mount"

stop_sv
[ ! -e "$RUN/control.sock" ] || fail "control.sock left behind"
ok "control.sock removed"
