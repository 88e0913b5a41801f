#!/usr/bin/env bash
# kvwatch and an unreliable Redis: started before Redis exists it publishes an
# empty tree marked disconnected (so readers show ERROR.txt), connects when Redis
# comes; Redis killed, the last tree stays published with the state
# "disconnected" and the error; Redis back, a full resync finds what changed
# meanwhile; restarted without Redis, kvwatch republishes the previous tree.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

PORT=$(free_port)
REDIS_PORT=$PORT
mkdir -p "$T/rd"
# prepare N: fill $T/rd/dump.rdb with N generated files through a scratch
# redis-server, so the real one has them before it accepts a connection.
prepare() {
	local p
	p=$(free_port)
	start_bg redis-prep redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no \
		--dir "$T/rd" --protected-mode no
	wait_for 10 redis-cli -p "$p" ping || fail "scratch redis-server did not start"
	"$GEN" "$1" | redis-cli -p "$p" --pipe >/dev/null
	redis-cli -p "$p" shutdown save >/dev/null 2>&1
	wait "$LAST_PID" 2>/dev/null
	[ -s "$T/rd/dump.rdb" ] || fail "no dump.rdb"
}
redis_up() {
	start_bg "redis-$1" redis-server --port "$PORT" --bind 127.0.0.1 --save "" \
		--appendonly no --dir "$T/rd" --protected-mode no
	RPID=$LAST_PID
	wait_for 10 redis-cli -p "$PORT" ping || fail "redis-server did not start"
}

kv_conf flaky "redis_url = \"redis://127.0.0.1:$PORT\"; refresh_interval_ms = 600000;"
kv_start flaky
kv_wait 10 '.generation == 1 and .kv.connected == false and .files == 0' \
	"no Redis at start: an empty tree, disconnected"
expect_match "$(kv_hdr .kv.error)" "127.0.0.1:$PORT.*Connection refused" "the error names Redis and why"
[ "$(kv_hdr .kv.errorSince)" -gt 0 ] || fail "errorSince is not set"
ok "errorSince is set"
kv_alive

prepare 50
redis_up 1
kv_wait 20 '.files == 50 and .kv.connected and .kv.error == ""' "Redis came: connected, loaded"
[ "$(kv_hdr .kv.lastSync)" -gt 0 ] || fail "lastSync is not set"
ok "lastSync is set"

# Files added behind kvwatch's back (no message), saved, then Redis dies.
kv_load 5 100
rcli save >/dev/null
gen=$(kv_hdr .generation)
kill -KILL "$RPID"
kv_wait 10 ".kv.connected == false and .generation > $gen" "Redis killed: disconnected"
expect_eq "$(kv_hdr .files)" 50 "the last tree is kept"
kv_has_path "/Movies/Movie 0 (1950)/Movie 0.mkv" || fail "a file of the last tree is gone"
ok "files of the last tree still served"
kv_wait 10 '.kv.error | test("Connection refused")' "the error is in the snapshot"
# Retries do not publish again while nothing changes: after two more of them
# (each logs its next delay) the generation is the same.
gen=$(kv_hdr .generation)
retries() {
	grep -c "Connection refused; retrying in" "$T/kvwatch-flaky.log" || true
}
retried_since() {
	[ "$(retries)" -ge $(($1 + 2)) ]
}
n=$(retries)
wait_for 15 retried_since "$n" || fail "kvwatch does not retry: $(tail -n 3 "$T/kvwatch-flaky.log")"
expect_eq "$(kv_hdr .generation)" "$gen" "retrying publishes nothing new"
kv_alive

# Back (from its dump): the resync finds the 5 files no message announced.
redis_up 2
kv_wait 20 '.files == 55 and .kv.connected and .kv.error == ""' "Redis back: resynced, connected"
kv_has_path "/Movies/Movie 100 (1980)/Movie 100.mkv" || fail "a file missed while away is not there"
ok "files missed while away are there"
# Live updates work on the new connection.
rcli mset meta-sort:file:late:filePath "media1/Movies/Late (2001)/Late.mkv" \
	meta-sort:file:late:title Late meta-sort:file:late:year 2001 >/dev/null
kv_publish '{"changes": [{"action": "add", "hashId": "late"}]}'
kv_wait 10 '.files == 56' "updates after the reconnect"
kv_stop

# Restart without Redis: the previous tree, marked disconnected, numbering on.
gen=$(kv_hdr .generation)
kill -TERM "$RPID"
wait "$RPID" 2>/dev/null
kv_start flaky
kv_wait 10 ".generation == $((gen + 1)) and .kv.connected == false and .files == 56" \
	"restart without Redis: the previous tree, disconnected"
kv_has_path "/Movies/Late (2001)/Late.mkv" || fail "restart: a file of the previous tree is gone"
ok "restart: previous files served"
node=$(kv_node "/Movies/Movie 3 (1953)/Movie 3.mkv")
expect_eq "$(jq -r .size <<<"$node")" 1000003 "restart: sizes kept"
expect_eq "$(jq -r .mtime <<<"$node")" 1700000003000 "restart: times kept"
expect_eq "$(jq -r .meta.title <<<"$node")" "Movie 3" "restart: properties kept"
kv_stop
