#!/usr/bin/env bash
# kvwatch cleans up after a predecessor that died mid-write: temporary snapshot
# (and property names) files in the runtime directory and in state_dir are removed at start.  A
# runtime directory that is full is reported once and retried with a growing
# delay, not every 2 s forever; the worker keeps running.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

start_redis
kv_load 2000
mkdir -p "$META_FUSE_STATE_DIR"
head -c 100000 /dev/zero >"$RUN/.vfs.snapshot.a1B2c3"
head -c 100 /dev/zero >"$RUN/.properties.q1W2e3"
head -c 100 /dev/zero >"$META_FUSE_STATE_DIR/.vfs.snapshot.x9Y8z7"
kv_conf left "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;"
kv_start left
kv_wait 20 '.files == 2000 and .kv.connected' "first generation: 2000 files"
[ -e "$RUN/.vfs.snapshot.a1B2c3" ] && fail "the runtime directory's leftover is still there"
[ -e "$META_FUSE_STATE_DIR/.vfs.snapshot.x9Y8z7" ] && fail "state_dir's leftover is still there"
[ -e "$RUN/.properties.q1W2e3" ] && fail "the property names' leftover is still there"
ok "leftovers removed at start"
grep -q "removed 2 temporary files left in $RUN" "$T/kvwatch-left.log" ||
	fail "the removal is not logged"
kv_stop

# A full runtime directory: a 64 KiB tmpfs cannot hold 2000 files' snapshot.
[ "$(id -u)" = 0 ] || skip "mounting a small tmpfs needs root"
SMALL="$T/small"
mkdir -p "$SMALL"
mount -t tmpfs -o size=64k tmpfs "$SMALL" || skip "cannot mount a tmpfs"
register_mount "$SMALL"
sed "s|^runtime_dir = .*|runtime_dir = \"$SMALL\";|" "$T/left.conf" >"$T/full.conf"
kv_start full
wait_for 20 grep -q "publishing generation 1: .*retrying in 2 s" "$T/kvwatch-full.log" ||
	fail "a full runtime directory is not reported"
# Retries at about 2, 4, 8 s: the error is said once, the retries at debug level.
wait_for 15 sh -c "[ \$(grep -c 'publishing generation 1' '$T/kvwatch-full.log') -ge 3 ]" ||
	fail "no retry after a failed publish"
kv_alive
errors=$(grep -c '^<3>.*publishing generation' "$T/kvwatch-full.log")
expect_eq "$errors" 1 "error lines for a full runtime directory"
expect_match "$(grep 'publishing generation 1' "$T/kvwatch-full.log" | tail -n 1)" \
	"retrying in (4|8|16) s" "the retry delay grows"
kv_stop
umount "$SMALL"
