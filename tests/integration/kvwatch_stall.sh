#!/usr/bin/env bash
# kvwatch's event loop never waits for Redis: while the fetch of a live change
# hangs (the server paused with CLIENT PAUSE right after the PUBLISH), the loop
# still answers a signal at once, and the change lands when the server resumes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

start_redis
kv_load 100
kv_conf stall "redis_url = \"redis://127.0.0.1:$REDIS_PORT\"; refresh_interval_ms = 600000;"
# The fetch must outlast the pause, not time out during it.
sed -i 's/command_timeout_ms = 3000;/command_timeout_ms = 15000;/' "$T/stall.conf"
kv_start stall
kv_wait 20 '.files == 100 and .kv.connected' "first generation: 100 files"

id=$(kv_gen_id 3)
rcli set "meta-sort:file:$id:title" "Paused" >/dev/null
gen=$(kv_hdr .generation)
# One transaction: the message goes out, then every client stops, before
# kvwatch can ask for the file.
printf 'MULTI\nPUBLISH meta-sort:file:batch "{\\"changes\\":[{\\"action\\":\\"update\\",\\"hashId\\":\\"%s\\"}]}"\nCLIENT PAUSE 3000 ALL\nEXEC\n' "$id" |
	rcli >/dev/null
sleep 0.3
t0=$(date +%s%N)
kill -USR1 "$KV_PID"
wait_for 2 grep -q "SIGUSR1: no change is held back" "$T/kvwatch-stall.log" ||
	fail "the event loop did not answer SIGUSR1 within 2 s while Redis was paused"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1500 ] || fail "expected the loop to answer at once, got $ms ms"
ok "the loop answers while a fetch waits for Redis ($ms ms)"
expect_eq "$(kv_hdr .generation)" "$gen" "generation while the fetch waits"
wait_for 10 kv_has_path "/Movies/Paused (1953)/Paused.mkv" ||
	fail "the paused change is missing"
expect_eq "$(kv_hdr .generation)" "$((gen + 1))" "the change lands in the next generation when Redis resumes"
kv_is '.kv.connected' || fail "kvwatch disconnected while Redis was paused"
kv_stop
