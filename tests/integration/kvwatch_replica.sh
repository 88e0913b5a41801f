#!/usr/bin/env bash
# Scaling out with Redis replication: kvwatch follows a local replica
# (`redis-server --replicaof <leader>`, kv.redis_url naming the replica); a
# SET + PUBLISH on the leader reaches the replica through replication, pub/sub
# included, and the file shows in a real fused mount, its bytes read through
# it.  The leader sees no command of kvwatch's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fused_lib.sh"
. "$(dirname "$0")/kvwatch_lib.sh"

start_redis leader
LEADER=$REDIS_PORT
start_redis replica
REPLICA=$REDIS_PORT
rcli replicaof 127.0.0.1 "$LEADER" >/dev/null
wait_for 15 sh -c "redis-cli -p $REPLICA info replication | grep -q 'master_link_status:up'" ||
	fail "the replica did not sync with the leader"
ok "replica in sync"

fused_config
kvconf="$T/fused.conf"
"$KVW" -c "$kvconf" -v >"$T/kvwatch.log" 2>&1 &
KV_PID=$!
MF_PIDS+=("$KV_PID")
kv_wait 20 '.kv.connected and .files == 0' "kvwatch follows the replica"
expect_match "$(kv_hdr .kv.leader)" "127.0.0.1:$REPLICA" "the leader named in the snapshot is the replica"
start_fused

src="media1/Movies/Rep (2020)/Rep.mkv"
mkdir -p "$T/files/media1/Movies/Rep (2020)"
head -c 54321 /dev/urandom >"$T/files/$src"
leader_calls() {
	redis-cli -p "$LEADER" info commandstats | tr -d '\r' |
		sed -n 's/^cmdstat_\(scan\|mget\|subscribe\):calls=\([0-9]*\),.*/\1=\2/p' | sort
}
before=$(leader_calls)
redis-cli -p "$LEADER" mset "meta-sort:file:rep1:filePath" "$src" "meta-sort:file:rep1:title" Rep \
	"meta-sort:file:rep1:year" 2020 "meta-sort:file:rep1:size" 54321 >/dev/null
redis-cli -p "$LEADER" publish meta-sort:file:batch \
	'{"changes": [{"action": "add", "hashId": "rep1"}]}' >/dev/null
kv_wait 10 '.files == 1' "a change on the leader reaches kvwatch through the replica"
wait_for 10 test -e "$MNT/Movies/Rep (2020)/Rep.mkv" || fail "the file does not show in the mount"
cmp -s "$MNT/Movies/Rep (2020)/Rep.mkv" "$T/files/$src" || fail "the file's bytes differ through the mount"
ok "the file shows in the mount, its bytes intact"
expect_eq "$(leader_calls)" "$before" "kvwatch's commands on the leader"
stop_fused
kill -TERM "$KV_PID"
rc=0
wait "$KV_PID" || rc=$?
expect_eq "$rc" 0 "kvwatch exits 0 on SIGTERM"
