#!/usr/bin/env bash
# kvwatch live updates: add, update and remove announced on the pub/sub channel
# show in the next generation; a burst of messages is coalesced into few
# generations; malformed messages (bad JSON, wrong types, an unknown action, a
# 10 MB message) are counted and ignored while the worker keeps serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

start_redis
kv_load 100
kv_conf live "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;"
kv_start live
kv_wait 20 '.files == 100 and .kv.connected' "first generation: 100 files, connected"

# add
rcli mset meta-sort:file:inception:filePath "media1/Movies/Inception (2010)/Inception.mkv" \
	meta-sort:file:inception:title Inception meta-sort:file:inception:year 2010 >/dev/null
kv_publish '{"timestamp": 1703808000000, "changes": [{"action": "add", "hashId": "inception"}]}'
kv_wait 10 '.files == 101' "add: one more file"
kv_has_path "/Movies/Inception (2010)/Inception.mkv" || fail "add: Inception is not there"
ok "add: at its path"

# update: the title changes, so does the path
rcli set meta-sort:file:inception:title "Inception Redux" >/dev/null
gen=$(kv_hdr .generation)
kv_publish '{"changes": [{"action": "update", "hashId": "inception"}]}'
kv_wait 10 ".generation > $gen" "update: a new generation"
kv_has_path "/Movies/Inception Redux (2010)/Inception Redux.mkv" || fail "update: new path missing"
if kv_has_path "/Movies/Inception (2010)/Inception.mkv"; then fail "update: old path still there"; fi
ok "update: moved"

# remove
rcli del meta-sort:file:inception:filePath meta-sort:file:inception:title \
	meta-sort:file:inception:year >/dev/null
kv_publish '{"changes": [{"action": "remove", "hashId": "inception"}]}'
kv_wait 10 '.files == 100' "remove: gone"
# remove of a generated file, whose keys are still in Redis: the message wins.
kv_publish '{"changes": [{"action": "remove", "hashId": "000000000000000100000005000000030000000b000000070000000d00000011"}]}'
kv_wait 10 '.files == 99' "remove: the message is obeyed"
# add for a file that is not in Redis: nothing appears.
# The next real change is the marker: its generation must come right after.
gen=$(kv_hdr .generation)
kv_publish '{"changes": [{"action": "add", "hashId": "ghost"}]}'
rcli set meta-sort:file:$(kv_gen_id 10):title Marker >/dev/null
kv_publish "{\"changes\": [{\"action\": \"update\", \"hashId\": \"$(kv_gen_id 10)\"}]}"
kv_wait 10 ".generation >= $((gen + 1))" "a change after the absent one"
expect_eq "$(kv_hdr .generation)" "$((gen + 1))" "generations after an absent add and one change"
expect_eq "$(kv_hdr .files)" 99 "add of an absent file adds nothing"

# A burst: 200 new files announced one message each, in one transaction so that
# they arrive together however loaded the machine is.
kv_load 200 1000
gen=$(kv_hdr .generation)
{
	echo MULTI
	for i in $(seq 1000 1199); do
		id=$(printf '%08x%08x%08x%08x%08x%08x%08x%08x' $i $((i * 7 + 1)) $((i * 13 + 5)) \
			$((i * 17 + 3)) $((i * 19 + 11)) $((i * 23 + 7)) $((i * 29 + 13)) $((i * 31 + 17)))
		printf 'PUBLISH meta-sort:file:batch "{\\"changes\\":[{\\"action\\":\\"add\\",\\"hashId\\":\\"%s\\"}]}"\n' "$id"
	done
	echo EXEC
} | rcli >/dev/null
kv_wait 15 '.files == 299' "burst: all 200 files arrived"
burst=$(($(kv_hdr .generation) - gen))
[ "$burst" -le 10 ] || fail "burst: expected at most 10 generations for 200 messages, got $burst"
ok "burst: 200 messages in $burst generations"

# Malformed messages: each is ignored, the worker keeps serving.
gen=$(kv_hdr .generation)
kv_publish 'not json at all'
kv_publish '{"changes": 5}'
kv_publish '{"changes": [{"action": "explode", "hashId": "abc"}]}'
kv_publish '{"changes": [{"action": "add", "hashId": 7}]}'
kv_publish '{"changes": [{"action": "add", "hashId": "a b"}]}'
kv_publish '[1, 2, 3]'
kv_publish ''
head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' 'x' >"$T/big.msg"
rcli -x publish meta-sort:file:batch <"$T/big.msg" >/dev/null
# Well-formed but of no effect: 20,001 files that do not exist.
{
	printf '{"changes": ['
	for i in $(seq 20000); do printf '{"action":"add","hashId":"h%d"},' "$i"; done
	printf '{"action":"add","hashId":"last"}]}'
} >"$T/long.msg"
rcli -x publish meta-sort:file:batch <"$T/long.msg" >/dev/null
kv_alive
expect_match "$(cat "$T/kvwatch-live.log")" "malformed message on meta-sort:file:batch: not JSON" \
	"malformed messages are logged"
n=$(grep -c "malformed message" "$T/kvwatch-live.log")
[ "$n" -le 2 ] || fail "malformed messages: expected the log rate-limited, got $n lines"
ok "malformed messages: logged rate-limited ($n lines)"
# Still serving: a valid change goes through.
rcli mset meta-sort:file:after:filePath "media1/Movies/After (2019)/After.mkv" \
	meta-sort:file:after:title After meta-sort:file:after:year 2019 >/dev/null
kv_publish '{"changes": [{"action": "add", "hashId": "after"}]}'
kv_wait 10 '.files == 300' "after malformed messages, updates still apply"
expect_eq "$(kv_hdr .generation)" "$((gen + 1))" "malformed messages and changes of nothing publish nothing"
kv_has_path "/Movies/After (2019)/After.mkv" || fail "After is missing"

# Nothing changed, nothing published: a periodic resync finds no difference.
kv_stop
kv_conf resync "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 300; resync_cpu_percent = 100;"
kv_start resync
# The previous run's tree lacks the generated file removed by message only.
kv_wait 20 '.files == 301 and .kv.connected' "restart: the full load is the truth"
gen=$(kv_hdr .generation)
resyncs() {
	grep -c "full load from .*: \|resync: no write since the last load" "$T/kvwatch-resync.log"
}
wait_for 10 sh -c "[ \$(grep -c 'full load from .*: \|resync: no write since' '$T/kvwatch-resync.log') -ge 4 ]" ||
	fail "expected periodic resyncs every 300 ms, got $(resyncs)"
ok "periodic resyncs ran"
expect_eq "$(kv_hdr .generation)" "$gen" "resyncs that find nothing new publish nothing"
# A change made behind kvwatch's back shows with the next resync.
rcli set meta-sort:file:after:title "After Dark" >/dev/null
kv_wait 5 ".generation > $gen" "a resync publishes a silent change"
kv_has_path "/Movies/After Dark (2019)/After Dark.mkv" || fail "the silent change is missing"

# SIGHUP reads the configuration again: a broken one is refused and the worker
# goes on; a good one is taken (here: Redis through a URL with a database).
cp "$T/resync.conf" "$T/resync.good"
echo 'kv = {' >>"$T/resync.conf"
kill -HUP "$KV_PID"
wait_for 5 grep -q "reload: .*keeping the running configuration" "$T/kvwatch-resync.log" ||
	fail "a broken configuration on SIGHUP is not reported"
kv_alive
ok "SIGHUP with a broken configuration: refused, still running"
sed "s|redis://127.0.0.1:$REDIS_PORT\"|redis://127.0.0.1:$REDIS_PORT/0\"|" "$T/resync.good" >"$T/resync.conf"
loads=$(grep -c 'full load from .*: ' "$T/kvwatch-resync.log")
kill -HUP "$KV_PID"
wait_for 5 grep -q "reloading the configuration: source" "$T/kvwatch-resync.log" ||
	fail "SIGHUP did not reload"
wait_for 10 sh -c "[ \$(grep -c 'full load from .*: ' '$T/kvwatch-resync.log') -gt $loads ]" ||
	fail "SIGHUP with a new kv.redis_url: no full load"
kv_wait 10 ".kv.connected and .files == 301" "SIGHUP: reloaded from the new source"
rcli mset meta-sort:file:hup:filePath "media1/Movies/Hup (2011)/Hup.mkv" \
	meta-sort:file:hup:title Hup meta-sort:file:hup:year 2011 >/dev/null
kv_publish '{"changes": [{"action": "add", "hashId": "hup"}]}'
kv_wait 10 '.files == 302' "updates after a reload"
# While live changes flow, the next generation's file waits allocated beside
# vfs.snapshot; stopping removes it, and no other temporary file is left (the
# property names file stays, like the snapshot).
gen=$(kv_hdr .generation)
rcli set meta-sort:file:hup:title "Hup Again" >/dev/null
kv_publish '{"changes": [{"action": "update", "hashId": "hup"}]}'
kv_wait 10 ".generation > $gen" "a live change after the reload"
wait_for 30 sh -c "ls -A '$RUN' | grep -q '^\.vfs\.snapshot\.'" ||
	fail "no file prepared for the next live change"
ok "the next generation's file is prepared while changes flow"
kv_stop
left=$(ls -A "$RUN" | grep -vx -e 'vfs\.snapshot' -e properties || true)
expect_eq "$left" "" "files left in the runtime directory after a stop"
