#!/bin/bash
# fused_error_txt: the virtual /ERROR.txt and live changes from kvwatch.
# Without a snapshot the root shows only ERROR.txt, saying so; it goes when a
# snapshot arrives, comes back when a snapshot says the store is unreachable
# (with the tree still browsable) and goes again when the store is back.  End to
# end with Redis and kvwatch: a change published on the pub/sub channel is
# visible in the mount at once although the kernel caches for ten minutes;
# Redis stopped makes ERROR.txt appear, Redis back makes it go.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fused_lib.sh"

fused_config attr_ttl_ms=600000 dir_ttl_ms=600000
make_library 3 3

# --- no snapshot at all ---
start_fused --check-interval 0
expect_eq "$(ls "$MNT")" "ERROR.txt" "without a snapshot the root shows only ERROR.txt"
text=$(cat "$MNT/ERROR.txt")
expect_match "$text" "no tree to show yet" "ERROR.txt says there is no tree"
expect_match "$text" "$T/run/vfs.snapshot" "and where the snapshot is expected"
expect_eq "$(stat -c %s "$MNT/ERROR.txt")" "$(printf '%s\n' "$text" | wc -c)" "its size is its length"
expect_eq "$(stat -c '%F %a' "$MNT/ERROR.txt")" "regular file 444" "read-only"

publish --generation 1
wait_for 5 grep -q "serving generation 1" "$T/fused.log" || fail "generation 1 not loaded"
[ -e "$MNT/ERROR.txt" ] && fail "ERROR.txt still there with a healthy snapshot"
ok "ERROR.txt goes when a snapshot arrives"
expect_eq "$(ls "$MNT" | tr '\n' ' ')" "Movies Other TV " "the tree is there at once"

publish --generation 2 --disconnected "connect to 10.0.0.9:6379: connection refused"
wait_for 5 grep -q "serving generation 2" "$T/fused.log" || fail "generation 2 not loaded"
text=$(cat "$MNT/ERROR.txt" 2>&1) || fail "ERROR.txt missing while the store is unreachable: $text"
expect_match "$text" "cannot reach its metadata store" "ERROR.txt appears when the store is unreachable"
expect_match "$text" "connect to 10.0.0.9:6379: connection refused" "with the last error"
expect_match "$text" "Unreachable since: +[0-9]{4}-" "since when"
expect_match "$text" "What to check" "and what to check"
expect_eq "$(find "$MNT" -type f ! -name ERROR.txt | wc -l)" 8 "the last known tree stays browsable"
expect_eq "$(ls "$MNT" | tr '\n' ' ')" "ERROR.txt Movies Other TV " "ERROR.txt is listed in the root"
publish --generation 3
wait_for 5 grep -q "serving generation 3" "$T/fused.log" || fail "generation 3 not loaded"
[ -e "$MNT/ERROR.txt" ] && fail "ERROR.txt still there once healthy"
ok "ERROR.txt goes when the store is healthy again"
stop_fused

# --- a corrupt snapshot and no earlier one: ERROR.txt says why ---
printf 'MFSNAP\r\nnot really a snapshot' >"$T/run/vfs.snapshot"
start_fused --check-interval 0
expect_match "$(cat "$MNT/ERROR.txt")" "could not be read" "a corrupt first snapshot is explained in ERROR.txt"
stop_fused

# --- end to end: Redis, kvwatch, fused ---
need redis-server redis-cli
[ -x "$BIN/meta-fuse-kvwatch" ] || skip "meta-fuse-kvwatch is not built"
rm -f "$T/run/vfs.snapshot"
start_redis
fused_config attr_ttl_ms=600000 dir_ttl_ms=600000
load_records() {
	jq -r '.hashId as $id | to_entries[] | select(.key != "hashId") |
		"SET \("meta-sort:file:\($id):\(.key)" | @json) \(.value | tostring | @json)"' "$1" |
		rcli >/dev/null
}
load_records "$T/records.jsonl"
start_bg kvwatch "$BIN/meta-fuse-kvwatch" -c "$T/fused.conf" -v
KV_PID=$LAST_PID
wait_for 20 test -e "$T/run/vfs.snapshot" || fail "kvwatch published nothing"
start_fused
expect_eq "$(find "$MNT" -type f | wc -l)" 8 "kvwatch's tree is served"
ls -R "$MNT" >/dev/null
NEWF="$MNT/Movies/Live Added (2025)/Live Added.mkv"
stat "$NEWF" >/dev/null 2>&1 && fail "the new file exists too early"

# A new file announced on the change channel.
mkdir -p "$T/files/media1/live"
head -c 4321 /dev/urandom >"$T/files/media1/live/live.mkv"
: >"$T/new.jsonl"
printf '{"hashId": "live1", "filePath": "media1/live/live.mkv", "title": "Live Added", "year": 2025, "size": 4321}\n' >"$T/new.jsonl"
load_records "$T/new.jsonl"
start_ms=$(date +%s%3N)
rcli PUBLISH meta-sort:file:batch "{\"timestamp\": $start_ms, \"changes\": [{\"action\": \"add\", \"hashId\": \"live1\"}]}" >/dev/null
wait_for 10 test -e "$NEWF" || fail "a change published by kvwatch did not show up"
ok "a change published by kvwatch shows up ($(($(date +%s%3N) - start_ms)) ms, caches of 10 min)"
expect_eq "$(md5sum <"$NEWF")" "$(md5sum <"$T/files/media1/live/live.mkv")" "and reads right"

# Redis down: ERROR.txt appears, the tree stays; Redis back: it goes.
rcli SAVE >/dev/null
kill -TERM "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null
wait_for 30 test -e "$MNT/ERROR.txt" || fail "no ERROR.txt with Redis down"
ok "ERROR.txt appears with Redis down"
expect_match "$(cat "$MNT/ERROR.txt")" "cannot reach its metadata store" "and says so"
expect_eq "$(find "$MNT" -type f ! -name ERROR.txt | wc -l)" 9 "the last known tree stays browsable"
start_bg redis2 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" \
	--appendonly no --dir "$T/redis" --protected-mode no
wait_for 10 rcli ping || fail "redis did not come back"
wait_for 60 bash -c "! test -e '$MNT/ERROR.txt'" || fail "ERROR.txt stays with Redis back"
ok "ERROR.txt goes when Redis is back"
expect_eq "$(find "$MNT" -type f | wc -l)" 9 "the full tree is served again"

stop_fused
kill -TERM "$KV_PID"
check_sanitizer
