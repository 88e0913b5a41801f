#!/usr/bin/env bash
# apid: POST /api/fuse/metadata reads every property of a file from a real
# redis-server through apid's own read-only connection: properties no rule
# uses, hostile values (binary bytes, 2 MiB, another type, odd names, 1,500
# properties, ids with glob characters, 100,000 and 2,000,000 other keys: the
# latter too many to walk in time), nothing but read commands on the wire
# (MONITOR); the leader lock found, read again when it changes, with a password
# (a wrong one: 503; never in the answer); a store that does not answer (503 in time, the server answering
# meanwhile, 429 for a third lookup), one that is gone (503 with the reason),
# and "source": "snapshot" whatever the store does.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apid_lib.sh"
need python3 base64

apid_setup
K=meta-sort:file

# metadata PATH [SOURCE]: POST /api/fuse/metadata; $ST, $T/body.
metadata() {
	req POST /api/fuse/metadata "$(jq -nc --arg p "$1" --arg s "${2-}" \
		'{path: $p} + (if $s == "" then {} else {source: $s} end)')"
}

# ---- hostile values next to the spec's example ----
rcli mset "$K:inception:plot" "A thief who steals secrets" "$K:inception:video/codec" h264 \
	>/dev/null
printf '\000\377\376abc\n' >"$T/cover.bin"
rcli -x set "$K:inception:cover" <"$T/cover.bin" >/dev/null
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' x >"$T/huge.txt"
rcli -x set "$K:inception:huge" <"$T/huge.txt" >/dev/null
rcli hset "$K:inception:weird" a b >/dev/null
printf 'odd' | rcli -x set "$K:inception:"$'na"me\n\xff' >/dev/null
rcli set "$K:inceptionx:title" "Not this one" >/dev/null # an id that extends the file's

metadata "$INCEPTION"
expect_status 200 "metadata from the store"
expect_eq "$(jb .source)" store "metadata: source"
expect_eq "$(jb .server)" "redis://127.0.0.1:$REDIS_PORT/0" "metadata: the store asked"
expect_eq "$(jb .hashId)" inception "metadata: hashId"
expect_eq "$(jb .rule)" movies "metadata: rule"
expect_eq "$(jb .metadata.title)" Inception "metadata: title"
expect_eq "$(jb .metadata.size)" "${#INCEPTION_BYTES}" "metadata: size as stored (a string)"
expect_eq "$(jb .metadata.mtime)" 1600000000000 "metadata: mtime as stored"
expect_eq "$(jb .metadata.plot)" "A thief who steals secrets" "metadata: a property no rule uses"
expect_eq "$(jb '.metadata["video/codec"]')" h264 "metadata: a property with '/'"
expect_eq "$(jb '.base64.cover')" "$(base64 -w0 <"$T/cover.bin")" "metadata: binary bytes exact in base64"
expect_eq "$(jb '.metadata.cover | length')" 7 "metadata: binary value as text (U+FFFD for bad bytes)"
expect_eq "$(jb '.truncated.huge')" $((2 * 1024 * 1024)) "metadata: a 2 MiB value named with its length"
expect_eq "$(jb '.metadata.huge | length')" 65536 "metadata: ... and cut at 64 KiB"
expect_eq "$(jb -c '.otherTypes')" '["weird"]' "metadata: a key of another type named, not read"
expect_eq "$(jb '.metadata | has("weird")')" false "metadata: ... and not in metadata"
expect_eq "$(jb '.metadata["na\"me\n\ufffd"]')" odd "metadata: a name of quotes, newline, bad UTF-8"
expect_eq "$(jb '.metadata.title')" Inception "metadata: another id's keys not taken"
expect_eq "$(jb .complete)" true "metadata: complete"
expect_eq "$(jb -c '.metadata | keys')" \
	'["cover","filePath","huge","mtime","na\"me\n�","plot","size","title","video/codec","year"]' \
	"metadata: every string property"

metadata "$INCEPTION" snapshot
expect_status 200 "metadata from the snapshot"
expect_eq "$(jb .source)" snapshot "snapshot: source"
expect_eq "$(jb '.metadata | has("plot")')" false "snapshot: only the properties the rules use"

# ---- 1,500 properties of one file, ids with glob characters ----
python3 - "$K" >"$T/many.txt" <<'PY'
import sys
k = sys.argv[1]
print("MSET " + " ".join("%s:ep1:p%04d v%d" % (k, i, i) for i in range(1500)))
PY
rcli <"$T/many.txt" >/dev/null
metadata "/TV/Show/Season 01/Show - S01E02.mkv"
expect_status 200 "metadata of a file with 1,505 properties"
expect_eq "$(jb .complete)" false "1,505 properties: not complete"
expect_eq "$(jb '.metadata | keys | length')" 1000 "1,505 properties: the first 1,000"

rcli mset "$K:g*b:filePath" "media9/g/star.mkv" "$K:g*b:size" 1 "$K:gXb:filePath" \
	"media9/g/plain.mkv" "$K:gXb:secret" "of another file" "$K:g?[b]:filePath" \
	"media9/g/brackets.mkv" "$K:g?[b]:size" 2 >/dev/null
apid_publish
kill -HUP "$APID_PID"
has_star() {
	req POST /api/fuse/exists '{"path": "/Other/star.mkv"}'
	[ "$(jb .exists)" = true ]
}
wait_for 10 has_star || fail "apid did not load the files with glob ids"
metadata /Other/star.mkv
expect_status 200 "metadata of id 'g*b'"
expect_eq "$(jb -c '.metadata | keys')" '["filePath","size"]' "id 'g*b': its own keys only"
metadata /Other/brackets.mkv
expect_eq "$(jb -c '.metadata | keys')" '["filePath","size"]' "id 'g?[b]': its own keys only"

# ---- large keyspaces: 100,000 keys of no file, then 2,000,000 ----
# fill FROM TO: keys other:key:FROM..TO-1, through redis-cli --pipe.
fill() {
	python3 - "$1" "$2" <<'PY' | rcli --pipe >/dev/null || fail "filling redis"
import sys
out = sys.stdout
for i in range(int(sys.argv[1]), int(sys.argv[2])):
    k = "other:key:%d" % i
    out.write("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nx\r\n" % (len(k), k))
PY
}
fill 0 100000
start_ns=$(date +%s%N)
metadata "$INCEPTION"
ms=$((($(date +%s%N) - start_ns) / 1000000))
expect_status 200 "metadata among 100,000 other keys"
fields "100,000 other keys" .complete true .metadata.plot "A thief who steals secrets"
echo "metadata among $(rcli dbsize) keys: $ms ms (shared machine)"

# A keyspace too large to walk in time: what was found, the rules' properties
# always, said to be incomplete, within the lookup's 2 s. A fast machine walks
# 2,000,000 keys within the SCAN's 1.5 s, so a script that holds the server
# for 50 ms at a time, over and over, stands for a server busy with others:
# each of the 200 SCAN calls then waits, and no machine finishes in time.
fill 100000 2000000
busy='local s = redis.call("TIME") local e
repeat e = redis.call("TIME") until (e[1] - s[1]) * 1000000 + (e[2] - s[2]) >= 50000
return 1'
start_bg busy redis-cli -p "$REDIS_PORT" -r -1 -i 0.002 eval "$busy" 0
BUSY_PID=$LAST_PID
wait_for 30 grep -q 1 "$T/busy.log" || fail "the busy script did not run"
start_ns=$(date +%s%N)
metadata "$INCEPTION"
ms=$((($(date +%s%N) - start_ns) / 1000000))
kill "$BUSY_PID"
expect_status 200 "metadata among 2,000,000 other keys"
fields "2,000,000 other keys" .complete false .metadata.title Inception .metadata.year 2010 \
	.metadata.filePath "media1/Movies/Inception (2010)/Inception.mkv"
expect_match "$(jb .incompleteReason)" "in time" "2,000,000 other keys: the reason"
[ "$ms" -lt 3000 ] || fail "metadata among 2,000,000 keys took $ms ms"
echo "metadata among $(rcli dbsize) keys: $ms ms, $(jb '.metadata | keys | length') properties (shared machine)"
rcli flushdb >/dev/null # (the library goes too: the snapshot keeps serving it)
rcli mset "$K:inception:plot" "A thief who steals secrets" "$K:inception:filePath" \
	"media1/Movies/Inception (2010)/Inception.mkv" "$K:g*b:filePath" "media9/g/star.mkv" \
	"$K:g*b:size" 1 >/dev/null

# ---- nothing but reads on the wire ----
start_bg monitor redis-cli -p "$REDIS_PORT" monitor
MON_PID=$LAST_PID
wait_for 30 grep -q OK "$T/monitor.log" || fail "MONITOR did not start"
metadata "$INCEPTION"
expect_status 200 "metadata under MONITOR"
metadata /Other/star.mkv
sleep 0.3
kill "$MON_PID"
verbs=$(grep -o '\] "[A-Za-z]*"' "$T/monitor.log" | tr -d '"] ' | tr 'a-z' 'A-Z' | sort -u |
	tr '\n' ' ')
expect_match "$verbs" 'SCAN' "MONITOR: apid's commands seen"
expect_match "$verbs" '^((GETRANGE|SCAN|STRLEN|TYPE|AUTH|SELECT) )+$' "MONITOR: only read commands ($verbs)"

# ---- the leader lock, read again when it changes; a store that does not answer ----
STALL_PORT=$(free_port)
start_bg stall python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
held = []
while True:
    c, _ = s.accept(); held.append(c)  # accepted, never answered
' "$STALL_PORT"
wait_for 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$STALL_PORT" || fail "the stalling server did not start"
mkdir -p "$T/core/locks"
MAIN_URL=$URL
APID_CONF="$T/lock.conf" APID_KV="meta_core_path = \"$T/core\";" apid_conf
start_bg apid-lock "$APID" -c "$T/lock.conf"
wait_for 10 curl -sf -o /dev/null "$URL/health" || fail "apid (lock) did not start"

metadata "$INCEPTION"
expect_status 503 "metadata without a leader lock"
expect_match "$(jb .error)" 'leader lock' "no lock: the reason"
echo '{"host": "x", "api": ' >"$T/core/locks/kv-leader.lock"
metadata "$INCEPTION"
expect_status 503 "metadata with a broken leader lock"
expect_match "$(jb .error)" 'not JSON' "broken lock: the reason"
echo "{\"host\": \"x\", \"api\": \"redis://127.0.0.1:$REDIS_PORT\"}" >"$T/core/locks/kv-leader.lock"
metadata "$INCEPTION"
expect_status 200 "metadata through the leader lock"
expect_eq "$(jb .metadata.plot)" "A thief who steals secrets" "lock: the file's properties"

# A leader that wants a password, in the lock's URL; never shown in the answer.
SECRET_PORT=$(free_port)
mkdir -p "$T/secret"
start_bg secret redis-server --port "$SECRET_PORT" --bind 127.0.0.1 --save "" --appendonly no \
	--dir "$T/secret" --requirepass 's3cret!' --protected-mode no
wait_for 10 redis-cli -p "$SECRET_PORT" -a 's3cret!' --no-auth-warning ping ||
	fail "the password redis-server did not start"
redis-cli -p "$SECRET_PORT" -a 's3cret!' --no-auth-warning set "$K:inception:plot" "Guarded" \
	>/dev/null
echo "{\"api\": \"redis://:wrong@127.0.0.1:$SECRET_PORT/0\"}" >"$T/core/locks/kv-leader.lock"
metadata "$INCEPTION"
expect_status 503 "metadata with a wrong password"
expect_match "$(jb .error)" 'AUTH' "wrong password: the reason"
grep -q wrong "$T/body" && fail "wrong password: the password is in the answer"
# (percent-encoded in the URL, as lib/redis_url.c decodes it)
echo "{\"api\": \"redis://:s3cret%21@127.0.0.1:$SECRET_PORT/0\"}" >"$T/core/locks/kv-leader.lock"
metadata "$INCEPTION"
expect_status 200 "metadata from a leader that wants a password"
fields "password" .metadata.plot Guarded .server "redis://127.0.0.1:$SECRET_PORT/0"
grep -q s3cret "$T/body" && fail "the password is in the answer"
ok "the password is not in the answer"

echo "{\"api\": \"redis://127.0.0.1:$STALL_PORT\", \"timestamp\": 2}" >"$T/core/locks/kv-leader.lock"
CURLS=()
for i in 1 2 3; do
	curl -s -o "$T/stall$i.json" -w '%{http_code} %{time_total}\n' \
		-H 'Content-Type: application/json' -d "{\"path\": \"$INCEPTION\"}" \
		"$URL/api/fuse/metadata" >"$T/stall$i.code" &
	CURLS+=($!)
	MF_PIDS+=($!)
	sleep 0.1
done
t=$(curl -s -o /dev/null -w '%{time_total}' "$URL/api/fuse/stats")
python3 -c "import sys; sys.exit(0 if $t < 0.5 else 1)" ||
	fail "stats took $t s while the store stalls"
ok "the server answers in $t s while lookups wait for a silent store"
wait "${CURLS[@]}"
codes=$(cut -d' ' -f1 "$T"/stall?.code | sort | tr '\n' ' ')
expect_eq "$codes" "429 503 503 " "a silent store: 503 for two lookups, 429 for a third"
for i in 1 2 3; do
	read -r code secs <"$T/stall$i.code"
	python3 -c "import sys; sys.exit(0 if $secs < 3 else 1)" || fail "lookup $i took $secs s"
	[ "$code" = 503 ] && expect_match "$(jq -r .error "$T/stall$i.json")" 'no answer in time' \
		"a silent store: the reason"
done
ok "every lookup of a silent store ended within 3 s"

# ---- the store gone ----
URL=$MAIN_URL
rcli shutdown nosave >/dev/null 2>&1 || true
wait_for 10 bash -c "! kill -0 $REDIS_PID 2>/dev/null" || fail "redis-server did not stop"
metadata "$INCEPTION"
expect_status 503 "metadata with the store gone"
expect_match "$(jb .error)" 'connect|I/O|closed|reset|no reply' "store gone: the reason ($(jb .error))"
metadata "$INCEPTION" snapshot
expect_status 200 "metadata from the snapshot with the store gone"
kill -0 "$APID_PID" || fail "apid died"
ok "apid still serving"
