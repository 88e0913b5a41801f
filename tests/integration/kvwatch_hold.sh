#!/usr/bin/env bash
# kvwatch's guard against an empty library by accident: a resync that would
# remove more than kv.hold_threshold_percent of the files is held back (the
# previous tree stays, the snapshot says so) until the operator confirms with
# SIGUSR1 or it has persisted for kv.hold_time_ms; smaller removals and removals
# named by message pass; a fresh, empty Redis does not wipe the mount.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

start_redis
kv_load 100
kv_conf hold "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 300; resync_cpu_percent = 100;
	hold_threshold_percent = 20; hold_time_ms = 0;"
kv_start hold
kv_wait 20 '.files == 100 and .kv.connected' "100 files"

# 10 % goes quietly: applied with the next resync.
kv_delete 0 10
kv_wait 10 '.files == 90 and .kv.held == false' "a small removal passes"

# 50 of 90 go quietly: held back.
kv_delete 10 50
kv_wait 10 '.kv.held and .kv.heldRemovals == 50' "a large removal is held"
expect_eq "$(kv_hdr .files)" 90 "held: the previous tree is served"
kv_has_path "/Movies/Movie 10 (1960)/Movie 10.mkv" || fail "held: a file due to go is gone"
ok "held: files due to go still served"
expect_match "$(cat "$T/kvwatch-hold.log")" "would remove 50 of 90 files .*kill -USR1 $KV_PID" \
	"held: the log says how to apply it"
# The hold persists through resyncs (hold_time_ms = 0: only the operator ends it):
# two more resyncs end (a load, or the fingerprint saying nothing was written),
# and the tree is still the held one.
loads() {
	grep -c "full load from .*: .* records from\|resync: no write since the last load" \
		"$T/kvwatch-hold.log" || true
}
loaded_since() {
	[ "$(loads)" -ge $(($1 + 2)) ]
}
n=$(loads)
wait_for 20 loaded_since "$n" || fail "no resync while held: $(tail -n 3 "$T/kvwatch-hold.log")"
expect_eq "$(kv_hdr .files)" 90 "held across resyncs"
kv_is '.kv.held and .kv.heldRemovals == 50' || fail "the hold ended by itself"
# Other changes still flow while a removal is held.
rcli mset meta-sort:file:new:filePath "media1/Movies/New (2024)/New.mkv" \
	meta-sort:file:new:title New meta-sort:file:new:year 2024 >/dev/null
kv_publish '{"changes": [{"action": "add", "hashId": "new"}]}'
kv_wait 10 '.files == 91 and .kv.held' "updates flow while a removal is held"

kill -USR1 "$KV_PID"
kv_wait 10 '.files == 41 and .kv.held == false and .kv.heldRemovals == 0' "SIGUSR1 applies it"
expect_match "$(cat "$T/kvwatch-hold.log")" "operator confirmed the removal of 50 files" \
	"the confirmation is logged"
# SIGUSR1 with nothing held is harmless and does not pre-approve the next one.
kill -USR1 "$KV_PID"
wait_for 10 grep -q "SIGUSR1: no change is held back" "$T/kvwatch-hold.log" ||
	fail "SIGUSR1 with nothing held is not answered"

# The leader's data is gone (a fresh, empty Redis): the mount is not wiped.
rcli flushall >/dev/null
kv_wait 10 '.kv.held and .kv.heldRemovals == 41' "an empty Redis is held back"
expect_eq "$(kv_hdr .files)" 41 "an empty Redis does not wipe the tree"
kv_alive
kv_stop

# Restarted: the previous tree is the baseline; with a hold time it applies alone.
kv_conf holdtime "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 300; resync_cpu_percent = 100;
	hold_threshold_percent = 20; hold_time_ms = 1500;"
kv_start holdtime
kv_wait 10 '.kv.held and .kv.heldRemovals == 41 and .files == 41' \
	"after a restart the empty Redis is held too"
kv_wait 10 '.files == 0 and .kv.held == false' "applied once it persisted for hold_time_ms"
kv_stop
