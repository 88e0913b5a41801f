#!/bin/bash
# supervisor_space: a mount point with a space in its name.  /proc/self/mountinfo
# writes it "\040"-escaped; the supervisor must still know the mount as its own:
# it hands fused the mount's read_ahead_kb, mounts afresh beneath a killed fused,
# and leaves nothing mounted when it stops.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/supervisor_lib.sh"
need mountpoint

MNT="$T/my media"
mkdir -p "$MNT"
sv_library
sv_config
start_sv --watchdog-sec 10
FILE="$MNT/Movies/Inception (2010)/Inception.mkv"
cmp "$FILE" "$T/files/media1/Movies/Inception (2010)/Inception.mkv" || fail "FUSE read differs"
ok "a read through a mount point with a space"

dev=$(stat -c '%Hd:%Ld' "$MNT")
wait_for 10 grep -qx 1024 "/sys/class/bdi/$dev/read_ahead_kb" ||
	fail "read_ahead_kb: expected 1024, got $(cat "/sys/class/bdi/$dev/read_ahead_kb")"
ok "fuse.read_ahead_kb set on the mount"

# mounts_here: how many mounts mountinfo lists at $MNT (written escaped there).
mounts_here() {
	M="${MNT// /\\040}" awk '$5 == ENVIRON["M"]' /proc/self/mountinfo | wc -l
}
one_mount_here() {
	[ "$(mounts_here)" = 1 ]
}
expect_eq "$(mounts_here)" 1 "mountinfo lists the escaped mount point once"
# A killed fused: the fresh mount goes in beneath the dead one, which is then
# detached; with the mount not known as ours, the dead one would stay on top.
FP=$(wpid fused)
fused_replaced() {
	[ "$(wpid fused)" != "$FP" ] && wstate_is fused running
}
kill -KILL "$FP"
wait_for 30 fused_replaced || fail "fused was not restarted: $(sv_status)"
wait_for 10 cmp -s "$FILE" "$T/files/media1/Movies/Inception (2010)/Inception.mkv" ||
	fail "no read after fused was killed"
wait_for 10 one_mount_here ||
	fail "the dead mount stayed: $(mounts_here) mounts at the mount point"
ok "the dead mount was detached, one mount left"

kill -TERM "$SV_PID"
wait "$SV_PID"
expect_eq "$?" 0 "the supervisor exits 0 on SIGTERM"
mountpoint -q "$MNT" && fail "the mount with a space is still there"
ok "no mount left"
check_sanitizer
