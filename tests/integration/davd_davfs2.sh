#!/bin/bash
# davd_davfs2: Debian's davfs2 mounts the share; files read through the mount
# have the source's bytes, stat gives their sizes, and the directory listing
# matches the snapshot.  With its default use_locks, davfs2 sees a class 1
# share, says it will not lock, and sends no LOCK.  On kernels where davfs2's own FUSE code cannot list
# directories (readdir fails with EINVAL whatever the server: rclone serve
# webdav fails the same way) the rest is checked and the test then reports
# itself skipped with that reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/davd_lib.sh"
need mount.davfs
[ "$(id -u)" -eq 0 ] || skip "mounting davfs2 needs root"
[ -c /dev/fuse ] || skip "no /dev/fuse"
id davfs2 >/dev/null 2>&1 || skip "no davfs2 user"

serve_media
MNT="$T/mnt"
mkdir -p "$MNT" "$T/cache"
chown davfs2: "$T/cache"
chmod 777 "$T/cache"
chmod 711 "$T" # davfs2 drops to its own user and must reach its cache
# davfs2's default use_locks 1: it sees "DAV: 1", says so and goes on without locks.
printf 'secrets %s\ncache_dir %s\n' "$T/secrets" "$T/cache" >"$T/davfs2.conf"
printf '%s/ %s %s\n' "$URL" "$DAV_USER" "$DAV_PASS" >"$T/secrets"
chmod 600 "$T/secrets"
timeout 30 mount.davfs -o "conf=$T/davfs2.conf,ro" "$URL/" "$MNT" >"$T/mount.log" 2>&1 ||
	skip "mount.davfs failed: $(tail -n 2 "$T/mount.log")"
unmount_davfs() { grep -qs " $MNT " /proc/mounts && umount "$MNT"; }
trap 'r=$?; unmount_davfs; (exit $r); mf_cleanup' EXIT

f="$MNT/Movies/Big One (2020)/Big One.mkv"
expect_eq "$(md5sum <"$f")" "$(md5sum <"$T/files/m/big.mkv")" "reading a file through davfs2: the source's bytes"
expect_eq "$(stat -c %s "$f")" "$(stat -c %s "$T/files/m/big.mkv")" "stat through davfs2: the size"
expect_eq "$(md5sum <"$MNT/Movies/Le Fabuleux Destin d’Amélie Poulain (2001)/Le Fabuleux Destin d’Amélie Poulain.mkv")" \
	"$(md5sum <"$T/files/m/amelie.mkv")" "a UTF-8 path through davfs2"
expect_match "$(cat "$T/mount.log")" 'the server does not support locks' \
	"davfs2 (use_locks 1, its default) mounts a class 1 share without locks"
expect_eq "$(davd_requests refused)" 0 "davfs2 sent no LOCK while reading"
if touch "$MNT/Movies/new" 2>/dev/null; then fail "a write through davfs2 succeeded"; fi
ok "writing through davfs2 fails"
if ! ls "$MNT/Movies" >"$T/ls.out" 2>"$T/ls.err"; then
	grep -q 'Invalid argument' "$T/ls.err" &&
		skip "davfs2 cannot list directories on this kernel (readdir: EINVAL, with any server); file reads were checked"
	fail "listing through davfs2: $(cat "$T/ls.err")"
fi
expect_eq "$(sort "$T/ls.out" | tr '\n' '|')" \
	"Big One (2020)|Inception (2010)|Le Fabuleux Destin d’Amélie Poulain (2001)|Say 'Hi' _now_ (2005)|Tom & Jerry 100% #1_ + more (1999)|千と千尋の神隠し (2001)|" \
	"listing through davfs2"
