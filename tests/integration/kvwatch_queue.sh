#!/usr/bin/env bash
# The live changes waiting for a slow fetch are capped: while the server is
# paused (CLIENT PAUSE, in the same transaction as the messages) kvwatch
# receives 130,000 changes for a fetch that cannot go on; past 100,000 it drops
# them, says so once, and loads everything, which finds a file written without
# any message.  kvwatch stays connected and keeps serving.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

start_redis
kv_load 100
kv_conf queue "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;"
# The fetch and the load must outlast the pause, not time out during it.
sed -i 's/command_timeout_ms = 3000;/command_timeout_ms = 15000;/' "$T/queue.conf"
kv_start queue
kv_wait 20 '.files == 100 and .kv.connected' "first generation: 100 files"

# A file no message announces: only a full load finds it.
kv_load 1 100
# 13 messages of 10,000 changes (each under the 1 MiB a message may have), then
# every client stops, in one transaction (Redis protocol for redis-cli --pipe).
LC_ALL=C awk 'function bulk(s) { return "$" length(s) "\r\n" s "\r\n" }
BEGIN {
	printf "*1\r\n%s", bulk("MULTI")
	for (k = 0; k < 13; k++) {
		m = "{\"changes\":["
		for (i = 0; i < 10000; i++)
			m = m (i ? "," : "") sprintf("{\"action\":\"update\",\"hashId\":\"q%07d\"}", k * 10000 + i)
		m = m "]}"
		printf "*3\r\n%s%s%s", bulk("PUBLISH"), bulk("meta-sort:file:batch"), bulk(m)
	}
	printf "*4\r\n%s%s%s%s", bulk("CLIENT"), bulk("PAUSE"), bulk("3000"), bulk("ALL")
	printf "*1\r\n%s", bulk("EXEC")
}' >"$T/flood.resp"
rcli --pipe <"$T/flood.resp" >/dev/null || fail "sending the flood"
wait_for 10 grep -q "live changes: more than 100000 waiting" "$T/kvwatch-queue.log" ||
	fail "no word of the dropped changes; log: $(tail -n 5 "$T/kvwatch-queue.log")"
ok "the queue overflows while Redis is paused and the drop is logged"
kv_alive
kv_wait 30 '.files == 101 and .kv.connected' "the full load after the drop finds the unannounced file"
n=$(grep -c "live changes: more than 100000 waiting" "$T/kvwatch-queue.log")
expect_eq "$n" 1 "the drop is said once"
ok "said once"

# Changes flow as before afterwards.
id=$(kv_gen_id 3)
rcli set "meta-sort:file:$id:title" "Flowing" >/dev/null
kv_publish "{\"changes\":[{\"action\":\"update\",\"hashId\":\"$id\"}]}"
wait_for 10 kv_has_path "/Movies/Flowing (1953)/Flowing.mkv" ||
	fail "a change after the drop is missing"
ok "live changes apply again after the drop"
kv_stop
