#!/usr/bin/env bash
# kvwatch's warm start: the last loaded tree is saved in state_dir (at shutdown
# here); after a "reboot" (an empty runtime directory) kvwatch publishes it at
# once, marked resyncing and not connected, while Redis is not there yet; the
# first load replaces it.  A tree that was never loaded (Redis down from the
# start) is not saved over a good one; a damaged saved file is refused with one
# line and kvwatch starts empty.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

STATE="$META_FUSE_STATE_DIR"
start_redis
kv_load 500
kv_conf warm "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;"
kv_start warm
kv_wait 20 '.files == 500 and .kv.connected' "first run: 500 files loaded"
kv_stop
[ -f "$STATE/vfs.snapshot" ] || fail "no saved tree in state_dir after a stop"
saved=$("$BIN/meta-fuse" dump "$STATE/vfs.snapshot" | sed -n 1p | jq -r .files)
expect_eq "$saved" 500 "files in the saved tree"
gen=$(kv_hdr .generation)

# A reboot: the runtime directory is empty, and Redis is not reachable yet.
rm -f "$RUN"/vfs.snapshot
down=$(free_port)
kv_conf warm "redis_url = \"redis://127.0.0.1:$down\"; refresh_interval_ms = 600000;"
kv_start warm
kv_wait 5 '.files == 500 and .kv.resyncing and (.kv.connected | not)' \
	"after a reboot: the saved tree is served at once, resyncing"
expect_eq "$(kv_hdr .generation)" "$((gen + 1))" "the saved tree's generation"
kv_has_path "/Movies/Movie 0 (1950)/Movie 0.mkv" || fail "the saved tree lacks Movie 0"
grep -q "of the previous run, resyncing" "$T/kvwatch-warm.log" ||
	fail "the warm start is not logged"
ok "warm start logged"

# Redis comes (a reload pointing at it): the first load replaces the saved tree.
rcli del "meta-sort:file:$(kv_gen_id 0):filePath" >/dev/null
kv_conf warm "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;"
kill -HUP "$KV_PID"
kv_wait 20 '.files == 499 and .kv.connected and (.kv.resyncing | not)' \
	"the first load replaces the saved tree"
kv_stop
expect_eq "$("$BIN/meta-fuse" dump "$STATE/vfs.snapshot" | sed -n 1p | jq -r .files)" 499 \
	"the saved tree after the second run"

# Never loaded, never saved: Redis down from the start, no runtime snapshot.
cp "$STATE/vfs.snapshot" "$T/good.snapshot"
rm -f "$RUN"/vfs.snapshot
truncate -s 4096 "$STATE/vfs.snapshot"
cp "$STATE/vfs.snapshot" "$T/bad.snapshot"
kv_conf warm "redis_url = \"redis://127.0.0.1:$down\"; refresh_interval_ms = 600000;"
kv_start warm
kv_wait 10 '.files == 0 and (.kv.connected | not) and (.kv.resyncing | not)' \
	"a damaged saved tree: starting empty, disconnected"
grep -q "previous snapshot: .*starting empty" "$T/kvwatch-warm.log" ||
	fail "the damaged saved tree is not reported"
ok "the damaged saved tree is reported"
kv_stop
cmp -s "$STATE/vfs.snapshot" "$T/bad.snapshot" ||
	fail "a tree that was never loaded was saved over the previous one"
ok "a tree never loaded is not saved"
left=$(ls -A "$STATE" | grep -v '^vfs\.snapshot$' || true)
expect_eq "$left" "" "files left in state_dir"

# A state_dir that cannot be written (a file where the directory should be): the
# failure is said once, not on every loaded generation; SIGUSR2 forces full loads.
export META_FUSE_STATE_DIR="$T/not-a-dir"
: >"$META_FUSE_STATE_DIR"
kv_conf unsaved "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;"
kv_start unsaved
kv_wait 20 '.kv.connected' "kvwatch with an unwritable state_dir is serving"
for i in 1 2 3 4; do
	g=$(kv_hdr .generation)
	rcli set "meta-sort:file:$(kv_gen_id 0):title" "Movie again $i" >/dev/null
	kill -USR2 "$KV_PID"
	kv_wait 20 ".generation > $g" "a full load asked by SIGUSR2 ($i)"
done
grep -q "SIGUSR2: a full resync was asked for" "$T/kvwatch-unsaved.log" ||
	fail "SIGUSR2 did not ask for a full resync"
kv_stop
n=$(grep -c "saving the tree for the next start: .*trying again" "$T/kvwatch-unsaved.log")
expect_eq "$n" 1 "the state_dir failure is logged once"
