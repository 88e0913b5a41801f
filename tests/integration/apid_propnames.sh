#!/usr/bin/env bash
# apid + kvwatch: POST /api/fuse/metadata in a library of 100,000 files (1.6
# million keys) finds every property of a file by the names kvwatch's full load
# wrote into runtime_dir/properties: complete, with no SCAN by apid (INFO
# commandstats and MONITOR), timed.  A property first written after the load is
# found once a load saw it (SIGUSR1; apid reads the rewritten file).  A
# malformed names file: apid logs one line and falls back to SCAN.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/apid_lib.sh"
need python3 timeout
GEN="$MF_SOURCE_DIR/tests/integration/kvwatch_gen.sh"
K=meta-sort:file
FILES=100000

start_redis
apid_load_library
"$GEN" "$FILES" 0 | rcli --pipe >/dev/null || fail "loading $FILES files into redis"
# A handful of properties no rule uses, on the file asked about and on others.
rcli mset "$K:inception:plot" "A thief" "$K:inception:audio/lang" en \
	"$K:inception:custom:rating" 9 "$K:inception:chapters" 12 "$K:ep1:plot" "Pilot" >/dev/null
keys=$(rcli dbsize)
ok "$keys keys in the store"

APID_KV="redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 3600000;" apid_conf
start_bg kvwatch "$KVW" -c "$T/apid.conf" -v
KVW_PID=$LAST_PID
wait_for 120 test -s "$RUN/properties" ||
	fail "kvwatch wrote no property names; log: $(tail -5 "$T/kvwatch.log")"
expect_eq "$(head -n1 "$RUN/properties")" "meta-fuse-properties 1 complete" "names file: header"
expect_eq "$(stat -c %a "$RUN/properties")" 444 "names file: mode 0444"
for name in plot audio/lang custom:rating chapters filePath title video/codec; do
	grep -qxF -- "$name" "$RUN/properties" || fail "names file: no \"$name\""
done
ok "names file: the schema's and the other names"
expect_eq "$(sed 1d "$RUN/properties" | sort -c 2>&1 && echo sorted)" sorted "names file: sorted"
wait_for 60 grep -q "published generation" "$T/kvwatch.log" || fail "kvwatch published nothing"
grep -q "property names" "$T/kvwatch.log" || fail "kvwatch did not log the names file"
apid_start

# metadata PATH: POST /api/fuse/metadata; $ST, $T/body, $SECS.
metadata() {
	local out
	out=$(curl -s -o "$T/body" -w '%{http_code} %{time_total}' -H 'Content-Type: application/json' \
		-d "$(jq -nc --arg p "$1" '{path: $p}')" "$URL/api/fuse/metadata")
	ST=${out% *}
	SECS=${out#* }
}

scans() {
	rcli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_scan:calls=\([0-9]*\),.*/\1/p'
}

before=$(scans)
rcli config resetstat >/dev/null
timeout 30 redis-cli -p "$REDIS_PORT" monitor >"$T/monitor.txt" &
MON=$!
MF_PIDS+=("$MON")
wait_for 5 test -s "$T/monitor.txt" || sleep 0.5
metadata "$INCEPTION"
expect_status 200 "metadata among $keys keys"
fields "names" .complete true .propertyNames kvwatch .metadata.plot 'A thief' \
	'.metadata["audio/lang"]' en '.metadata["custom:rating"]' 9 .metadata.chapters \
	12 .metadata.title Inception '.metadata | keys | length' 9
has=$(jb '.metadata | has("video/codec")')
expect_eq "$has" false "names: a name of other files only is not this file's"
echo "metadata of one file among $keys keys by kvwatch's names: $SECS s (2 shared cores)"
python3 -c "import sys; sys.exit(0 if $SECS < 1.0 else 1)" || fail "metadata took $SECS s"
ok "metadata answered in $SECS s"
sleep 0.3
kill "$MON" 2>/dev/null || true
wait "$MON" 2>/dev/null || true
grep -q TYPE "$T/monitor.txt" || fail "MONITOR saw no TYPE: $(head -c 300 "$T/monitor.txt")"
if grep -qi SCAN "$T/monitor.txt"; then
	fail "MONITOR saw a SCAN: $(grep -i SCAN "$T/monitor.txt" | head -n 2)"
fi
ok "MONITOR: apid sent no SCAN"
expect_eq "$(scans)" "" "commandstats: no SCAN since the reset (before it: ${before:-0})"

# ---- a name first written after the load: found once a load saw it ----
rcli set "$K:inception:late/addition" yes >/dev/null
metadata "$INCEPTION"
expect_status 200 "metadata after a new name"
fields "new name, before a load" .complete true '.metadata | has("late/addition")' false
old_ino=$(stat -c %i "$RUN/properties")
kill -USR2 "$KVW_PID"
wait_for 120 bash -c "[ \$(stat -c %i '$RUN/properties') != $old_ino ]" ||
	fail "kvwatch did not rewrite the names; log: $(tail -3 "$T/kvwatch.log")"
grep -qxF late/addition "$RUN/properties" || fail "the new name is not in the file"
metadata "$INCEPTION"
expect_status 200 "metadata after the next load"
fields "new name, after a load" .propertyNames kvwatch '.metadata["late/addition"]' yes

# ---- a malformed names file: one line in apid's log, answers by SCAN ----
kill "$KVW_PID"
wait "$KVW_PID" 2>/dev/null || true
printf 'meta-fuse-properties 9 complete\nplot\n' >"$T/bad" && mv -f "$T/bad" "$RUN/properties"
metadata "$INCEPTION"
expect_status 200 "metadata with a malformed names file"
fields "malformed" .propertyNames scan .metadata.title Inception
echo "metadata by SCAN of $keys keys: $SECS s, complete $(jb .complete) (2 shared cores)"
metadata "$INCEPTION"
expect_status 200 "metadata with the malformed file again"
expect_eq "$(grep -c 'property names.*malformed' "$T/apid.log")" 1 "apid: one log line"
# Garbage of every kind: still one line per version, never a crash.
head -c 300000 /dev/urandom >"$T/bad" && mv -f "$T/bad" "$RUN/properties"
metadata "$INCEPTION"
expect_status 200 "metadata with a random names file"
fields "random" .propertyNames scan
# Lines skipped but the file used: bad UTF-8 and control bytes are not names.
printf 'meta-fuse-properties 1 complete\nplot\n\xff\xfe\nti\x01tle\ntitle\n' >"$T/bad" &&
	mv -f "$T/bad" "$RUN/properties"
metadata "$INCEPTION"
expect_status 200 "metadata with bad lines in the names"
fields "bad lines" .propertyNames kvwatch .metadata.plot 'A thief' .complete true
grep -q 'bad lines skipped' "$T/apid.log" || fail "apid did not log the skipped lines"
rm -f "$RUN/properties"
metadata "$INCEPTION"
fields "no names file" .propertyNames scan
kill -0 "$APID_PID" || fail "apid died"
ok "apid still serving"
