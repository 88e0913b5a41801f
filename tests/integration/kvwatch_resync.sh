#!/usr/bin/env bash
# A light touch on the shared Redis: a periodic resync asks the server for a
# fingerprint (INFO) and SCANs nothing when no write came since the last load;
# a write behind kvwatch's back (no PUBLISH) is still found by the next resync;
# and resyncs are spaced so that loads keep redis-server busy at most
# kv.resync_cpu_percent of the time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

start_redis
kv_load 3000
scans() {
	rcli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_scan:calls=\([0-9]*\),.*/\1/p'
}
kv_conf quiet "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 200; resync_cpu_percent = 100;"
kv_start quiet
kv_wait 20 '.files == 3000 and .kv.connected' "first generation: 3000 files"
before=$(scans)
gen=$(kv_hdr .generation)
wait_for 10 sh -c "[ \$(grep -c 'resync: no write since the last load' '$T/kvwatch-quiet.log') -ge 5 ]" ||
	fail "expected periodic fingerprint checks every 200 ms"
expect_eq "$(scans)" "$before" "SCANs by 5 resyncs of a quiet Redis"
expect_eq "$(kv_hdr .generation)" "$gen" "generations published by quiet resyncs"

# A change nobody announced: found by the next resync.
rcli set "meta-sort:file:$(kv_gen_id 5):title" "Silent Show" >/dev/null
kv_wait 10 ".generation == $((gen + 1))" "an unannounced change is found by a resync"
kv_paths | grep_quiet "^/TV/Silent Show/" ||
	fail "the unannounced change is not in the tree"
[ "$(scans)" -gt "$before" ] || fail "the changed fingerprint did not lead to a load"
ok "a changed fingerprint loads"
kv_stop

# At 1 %, a load of L seconds is followed by the next one 100 L later at least
# (the log rounds both figures: 95 L is the test).
kv_conf budget "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 200; resync_cpu_percent = 1;"
kv_start budget
kv_wait 20 '.kv.connected and .kv.lastSync > 0' "a load with a budget of 1 %"
wait_for 5 grep -q "next resync in" "$T/kvwatch-budget.log" || fail "the resync was not spaced"
line=$(grep -m1 "next resync in" "$T/kvwatch-budget.log")
gap=$(sed 's/.*next resync in \([0-9.]*\) s (the load took \([0-9.]*\) s).*/\1 \2/' <<<"$line")
awk -v g="${gap% *}" -v l="${gap#* }" 'BEGIN { exit !(g >= 95 * l && g > 0.2) }' ||
	fail "expected the next resync at least 100 x the load's time, got: $line"
ok "resyncs spaced by the load's cost ($line)"
kv_stop
