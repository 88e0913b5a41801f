#!/usr/bin/env bash
# kvwatch leader discovery: the lock file names redis A, the tree comes from A;
# the lock is rewritten to name redis B, the tree follows; malformed lock files
# (empty, half-written, not JSON, missing fields, wrong types, a bad URL, a
# directory) are logged once each and kvwatch keeps serving from B; a lock that
# appears only after start is found.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

start_redis A
PORT_A=$REDIS_PORT
kv_load 40
start_redis B
PORT_B=$REDIS_PORT
kv_load 45 # the same 40 and 5 more: a replica that caught up, then some
MC="$T/meta-core"
LOCK="$MC/locks/kv-leader.lock"

# lock TEXT: rewrite the lock as meta-core would (write a temporary, rename).
lock() {
	printf '%s' "$1" >"$MC/locks/.tmp"
	mv -f "$MC/locks/.tmp" "$LOCK"
}

kv_conf follow "refresh_interval_ms = 600000; meta_core_path = \"$MC\";"

# No lock yet: kvwatch waits, serving an empty tree with the reason.
kv_start follow
kv_wait 10 '.kv.connected == false and (.kv.error | test("kv-leader.lock"))' \
	"no lock: disconnected, the error names the lock"
mkdir -p "$MC/locks"
lock "{\"host\": \"node-a\", \"api\": \"redis://127.0.0.1:$PORT_A\", \"http\": \"http://node-a:8180\", \"timestamp\": $(date +%s)000, \"pid\": 4242}"
kv_wait 10 ".files == 40 and .kv.connected and .kv.leader == \"redis://127.0.0.1:$PORT_A/0\"" \
	"a lock appears: follows A"

lock "{\"host\": \"node-b\", \"api\": \"redis://127.0.0.1:$PORT_B\", \"timestamp\": $(date +%s)000, \"pid\": 4343}"
kv_wait 10 ".files == 45 and .kv.connected and .kv.leader == \"redis://127.0.0.1:$PORT_B/0\"" \
	"the lock names B: follows B"
expect_match "$(cat "$T/kvwatch-follow.log")" "leader moved from redis://127.0.0.1:$PORT_A/0 to redis://127.0.0.1:$PORT_B/0" \
	"the move is logged"
# Updates come from B now.
REDIS_PORT=$PORT_B
rcli mset meta-sort:file:bnew:filePath "media1/Movies/B (2020)/B.mkv" meta-sort:file:bnew:title B \
	meta-sort:file:bnew:year 2020 >/dev/null
kv_publish '{"changes": [{"action": "add", "hashId": "bnew"}]}'
kv_wait 10 '.files == 46' "updates from B"

# Malformed locks: each reported once, kvwatch stays with B.
bad=(
	''
	'{"host": "node-c", "api": "redis://127.0.0.1:1'
	'this is not json'
	'{"host": "node-c"}'
	'{"api": 6379}'
	'{"api": "redis://127.0.0.1:1", "pid": "forty"}'
	'{"api": "redis://127.0.0.1:1", "timestamp": "yesterday"}'
	'{"api": "http://127.0.0.1:1"}'
	'["redis://127.0.0.1:1"]'
)
log="$T/kvwatch-follow.log"
# Each read of a bad lock logs a line: the report, or at debug level that the
# same problem was said already.
lock_reads() {
	grep -c "leader lock .*\(staying with\|(said already)\)" "$log" || true
}
read_since() {
	[ "$(lock_reads)" -gt "$1" ]
}
said_again_since() {
	[ "$(grep -c "(said already)" "$log" || true)" -gt "$1" ]
}
for text in "${bad[@]}"; do
	n=$(lock_reads)
	lock "$text"
	wait_for 10 read_since "$n" || fail "the lock '$text' was not read"
	n=$(grep -c "(said already)" "$log" || true)
	lock "$text" # the same problem twice: still one report
	wait_for 10 said_again_since "$n" || fail "the lock '$text' written again was not read"
	kv_alive
done
rm -f "$LOCK"
mkdir "$LOCK"
wait_for 10 grep -q "is a directory" "$log" || fail "a directory in the lock's place is not reported"
kv_alive
expect_eq "$(kv_hdr .kv.leader)" "redis://127.0.0.1:$PORT_B/0" "bad locks: still following B"
expect_eq "$(kv_hdr .kv.connected)" true "bad locks: still connected"
expect_eq "$(kv_hdr .files)" 46 "bad locks: still serving"
for want in ": empty;" "not JSON" "no \"api\"" "\"api\": expected a string" \
	"\"pid\": expected an integer" "\"timestamp\": expected a number" \
	"\"api\": not a redis:// or unix:// URL" "not a JSON object" "is a directory"; do
	n=$(grep -F -- "$want" "$log" | grep -vc "(said already)" || true)
	# Two distinct half/garbage texts both say "not JSON".
	max=1
	[ "$want" = "not JSON" ] && max=2
	[ "$n" -ge 1 ] && [ "$n" -le "$max" ] ||
		fail "lock problem '$want': expected 1..$max log lines, got $n"
done
ok "each lock problem is logged once"
expect_match "$(cat "$log")" "staying with redis://127.0.0.1:$PORT_B/0" "the worker says it stays"

# A good lock again, back to A: 6 of 46 files go, under the 20 % guard.
rmdir "$LOCK"
lock "{\"api\": \"redis://127.0.0.1:$PORT_A\"}"
kv_wait 10 ".files == 40 and .kv.leader == \"redis://127.0.0.1:$PORT_A/0\"" "back to A"
kv_stop
