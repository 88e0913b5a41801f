#!/usr/bin/env bash
# apid over a large tree (100,000 files from mf-mksnapshot, 20,000 of them in
# one directory): paging through every file gives each path once, totals agree
# with the snapshot, one streamed page of all 100,000 files leaves apid's memory
# flat and ends on its own generation when a new one arrives meanwhile, a
# 20,000-entry readdir, getattr of sampled files agrees with `meta-fuse dump`,
# and a second rules preview asked while one is being computed is answered 429
# while the first completes.
. "$(dirname "$0")/lib.sh"
need curl jq python3
APID="$BIN/meta-fuse-apid"
MKSNAP="$MF_BUILD_DIR/tests/mf-mksnapshot"
[ -x "$APID" ] || skip "$APID is not built"
[ -x "$MKSNAP" ] || skip "$MKSNAP is not built"
unset META_FUSE_CONFIG LISTEN_FDS LISTEN_PID LISTEN_FDNAMES API_HOST API_PORT FILES_VOLUME
RUN="$T/run"
mkdir -p "$RUN"
API_PORT=$(free_port)
URL="http://127.0.0.1:$API_PORT"
cat >"$T/apid.conf" <<EOC
runtime_dir = "$RUN";
files_volume = "/files";
uid = 0;
gid = 0;
api = { listen = "127.0.0.1:$API_PORT"; };
EOC

N=100000
python3 - "$N" >"$T/records.jsonl" <<'PY'
import json, sys
n = int(sys.argv[1])
for i in range(n):
    r = {"hashId": "h%07d" % i, "size": i, "mtime": 1600000000 + i}
    if i % 5 == 0:
        r.update(filePath="misc/file%06d.iso" % i)  # 20,000 files in /Other
    else:
        r.update(filePath="m/movie%d.mkv" % i, title="Movie %d" % i, year=str(1950 + i % 70))
    print(json.dumps(r))
PY
"$MKSNAP" -c "$T/apid.conf" --runtime-dir "$RUN" <"$T/records.jsonl" >"$T/mksnapshot.log" 2>&1 ||
	fail "mf-mksnapshot: $(cat "$T/mksnapshot.log")"
"$BIN/meta-fuse" dump --runtime-dir "$RUN" >"$T/dump.jsonl" 2>/dev/null || fail "meta-fuse dump"
start_bg apid "$APID" -c "$T/apid.conf"
APID_PID=$LAST_PID
wait_for 20 curl -sf -o /dev/null "$URL/health" || fail "apid did not start: $(cat "$T/apid.log")"

stats=$(curl -s "$URL/api/fuse/stats")
expect_eq "$(jq .totalFiles <<<"$stats")" "$N" "stats: every file"
expect_eq "$(jq .totalDirectories <<<"$stats")" "$(sed -n 1p "$T/dump.jsonl" | jq .directories)" \
	"stats: directories as in the snapshot"

# Every file exactly once, in pages of 10,000.
: >"$T/paged"
for off in $(seq 0 10000 $((N - 1))); do
	curl -s "$URL/api/fuse/files?offset=$off&limit=10000" >"$T/page.json"
	[ "$(jq .total "$T/page.json")" = "$N" ] || fail "page at $off: total $(jq .total "$T/page.json")"
	jq -r '.files[].path' "$T/page.json" >>"$T/paged"
done
tail -n +2 "$T/dump.jsonl" | jq -r 'select(.type == "file") | .path' | sort >"$T/want"
sort "$T/paged" >"$T/got"
cmp -s "$T/want" "$T/got" ||
	fail "paging: $(diff "$T/want" "$T/got" | head -n 5) ($(wc -l <"$T/got") paths)"
ok "paging through 100,000 files gives each path once"

# One page of every file, streamed: apid's own memory (RssAnon: the mapped
# snapshot's pages are RssFile) stays flat while a ~17 MB answer goes out.
rss_anon() {
	awk '/^RssAnon:/ {print $2}' "/proc/$APID_PID/status"
}
curl -s -o /dev/null "$URL/api/fuse/files?q=no-such-path" # every node's path read once
before=$(rss_anon)
curl -s --limit-rate 4M -o "$T/all.json" "$URL/api/fuse/files?limit=100000" &
CURL_PID=$!
MF_PIDS+=("$CURL_PID")
peak=$before
while kill -0 "$CURL_PID" 2>/dev/null; do
	now=$(rss_anon)
	[ "$now" -gt "$peak" ] && peak=$now
	sleep 0.2
done
wait "$CURL_PID" || fail "GET files?limit=100000 failed"
after=$(rss_anon)
bytes=$(stat -c %s "$T/all.json")
[ "$bytes" -gt 10000000 ] || fail "GET files?limit=100000: only $bytes bytes"
expect_eq "$(jq '.files | length' "$T/all.json")" "$N" "one page of 100,000 files"
jq -r '.files[].path' "$T/all.json" | sort | cmp -s - "$T/want" ||
	fail "the page of 100,000 files differs from the snapshot's files"
ok "the page holds every path of the snapshot"
echo "RssAnon before ${before} kB, peak ${peak} kB, after ${after} kB; answer $((bytes / 1024)) kB"
[ $((peak - before)) -lt 4096 ] ||
	fail "memory grew by $((peak - before)) kB while streaming $((bytes / 1024)) kB (limit 4096 kB)"
ok "memory stays flat while streaming 100,000 files (+$((peak - before)) kB at most)"
sent=$(curl -s "$URL/metrics" |
	sed -n 's|^mf_http_response_bytes_total{server="apid",route="/api/fuse/files"} ||p')
[ "${sent:-0}" -ge "$bytes" ] ||
	fail "metrics: ${sent:-no} bytes sent on /api/fuse/files, the page alone is $bytes"
ok "metrics count the streamed bytes ($sent)"

# Clients that leave in the middle of a listing: each walk ends with its connection.
for i in 1 2 3 4 5; do
	curl -s "$URL/api/fuse/files?limit=100000" | head -c 100000 >/dev/null
done
[ "$(curl -s "$URL/api/fuse/files?limit=1" | jq .total)" = "$N" ] ||
	fail "apid does not list after clients left mid-listing"
left=$(rss_anon)
[ $((left - before)) -lt 4096 ] || fail "memory grew by $((left - before)) kB after clients left"
ok "five clients left mid-listing: apid lists on, memory +$((left - before)) kB"

n=$(curl -s -H 'Content-Type: application/json' -d '{"path": "/Other"}' "$URL/api/fuse/readdir" |
	jq '.entries | length')
expect_eq "$n" 20000 "readdir of a 20,000-entry directory"

tail -n +2 "$T/dump.jsonl" | grep '"type":"file"' | awk 'NR % 9973 == 1' >"$T/sample"
while read -r line; do
	p=$(jq -r .path <<<"$line")
	got=$(curl -s -H 'Content-Type: application/json' -d "$(jq -nc --arg p "$p" '{path: $p}')" \
		"$URL/api/fuse/getattr")
	[ "$(jq .size <<<"$got")" = "$(jq .size <<<"$line")" ] || fail "getattr $p: $got vs $line"
	[ "$(jq -r .hashId <<<"$got")" = "$(jq -r .hashId <<<"$line")" ] || fail "getattr $p: hashId"
	# (jq reads numbers as doubles: the 64-bit id is compared as text)
	want_id=$(grep -o '"id":[0-9]*' <<<"$line" | cut -d: -f2)
	[ "$(jq -r .id <<<"$got")" = "$want_id" ] || fail "getattr $p: id $(jq -r .id <<<"$got") vs $want_id"
done <"$T/sample"
ok "getattr agrees with the snapshot on $(wc -l <"$T/sample") sampled files"

# Previews at once: one is computed, the others told to wait.  The first is sent
# alone, the other two a moment later in one curl process, so they reach another
# server thread while the first computes; on a loaded machine the first may end
# before they arrive (every answer 200), so the round is tried up to five times.
body='{"rules": [{"name": "all", "template": "/All/{title|fileName}/{fileName}"}], "sample": 1}'
preview_round() {
	curl -s -o "$T/preview1.json" -w '%{http_code}\n' -H 'Content-Type: application/json' \
		-d "$body" "$URL/api/fuse/rules/preview" >"$T/preview1.code" &
	local first=$!
	sleep 0.1
	curl -s -Z --parallel-immediate -w '%{http_code}\n' \
		-H 'Content-Type: application/json' -d "$body" \
		-o "$T/preview2.json" "$URL/api/fuse/rules/preview" \
		-o "$T/preview3.json" "$URL/api/fuse/rules/preview" >"$T/preview23.code"
	wait "$first"
	cat "$T/preview1.code" "$T/preview23.code" | sort | tr '\n' ' '
}
for round in 1 2 3 4 5; do
	codes=$(preview_round)
	expect_match "$codes" '^(200 )+(429 )*$' "concurrent previews: 200 or 429, nothing else"
	case $codes in *429*) break ;; esac
done
expect_match "$codes" '^(200 )+(429 )+$' "concurrent previews: 200 for one, 429 for the others"
for i in 1 2 3; do
	if jq -e 'has("files")' "$T/preview$i.json" >/dev/null; then
		expect_eq "$(jq .files "$T/preview$i.json")" "$N" "the preview considered every file"
		expect_eq "$(jq .moved "$T/preview$i.json")" "$N" "the preview moves every file"
	else
		expect_match "$(jq -r .error "$T/preview$i.json")" "already being computed" "429's reason"
	fi
done
# A new generation published while a listing is being sent: the listing ends
# on the generation it started on, whole; the next request sees the new one.
gen1=$(jq .generation "$T/all.json")
curl -s --limit-rate 1M -o "$T/across.json" "$URL/api/fuse/files?limit=100000" &
CURL_PID=$!
MF_PIDS+=("$CURL_PID")
wait_for 10 test -s "$T/across.json" || fail "the slow listing did not start"
python3 -c 'import json
for i in range(10): print(json.dumps({"hashId": "n%d" % i, "filePath": "new/n%d.iso" % i}))' |
	"$MKSNAP" -c "$T/apid.conf" --runtime-dir "$RUN" --generation $((gen1 + 1)) \
		>"$T/mksnapshot2.log" 2>&1 || fail "mf-mksnapshot (2): $(cat "$T/mksnapshot2.log")"
kill -HUP "$APID_PID"
new_gen() {
	[ "$(curl -s "$URL/api/fuse/stats" | jq .generation)" = $((gen1 + 1)) ]
}
wait_for 10 new_gen || fail "apid did not take generation $((gen1 + 1))"
kill -0 "$CURL_PID" 2>/dev/null || fail "the listing ended before the new generation (too fast to test)"
ok "generation $((gen1 + 1)) served while the listing of $gen1 is still being sent"
wait "$CURL_PID" || fail "the listing across generations failed"
expect_eq "$(jq .generation "$T/across.json")" "$gen1" "the listing ends on its own generation"
expect_eq "$(jq .total "$T/across.json")" "$N" "... with its total"
cmp -s "$T/all.json" "$T/across.json" || fail "the listing across generations differs from the one before"
ok "the listing across generations is byte for byte the one before"
expect_eq "$(curl -s "$URL/api/fuse/files" | jq .total)" 10 "the next listing sees the new generation"

kill -0 "$APID_PID" || fail "apid died"
ok "apid still serving"
